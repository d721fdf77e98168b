"""Region decoders: how a regions or texture model's CAS code becomes a label map.

One registry owns every decoder: its name, its default settings (what training records in the
weights) and the function that runs it. Everything else (weights metadata checks, the CLI choices,
the task registry, :func:`cas_studio.inference.infer.decode_regions`) asks this module. Importing it loads no
torch: a decoder that needs the network's features is handed a function that computes them.

Example:
    >>> from cas_studio.inference.decoders import DECODERS, default_decoder
    >>> DECODERS
    ('argmax', 'merge', 'cluster')
    >>> default_decoder("argmax")
    {'method': 'argmax'}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .clustering import DECODER_DEFAULTS, regions_from_features
from .grouping import DEFAULTS as GROUPING_DEFAULTS
from .grouping import regions_from_code
from .labelling import connected_regions, labels_from_probabilities


@dataclass(frozen=True)
class Decoder:
    """A named decoder: ``defaults()`` its settings, ``run(probs, image, settings, *, min_size, features)``
    (``features()`` gives the encoder's (C, h, w) features, computed only when asked for), and
    ``options``: the settings a command line may change (name -> help), as ``--NAME-SETTING``."""

    name: str
    doc: str
    defaults: Callable[[], dict]
    run: Callable[..., np.ndarray]
    options: dict[str, str] = field(default_factory=dict)

    def flag(self, setting: str) -> str:
        """The command-line flag of one of :attr:`options`: ``--merge-min-area`` for ``min_area``."""
        return f"--{self.name}-{setting.replace('_', '-')}"


def _argmax(probs: np.ndarray, image: np.ndarray, spec: dict, *, min_size: int,
            features: Callable[[], np.ndarray]) -> np.ndarray:
    return labels_from_probabilities(probs, min_size=spec.get("min_size", min_size))


def _merge(probs: np.ndarray, image: np.ndarray, spec: dict, *, min_size: int,
           features: Callable[[], np.ndarray]) -> np.ndarray:
    return regions_from_code(probs, image, **spec)


def _cluster(probs: np.ndarray, image: np.ndarray, spec: dict, *, min_size: int,
             features: Callable[[], np.ndarray]) -> np.ndarray:
    spec = dict(spec)
    least = spec.pop("min_size", min_size)
    small = regions_from_features(features(), **spec)
    # Bilinear up-sampling of each cluster's indicator, then arg-max: smooth boundaries instead of
    # the stride-8 blocks that nearest-neighbour up-sampling leaves.
    shape = probs.shape[:0:-1]
    full = np.argmax([cv2.resize((small == k).astype(np.float32), shape, interpolation=cv2.INTER_LINEAR)
                      for k in range(int(small.max()) + 1)], axis=0)
    return connected_regions(full, min_size=least)


_REGISTRY: dict[str, Decoder] = {d.name: d for d in (
    Decoder("argmax", "arg-max channel, then one region per connected blob (small ones absorbed)", dict, _argmax),
    Decoder("merge", "superpixels merged by their mean CAS code (cas_studio.inference.grouping)",
            lambda: dict(GROUPING_DEFAULTS), _merge,
            {"threshold": "code distance to merge below", "scale": "superpixel (Felzenszwalb) scale",
             "color_weight": "weight of the mean CIELAB colour beside the CAS code",
             "min_area": "regions below this share of the image join their closest neighbour"}),
    Decoder("cluster", "the encoder's features clustered (cas_studio.inference.clustering; for textures)",
            lambda: dict(DECODER_DEFAULTS), _cluster, {"threshold": "feature distance to merge clusters below"}),
)}

#: Every decoder's name.
DECODERS: tuple[str, ...] = tuple(_REGISTRY)
#: What a model whose weights record no decoder uses.
DEFAULT_DECODER = "argmax"


def get_decoder(name: str) -> Decoder:
    """The decoder called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown region decoder {name!r}; choose one of {DECODERS}") from None


def default_decoder(method: str) -> dict:
    """The decoder spec ``method`` with its default settings (what training records in weights)."""
    return {"method": method, **get_decoder(method).defaults()}
