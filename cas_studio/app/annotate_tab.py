"""Annotate tab: class-free region annotation from an automatic over-segmentation.

Each browser session keeps its own :class:`cas_studio.annotation.Session` in a ``gr.State``;
this module only lays out the tab and turns the session's refusals into messages: every transition,
check and save lives in the session.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable

import gradio as gr

from .. import annotation as ann
from ..annotation import view
from ..annotation.session import AnnotationError, SaveConflict, Session
from ..annotation.view import DISPLAY_PIXELS
from ..annotation.tools import BRUSH_RADIUS, tools
from ..data.project import create_project, export_zip, open_project
from ..inference.outputs import output_of
from ..video import PropagateOptions
from . import canvas, settings
from .context import AppContext
from .settings import scratch

#: The sign of a click-object click; holding Shift makes a click negative.
SIGNS = ["positive (object)", "negative (not object)"]


def click_modes() -> list[str]:
    """The "Click does" choices: the registered click tools' labels, in display order."""
    return [tool.label for tool in tools("click")]


def shortcuts() -> dict[str, str]:
    """Keyboard shortcuts (key -> what it does), shown in the tab and installed by :func:`shortcuts_js`."""
    keyed = [tool for tool in tools("click") if tool.key]
    return {"Ctrl+Z": "undo", "Ctrl+Y / Ctrl+Shift+Z": "redo", "N / P": "next / previous image",
            " / ".join(t.key.upper() for t in keyed): "click mode: " + " / ".join(t.label for t in keyed),
            "G": "grow the selected region to its next larger region",
            "B": "confirm the image, every region not yet confirmed joined into one background",
            "Shift+click": "a negative click (click object)", "Backspace": "undo the last object click",
            "Esc": "deselect, or drop the object in progress",
            "Enter": "accept the clicked object (click object), else confirm the whole image",
            "wheel / right drag / 0": "zoom / pan / fit the picture"}


def shortcuts_js() -> str:
    """The page script that installs the keyboard shortcuts, with the click tools' keys filled in."""
    keys = {tool.key.lower(): tool.label for tool in tools("click") if tool.key}
    collecting = [tool.label for tool in tools("click") if tool.collects_clicks]
    return canvas.script("shortcuts.js").replace("%MODES%", json.dumps(keys)).replace("%COLLECTING%", json.dumps(collecting))

#: Slider range of each over-segmentation parameter: (minimum, maximum, step, what it does). UI
#: only: the defaults are the library's (annotate.DEFAULTS).
PARAM_RANGES: dict[str, tuple[float, float, float, str]] = {
    "regions": (10, 2000, 10, "about how many regions"),
    "compactness": (0, 50, 0.5, "higher: rounder, more even regions"),
    "scale": (10, 2000, 10, "higher: larger regions"),
    "sigma": (0, 3, 0.1, "pre-smoothing"),
    "min_size": (1, 1000, 1, "smallest region, in pixels"),
}


def _guard(fn):
    """Run a handler; a refused action (AnnotationError) becomes a message in the browser."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AnnotationError as err:
            raise gr.Error(str(err)) from None
    return wrapper


def _new_session(ctx: AppContext, project=None) -> Session:
    return Session(project=project, load_model=ctx.models.get)


def _view(ctx: AppContext, s: Session):
    """(canvas image, status markdown) for the session's current state."""
    if s.project is None:
        return None, "No project open."
    where = f"Project `{ctx.label_of(s.project.root)}`. "
    try:
        path = s.current()
    except AnnotationError as err:
        return None, where + str(err)
    picture = view.picture(s, DISPLAY_PIXELS)
    head = f"**{path.name}** ({s.index + 1} of {len(s.project.images())})"
    pending = ""
    if s.pending.clicks:
        pos = sum(c[2] for c in s.pending.clicks)
        pending = (f" Object in progress: {pos} positive, {len(s.pending.clicks) - pos} negative clicks "
                   f"({int(s.pending.mask.sum()) if s.pending.mask is not None else 0} px); **Accept (Enter)** "
                   "makes it a confirmed region.")
    if s.history is None:
        return picture, where + f"{head}, not annotated yet: over-segment it or click objects.{pending} " \
                                f"{s.project.progress()}."
    d = s.summary()
    sel = f" Selected: region {s.selected[0]} (click others to merge them in; Esc to deselect)." if s.selected else ""
    state = ("**image confirmed**" if d["image_confirmed"] else
             f"**{d['confirmed']} confirmed**, {d['proposed']} proposed (outlined only; merge, edit or "
             f"confirm them)")
    status = (where + f"{head}: {d['regions']} regions, {state}, {d['unlabelled']:.0%} unlabelled, "
              f"{d['edits']} edits.{sel}{pending} {s.project.progress()}.")
    return picture, status


