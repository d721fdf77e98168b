"""Segment tab: saliency, regions or texture for any image, with the model's channels shown."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from .. import annotate
from ..infer import binarize, decode_regions, predict_probabilities, saliency_channel
from ..io import ImageError, read_image, write_image
from .models import get_model, model_choices

TASKS = ["saliency", "regions", "texture"]


def _heat(x: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["magma"](np.clip(x, 0, 1))[..., :3] * 255).astype(np.uint8)


def _mask_views(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, str]:
    """The image dimmed outside the mask, and the path of the cut-out PNG (alpha = mask)."""
    overlay = image.copy()
    overlay[~mask] = (overlay[~mask] * 0.3).astype(np.uint8)
    out = Path(tempfile.mkdtemp(prefix="cas-cutout-")) / "cutout.png"
    write_image(out, np.dstack([image, (mask * 255).astype(np.uint8)]))
    return overlay, str(out)


def _default_model(task: str) -> str | None:
    choices = model_choices()
    return task if task in choices else (choices[0] if choices else None)


def segment(image_path: str | None, task: str, model: str | None):
    """Run one model on one image; returns (result, overlay, channels, cut-out file, summary, saliency state)."""
    if not image_path:
        raise gr.Error("Upload an image or pick an example first.")
    if task not in TASKS:
        raise gr.Error(f"Unknown task {task!r}; choose one of {TASKS}.")
    try:
        image = read_image(image_path)
        net = get_model(model or _default_model(task) or "")
    except (ImageError, ValueError, FileNotFoundError) as err:
        raise gr.Error(str(err)) from None
    t0 = time.perf_counter()
    probs = predict_probabilities(net, image)
    elapsed = (time.perf_counter() - t0) * 1000
    channels = [(_heat(p), f"channel {c}: mean {p.mean():.2f}") for c, p in enumerate(probs)]
    info = getattr(net, "info", None)
    name = model or _default_model(task)
    if task == "saliency":
        sal = probs[saliency_channel(net)]
        mask = binarize(sal)
        overlay, out = _mask_views(image, mask)
        summary = (f"**saliency** with `{name}` ({info.arch if info else '?'}) in {elapsed:.0f} ms; "
                   f"threshold 2 x mean = {min(2 * sal.mean(), 1):.3f}; foreground {mask.mean():.1%} of the image")
        return _heat(sal), overlay, channels, out, summary, sal
    labels = decode_regions(net, probs, image) + 1
    summary = (f"**{task}** with `{name}` in {elapsed:.0f} ms: **{len(np.unique(labels))} regions** "
               f"from {probs.shape[0]} channels")
    return annotate.colorize(labels), annotate.overlay(image, labels, alpha=0.0), channels, None, summary, None


def rethreshold(image_path: str | None, saliency: np.ndarray | None, threshold: float):
    """Binary mask and cut-out for a user threshold, without running the model again."""
    if saliency is None or not image_path:
        return gr.skip(), gr.skip()
    image = read_image(image_path)
    return _mask_views(image, binarize(saliency, threshold if threshold > 0 else None))


def build(examples: list[str]) -> dict:
    """Lay out the tab inside the current Blocks; return its components by name."""
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(type="filepath", label="Image", sources=["upload", "clipboard"], height=360,
                             format="png", elem_id="segment-image")
            task = gr.Radio(TASKS, value="saliency", label="Task")
            model = gr.Dropdown(model_choices(), value=_default_model("saliency"), label="Model",
                                allow_custom_value=False)
            run = gr.Button("Segment", variant="primary", elem_id="segment-run")
            threshold = gr.Slider(0, 1, value=0, step=0.01, label="Saliency threshold (0 = 2 x mean, the paper's rule)")
            if examples:
                gr.Examples(examples, inputs=image, label="Examples (bundled with scikit-image)")
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_id="segment-summary")
            with gr.Row():
                result = gr.Image(label="Heat map / region colours", format="png", interactive=False)
                overlay = gr.Image(label="Mask / boundaries", format="png", interactive=False)
            cutout = gr.File(label="Cut-out (PNG with alpha)")
            channels = gr.Gallery(label="Softmax channels (the CAS code of each pixel)", columns=4, height=220)
    sal_state = gr.State(None)
    run.click(segment, [image, task, model], [result, overlay, channels, cutout, summary, sal_state],
              api_name="segment", concurrency_id="inference", concurrency_limit=1)
    task.change(lambda t: gr.update(value=_default_model(t)), task, model, api_name=False)
    threshold.release(rethreshold, [image, sal_state, threshold], [overlay, cutout], api_name=False)
    return {"image": image, "model": model}
