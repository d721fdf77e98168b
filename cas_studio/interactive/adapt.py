"""Learn from the project: fine-tune the click model on the objects a person accepted.

Objects accepted on a few frames of a video (or a few photos of one kind) are the best training
data the click model will ever see for the rest of them: the same object, light and camera. A copy
of the click model is fine-tuned on them with the training's own recipe (random crops that keep
the object, iterative click simulation, BCE weighted on the previous prediction's errors plus soft
IoU), within a time budget, with BatchNorm kept as trained (a few images cannot re-estimate it).

Example:
    >>> import numpy as np
    >>> from cas_studio.interactive.adapt import AdaptOptions, adapt_click_model
    >>> image = np.zeros((96, 128, 3), np.uint8); image[20:70, 30:90] = 220
    >>> mask = np.zeros((96, 128), bool); mask[20:70, 30:90] = True
    >>> model = adapt_click_model([(image, mask)], options=AdaptOptions(steps=1, size=64, batch=1))
    >>> model.info.task
    'clicks'
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from ..models.weights import load_model, resolve_device
from ..training.budget import Budget
from .data import crop_resize
from .train import batch_loss, optimizer, simulate_clicks

if TYPE_CHECKING:
    from ..data.project import Project


class AdaptError(ValueError):
    """The accepted objects cannot train the click model; the message says why."""


@dataclass(frozen=True)
class AdaptOptions:
    """How the click model is fine-tuned on accepted objects.

    Attributes:
        seconds: the time budget (the fine-tune stops at the step that would pass it).
        steps: the most steps.
        size: the training crop's side in pixels.
        batch: crops per step.
        lr: AdamW learning rate of the decoder (encoder a third, click inputs 4x), after a 10-step
            warm-up.
        max_iters: the most simulated correction clicks per step.
        seed: the crops' and clicks' random seed.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    seconds: float = 60.0
    steps: int = 300
    size: int = 320
    batch: int = 4
    lr: float = 1e-4
    max_iters: int = 3
    seed: int = 0
    device: str = "auto"


def _check(objects: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    if not objects:
        raise AdaptError("no accepted object: accept at least one object to learn from")
    out = []
    for k, (image, mask) in enumerate(objects):
        image, mask = np.asarray(image), np.asarray(mask)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise AdaptError(f"object {k}: expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
        if mask.shape != image.shape[:2]:
            raise AdaptError(f"object {k}: the mask is {mask.shape} but the image is {image.shape[:2]}")
        mask = mask.astype(bool)
        if not mask.any() or mask.all():
            raise AdaptError(f"object {k}: the mask is {'empty' if not mask.any() else 'the whole image'}: "
                             "an object needs pixels in and out")
        out.append((image, mask))
    return out


def adapt_click_model(objects: Sequence[tuple[np.ndarray, np.ndarray]], *, weights: str | torch.nn.Module = "clicks",
                      options: AdaptOptions = AdaptOptions(),
                      progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> torch.nn.Module:
    """A copy of the click model fine-tuned on ``objects``, (HxWx3 uint8 image, HxW bool mask) pairs.

    Args:
        objects: the accepted objects, each with its image.
        weights: the click model to start from (a name, a path or a loaded click model; never changed).
        options: the budget and recipe.
        progress: called as ``progress(step, steps)`` after each step.
        should_stop: polled every step; True ends the fine-tune early (the result is still usable).

    Returns:
        The fine-tuned click model in eval mode, with the metadata of the one it started from:
        :class:`~cas_studio.interactive.ClickSegmenter` takes it as it is.

    Raises:
        AdaptError: no object, an image that is not HxWx3 uint8, a mask of another size, an empty
            or full mask.
    """
    objects = _check(objects)
    device = resolve_device(options.device)
    source = weights if isinstance(weights, torch.nn.Module) else load_model(weights, "cpu")
    model = copy.deepcopy(source).to(device)
    model.eval()  # BatchNorm as trained; gradients still flow
    for p in model.parameters():
        p.requires_grad_(True)
    opt = optimizer(model, options.lr)
    rng = np.random.default_rng(options.seed)
    bar = tqdm(total=options.steps, desc="adapt clicks", unit="step", leave=False, disable=None)
    for step in Budget(options.steps, options.seconds, should_stop):
        crops = [crop_resize(*objects[int(rng.integers(len(objects)))], options.size, rng) for _ in range(options.batch)]
        crops = [(im, m) for im, m in crops if m.any()]
        if not crops:
            continue
        images = torch.from_numpy(np.stack([im for im, _ in crops]))
        masks = np.stack([m for _, m in crops])
        clicks, prev = simulate_clicks(model, images, masks, rng, options.max_iters, device)
        warm = min(1.0, (step + 1) / 10)
        for g in opt.param_groups:
            g["lr"] = g["initial_lr"] * warm
        loss, _ = batch_loss(model, images, masks, clicks, prev, device)
        if not torch.isfinite(loss):
            raise AdaptError(f"the fine-tune's loss became {float(loss)} at step {step + 1}: lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        if progress is not None:
            progress(step + 1, options.steps)
    bar.close()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


#: A confirmed region counts as an accepted object when it covers this share of its image or
#: more, and at most :data:`MAX_OBJECT_SHARE` (a larger one is the background around objects).
MIN_OBJECT_SHARE = 0.002
MAX_OBJECT_SHARE = 0.8
#: Most objects learned from (the most recently saved images first): a fine-tune of a minute sees
#: a few hundred crops, so more objects would be seen once or never.
MAX_OBJECTS = 64
#: Where a project keeps its own click model, relative to the project folder.
PROJECT_WEIGHTS = "models/clicks.safetensors"


def accepted_objects(project: Project, *, limit: int = MAX_OBJECTS) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, mask) of each confirmed region of ``project`` (a :class:`~cas_studio.data.project.Project`)
    sized like an object (:data:`MIN_OBJECT_SHARE` to :data:`MAX_OBJECT_SHARE` of its image), the
    most recently saved images first, at most ``limit``."""
    from ..io import read_image

    out: list[tuple[np.ndarray, np.ndarray]] = []
    for path in sorted(project.confirmed(), key=lambda p: project.label_path(p).stat().st_mtime_ns, reverse=True):
        labels, ids = project.load_labels(path), project.confirmed_ids(path)
        if labels is None or ids is None:
            continue
        areas = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)
        keep = [int(i) for i in ids if 0 < i < len(areas) and
                MIN_OBJECT_SHARE * labels.size <= areas[i] <= MAX_OBJECT_SHARE * labels.size]
        if not keep:
            continue
        image = read_image(path)
        out += [(image, labels == i) for i in keep]
        if len(out) >= limit:
            break
    return out[:limit]


def teach_project(project: Project, *, weights: str | torch.nn.Module = "clicks", options: AdaptOptions = AdaptOptions(),
                  progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> tuple[torch.nn.Module, int]:
    """Fine-tune the click model on ``project``'s accepted objects and save it in the project
    (:data:`PROJECT_WEIGHTS`, written atomically); returns the model and the objects it learned from.

    Raises:
        AdaptError: the project has no confirmed region sized like an object.
    """
    from ..models.weights import info_of, save_weights

    objects = accepted_objects(project)
    if not objects:
        raise AdaptError("no accepted object to learn from: accept objects with click-to-object (or confirm "
                         "regions of 0.2-80% of an image) first")
    model = adapt_click_model(objects, weights=weights, options=options, progress=progress, should_stop=should_stop)
    path = project.root / PROJECT_WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(model, path, info_of(model), half=True)
    return model, len(objects)