@_guard
def open_or_create(ctx: AppContext, folder: str, s: Session):
    """Open the project in ``folder``, creating it if the folder is new or empty."""
    if not folder or not folder.strip():
        raise gr.Error("Type a folder for the project.")
    try:
        project = create_project(ctx.project_path(folder))
    except (ValueError, OSError) as err:
        raise gr.Error(str(err)) from None
    s = _new_session(ctx, project)
    return (s, *_view(ctx, s))


def reopen(ctx: AppContext, folder: str | None, s: Session):
    """On page load: reopen the project this browser had open (remembered in its local storage),
    if it still is one; otherwise leave the tab as it starts."""
    if not folder or s.project is not None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        project = open_project(ctx.project_path(folder), repair=True)
    except (ValueError, OSError):  # moved, deleted or outside the projects folder now: start afresh
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    s = _new_session(ctx, project)
    return (folder, s, *_view(ctx, s))


@_guard
def add_images(ctx: AppContext, files: list[str] | None, s: Session):
    """Copy uploaded images into the project; unreadable files are reported, not added."""
    bad = s.add_images(files or [])
    if bad:
        gr.Warning("Not added: " + "; ".join(bad))
    return (s, *_view(ctx, s), None)  # None empties the upload box: added files are not added twice


@_guard
def navigate(ctx: AppContext, step: int, s: Session):
    """Go to the previous (-1) or next (+1) image."""
    s.go(step)
    return (s, *_view(ctx, s))


def frame_slider(s: Session):
    """The frame slider: shown, with its range and position, when the image is a video frame."""
    where = s.sequence() if s.project is not None else None
    if where is None:
        return gr.update(visible=False)
    name, number, total = where
    return gr.update(visible=True, minimum=1, maximum=max(total, 2), value=number, label=f"frame of {name} ({total})")


@_guard
def add_video(ctx: AppContext, file: str | None, every: float | None, s: Session):
    """Add a video's frames as an ordered sequence and open its first frame."""
    if not file:
        raise gr.Error("Choose a video file (mp4, avi, mov) to add.")
    n = s.add_video(file, every=max(1, int(every or 1)))
    gr.Info(f"Added {n} frames as one video: annotate and confirm a frame, then Propagate.")
    return (s, *_view(ctx, s), None, frame_slider(s))


@_guard
def go_to_frame(ctx: AppContext, number: float, s: Session):
    """Open frame ``number`` of the current video."""
    s.go_to_frame(int(number))
    return (s, *_view(ctx, s))


@_guard
def propagate(ctx: AppContext, seconds: float, s: Session, progress=gr.Progress()):
    """Fine-tune on the video's confirmed frames and fill every unconfirmed frame's proposal."""
    from ..training.finetune import format_seconds

    def report(event) -> None:
        what = "learning from the confirmed frames" if event.stage == "fine-tune" else "labelling frames"
        progress((event.done, event.total), desc=f"{what}, about {format_seconds(event.eta_s)} left")

    summary = s.propagate(options=PropagateOptions(seconds=float(seconds)), progress=report)
    gr.Info(summary)
    picture, status = _view(ctx, s)
    return s, picture, f"{status} Propagated: {summary}."


