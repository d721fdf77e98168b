"""The saliency output: one channel's probability map, thresholded into the salient object's mask."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...data import Item
from ...data.items import class_free
from ...io import read_label_map, to_rgb8, write_image
from ...metrics import SaliencyMeter
from .. import baselines
from ..scoring import Predictor, evaluate_regions, evaluate_saliency, saliency_channel_on
from ..tasks import Task
from .base import Output, info_of

if TYPE_CHECKING:
    from torch import nn

#: Classical saliency baselines (``cas-studio eval --method``).
METHODS = ("spectral_residual",)


class SaliencyOutput(Output):
    """HxW float32 saliency in [0, 1] (the saliency channel's softmax); its mask by the paper's 2x
    mean threshold (:func:`~cas_studio.inference.infer.binarize`); SOD metrics."""

    id = "saliency"
    binary = True
    methods = METHODS
    score_name = "MAE"
    lower_is_worse = False
    extras = {"mask": "the binary mask (255 = object) at the automatic threshold (2 x mean saliency, at most "
                      "0.5; the app's)",
              "cutout": "the image with the background transparent (RGBA)"}

    def predict(self, model: nn.Module, image: np.ndarray, *, size: int | None = None, flip: bool | None = None,
                temperature: float | None = None, channel: int | None = None, **_: object) -> np.ndarray:
        """The saliency map."""
        from ..infer import predict_saliency  # torch loads when a model runs

        return predict_saliency(model, image, size=size, flip=flip, temperature=temperature, channel=channel)

    def decode(self, model: nn.Module, probs: np.ndarray, image: np.ndarray, *, size: int | None = None,
               min_size: int | None = None) -> np.ndarray:
        """The saliency channel of ``probs``."""
        from ..infer import saliency_channel  # torch loads when a model runs

        return probs[saliency_channel(model)]

    def segment(self, model: nn.Module, image: np.ndarray, *, size: int | None = None) -> np.ndarray:
        """The binary mask as labels: 0 background, 1 salient."""
        from ..infer import binarize, predict_saliency  # torch loads when a model runs

        return binarize(predict_saliency(model, image, size=size)).astype(np.int32)

    def object_mask(self, model: nn.Module, image: np.ndarray) -> np.ndarray:
        """The salient object."""
        from ..infer import binarize, predict_saliency  # torch loads when a model runs

        return binarize(predict_saliency(model, to_rgb8(image)))

    def predictor(self, model: nn.Module, items: Sequence[Item], *, size: int | None = None,
                  decoder: dict | None = None, flip: bool | None = None,
                  temperature: float | None = None) -> Predictor:
        """Saliency maps; a model without a recorded channel gets the paper's rule on ``items``."""
        from ..infer import inference_options, predict_probabilities  # torch loads when a model runs

        if decoder is not None:
            raise ValueError("a decoder applies to region models only")
        inference_options(model, flip=flip, temperature=temperature)  # refused before any work
        channel = info_of(model).saliency_channel
        if channel is None:
            channel, _, _ = saliency_channel_on(model, list(items), size=size, flip=flip, temperature=temperature)
        return lambda it, im: predict_probabilities(model, im, size=size, flip=flip, temperature=temperature)[channel]

    def baseline(self, method: str, *, scale: float = 500, min_size: int = 200) -> Predictor:
        """Spectral residual saliency."""
        if method not in METHODS:
            raise ValueError(f"{method} is not a saliency method; the saliency baselines are {METHODS}")
        return lambda it, im: baselines.spectral_residual_saliency(im)

    def read(self, path: Path, shape: tuple[int, int]) -> np.ndarray:
        """An 8-bit saliency PNG as values in [0, 1]."""
        return read_label_map(path).astype(np.float32) / 255.0

    def write(self, stem: Path, output: np.ndarray, image: np.ndarray, *, extras: Sequence[str] = ()) -> None:
        """The map as an 8-bit PNG; ``mask`` and ``cutout`` beside it."""
        from ..infer import binarize  # torch loads when a model runs

        write_image(stem.with_name(stem.name + ".png"), np.clip(np.round(output * 255), 0, 255).astype(np.uint8))
        mask = binarize(output).astype(np.uint8) * 255 if extras else None
        if "mask" in extras:
            write_image(stem.with_name(stem.name + "_mask.png"), mask)
        if "cutout" in extras:
            write_image(stem.with_name(stem.name + "_cutout.png"), np.dstack([to_rgb8(image), mask]))

    def evaluate(self, predict: Predictor, items: Sequence[Item], *, progress: bool = True,
                 scores: list[tuple[Item, float]] | None = None) -> dict:
        """Adaptive / max / mean F-beta, MAE, S-, E-measure, weighted F (each image's MAE in ``scores``)."""
        return evaluate_saliency(predict, list(items), progress=progress, scores=scores)

    def validate(self, model: nn.Module, task: Task, items: Sequence[Item], *, size: int,
                 decoder: dict | None = None) -> dict[str, float]:
        """SOD metrics on the channel the paper's rule picks (reported as ``saliency_channel``).

        An annotation project's regions record no "salient": there the binary mask (on the channel
        the weights record) is scored as a two-region segmentation, by covering.
        """

        items = list(items)
        if class_free(items):
            return evaluate_regions(lambda it, im: self.segment(model, im, size=size), items, progress=False)
        channel, probs, masks = saliency_channel_on(model, items, size=size)
        meter = SaliencyMeter()
        for p, m in zip(probs, masks):
            meter.update(p[channel], m)
        res = {k: v for k, v in meter.results().items() if np.isscalar(v)}
        return {**res, "saliency_channel": channel}

    def selection(self, task: Task, items: Sequence[Item]) -> tuple[str, bool]:
        """Covering on an annotation project's class-free regions, else the task's metric."""
        return ("covering", True) if class_free(items) else task.selection

    def recorded_channel(self, metrics: dict) -> int | None:
        """The channel validation chose."""

        channel = metrics.get("saliency_channel")
        return None if channel is None else int(channel)

    def panels(self, gt: np.ndarray, pred: np.ndarray) -> list[tuple[np.ndarray, str | None]]:
        """The ground-truth mask and the saliency map, in gray."""
        return [(gt > 0, "gray"), (pred, "gray")]
