"""From a CAS output to regions: superpixels merged by their CAS code.

A CAS network gives every pixel a code (its softmax vector) that is constant inside a region and
differs between regions. Arg-max plus connected components (:func:`cas_studio.inference.labelling.labels_from_probabilities`)
uses only which channel wins, so M channels rarely give more than M or so regions, and its
boundaries are as blurry as the network's stride-4 output. Here the image's own edges decide the
boundaries (a fine Felzenszwalb over-segmentation) and the CAS code decides what belongs
together: adjacent superpixels are merged, closest codes first, until no two neighbours are
closer than ``threshold``.
"""

from __future__ import annotations

import heapq

import numpy as np
from skimage import color
from skimage import segmentation as skseg

from ..io import to_rgb8

#: Settings of :func:`regions_from_code` when none are given: the best of the sweep on BSDS500 val
#: recorded in ``weights/README.md`` (what the shipped ``regions`` model records too).
DEFAULTS = {"scale": 400.0, "threshold": 0.275, "min_size": 200, "color_weight": 1.5, "min_area": 0.0}


def adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """Unique (a, b) pairs, a < b, of labels that touch horizontally or vertically: (K, 2) int64."""
    lab = np.asarray(labels, np.int64)
    pairs = np.concatenate([np.stack([lab[:, :-1].ravel(), lab[:, 1:].ravel()], 1),
                            np.stack([lab[:-1].ravel(), lab[1:].ravel()], 1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs.sort(axis=1)
    base = int(lab.max()) + 1
    codes = np.unique(pairs[:, 0] * base + pairs[:, 1])  # 1-D unique is much faster than axis=0
    return np.stack([codes // base, codes % base], 1)


def coverage(mask: np.ndarray, labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """The share of each region's pixels that ``mask`` covers: (n,) float, 0 for empty ids.

    ``labels`` holds ids 0..n-1 (n defaults to the largest id + 1).
    """
    flat = np.asarray(labels).ravel()
    n = int(flat.max()) + 1 if n is None else int(n)
    inside = np.bincount(flat, weights=np.asarray(mask, bool).ravel().astype(float), minlength=n)
    return inside / np.maximum(np.bincount(flat, minlength=n), 1)


def merge_sequence(labels: np.ndarray, features: np.ndarray, *, threshold: float = np.inf,
                   min_area: int = 0) -> np.ndarray:
    """The merges of adjacent regions, closest mean features first, while their distance < ``threshold``.

    Parameters
    ----------
    labels : (H, W) int array
        Region ids 0..N-1 (e.g. superpixels).
    features : (C, H, W) float array
        Per-pixel features; a merged region's feature is the area-weighted mean of its parts.
    threshold : float
        Euclidean distance between mean features below which neighbours merge (``inf``: merge
        until each connected part of the image is one region, i.e. the whole hierarchy).
    min_area : int
        Then every region still smaller than this many pixels joins its closest neighbour, smallest
        first (one that grows past it stays); 0 leaves them.

    Returns
    -------
    (K, 3) float64 array
        One row per merge, in order: ``(a, b, distance)``, region ``b`` joining region ``a`` (both
        ids of ``labels``; ``a`` stands for everything merged into it so far).
    """
    lab = np.asarray(labels, np.int64)
    n = int(lab.max()) + 1
    feats = np.asarray(features, np.float64).reshape(features.shape[0], -1)
    area = np.bincount(lab.ravel(), minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(lab.ravel(), weights=f, minlength=n) for f in feats], 1)
    alive = np.ones(n, bool)
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in adjacent_pairs(lab):
        neighbours[int(a)].add(int(b))
        neighbours[int(b)].add(int(a))
    version = np.zeros(n, np.int64)  # an edge in the heap is stale once either end has changed
    merges = []

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(sums[a] / area[a] - sums[b] / area[b]))

    def gaps(a: int) -> tuple[np.ndarray, np.ndarray]:
        others = np.fromiter(neighbours[a], np.int64, len(neighbours[a]))
        return others, np.linalg.norm(sums[others] / area[others, None] - sums[a] / area[a], axis=1)

    def join(a: int, b: int, d: float) -> None:  # b joins a: pool its statistics and its neighbours
        merges.append((a, b, d))
        alive[b] = False
        sums[a] += sums[b]
        area[a] += area[b]
        version[a] += 1
        for c in neighbours.pop(b):
            neighbours[c].discard(b)
            if c != a:
                neighbours[c].add(a)
                neighbours[a].add(c)
        neighbours[a].discard(a)

    heap = [(dist(a, b), a, b, 0, 0) for a in neighbours for b in neighbours[a] if a < b]
    heapq.heapify(heap)
    while heap:
        d, a, b, va, vb = heapq.heappop(heap)
        if d >= threshold:
            break
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        join(a, b, d)
        for c, g in zip(*(x.tolist() for x in gaps(a))):
            lo, hi = min(a, c), max(a, c)
            heapq.heappush(heap, (g, lo, hi, int(version[lo]), int(version[hi])))
    # Tiny regions are what variation of information punishes most and what a person never draws.
    small = [(area[i], i) for i in np.flatnonzero(alive & (area < min_area)).tolist()]
    heapq.heapify(small)
    while small:
        size, b = heapq.heappop(small)
        if not alive[b] or size != area[b] or not neighbours[b]:
            continue  # absorbed, grown since, or isolated
        others, g = gaps(b)
        a = int(others[np.argmin(g)])
        join(a, b, float(g.min()))
        if area[a] < min_area:
            heapq.heappush(small, (area[a], a))
    return np.asarray(merges, np.float64).reshape(-1, 3)


def boundary_merge_sequence(labels: np.ndarray, edges: np.ndarray, *, size_power: float = 1.0) -> np.ndarray:
    """The merges of adjacent regions, weakest shared boundary first, until none are left (a UCM).

    The distance of two neighbours is the mean of ``edges`` (an edge-strength map, e.g. a colour
    gradient magnitude) over the pixel pairs of their shared boundary, times the smaller region's
    share of the image to the power ``size_power``: small regions merge first, so that a tiny
    superpixel inside texture cannot outlast a large region's weak boundary (with 0, ASA at 100
    regions drops from 0.93 to 0.59 on BSDS500 val). A merged region's boundary with a neighbour
    pools both parts' boundary pixels.

    Returns
    -------
    (K, 3) float64 array
        ``(a, b, distance)`` rows in merge order, as :func:`merge_sequence`.
    """
    lab = np.asarray(labels, np.int64)
    e = np.asarray(edges, np.float64)
    n = int(lab.max()) + 1
    area = np.bincount(lab.ravel(), minlength=n).astype(np.float64) / lab.size
    # Every horizontally or vertically adjacent pixel pair across a boundary, weighted by its stronger edge.
    pa = np.concatenate([lab[:, :-1].ravel(), lab[:-1].ravel()])
    pb = np.concatenate([lab[:, 1:].ravel(), lab[1:].ravel()])
    w = np.concatenate([np.maximum(e[:, :-1], e[:, 1:]).ravel(), np.maximum(e[:-1], e[1:]).ravel()])
    cross = pa != pb
    lo, hi, w = np.minimum(pa, pb)[cross], np.maximum(pa, pb)[cross], w[cross]
    keys, inverse = np.unique(lo * n + hi, return_inverse=True)
    sums = np.bincount(inverse, weights=w)
    counts = np.bincount(inverse).astype(np.float64)
    # stats[a][b] and stats[b][a] are one shared [edge sum, pixel pairs] list.
    stats: dict[int, dict[int, list[float]]] = {}
    for k, s_, c in zip(keys.tolist(), sums.tolist(), counts.tolist()):
        a, b = divmod(k, n)
        stats.setdefault(a, {})[b] = stats.setdefault(b, {})[a] = [s_, c]

    def priority(a: int, b: int, pooled: list[float]) -> float:
        return pooled[0] / pooled[1] * min(area[a], area[b]) ** size_power

    heap = [(priority(a, b, stats[a][b]), a, b) for a in stats for b in stats[a] if a < b]
    heapq.heapify(heap)
    merges = []
    while heap:
        d, a, b = heapq.heappop(heap)
        pooled = stats.get(a, {}).get(b)
        if pooled is None or priority(a, b, pooled) != d:
            continue  # stale: one end has merged or grown since this entry was pushed
        merges.append((a, b, d))
        area[a] += area[b]
        for c, st in stats.pop(b).items():
            del stats[c][b]
            if c == a:
                continue
            if c in stats[a]:
                stats[a][c][0] += st[0]
                stats[a][c][1] += st[1]
            else:
                stats[a][c] = stats[c][a] = st
        for c, pooled in stats[a].items():
            heapq.heappush(heap, (priority(a, c, pooled), min(a, c), max(a, c)))
    return np.asarray(merges, np.float64).reshape(-1, 3)


def apply_merges(labels: np.ndarray, merges: np.ndarray) -> np.ndarray:
    """``labels`` (ids 0..N-1) after the ``(a, b, ...)`` merges: (H, W) int32 ids 0..K-1."""
    lab = np.asarray(labels, np.int64)
    parent = np.arange(int(lab.max()) + 1)
    if len(merges):
        parent[np.asarray(merges[:, 1], np.int64)] = np.asarray(merges[:, 0], np.int64)
    # Each input region's root, by pointer jumping (a joined region points at the one it joined).
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    # Number the roots on the small per-region array, then one table lookup per pixel.
    _, compact = np.unique(parent, return_inverse=True)
    return compact.astype(np.int32)[lab]


def absorb_small(labels: np.ndarray, features: np.ndarray, *, min_area: int) -> np.ndarray:
    """Merge every region smaller than ``min_area`` pixels into its closest neighbour (mean
    feature), smallest first; a region that grows past ``min_area`` stays (see :func:`merge_sequence`).

    Returns
    -------
    (H, W) int32 array
        Region ids 0..K-1; unchanged when no region is below ``min_area`` or none has a neighbour.
    """
    return apply_merges(labels, merge_sequence(labels, features, threshold=0.0, min_area=min_area))


def merge_regions(labels: np.ndarray, features: np.ndarray, *, threshold: float, min_area: int = 0) -> np.ndarray:
    """Merge adjacent regions, the closest mean features first, while their distance < ``threshold``.

    Returns
    -------
    (H, W) int32 array
        Region ids 0..K-1, K <= N; every output region is a union of input regions (see
        :func:`merge_sequence` for the parameters).
    """
    return apply_merges(labels, merge_sequence(labels, features, threshold=threshold, min_area=min_area))


def regions_from_code(probs: np.ndarray, image: np.ndarray, *, scale: float = DEFAULTS["scale"],
                      threshold: float = DEFAULTS["threshold"], min_size: int = DEFAULTS["min_size"],
                      color_weight: float = DEFAULTS["color_weight"],
                      min_area: float = DEFAULTS["min_area"]) -> np.ndarray:
    """Regions of ``image`` from a CAS model's (M, H, W) softmax output ``probs``.

    Parameters
    ----------
    probs : (M, H, W) float array
        The model's softmax output at the image's size.
    image : (H, W, 3) uint8 array
        The image; its Felzenszwalb over-segmentation (``scale``, ``min_size``) gives the boundaries.
    scale, min_size
        Felzenszwalb's parameters: small values give many small superpixels.
    threshold : float
        Merge neighbours whose mean CAS codes are closer than this (codes of distinct regions lie up
        to sqrt(2) apart on the probability simplex).
    color_weight : float
        Weight of the mean CIELAB colour (L, a, b divided by 100) appended to the code; 0 merges by
        the code alone.
    min_area : float
        Regions left smaller than this share of the image join their closest neighbour
        (:func:`absorb_small`); 0 keeps them.

    Returns
    -------
    (H, W) int32 array
        Region ids 0..K-1.
    """
    rgb = to_rgb8(image)
    if probs.shape[1:] != rgb.shape[:2]:
        raise ValueError(f"probabilities are {probs.shape[1:]} but the image is {rgb.shape[:2]}")
    superpixels = skseg.felzenszwalb(rgb, scale=float(scale), sigma=0.8, min_size=int(min_size))
    features = probs
    if color_weight:
        lab = color.rgb2lab(rgb).transpose(2, 0, 1) / 100.0
        features = np.concatenate([probs, float(color_weight) * lab])
    return merge_regions(superpixels, features, threshold=float(threshold),
                         min_area=int(round(float(min_area) * superpixels.size)))
