"""Editing operations on label maps as pure functions: merge, split, paint, erase, re-cut.

Label maps are HxW int32 arrays; 0 (:data:`~cas_studio.constants.UNLABELLED`) means unlabelled and
regions are 1..N. Every function returns a new array and leaves its input untouched, so undo is
just keeping the previous array (see :class:`~cas_studio.annotation.history.History`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..constants import MAX_ID, UNLABELLED
from ..data.confirmation import untouched_regions
from ..io import to_rgb8

# k-means of a split is fitted on at most this many pixels, then every pixel takes its nearest centre.
_SPLIT_SAMPLE = 20_000



def recut(labels: np.ndarray, cut: np.ndarray, keep: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Fill everything of ``labels`` but the regions ``keep`` with the regions of ``cut`` (a new
    over-segmentation), keeping those regions and their ids exactly.

    Returns
    -------
    labels : (H, W) int32
        The new label map: the kept regions as they were, the cut's regions (ids after the largest
        kept id) everywhere else, unlabelled pixels included.
    proposal : (H, W) int32
        The new proposal: the cut's regions where they are, 0 ("no proposal") on the kept regions.
    """
    labels = np.asarray(labels, np.int32)
    if cut.shape != labels.shape:
        raise ValueError(f"cut is {cut.shape} but the label map is {labels.shape}")
    kept = np.isin(labels, np.asarray(list(keep), np.int64)) & (labels != UNLABELLED)
    kept_max = int(labels[kept].max()) if kept.any() else 0
    ids, inverse = np.unique(cut[~kept], return_inverse=True)
    if kept_max + len(ids) > MAX_ID:
        raise ValueError(f"this over-segmentation would need region ids above {MAX_ID}; choose a coarser one")
    out = np.where(kept, labels, 0).astype(np.int32)
    out[~kept] = kept_max + 1 + inverse.ravel()
    proposal = np.where(kept, 0, out).astype(np.int32)
    return out, proposal


