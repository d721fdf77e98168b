"""Label maps from a model's output: arg-max channels and connected regions (no torch)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import measure


def labels_from_probabilities(probs: np.ndarray, *, min_size: int = 64) -> np.ndarray:
    """(M, H, W) probabilities -> HxW int32 labels 0..N-1.

    Arg-max channel, then connected components (one region per connected blob of a channel), then
    regions smaller than ``min_size`` pixels are absorbed by their nearest large region.
    """
    return connected_regions(probs.argmax(0), min_size=min_size)


def connected_regions(labels: np.ndarray, *, min_size: int = 64) -> np.ndarray:
    """HxW labels -> HxW int32 labels 0..N-1, one per 4-connected blob of equal input labels;
    blobs smaller than ``min_size`` pixels are absorbed by their nearest large blob."""
    labels = np.asarray(labels)
    # background below every label: no pixel is left out; connectivity 1 is 4-connectivity
    out = measure.label(labels, background=int(labels.min()) - 1, connectivity=1)
    if min_size > 1:
        sizes = np.bincount(out.ravel())
        small = sizes[out] < min_size
        if small.any() and not small.all():
            # Each small-region pixel takes the label of the nearest pixel of a large region.
            _, (iy, ix) = ndimage.distance_transform_edt(small, return_indices=True)
            out = out[iy, ix]
    _, out = np.unique(out, return_inverse=True)
    return out.reshape(labels.shape).astype(np.int32)
