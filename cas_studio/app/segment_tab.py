"""Segment tab: saliency, regions or texture for any image, with the model's channels shown."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import gradio as gr
import numpy as np

from .. import annotation as annotate
from ..inference.infer import adaptive_threshold, binarize, predict_probabilities, working_copy
from ..inference.outputs import output_of
from ..io import ImageError, read_image, write_image
from ..inference.tasks import TRAINABLE
from .components import ImageUpload
from .context import AppContext
from .settings import SESSION_TTL_S, scratch



def _heat(x: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["magma"](np.clip(x, 0, 1))[..., :3] * 255).astype(np.uint8)


def channel_views(probs: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """(heat map, caption) per softmax channel of ``probs`` (M, H, W), each scaled to its own range
    (32 channels at a mean of 0.01 drawn on one 0-1 scale were near black) and the channels that
    win the most pixels first, so the few that carry the code lead the gallery."""
    won = np.bincount(probs.argmax(0).ravel(), minlength=len(probs)) / probs[0].size
    views = []
    for c in np.argsort(-won, kind="stable"):
        p = probs[c]
        lo, hi = float(p.min()), float(p.max())
        views.append((_heat((p - lo) / max(hi - lo, 1e-6)),
                      f"channel {c}: wins {won[c]:.0%} of pixels, {lo:.2f}-{hi:.2f}"))
    return views


def _mask_views(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, str]:
    """The image dimmed outside the mask, and the path of the cut-out PNG (alpha = mask)."""
    overlay = image.copy()
    overlay[~mask] = (overlay[~mask] * 0.3).astype(np.uint8)
    out = scratch("cutout-") / "cutout.png"
    write_image(out, np.dstack([image, (mask * 255).astype(np.uint8)]))
    return overlay, str(out)


def _default_model(ctx: AppContext, task: str) -> str | None:
    choices = ctx.models.choices()
    return task if task in choices else (choices[0] if choices else None)


def _threshold_text(saliency: np.ndarray, threshold: float, auto: bool) -> str:
    if auto:
        return f"threshold {threshold:.3f} (automatic: 2 x mean saliency, at most 0.5)"
    return f"threshold {threshold:.3f} (set by hand; automatic would be {adaptive_threshold(saliency):.3f})"


def _timing(total_ms: float, network_ms: float) -> str:
    """What the user waited for on the server, and the network's share of it."""
    return f"in {total_ms:.0f} ms on the server (the network {network_ms:.0f} ms of it)"


def _saliency_summary(name: str, arch: str, timing: str, saliency: np.ndarray, threshold: float, auto: bool,
                      mask: np.ndarray) -> str:
    return (f"**saliency** with `{name}` ({arch}) {timing}; {_threshold_text(saliency, threshold, auto)}; "
            f"foreground {mask.mean():.1%} of the image")


class _Refused(Exception):
    """A request segment() answers with a message instead of a result."""


def segment(ctx: AppContext, image_path: str | None, task: str, model: str | None, threshold: float = 0.5,
            auto: bool = True):
    """Run one model on one image; returns (result, overlay, channels, cut-out file, summary,
    saliency state, threshold slider). Saliency uses the automatic threshold when ``auto``, else
    ``threshold``; the slider then shows the threshold used. A refused request clears the previous
    result and says why in the summary (and a warning), so no output is left showing an error badge
    or another image's result."""
    try:
        return _segment(ctx, image_path, task, model, threshold, auto)
    except _Refused as err:
        gr.Warning(str(err))
        return None, None, [], None, f"**Not segmented:** {err}", None, gr.skip()


def _segment(ctx: AppContext, image_path: str | None, task: str, model: str | None, threshold: float, auto: bool):
    t_start = time.perf_counter()
    if not image_path:
        raise _Refused("Upload an image or pick an example first.")
    if task not in TRAINABLE:
        raise _Refused(f"Unknown task {task!r}; choose one of {', '.join(TRAINABLE)}.")
    try:
        image = read_image(image_path)
        net = ctx.models.get(model or _default_model(ctx, task) or "")
    except (ImageError, ValueError, FileNotFoundError) as err:
        # The upload's name, never its server-side folder (Gradio's cache).
        raise _Refused(str(err).replace(str(image_path), Path(image_path).name)) from None
    if net.info.task != task:  # a model answers only the task it was trained for
        raise _Refused(f"{model or _default_model(ctx, task)} is a {net.info.task} model; choose a {task} model for "
                       f"the {task} task.")
    kind = output_of(task)
    if not kind.binary:  # a region model's M channels at 40 MP would be GBs: it works on a copy
        image, _ = working_copy(image)
    t0 = time.perf_counter()
    probs = predict_probabilities(net, image)
    elapsed = (time.perf_counter() - t0) * 1000
    channels = channel_views(probs)
    info = net.info
    name = model or _default_model(ctx, task)
    if kind.binary:  # a map thresholded into a mask: the threshold is the person's to move
        sal = kind.decode(net, probs, image)
        t = adaptive_threshold(sal) if auto else float(threshold)
        mask = binarize(sal, t)
        overlay, out = _mask_views(image, mask)
        heat = _heat(sal)
        timing = _timing((time.perf_counter() - t_start) * 1000, elapsed)
        state = {"saliency": sal, "name": name, "arch": info.arch, "timing": timing}
        summary = _saliency_summary(name, state["arch"], timing, sal, t, auto, mask)
        return heat, overlay, channels, out, summary, state, round(t, 3)
    labels = kind.decode(net, probs, image) + 1
    # Touching regions never share a colour, and none takes the colour of the image under it.
    colours = annotate.colorize(labels, distinct=np.unique(labels), image=image)
    outlines = annotate.overlay(image, labels, alpha=0.0)
    summary = (f"**{task}** with `{name}` {_timing((time.perf_counter() - t_start) * 1000, elapsed)}: "
               f"**{len(np.unique(labels))} regions** from {probs.shape[0]} channels")
    return colours, outlines, channels, None, summary, None, gr.skip()


