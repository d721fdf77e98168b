"""Fine-tune tab: train a CAS model on the user's own annotations, in the background, live."""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from .. import annotation as ann
from ..data import read_target, resolve
from ..training.finetune import FinetuneOptions, RunInProgress, estimate, format_seconds, kept_weights, list_runs
from ..inference.outputs import output_of
from ..io import read_image
from ..inference.tasks import TRAINABLE, get_task
from ..models.weights import load_model
from . import settings
from .context import AppContext
from ..training.runs import RunState, state_of
from .wording import run_message


def _options(ctx: AppContext, base, task, epochs, lr, alpha, size, batch, freeze) -> FinetuneOptions:
    if not base:
        raise gr.Error("Choose a base model.")
    return FinetuneOptions(base=str(ctx.models.extra.get(base, base)), task=task,
                           epochs=int(epochs), lr=float(lr), alpha=float(alpha), size=int(size),
                           batch=int(batch), freeze_backbone=bool(freeze))


def register_runs(ctx: AppContext, project: str, runs: list | None = None) -> None:
    """Make every finished run of a project that beat its base selectable as a model (Segment and
    Annotate tabs); a run that lost is never offered."""
    root = _root(ctx, project)
    for run, status in list_runs(root, ctx.runs) if runs is None else runs:
        weights = kept_weights(run, status)
        if weights is not None and state_of(status).ended_well:
            ctx.models.register(ctx.run_label(root, run.name), weights)


def _root(ctx: AppContext, project: str | Path) -> Path:
    try:
        return ctx.project_path(str(project))
    except ValueError as err:
        raise gr.Error(str(err)) from None


def _refused(what: str, why: object) -> str:
    """A refusal shown in the message line (and a warning), not as an error badge that would stay
    on the message after the next action succeeds."""
    gr.Warning(f"{what}: {why}")
    return f"**{what}:** {why}"


def show_estimate(ctx: AppContext, project, base, task, epochs, lr, alpha, size, batch, freeze) -> str:
    """Expected run time on this machine, measured from a few real training steps."""
    if not project:
        return _refused("No estimate", "choose a project folder.")
    try:
        est = estimate(_root(ctx, project), _options(ctx, base, task, epochs, lr, alpha, size, batch, freeze))
    except (ValueError, FileNotFoundError, gr.Error) as err:
        return _refused("No estimate", err)
    return f"Estimated time: {est.sentence()}."


def start(ctx: AppContext, project, base, task, epochs, lr, alpha, size, batch, freeze) -> str:
    """Start a background run for the project."""
    if not project:
        return _refused("Not started", "choose a project folder.")
    try:
        run = ctx.runs.start(_root(ctx, project), _options(ctx, base, task, epochs, lr, alpha, size, batch, freeze))
    except (RunInProgress, ValueError, FileNotFoundError, OSError, gr.Error) as err:
        return _refused("Not started", err)
    held = len(resolve(run.config.val)) if run.config.val else 0
    return (f"Started run {run.out_dir.name} ({run.config.epochs} epochs on {len(resolve(run.config.train[0]))} "
            f"images, {held} held out to check it on).")


def stop(ctx: AppContext, project) -> str:
    """Ask the running run to stop after its current step."""
    if ctx.runs.stop(_root(ctx, project)):
        return "Stopping after the current step; the last checkpoint is kept."
    return "No run is in progress for this project."