#: (method, parameter) of every slider, in the order the tab passes them.
SLIDERS = [(method, name) for method in ann.METHODS for name in ann.DEFAULTS[method]]


@_guard
def run_oversegment(ctx: AppContext, method: str, model_name: str | None, guided: bool, granularity: float, s: Session,
                    *values: float):
    """Replace the current labels with a cut of a new region hierarchy (undoable); its regions
    start as proposed. ``values`` are the sliders of :data:`SLIDERS`."""
    chosen = dict(zip(SLIDERS, values))
    params = {name: chosen[(method, name)] for name in ann.DEFAULTS.get(method, {}) if (method, name) in chosen}
    s.oversegment(method, params, model_name=model_name, guided=bool(guided), granularity=float(granularity))
    return (s, *_view(ctx, s))


@_guard
def set_granularity(ctx: AppContext, granularity: float, s: Session):
    """Re-cut the proposed regions at another granularity; edited and confirmed regions stay."""
    s.set_granularity(float(granularity))
    return (s, *_view(ctx, s))


def _gives_object(model) -> bool:
    try:
        return output_of(model.info.task).binary
    except ValueError:  # a task with no output kind here (the click model)
        return False


@_guard
def one_click_salient(ctx: AppContext, model_name: str | None, s: Session):
    """Propose background and salient object from the saliency model, to accept or correct."""
    # The tab's model dropdown serves the regions tools; a saliency model chosen there is used here.
    name = model_name if model_name and _gives_object(ctx.models.get(model_name)) else "saliency"
    s.salient(name)
    return (s, *_view(ctx, s))


def _apply(action: dict, parts: int, s: Session) -> str | None:
    """One canvas action on the session; returns a note for the person, if any. The canvas shows a
    downscaled picture of a large image: its pixels are scaled back to the image's own."""
    k = view.display_scale(s, DISPLAY_PIXELS)
    points = [(x * k, y * k) for x, y in action.get("points", [])]
    if action["kind"] == "lasso":
        # The canvas sends the shown pixels under the outline; each stands for its centre, as a click.
        s.lasso([(int((x + 0.5) * k), int((y + 0.5) * k)) for x, y in action["points"]])
    elif action["kind"] == "stroke":
        s.stroke(action["action"], points, radius=float(action["radius"]) * k)
    else:
        # The centre of the shown pixel clicked, in image pixels.
        x, y = int((action["x"] + 0.5) * k), int((action["y"] + 0.5) * k)
        return s.click_region(action["mode"], x, y, parts=parts, negative=bool(action.get("negative")))
    return None


def canvas_actions(ctx: AppContext, payload: str, parts: float, s: Session):
    """Apply the clicks, strokes and lassos the canvas queued, in order. One the session refuses is
    named in a warning and changes nothing; the others still apply and the canvas shows the result."""
    try:
        actions = canvas.parse_actions(payload)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    for a in actions:
        try:
            note = _apply(a, int(parts), s)
        except SaveConflict as err:  # another session saved: nothing more can be saved until reload
            raise gr.Error(str(err)) from None
        except AnnotationError as err:
            note = f"Not applied: {canvas.describe(a)}. {err}"
        if note:
            gr.Warning(note)
    return (s, *_view(ctx, s))


def canvas_labels(gen: float | None, s: Session) -> str:
    """``"gen|data URL"``: the label map as the canvas shows it, confirmed pixels marked (blue), for
    the lasso's preview of what it takes (no URL when
    the image has no labels yet); ``gen`` is the browser's picture count, returned so that it can
    tell an answer for an older picture."""
    gen = int(gen or 0)
    if s.project is None or s.history is None:
        return f"{gen}|"
    try:
        shown = view.shown_labels(s, DISPLAY_PIXELS)
        return f"{gen}|{canvas.encode_labels(shown, locked=~s.takeable(shown))}"
    except (AnnotationError, ValueError, OSError):
        # Asked for in the background, not by a click: no message; the lasso then merges without
        # a preview, and the action itself reports any problem.
        return f"{gen}|"


