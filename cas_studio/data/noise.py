"""The paper's low-fidelity setting: region labels swapped at random."""

from __future__ import annotations

import numpy as np


def region_label_noise(labels: np.ndarray, p: float, rng: np.random.Generator, *,
                       ignore_index: int = -1) -> np.ndarray:
    """With probability ``p``, permute the region ids of ``labels`` (a derangement when possible).

    For a binary mask this swaps foreground and background, as in the paper. The regions (which
    pixels share an id) never change, so the CAS loss is unaffected by construction; a loss that
    reads ids as classes (CE) sees contradictory labels.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
    p : float in [0, 1]
    rng : numpy Generator
    ignore_index : int, keyword-only
        Pixels with this value keep it.

    Returns
    -------
    ndarray
        A new array with the same regions, ids permuted with probability ``p``, else a copy.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"label noise probability must lie in [0, 1], got {p}")
    out = np.array(labels, copy=True)
    if rng.random() >= p:
        return out
    ids = np.unique(out[out != ignore_index])
    if ids.size < 2:
        return out
    perm = np.roll(ids, int(rng.integers(1, ids.size)))  # a cyclic shift moves every id
    mask = out != ignore_index
    out[mask] = perm[np.searchsorted(ids, out[mask])]
    return out
