"""Region decoders: how a regions or texture model's CAS code becomes a label map.

One registry owns every decoder: its name, its default settings (what training records in the
weights) and the function that runs it. Everything else (weights metadata checks, the CLI choices,
the task registry, :func:`cas_studio.inference.infer.decode_regions`) asks this module. Importing it loads no
torch; each decoder imports what it needs when it runs.

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

import numpy as np


@dataclass(frozen=True)
class Decoder:
    """A named decoder: ``defaults()`` its settings, ``run(model, probs, image, settings, min_size, size)``,
    and ``options``: the settings a command line may change (name -> help), as ``--NAME-SETTING``."""

    name: str
    doc: str
    defaults: Callable[[], dict]
    run: Callable[..., np.ndarray]
    options: dict[str, str] = field(default_factory=dict)

    def flag(self, setting: str) -> str:
        """The command-line flag of one of :attr:`options`: ``--merge-min-area`` for ``min_area``."""
        return f"--{self.name}-{setting.replace('_', '-')}"


def _argmax(model, probs: np.ndarray, image: np.ndarray, spec: dict, min_size: int, size: int | None) -> np.ndarray:
    from .infer import labels_from_probabilities

    return labels_from_probabilities(probs, min_size=spec.get("min_size", min_size))


def _merge(model, probs: np.ndarray, image: np.ndarray, spec: dict, min_size: int, size: int | None) -> np.ndarray:
    from .grouping import regions_from_code

    return regions_from_code(probs, image, **spec)


def _cluster(model, probs: np.ndarray, image: np.ndarray, spec: dict, min_size: int, size: int | None) -> np.ndarray:
    import cv2

    from .clustering import regions_from_features
    from .infer import connected_regions, encoder_features

    spec = dict(spec)
    least = spec.pop("min_size", min_size)
    small = regions_from_features(encoder_features(model, image, size=size), **spec)
    # Bilinear up-sampling of each cluster's indicator, then arg-max: smooth boundaries instead of
    # the stride-8 blocks that nearest-neighbour up-sampling leaves.
    shape = probs.shape[:0:-1]
    full = np.argmax([cv2.resize((small == k).astype(np.float32), shape, interpolation=cv2.INTER_LINEAR)
                      for k in range(int(small.max()) + 1)], axis=0)
    return connected_regions(full, min_size=least)


def _merge_defaults() -> dict:
    from .grouping import DEFAULTS

    return dict(DEFAULTS)


def _cluster_defaults() -> dict:
    from .clustering import DECODER_DEFAULTS

    return dict(DECODER_DEFAULTS)


_REGISTRY: dict[str, Decoder] = {d.name: d for d in (
    Decoder("argmax", "arg-max channel, then one region per connected blob (small ones absorbed)", dict, _argmax),
    Decoder("merge", "superpixels merged by their mean CAS code (cas_studio.inference.grouping)", _merge_defaults, _merge,
            {"threshold": "code distance to merge below", "scale": "superpixel (Felzenszwalb) scale",
             "color_weight": "weight of the mean CIELAB colour beside the CAS code",
             "min_area": "regions below this share of the image join their closest neighbour"}),
    Decoder("cluster", "the encoder's features clustered (cas_studio.inference.clustering; for textures)", _cluster_defaults,
            _cluster, {"threshold": "feature distance to merge clusters below"}),
)}

#: Every decoder's name.
DECODERS: tuple[str, ...] = tuple(_REGISTRY)


def get_decoder(name: str) -> Decoder:
    """The decoder called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown region decoder {name!r}; choose one of {DECODERS}") from None


def default_decoder(method: str) -> dict:
    """The decoder spec ``method`` with its default settings (what training records in weights)."""
    return {"method": method, **get_decoder(method).defaults()}