@_guard
def accept_object(ctx: AppContext, s: Session):
    """Make the clicked object one confirmed region; click mode stays on for the next object."""
    s.accept_object()
    if s.kept_out:  # never silently: the person sees what the object could not take
        gr.Info(f"{s.kept_out:,} pixels of the object belong to regions you confirmed and stayed theirs; "
                "click inside one of them to refine it instead.")
    return (s, *_view(ctx, s), SIGNS[0])  # the next object starts with a positive click


@_guard
def teach_clicks(ctx: AppContext, s: Session, progress=gr.Progress()):
    """Fine-tune the click model on the project's accepted objects; the project uses it from now on."""
    summary = s.teach_clicks(progress=lambda done, total: progress((done, total), desc="the click model learns"))
    gr.Info(summary[0].upper() + summary[1:] + ".")
    picture, status = _view(ctx, s)
    return s, picture, f"{status} {summary[0].upper() + summary[1:]}."


@_guard
def object_step(ctx: AppContext, which: str, s: Session):
    """Undo the last click of the object in progress, or drop the object."""
    s.undo_click() if which == "undo" else s.cancel_object()
    return (s, *_view(ctx, s))


def _action(method: Callable[[Session], object], doc: str) -> Callable[[Session], tuple]:
    """A handler that runs one argument-free session action and shows the result."""
    @_guard
    def handler(ctx: AppContext, s: Session):
        method(s)
        return (s, *_view(ctx, s))
    handler.__doc__ = doc
    return handler


deselect = _action(Session.deselect, "Clear the selection.")
confirm_image = _action(Session.confirm_image, "Confirm every region of the image as it is (or take that back).")
confirm_with_background = _action(Session.confirm_rest_as_background,
                                  "Join every region nobody confirmed into one background region; confirm the image.")
grow = _action(Session.grow, "Merge the selected region with its next ancestor in the region hierarchy.")


@_guard
def undo_redo(ctx: AppContext, which: str, s: Session):
    """Undo or redo one edit (the result is saved)."""
    s.undo() if which == "undo" else s.redo()
    return (s, *_view(ctx, s))


@_guard
def import_mask(ctx: AppContext, file: str | None, binary: bool, s: Session):
    """Use an existing mask or label map for the current image."""
    if not file:
        raise gr.Error("Choose a mask or label-map file to import.")
    s.import_mask(file, binary=binary)
    return (s, *_view(ctx, s))


def export(s: Session):
    """Zip the project's annotations (the format `cas-studio train --data` reads, once unpacked)."""
    if s.project is None:
        raise gr.Error("Open or create a project first.")
    out = scratch("export-") / f"{s.project.root.name}-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    try:
        return str(export_zip(s.project, out))
    except (ValueError, OSError) as err:
        raise gr.Error(str(err)) from None