def regranulate(labels: np.ndarray, proposal: np.ndarray, cut: np.ndarray, *,
                keep: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Swap the untouched (proposed) regions of ``labels`` for the regions of another cut of the
    hierarchy, keeping every edit: confirmed regions (those of ``keep`` too, even where they look
    untouched: a region confirmed by hand) and unlabelled pixels stay as they are.

    Returns
    -------
    labels : (H, W) int32
        The new label map; the new proposed regions take ids after the largest kept id.
    proposal : (H, W) int32
        The new proposal: the new regions where they are, 0 ("no proposal") elsewhere.
    """
    labels = np.asarray(labels, np.int32)
    if cut.shape != labels.shape:
        raise ValueError(f"cut is {cut.shape} but the label map is {labels.shape}")
    free = np.isin(labels, np.setdiff1d(untouched_regions(labels, proposal), np.asarray(list(keep), np.int64)))
    kept_max = int(labels[~free].max()) if (~free).any() else 0
    ids, inverse = np.unique(cut[free], return_inverse=True)
    if kept_max + len(ids) > MAX_ID:
        raise ValueError(f"this granularity would need region ids above {MAX_ID}; choose a coarser one")
    out = labels.copy()
    out[free] = kept_max + 1 + inverse.ravel()
    new_proposal = np.zeros_like(out)
    new_proposal[free] = out[free]
    return out, new_proposal


def region_at(labels: np.ndarray, x: int, y: int) -> int:
    """The region id under pixel (x, y) (0 if unlabelled); ``ValueError`` outside the image."""
    h, w = labels.shape
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"point ({x}, {y}) is outside the {w}x{h} image")
    return int(labels[y, x])


def inside_outline(shape: tuple[int, int], outline: np.ndarray) -> np.ndarray:
    """HxW bool: the pixels inside the closed polygon ``outline`` ((N, 2) int (x, y) points), the
    outline's own pixels included: what a lasso takes."""
    return cv2.fillPoly(np.zeros(shape, np.uint8), [np.asarray(outline, np.int32).reshape(-1, 2)], 1).view(bool)


def merge(labels: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """Merge the regions ``ids`` into the first of them; 0 (unlabelled) cannot be merged."""
    ids = [int(i) for i in ids]
    if UNLABELLED in ids:
        raise ValueError("cannot merge the unlabelled area; paint it into a region instead")
    if len(ids) < 2:
        return labels.copy()
    return np.where(np.isin(labels, ids[1:]), ids[0], labels).astype(np.int32)


def merge_under(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paint-to-merge: every region that ``mask`` (a stroke) touches becomes one region, with the id
    of the region the stroke covers most; unlabelled pixels under the stroke stay unlabelled."""
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise ValueError(f"mask is {mask.shape} but the label map is {labels.shape}")
    ids, counts = np.unique(labels[mask & (labels != UNLABELLED)], return_counts=True)
    if len(ids) < 2:
        return labels.copy()
    order = np.argsort(-counts, kind="stable")
    return merge(labels, ids[order].tolist())


def split(labels: np.ndarray, image: np.ndarray, region: int, *, parts: int = 2) -> np.ndarray:
    """Split one region into exactly ``parts`` regions by colour and position (k-means in Lab + xy).

    The first piece keeps the region's id, the others get new ids; fewer pieces only when the
    region has fewer distinct pixels. ``ValueError`` if the new ids would pass :data:`MAX_ID`.
    """
    if region == UNLABELLED:
        raise ValueError("cannot split the unlabelled area")
    mask = labels == region
    if not mask.any():
        raise ValueError(f"region {region} does not exist")
    if parts < 2:
        raise ValueError(f"parts must be >= 2, got {parts}")
    next_id = int(labels.max()) + 1
    if next_id + parts - 2 > MAX_ID:
        raise ValueError(f"splitting would need region ids above {MAX_ID}; merge some regions first")
    yy, xx = np.nonzero(mask)
    # Only the region's bounding box is converted: a small region of a 4 MP image costs little.
    y0, y1, x0, x1 = yy.min(), yy.max() + 1, xx.min(), xx.max() + 1
    lab = cv2.cvtColor(np.ascontiguousarray(to_rgb8(image)[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)[mask[y0:y1, x0:x1]]
    # Position weighs about as much as colour, so that each piece is mostly one compact part.
    span = max(np.ptp(yy), np.ptp(xx), 1)
    feats = np.column_stack([lab.astype(np.float32), 60.0 * yy / span, 60.0 * xx / span]).astype(np.float32)
    step = max(1, len(feats) // _SPLIT_SAMPLE)
    sample = feats[::step]
    k = min(parts, len(np.unique(sample, axis=0)))  # the sample's distinct points: k-means needs k of them
    if k < 2:
        return labels.copy()
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(sample, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    cluster = ((feats[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
    # One pass: cluster c -> its id (the old id for the first cluster present, new ids after it).
    present = np.unique(cluster)
    ids = np.empty(k, np.int64)
    ids[present] = [region] + list(range(next_id, next_id + len(present) - 1))
    out = labels.copy()
    out[mask] = ids[cluster]
    return out


def stroke_mask(shape: tuple[int, int], points: Sequence[tuple[int, int]], radius: int) -> np.ndarray:
    """Boolean mask of a brush stroke through ``points`` ((x, y) pairs) with the given radius."""
    mask = np.zeros(shape, np.uint8)
    pts = [(int(x), int(y)) for x, y in points]
    for a, b in zip(pts, pts[1:] or pts):
        cv2.line(mask, a, b, 1, thickness=max(1, 2 * int(radius)))
    for p in pts:
        cv2.circle(mask, p, max(1, int(radius)), 1, thickness=-1)
    return mask.astype(bool)


def paint(labels: np.ndarray, mask: np.ndarray, region: int | None = None) -> np.ndarray:
    """Paint ``mask`` into ``region`` (grow it), or into a new region when ``region`` is None."""
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise ValueError(f"mask is {mask.shape} but the label map is {labels.shape}")
    rid = int(labels.max()) + 1 if region is None else int(region)
    if rid == UNLABELLED:
        raise ValueError("painting with 0 means erasing; use erase()")
    if rid > MAX_ID:
        raise ValueError(f"too many regions (ids above {MAX_ID}); merge some first")
    out = labels.copy()
    out[mask] = rid
    return out


def erase(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mark ``mask`` pixels unlabelled (0): they are left out of training."""
    mask = np.asarray(mask, bool)
    if mask.shape != labels.shape:
        raise ValueError(f"mask is {mask.shape} but the label map is {labels.shape}")
    out = labels.copy()
    out[mask] = UNLABELLED
    return out
