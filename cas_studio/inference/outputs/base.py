"""What every output kind answers: predict, decode, score, select, show and write its output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...data import Item
from ..scoring import Predictor
from ..tasks import Task

if TYPE_CHECKING:
    from torch import nn


def info_of(model: nn.Module):
    """The model's weights record (:func:`cas_studio.models.weights.info_of`), loading torch only when asked."""
    from ...models.weights import info_of as record  # torch loads when a model runs

    return record(model)


class Unsupported(NotImplementedError, ValueError):
    """An output kind was asked for something it does not do (a ``ValueError``, so commands report it)."""


class Output:
    """One kind of model output (a saliency map, a label map of regions, ...).

    A :class:`~cas_studio.inference.tasks.Task` names its output kind; callers ask the kind (via
    :func:`~cas_studio.inference.outputs.output_of`) instead of branching on the task. Subclasses
    override what they do; the base raises :class:`Unsupported` naming the kind and the request.

    Attributes:
        id: the name tasks use for it.
        binary: the output is a map thresholded into an object mask (the app shows a threshold).
        score_name: the per-image score :meth:`evaluate` reports, for titles.
        lower_is_worse: a low per-image score is a bad image (region covering) rather than a high
            one (saliency MAE).
        extras: optional extra files :meth:`write` can add (name -> help).
        methods: the classical baselines :meth:`baseline` offers.
    """

    id: str = ""
    binary: bool = False
    score_name: str = ""
    lower_is_worse: bool = True
    extras: dict[str, str] = {}
    methods: tuple[str, ...] = ()

    def _missing(self, what: str) -> Unsupported:
        return Unsupported(f"the {self.id or type(self).__name__} output kind does not {what}")

    def predict(self, model: nn.Module, image: np.ndarray, *, size: int | None = None, **options) -> np.ndarray:
        """The model's output on ``image`` at the image's size."""
        raise self._missing("predict")

    def decode(self, model: nn.Module, probs: np.ndarray, image: np.ndarray, *, size: int | None = None,
               min_size: int | None = None) -> np.ndarray:
        """The output from the network's (M, H, W) probabilities (already computed, e.g. in a batch)."""
        raise self._missing("decode")

    def predict_many(self, model: nn.Module, images: Sequence[np.ndarray], *, size: int | None = None,
                     batch: int = 8, flip: bool | None = None, min_size: int | None = None) -> list[np.ndarray]:
        """:meth:`decode` of each image, same-shape images run through the network ``batch`` at a time."""
        from ..infer import predict_probabilities  # torch loads when a model runs

        probs = predict_probabilities(model, list(images), size=size, batch_size=batch, flip=flip)
        return [self.decode(model, p, im, size=size, min_size=min_size) for p, im in zip(probs, images)]

    def segment(self, model: nn.Module, image: np.ndarray, *, size: int | None = None) -> np.ndarray:
        """The output as an HxW int32 label map (what a held-out image is checked with)."""
        raise self._missing("segment")

    def object_mask(self, model: nn.Module, image: np.ndarray) -> np.ndarray:
        """An HxW bool mask of the object the model picks out (one-click annotation)."""
        raise self._missing("give an object mask")

    def predictor(self, model: nn.Module, items: Sequence[Item], *, size: int | None = None,
                  decoder: dict | None = None, flip: bool | None = None,
                  temperature: float | None = None) -> Predictor:
        """``predict(item, image)`` for :meth:`evaluate`, with the test-time options checked."""
        raise self._missing("predict a dataset")

    def baseline(self, method: str, *, scale: float = 500, min_size: int = 200) -> Predictor:
        """A classical baseline of this kind as a predictor; ``ValueError`` for another kind's."""
        raise self._missing("have baselines")

    def read(self, path: Path, shape: tuple[int, int]) -> np.ndarray:
        """A saved prediction (PNG) as :meth:`predict` returns it."""
        raise self._missing("read saved predictions")

    def write(self, stem: Path, output: np.ndarray, image: np.ndarray, *, extras: Sequence[str] = ()) -> None:
        """Save ``output`` as ``stem.png`` (and each of ``extras`` as ``stem_EXTRA.png``)."""
        raise self._missing("write")

    def evaluate(self, predict: Predictor, items: Sequence[Item], *, progress: bool = True,
                 scores: list[tuple[Item, float]] | None = None) -> dict:
        """Metrics of ``predict`` over ``items`` (and each image's score in ``scores``)."""
        raise self._missing("evaluate")

    def validate(self, model: nn.Module, task: Task, items: Sequence[Item], *, size: int,
                 decoder: dict | None = None) -> dict[str, float]:
        """Validation metrics while training (the selection metric among them)."""
        raise self._missing("validate")

    def selection(self, task: Task, items: Sequence[Item]) -> tuple[str, bool]:
        """The validation metric that picks the best checkpoint on ``items``, and whether higher is better."""
        return task.selection

    def recorded_channel(self, metrics: dict) -> int | None:
        """The channel a trained model's weights record as meaningful, from its validation metrics."""
        return None

    def panels(self, gt: np.ndarray, pred: np.ndarray) -> list[tuple[np.ndarray, str | None]]:
        """Ground truth and prediction as images to show side by side (image, colormap or None)."""
        raise self._missing("show")