def build(ctx: AppContext, default_folder: str, remembered: gr.BrowserState) -> dict:
    """Lay out the tab inside the current Blocks, its handlers bound to ``ctx``; return its
    components by name. ``remembered`` (created outside the tabs, so it is read on page load)
    receives the folder of each project opened."""
    state = gr.State(_new_session(ctx), time_to_live=settings.SESSION_TTL_S)
    bind = functools.partial
    with gr.Row():
        folder = gr.Textbox(default_folder, label="Project folder (created if new)", scale=4, elem_id="project-folder")
        open_btn = gr.Button("Open / create", scale=1, elem_id="project-open")
    with gr.Row():
        with gr.Column(scale=1):
            uploads = gr.File(file_count="multiple", file_types=["image"], label="Add images", elem_id="add-files")
            add_btn = gr.Button("Add to project", elem_id="add-images")
            with gr.Accordion("Video: annotate one frame, propagate to all", open=True):
                video_file = gr.File(file_types=["video"], label="Add a video (its frames become a sequence)",
                                     elem_id="add-video")
                with gr.Row():
                    every = gr.Number(1, precision=0, minimum=1, label="keep every n-th frame", elem_id="video-every")
                    video_btn = gr.Button("Add video", elem_id="add-video-btn")
                frame = gr.Slider(1, 2, value=1, step=1, label="frame", visible=False, elem_id="frame-slider")
                seconds = gr.Slider(10, 300, value=PropagateOptions.seconds, step=5, elem_id="propagate-seconds",
                                    label="propagation: seconds of learning",
                                    info="confirmed frames are learned from; only unconfirmed frames are filled")
                propagate_btn = gr.Button("Propagate to unconfirmed frames", variant="primary", elem_id="propagate")
            with gr.Row():
                prev_btn = gr.Button("< Previous (P)", elem_id="prev-image")
                next_btn = gr.Button("Next > (N)", elem_id="next-image")
            method = gr.Radio(list(ann.METHODS), value=ann.DEFAULT_METHOD, label="Over-segmentation", elem_id="method")
            # One slider per (method, parameter), built from the library's defaults; only the
            # chosen method's sliders show.
            sliders, groups = [], {}
            for m in ann.METHODS:
                with gr.Group(visible=m == ann.DEFAULT_METHOD) as groups[m]:
                    for name, default in ann.DEFAULTS[m].items():
                        lo, hi, step, what = PARAM_RANGES[name]
                        sliders.append(gr.Slider(lo, hi, value=default, step=step, label=f"{name} ({m})", info=what,
                                                 elem_id=f"param-{m}-{name}"))
            choices = ctx.models.choices()
            model_name = gr.Dropdown(choices, value=settings.START_MODEL if settings.START_MODEL in choices else None,
                                     label="model (for the 'model' method: shipped or fine-tuned)", elem_id="annotate-model")
            guided = gr.Checkbox(False, label="let the regions model guide the hierarchy", elem_id="guided")
            seg_btn = gr.Button("Over-segment", variant="primary", elem_id="oversegment")
            with gr.Row():
                salient_btn = gr.Button("One click: salient object", elem_id="one-click-salient")
                regions_btn = gr.Button("One click: regions (model-guided)", elem_id="one-click-regions")
        with gr.Column(scale=3):
            status = gr.Markdown("No project open.", elem_id="annotate-status")
            gr.Radio(click_modes(), value=click_modes()[0], label="Click does", elem_id="click-mode", interactive=True,
                     info="; ".join(f"{t.label}: {t.help}" for t in tools("click"))
                     + ". Proposed regions are outlined only; merged, edited or confirmed ones are coloured.")
            with gr.Row():
                sign = gr.Radio(SIGNS, value=SIGNS[0], label="click object: next click is", elem_id="click-sign",
                                interactive=True,
                                scale=3)
                accept_btn = gr.Button("Accept object (Enter)", variant="primary", elem_id="accept-object", scale=1)
                undo_click_btn = gr.Button("Undo click (Backspace)", elem_id="undo-click", scale=1)
                cancel_btn = gr.Button("Drop object (Esc)", elem_id="cancel-object", scale=1)
                teach_btn = gr.Button("Teach clicks this project", elem_id="teach-clicks", scale=1)
            with gr.Row():
                parts = gr.Slider(2, 8, value=2, step=1, label="split into")
                deselect_btn = gr.Button("Deselect (Esc)", elem_id="deselect")
                grow_tree_btn = gr.Button("Grow selected (G)", elem_id="grow-selected")
                confirm_btn = gr.Button("Confirm whole image (Enter)", elem_id="confirm-image")
                background_btn = gr.Button("Confirm: the rest is one background (B)", elem_id="confirm-background")
            granularity = gr.Slider(0, 1, value=ann.DEFAULT_GRANULARITY, step=0.01, elem_id="granularity",
                                    label="granularity (coarser <-> finer)",
                                    info="re-cuts the proposed regions; your edits and confirmed regions stay")
            with gr.Row():
                gr.Radio(list(canvas.drag_tools()), value=next(iter(canvas.drag_tools())), label="Drag on the picture",
                         elem_id="drag-tool", scale=4, interactive=True,
                         info="a click does what 'Click does' says; a drag draws with this tool. Wheel: zoom; "
                              "right or middle drag (or Space + drag): pan; 0: fit")
                gr.Slider(1, 50, value=BRUSH_RADIUS, step=1, label="brush radius (image px)",
                          elem_id="brush-size", scale=2, interactive=True)
            # Clicks, strokes and lassos are drawn by canvas.canvas_js() on this picture and sent, queued,
            # through the hidden payload box and button below.
            picture = gr.Image(label="Regions (click, or drag to draw)", interactive=False, format="jpeg",
                               elem_id="canvas", buttons=["download"])
            payload = gr.Textbox(visible="hidden", elem_id="canvas-payload")
            send_btn = gr.Button("send", visible="hidden", elem_id="canvas-send")
            # The lasso's preview asks for the shown label map once per picture (canvas.canvas_js()).
            labels_gen = gr.Number(visible="hidden", precision=0, elem_id="canvas-labels-gen")
            labels_map = gr.Textbox(visible="hidden", elem_id="canvas-labels")
            labels_btn = gr.Button("labels", visible="hidden", elem_id="canvas-labels-fetch")
            with gr.Row():
                undo_btn = gr.Button("Undo", elem_id="undo")
                redo_btn = gr.Button("Redo", elem_id="redo")
                export_btn = gr.Button("Export zip")
            exported = gr.File(label="Exported project")
            gr.Markdown("Shortcuts: " + "; ".join(f"**{k}** {v}" for k, v in shortcuts().items()),
                        elem_id="shortcuts")
            with gr.Accordion("Import an existing mask or label map", open=False):
                mask_file = gr.File(label="Mask / label map (PNG)", file_types=["image"], elem_id="import-mask-file")
                binary = gr.Checkbox(label="binary mask (foreground / background)", value=True)
                import_btn = gr.Button("Import for this image")
    views = [state, picture, status]
    edit = dict(concurrency_id="edits", concurrency_limit=4, api_name=False)
    # A few actions are API endpoints too (the session's state persists across a client's calls).
    api = dict(concurrency_id="edits", concurrency_limit=4)
    # The browser remembers the project it opened, so a page reload reopens it (see reopen).
    open_btn.click(bind(open_or_create, ctx), [folder, state], views, api_name="open_project", **api).then(
        lambda s, typed: typed if s is not None and s.project is not None else gr.skip(), [state, folder], remembered,
        api_name=False, show_progress="hidden")
    # The previous project's export link never stays beside another project, nor its cut.
    open_btn.click(lambda: (None, ann.DEFAULT_GRANULARITY), None, [exported, granularity], api_name=False,
                   show_progress="hidden")
    add_btn.click(bind(add_images, ctx), [uploads, state], [*views, uploads], api_name="add_images", **api)
    # Each image opens at the measured starting cut: the slider does not carry one image's cut to the next.
    prev_btn.click(lambda s: (*navigate(ctx, -1, s), ann.DEFAULT_GRANULARITY), state, [*views, granularity], **edit
                   ).then(frame_slider, state, frame, api_name=False, show_progress="hidden")
    next_btn.click(lambda s: (*navigate(ctx, 1, s), ann.DEFAULT_GRANULARITY), state, [*views, granularity], **edit
                   ).then(frame_slider, state, frame, api_name=False, show_progress="hidden")
    video_btn.click(bind(add_video, ctx), [video_file, every, state], [*views, video_file, frame],
                    api_name="add_video", **api)
    frame.release(bind(go_to_frame, ctx), [frame, state], views, api_name="go_to_frame", **api)
    propagate_btn.click(bind(propagate, ctx), [seconds, state], views, concurrency_id="inference",
                        concurrency_limit=1, api_name="propagate")
    seg_btn.click(bind(run_oversegment, ctx), [method, model_name, guided, granularity, state, *sliders], views,
                  concurrency_id="inference", concurrency_limit=1, api_name="oversegment")
    granularity.release(bind(set_granularity, ctx), [granularity, state], views, api_name="granularity", **api)
    regions_btn.click(lambda name, g, s: run_oversegment(ctx, ann.DEFAULT_METHOD, name, True, g, s),
                      [model_name, granularity, state], views, concurrency_id="inference", concurrency_limit=1,
                      api_name="one_click_regions")
    salient_btn.click(bind(one_click_salient, ctx), [model_name, state], views, concurrency_id="inference", concurrency_limit=1,
                      api_name="one_click_salient")
    method.change(lambda m: [gr.update(visible=k == m) for k in ann.METHODS], method, list(groups.values()),
                  api_name=False, show_progress="hidden")
    deselect_btn.click(bind(deselect, ctx), state, views, **edit)
    grow_tree_btn.click(bind(grow, ctx), state, views, api_name="grow", **api)
    confirm_btn.click(bind(confirm_image, ctx), state, views, api_name="confirm_image", **api)
    background_btn.click(bind(confirm_with_background, ctx), state, views, api_name="confirm_background", **api)
    # The browser's queue is taken when the event fires (js), so every drawn action is sent once, in
    # order. Every click fires (Gradio's default drops clicks while one is pending), and after each
    # answer whatever was drawn meanwhile and not yet taken is sent: no stroke waits unseen.
    send_btn.click(bind(canvas_actions, ctx), [payload, parts, state], views,
                   js="(p, n, s) => [window.casCanvas.take(), n, s]", trigger_mode="multiple",
                   concurrency_id="inference", concurrency_limit=1, api_name=False,
                   show_progress="hidden").then(None, None, None,
                                               js="() => { window.casCanvas.answered(); window.casCanvas.flush(); }")
    # In the edits' queue, so the map is the one after every action sent before it.
    labels_btn.click(canvas_labels, [labels_gen, state], labels_map, js="(g, s) => [window.casCanvas.fetching, s]",
                     trigger_mode="multiple", concurrency_id="inference", concurrency_limit=1, api_name=False,
                     show_progress="hidden").then(None, labels_map, None, js="(v) => window.casCanvas.setLabels(v)")
    accept_btn.click(bind(accept_object, ctx), state, [*views, sign], api_name="accept_object", **api)
    # The click model learns from the accepted objects of every image of the project (a minute).
    teach_btn.click(bind(teach_clicks, ctx), state, views, concurrency_id="inference", concurrency_limit=1,
                    api_name="teach_clicks")
    undo_click_btn.click(lambda s: object_step(ctx, "undo", s), state, views, **edit)
    cancel_btn.click(lambda s: object_step(ctx, "cancel", s), state, views, **edit)
    undo_btn.click(lambda s: undo_redo(ctx, "undo", s), state, views, api_name="undo", **api)
    redo_btn.click(lambda s: undo_redo(ctx, "redo", s), state, views, **edit)
    import_btn.click(bind(import_mask, ctx), [mask_file, binary, state], views, **edit)
    export_btn.click(export, state, exported, api_name="export", **api)
    return {"state": state, "folder": folder, "picture": picture, "status": status, "model": model_name, "sliders": dict(zip(SLIDERS, sliders)),
            "method": method, "granularity": granularity}