def rethreshold(image_path: str | None, state: dict | None, threshold: float):
    """Mask, cut-out and summary for a threshold set by hand, without running the model again;
    the automatic threshold is switched off."""
    if state is None or not image_path:
        return gr.skip(), gr.skip(), gr.skip(), False
    image = read_image(image_path)
    mask = binarize(state["saliency"], float(threshold))
    overlay, out = _mask_views(image, mask)
    summary = _saliency_summary(state["name"], state["arch"], state["timing"], state["saliency"], float(threshold),
                                False, mask)
    return overlay, out, summary, False


def use_automatic(image_path: str | None, state: dict | None, auto: bool):
    """Back to the automatic threshold (when ``auto`` is ticked): mask, cut-out, summary, slider."""
    if not auto or state is None or not image_path:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    t = adaptive_threshold(state["saliency"])
    image = read_image(image_path)
    mask = binarize(state["saliency"], t)
    overlay, out = _mask_views(image, mask)
    summary = _saliency_summary(state["name"], state["arch"], state["timing"], state["saliency"], t, True, mask)
    return overlay, out, summary, round(t, 3)


def build(ctx: AppContext, examples: list[str]) -> dict:
    """Lay out the tab inside the current Blocks, its handlers bound to ``ctx``; return its
    components by name."""
    with gr.Row():
        with gr.Column(scale=1):
            image = ImageUpload(type="filepath", label="Image", sources=["upload", "clipboard"], height=360,
                                format="png", elem_id="segment-image")
            task = gr.Radio(list(TRAINABLE), value=TRAINABLE[0], label="Task")
            model = gr.Dropdown(ctx.models.choices(), value=_default_model(ctx, "saliency"), label="Model",
                                elem_id="segment-model",
                                allow_custom_value=False)
            run = gr.Button("Segment", variant="primary", elem_id="segment-run")
            with gr.Row():
                auto = gr.Checkbox(True, label="automatic threshold", elem_id="segment-auto",
                                   info="2 x mean saliency (the paper's rule), at most 0.5")
                threshold = gr.Slider(0, 1, value=0.5, step=0.01, label="Saliency threshold", elem_id="segment-threshold",
                                      info="shows the threshold in use; move it or type a value to set your own")
            if examples:
                gr.Examples(examples, inputs=image, label="Examples (bundled with scikit-image)")
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_id="segment-summary")
            with gr.Row():
                result = gr.Image(label="Heat map / region colours", format="png", interactive=False)
                overlay = gr.Image(label="Mask / boundaries", format="png", interactive=False)
            cutout = gr.File(label="Cut-out (PNG with alpha)")
            channels = gr.Gallery(label="Softmax channels (the CAS code of each pixel)", columns=4, height=220)
    sal_state = gr.State(None, time_to_live=SESSION_TTL_S)
    run.click(functools.partial(segment, ctx), [image, task, model, threshold, auto], [result, overlay, channels, cutout, summary, sal_state,
                                                               threshold],
              api_name="segment", concurrency_id="inference", concurrency_limit=1)
    # The threshold belongs to outputs thresholded into a mask (saliency), not to region maps.
    task.change(lambda t: (gr.update(value=_default_model(ctx, t)), *[gr.update(visible=output_of(t).binary)] * 2),
                task, [model, auto, threshold], api_name=False)
    # .input fires on the user's own changes (dragging or typing), never on the value segment() sets.
    threshold.input(rethreshold, [image, sal_state, threshold], [overlay, cutout, summary, auto], api_name="threshold",
                    trigger_mode="always_last", show_progress="hidden")
    auto.input(use_automatic, [image, sal_state, auto], [overlay, cutout, summary, threshold], api_name=False)
    return {"image": image, "model": model}