def _plot(run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    if run is not None and run.losses:
        axes[0].plot(run.losses, lw=1)
    axes[0].set_title("training loss (per step)")
    rows = run.rows if run is not None else []
    key = "covering" if rows and "covering" in rows[0] else None
    if key:
        axes[1].plot([r["epoch"] for r in rows], [r[key] for r in rows], marker="o")
    axes[1].set_title("held-out covering (per epoch)" if key else "no held-out image")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def status(ctx: AppContext, project: str):
    """Progress text, curves, the runs table and refreshed model lists (Segment and Annotate tabs)."""
    try:
        root = ctx.project_path(project) if project else None
    except ValueError:
        root = None
    run = ctx.runs.active(root) if root else None
    if run is None:
        text = "No run started in this session."
    else:
        state = run.state()
        p = run.progress
        where = f"epoch {p.epoch + 1}/{p.epochs}, step {p.step}/{p.steps}" if p else "starting"
        text = f"**{state['state']}** ({run.out_dir.name}): {where}, {run.fraction():.0%} done, " \
               f"ETA {format_seconds(run.eta_seconds())}"
        if run.losses:
            text += f", loss {run.losses[-1]:.4f}"
        if run.error or state_of(state) is RunState.FAILED:
            text += f"\n\n**Error:** {run.error or state.get('message')}"
        elif state_of(state).ended_well:
            text += f". {run_message(state)}"
    found = list_runs(root, ctx.runs) if root and root.is_dir() else []  # read once per tick
    if found:
        register_runs(ctx, str(root), found)
    runs = [[r.name, s.get("state"), run_message(s)] for r, s in found]
    pct = int(round(100 * run.fraction())) if run else 0
    bar = f'<progress id="ft-bar" value="{pct}" max="100" style="width:100%"></progress><span id="ft-pct">{pct}%</span>'
    models = gr.update(choices=ctx.models.choices())
    return text, bar, _cached_plot(ctx, run), runs or [["-", "-", "no runs yet"]], models, models


def _cached_plot(ctx: AppContext, run):
    """The curves figure, drawn again only when the run has reported something new (the timer
    polls every second, and matplotlib rendering is the costly part)."""
    key = (id(run), len(run.losses), len(run.rows)) if run is not None else None
    if key not in ctx.plots:
        ctx.plots.clear()
        ctx.plots[key] = _plot(run)
    return ctx.plots[key]


def before_after(ctx: AppContext, project: str):
    """The base model and the newest finished run side by side on the held-out image, each region
    coloured as the annotated region it overlaps most: alike colours mean alike regions."""
    root = _root(ctx, project)
    held = resolve(f"{root}@holdout") if root.is_dir() else []
    finished = [(r, s) for r, s in list_runs(root, ctx.runs) if state_of(s).ended_well]
    if not held or not finished:
        raise gr.Error("Needs a finished run and at least two confirmed images (some are held out).")
    run, status = finished[0]
    weights = run.weights()
    if weights is None:
        raise gr.Error(f"Run {run.name} saved no weights.")
    after = load_model(weights)
    base = load_model(run.config()["init"])  # what the run started from
    image = read_image(held[0].image)
    truth = read_target(held[0], shape=image.shape[:2]) + 1  # 0: unlabelled
    views = []
    for model in (base, after):
        # As the run's held-out check saw it: a saliency model's binary mask, a region model's regions.
        labels = output_of(after.info.task).segment(model, image, size=after.info.input_size) + 1
        views.append(ann.overlay(image, labels, colour_ids=ann.matched_colours(labels, truth)))
    return views[0], views[1]


def build(ctx: AppContext, default_folder: str, model_lists: list[gr.Dropdown]) -> dict:
    """Lay out the tab, its handlers bound to ``ctx``; ``model_lists`` are the other tabs' model
    dropdowns (Segment, Annotate), refreshed as runs finish."""
    bind = functools.partial
    choices = ctx.models.choices()
    with gr.Row():
        folder = gr.Textbox(default_folder, label="Annotation project", scale=3, elem_id="ft-project")
        base = gr.Dropdown(choices, value=settings.START_MODEL if settings.START_MODEL in choices else None,
                           label="Base model", scale=2, elem_id="ft-base")
        defaults = FinetuneOptions()  # the library's defaults, the task's among them
        task = gr.Radio(list(TRAINABLE), value=defaults.task, label="Task", scale=2)
    with gr.Row():
        epochs = gr.Slider(1, 100, value=defaults.epochs, step=1, label="epochs")
        lr = gr.Number(defaults.lr, label="learning rate")
        alpha = gr.Slider(0, 1, value=defaults.alpha, step=0.05, label="alpha (uniformer weight)")
        size = gr.Slider(64, 512, value=defaults.size, step=32, label="image size")
        batch = gr.Slider(1, 16, value=defaults.batch, step=1, label="batch")
        freeze = gr.Checkbox(False, label="freeze backbone")
    with gr.Row():
        est_btn = gr.Button("Estimate time", elem_id="ft-estimate")
        start_btn = gr.Button("Start", variant="primary", elem_id="ft-start")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="ft-stop")
    message = gr.Markdown(elem_id="ft-message")
    progress = gr.HTML(elem_id="ft-progress")
    text = gr.Markdown(elem_id="ft-status")
    curves = gr.Plot(label="Live curves")
    runs = gr.Dataframe(headers=["run", "state", "message"], label="Runs of this project", interactive=False)
    with gr.Row():
        show = gr.Button("Before / after on the held-out image")
    with gr.Row():
        before = gr.Image(label="base model", interactive=False, format="png")
        after = gr.Image(label="fine-tuned", interactive=False, format="png")
    params = [folder, base, task, epochs, lr, alpha, size, batch, freeze]
    est_btn.click(bind(show_estimate, ctx), params, message, api_name=False)
    start_btn.click(bind(start, ctx), params, message, api_name="finetune_start", concurrency_id="finetune", concurrency_limit=2)
    stop_btn.click(bind(stop, ctx), folder, message, api_name="finetune_stop")
    timer = gr.Timer(1.0)
    outputs = [text, progress, curves, runs, *model_lists]
    timer.tick(bind(status, ctx), folder, outputs, api_name=False, show_progress="hidden")
    gr.on([folder.submit], bind(status, ctx), folder, outputs, api_name="finetune_status")
    show.click(bind(before_after, ctx), folder, [before, after], api_name="before_after")
    # Each task starts at its measured fine-tune settings (tasks.Task.finetune).
    task.change(lambda t: get_task(t).finetune, task, [lr, epochs], api_name=False, show_progress="hidden")
    # Another project: nothing said about the previous one stays on screen.
    folder.change(lambda: ("", None, None), None, [message, before, after], api_name=False, show_progress="hidden")
    return {"folder": folder}
