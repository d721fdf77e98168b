"""Region colours: one fixed colour per label-map id (shared by the annotation canvas and evaluation figures)."""

from __future__ import annotations

import cv2
import numpy as np

#: Hue step between consecutive ids (the golden ratio's fraction): any run of ids spreads over the
#: colour wheel, so neighbouring regions (often made one after another) rarely share a hue.
HUE_STEP = 0.6180339887
#: The colour of unlabelled pixels (id 0).
UNLABELLED_COLOUR = (48, 48, 48)


def palette(n: int) -> np.ndarray:
    """(n, 3) uint8 RGB colours for ids 0..n-1: id 0 dark gray; every other id a saturated hue
    stepped by :data:`HUE_STEP`, in one of three saturation / brightness levels (so two ids whose
    hues happen to fall close still differ in lightness)."""
    ids = np.arange(max(n, 1))
    hue = (ids * HUE_STEP) % 1.0 * 180  # OpenCV's 8-bit hue range
    level = ids % 3
    sat = np.choose(level, [230, 160, 255])
    val = np.choose(level, [255, 210, 170])
    hsv = np.stack([hue, sat, val], axis=1).astype(np.uint8)[:, None, :]
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[:, 0, :]
    out[0] = UNLABELLED_COLOUR
    return out


#: Above this many coloured regions, :func:`colorize` keeps the fixed palette (the neighbour search
#: grows with the boundary: 17 ms for 150 regions at 3.8 MP, 205 ms for 21,000).
MAX_NEIGHBOUR_COLOURED = 2000


def colorize(labels: np.ndarray, *, distinct: np.ndarray | None = None, image: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 uint8 colours; unlabelled (0) is dark gray.

    By default a fixed colour per id (:func:`palette`). ``distinct`` (ids) colours those regions so
    that no two touching ones share a colour (:func:`neighbour_colours`; at most
    :data:`MAX_NEIGHBOUR_COLOURED`, else the fixed palette), and, given the ``image`` (HxWx3 RGB)
    they are drawn over, none takes a colour close to the image under it.
    """
    labels = np.asarray(labels)
    n = int(labels.max()) + 1
    if distinct is not None and 0 < len(distinct) <= MAX_NEIGHBOUR_COLOURED:
        table = neighbour_colours(labels, np.asarray(distinct), image=image)
    else:
        table = palette(n)
    return np.take(table, labels, axis=0)  # 4x faster than table[labels] at 4 MP


def adjacent_pairs(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(K, 2) int64 pairs ``a < b`` of the ``ids`` that touch (4-neighbours) in ``labels``."""
    labels = np.asarray(labels)
    n = int(labels.max()) + 1
    wanted = np.zeros(n, bool)
    wanted[ids[ids < n]] = True
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        touch = a != b
        a, b = a[touch].astype(np.int64), b[touch].astype(np.int64)  # boundary pixels only: a few percent
        keep = np.take(wanted, a) & np.take(wanted, b)
        lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
        codes.append(lo * n + hi)
    codes = np.unique(np.concatenate(codes))
    return np.stack([codes // n, codes % n], axis=1)


#: Distinct colours a region and its neighbours choose among (RGB), far apart from one another.
DISTINCT = palette(13)[1:]
#: A region's colour must lie at least this far (RGB distance) from the mean colour of the image
#: under it: an orange tint on a wooden table (about 60 apart) was nearly invisible.
MIN_CONTRAST = 110.0


#: :func:`region_means` reads every k-th pixel of each row and column so that at most about this
#: many are read: drawn on every edit, the full means cost 45 ms at 4 MP, 250,000 samples 11.5 ms,
#: 60,000 samples 2.3 ms (a region under one sample on the grid gets no contrast check).
MEAN_SAMPLES = 60_000


def region_means(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(max id + 1, 3) float mean RGB of ``image`` over each id of ``labels``, from a regular sample
    of at most about :data:`MEAN_SAMPLES` pixels; NaN for an id absent from the sample."""
    labels = np.asarray(labels)
    n = int(labels.max()) + 1
    k = max(1, int(np.sqrt(labels.size / MEAN_SAMPLES)))
    flat = np.ascontiguousarray(labels[::k, ::k]).ravel()
    rgb = np.asarray(image)[::k, ::k].reshape(len(flat), -1)[:, :3].astype(np.float64)
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.bincount(flat, weights=rgb[:, c], minlength=n) for c in range(3)], 1) / counts[:, None]


def neighbour_colours(labels: np.ndarray, ids: np.ndarray, *, image: np.ndarray | None = None) -> np.ndarray:
    """(max id + 1, 3) uint8 colour table where each of ``ids`` differs from every touching one of
    ``ids``: greedy in id order, each region taking its own slot (``id`` modulo the 12 of
    :data:`DISTINCT`) unless a touching region with a lower id took it. Regions apart keep their
    slot whatever happens elsewhere, so an edit recolours only around itself.

    Given the ``image`` (HxWx3 RGB, the size of ``labels``), a region whose slot's colour lies
    within :data:`MIN_CONTRAST` of the image's mean colour under it takes the free slot farthest
    from that colour instead (a choice that depends on the region's own pixels only)."""
    ids = np.unique(np.asarray(ids, np.int64))
    ids = ids[ids > 0]
    table = palette(int(max(labels.max(), ids.max(initial=0))) + 1)
    if not len(ids):
        return table
    if image is not None and np.asarray(image).shape[:2] != np.asarray(labels).shape:
        raise ValueError(f"image is {np.asarray(image).shape[:2]} but the label map is {np.asarray(labels).shape}")
    under = None
    if image is not None:  # each region's distance to every palette colour, in one array operation
        means = region_means(labels, image)[ids.clip(max=int(labels.max()))]
        under = dict(zip(ids.tolist(), np.linalg.norm(DISTINCT[None].astype(float) - means[:, None], axis=2)))
    neighbours: dict[int, list[int]] = {}
    for a, b in adjacent_pairs(labels, ids).tolist():
        neighbours.setdefault(b, []).append(a)  # a < b: a is coloured first
    slot: dict[int, int] = {}
    k = len(DISTINCT)
    for i in ids.tolist():
        taken = {slot[j] for j in neighbours.get(i, ()) if j in slot}
        free = [s % k for s in range(i, i + k) if s % k not in taken] or [i % k]
        slot[i] = free[0]
        if under is not None and not np.isnan(under[i][0]) and under[i][free[0]] < MIN_CONTRAST:
            far = under[i][free]
            slot[i] = free[int(np.argmax(far))]
        table[i] = DISTINCT[slot[i]]
    return table
