"""The regions output: a label map of class-free regions, decoded from the CAS code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...colours import colorize
from ...data import Item
from ...io import read_label_map, write_label_map
from .. import baselines
from ..decoders import DEFAULT_DECODER
from ..scoring import Predictor, evaluate_regions
from ..tasks import Task, get_task
from .base import Output, info_of

if TYPE_CHECKING:
    from torch import nn

#: Classical region baselines (``cas-studio eval --method``).
METHODS = ("felzenszwalb",)


def _shown(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels, return_inverse=True)[1].reshape(labels.shape) + 1
    return colorize(ids, distinct=np.unique(ids))


class RegionsOutput(Output):
    """HxW int32 region ids 0..N-1, decoded as the weights record (arg-max, superpixel merging or
    feature clustering: :mod:`cas_studio.inference.decoders`); covering, PRI, VI against every human
    segmentation."""

    id = "regions"
    methods = METHODS
    score_name = "covering"

    def predict(self, model: nn.Module, image: np.ndarray, *, size: int | None = None, decoder: dict | None = None,
                min_size: int | None = None, **_: object) -> np.ndarray:
        """The decoded regions."""
        from ..infer import predict_regions  # torch loads when a model runs

        least = get_task(info_of(model).task).min_size if min_size is None else min_size
        return predict_regions(model, image, size=size, decoder=decoder, min_size=least)

    def decode(self, model: nn.Module, probs: np.ndarray, image: np.ndarray, *, size: int | None = None,
               min_size: int | None = None) -> np.ndarray:
        """The regions the weights' decoder makes of ``probs``."""
        from ..infer import decode_regions  # torch loads when a model runs

        least = get_task(info_of(model).task).min_size if min_size is None else min_size
        return decode_regions(model, probs, image, min_size=least, size=size)

    def predict_many(self, model: nn.Module, images: Sequence[np.ndarray], *, size: int | None = None,
                     batch: int = 8, flip: bool | None = None, min_size: int | None = None) -> list[np.ndarray]:
        """As :meth:`Output.predict_many`, but an image over ``DECODE_PIXELS`` goes alone through
        :meth:`predict` (decoded on a working copy): memory stays bounded whatever the photos."""
        from ..infer import DECODE_PIXELS  # torch loads when a model runs

        large = [i for i, im in enumerate(images) if im.shape[0] * im.shape[1] > DECODE_PIXELS]
        small = [i for i in range(len(images)) if i not in large]
        out: dict[int, np.ndarray] = {}
        if small:
            done = super().predict_many(model, [images[i] for i in small], size=size, batch=batch, flip=flip,
                                        min_size=min_size)
            out.update(zip(small, done))
        for i in large:
            out[i] = self.predict(model, images[i], size=size, min_size=min_size)
        return [out[i] for i in range(len(images))]

    def segment(self, model: nn.Module, image: np.ndarray, *, size: int | None = None) -> np.ndarray:
        """The decoded regions."""
        return self.predict(model, image, size=size)

    def predictor(self, model: nn.Module, items: Sequence[Item], *, size: int | None = None,
                  decoder: dict | None = None, flip: bool | None = None,
                  temperature: float | None = None) -> Predictor:
        """Decoded regions; ``decoder`` overrides the weights'. Flip averaging and a temperature are refused."""
        from ..infer import inference_options, predict_regions  # torch loads when a model runs

        if temperature is not None:
            raise ValueError("temperature applies to saliency models only")
        inference_options(model, flip=flip)  # refuses flip averaging for a region model
        return lambda it, im: predict_regions(model, im, size=size, decoder=decoder)

    def baseline(self, method: str, *, scale: float = 500, min_size: int = 200) -> Predictor:
        """Felzenszwalb's graph-based segmentation."""
        if method not in METHODS:
            raise ValueError(f"{method} is not a region method; the region baselines are {METHODS}")
        return lambda it, im: baselines.felzenszwalb_regions(im, scale=scale, min_size=min_size)

    def read(self, path: Path, shape: tuple[int, int]) -> np.ndarray:
        """An 8- or 16-bit label-map PNG."""
        return read_label_map(path)

    def write(self, stem: Path, output: np.ndarray, image: np.ndarray, *, extras: Sequence[str] = ()) -> None:
        """The label map as a PNG (8-bit when the ids fit, else 16-bit)."""
        if extras:
            raise ValueError(f"{', '.join(extras)}: extra outputs of a saliency model; a region model writes its "
                             "label map only")
        write_label_map(stem.with_name(stem.name + ".png"), output)

    def evaluate(self, predict: Predictor, items: Sequence[Item], *, progress: bool = True,
                 scores: list[tuple[Item, float]] | None = None) -> dict:
        """Mean covering, PRI, VI (each image's covering in ``scores``)."""
        return evaluate_regions(predict, list(items), progress=progress, scores=scores)

    def validate(self, model: nn.Module, task: Task, items: Sequence[Item], *, size: int,
                 decoder: dict | None = None) -> dict[str, float]:
        """Covering, PRI, VI and boundary F with the regions decoded by ``decoder`` (default arg-max)."""
        from ..infer import decode_regions, predict_probabilities  # torch loads when a model runs

        spec = decoder or {"method": DEFAULT_DECODER}
        return evaluate_regions(
            lambda it, im: decode_regions(model, predict_probabilities(model, im, size=size), im, decoder=spec,
                                          size=size), list(items), progress=False)

    def panels(self, gt: np.ndarray, pred: np.ndarray) -> list[tuple[np.ndarray, str | None]]:
        """Both label maps in region colours."""
        return [(_shown(gt), None), (_shown(pred), None)]
