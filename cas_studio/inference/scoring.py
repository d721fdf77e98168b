"""Scoring predictions against ground truth: SOD metrics for saliency maps, region metrics for label maps.

A *predictor* is ``predict(item, image) -> HxW array``; these functions run one over a dataset's
items and average the per-image metrics (pysodmetrics; BSDS covering, PRI, VI).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from ..data import Item, bsds_segmentations, read_target
from ..io import read_image
from ..metrics import SaliencyMeter, mean_metrics, region_metrics


def ground_truths(item: Item, shape) -> list[np.ndarray]:
    """Every ground truth of ``item`` at ``shape``: the human segmentations of a BSDS file, else its one target."""
    if item.kind == "bsds_mat":
        return bsds_segmentations(item.target)
    return [read_target(item, shape=shape)]


#: ``predict(item, image) -> HxW array``: a model, a folder of saved predictions or a baseline.
Predictor = Callable[[Item, np.ndarray], np.ndarray]


def evaluate_saliency(predict: Predictor, items: list[Item], *, progress: bool = True,
                      scores: list[tuple[Item, float]] | None = None) -> dict[str, float | np.ndarray]:
    """SOD metrics of ``predict(item, image) -> HxW saliency in [0, 1]`` over ``items``.

    ``scores``, when given, receives ``(item, MAE of that image)`` for every image.
    """
    meter = SaliencyMeter()
    for it in tqdm(items, desc="saliency", disable=not progress, leave=False):
        image = read_image(it.image)
        pred, gt = predict(it, image), read_target(it, shape=image.shape[:2]) > 0
        meter.update(pred, gt)
        if scores is not None:
            scores.append((it, float(np.abs(np.asarray(pred, np.float64) - gt).mean())))
    return meter.results()


def evaluate_regions(segment: Predictor, items: list[Item], *, progress: bool = True,
                     scores: list[tuple[Item, float]] | None = None) -> dict[str, float]:
    """Mean covering / PRI / VI of ``segment(item, image) -> HxW labels`` over ``items``.

    ``scores``, when given, receives ``(item, covering of that image)`` for every image.
    """
    rows = []
    for it in tqdm(items, desc="regions", disable=not progress, leave=False):
        image = read_image(it.image)
        labels = segment(it, image)
        gts = ground_truths(it, image.shape[:2])
        valid = gts[0] >= 0  # unlabelled pixels of annotation projects are not scored
        if not valid.all():
            labels, gts = labels[valid], [g[valid] for g in gts]
        rows.append(region_metrics(labels, gts))
        if scores is not None:
            scores.append((it, rows[-1]["covering"]))
    return mean_metrics(rows)


def saliency_channel_on(model, items: list[Item], *, size: int | None = None, flip: bool | None = None,
                        temperature: float | None = None) -> tuple[int, list[np.ndarray], list[np.ndarray]]:
    """The paper's rule on ``items``: (channel, the probabilities, the binary masks) for reuse."""
    from .infer import choose_saliency_channel, predict_probabilities  # torch, only when a model runs

    probs, masks = [], []
    for it in items:
        im = read_image(it.image)
        probs.append(predict_probabilities(model, im, size=size, flip=flip, temperature=temperature))
        masks.append(read_target(it, shape=im.shape[:2]) > 0)
    return choose_saliency_channel(probs, masks), probs, masks
