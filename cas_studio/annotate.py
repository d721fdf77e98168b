"""Annotation operations: over-segment, then merge / split / paint / erase, as pure functions.

Label maps are HxW int32 arrays; 0 means unlabelled (ignored in training) and regions are 1..N.
Every function returns a new array and leaves its input untouched, so undo is just keeping the
previous array (see :class:`History`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import cv2
import numpy as np
from skimage import segmentation as skseg

from .hierarchy import Hierarchy, build_hierarchy
from .io import to_rgb8
from .metrics import boundary_map

UNLABELLED = 0
METHODS = ("watershed", "slic", "felzenszwalb", "model")
#: Main parameters of each method, with defaults (what the app exposes).
DEFAULTS: dict[str, dict[str, float]] = {
    "watershed": {"regions": 300, "compactness": 0.0},
    "slic": {"regions": 300, "compactness": 10.0},
    # Fine superpixels: the hierarchy coarsens them; measured by ``bench annotate --clicks``.
    "felzenszwalb": {"scale": 25.0, "sigma": 0.5, "min_size": 5},
    "model": {"min_size": 64},
}
#: The method the app opens with: the measured best of ``cas-studio bench annotate --clicks``.
DEFAULT_METHOD = "felzenszwalb"
#: Where the granularity slider starts (0 coarsest .. 1 the superpixels); measured by
#: ``cas-studio bench annotate --clicks`` (see the README's Annotate section).
DEFAULT_GRANULARITY = 1.0
#: Region ids are stored as 16-bit PNG values: an edit may not create a larger id.
MAX_ID = 65535
# Over-segmentation runs at most at this many pixels per method; labels are upsampled back
# (nearest). SLIC and Felzenszwalb (scikit-image) cost ~1.5 us/pixel here, OpenCV's watershed less.
_WORK_PIXELS = {"watershed": 1_000_000, "slic": 250_000, "felzenszwalb": 250_000}
# k-means of a split is fitted on at most this many pixels, then every pixel takes its nearest centre.
_SPLIT_SAMPLE = 20_000


def relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber regions 1..N in the order of their ids, keeping 0 as unlabelled.

    Returns
    -------
    ndarray of int32, same shape.
    """
    return skseg.relabel_sequential(np.asarray(labels))[0].astype(np.int32)


def _work_scale(shape: tuple[int, int], method: str) -> float:
    return min(1.0, float(np.sqrt(_WORK_PIXELS[method] / (shape[0] * shape[1]))))


def _edge_map(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
    gx = cv2.Scharr(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Scharr(gray, cv2.CV_32F, 0, 1)
    return cv2.magnitude(gx, gy)


def _watershed(rgb: np.ndarray, regions: int, compactness: float) -> np.ndarray:
    """Marker watershed on the edge map: one seed per grid cell, at its weakest edge."""
    h, w = rgb.shape[:2]
    edges = _edge_map(rgb)
    step = max(2, int(np.sqrt(h * w / max(1, regions))))
    markers = np.zeros((h, w), np.int32)
    ys, xs = np.arange(step // 2, h, step), np.arange(step // 2, w, step)
    # The seed of each cell moves to the local minimum of the edge map within the cell.
    eroded = cv2.erode(edges, np.ones((step // 2 * 2 + 1,) * 2, np.uint8))
    k = 1
    for y in ys:
        y0, y1 = max(0, y - step // 2), min(h, y + step // 2 + 1)
        for x in xs:
            x0, x1 = max(0, x - step // 2), min(w, x + step // 2 + 1)
            cell = eroded[y0:y1, x0:x1]
            iy, ix = np.unravel_index(int(np.argmin(cell)), cell.shape)
            markers[y0 + iy, x0 + ix] = k
            k += 1
    if compactness > 0:
        labels = skseg.watershed(edges, markers, compactness=compactness)
    else:
        labels = cv2.watershed(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), markers)
        # Watershed lines (-1) join the neighbouring basin.
        lines = labels < 1
        if lines.any():
            dil = cv2.dilate(np.where(lines, 0, labels).astype(np.float32), np.ones((3, 3), np.uint8))
            labels = np.where(lines, dil.astype(np.int32), labels)
    return labels


def oversegment(image: np.ndarray, method: str = "watershed", *, model=None, **params: float) -> np.ndarray:
    """Over-segment an image into many small regions to start annotating from.

    Parameters
    ----------
    image : ndarray, HxWx3 uint8 (gray, RGBA and 16-bit are converted)
    method : {"watershed", "slic", "felzenszwalb", "model"}
        ``watershed``: OpenCV marker watershed on a Scharr edge map; ``slic``: SLIC superpixels;
        ``felzenszwalb``: graph-based segmentation; ``model``: the CAS ``regions`` model (pass it as
        ``model=``, a loaded network).
    **params
        The method's main parameters (see :data:`DEFAULTS`); unknown names raise ``ValueError``.

    Returns
    -------
    ndarray of int32, HxW, regions numbered 1..N (no unlabelled pixel).

    Notes
    -----
    SLIC and Felzenszwalb run on at most 0.25 MP (watershed on up to 1 MP) and the labels are
    upsampled, which keeps any method under a second per megapixel.
    """
    if method not in METHODS:
        raise ValueError(f"unknown over-segmentation method {method!r}; choose one of {METHODS}")
    unknown = set(params) - set(DEFAULTS[method])
    if unknown:
        raise ValueError(f"{method} has no parameter(s) {sorted(unknown)}; it takes {sorted(DEFAULTS[method])}")
    p = {**DEFAULTS[method], **params}
    rgb = to_rgb8(image)
    h, w = rgb.shape[:2]
    if method == "model":
        if model is None:
            raise ValueError("method 'model' needs a loaded regions model (model=...)")
        from .infer import predict_regions

        return relabel(predict_regions(model, rgb, min_size=int(p["min_size"])) + 1)
    scale = _work_scale((h, w), method)
    small = rgb if scale == 1.0 else cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))),
                                                interpolation=cv2.INTER_AREA)
    if method == "watershed":
        labels = _watershed(small, max(1, int(p["regions"])), float(p["compactness"]))
    elif method == "slic":
        labels = skseg.slic(small, n_segments=max(1, int(p["regions"])), compactness=float(p["compactness"]),
                            start_label=1, channel_axis=-1)
    else:
        labels = skseg.felzenszwalb(small, scale=float(p["scale"]) * scale, sigma=float(p["sigma"]),
                                    min_size=max(1, int(p["min_size"] * scale * scale)))
    if scale != 1.0:
        labels = cv2.resize(labels.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int32)
    return relabel(labels + 1)


#: Over-segmentation and its hierarchy work on at most this many pixels (see :func:`build_regions`).
WORK_PIXELS = 1_000_000


def build_regions(image: np.ndarray, method: str = DEFAULT_METHOD, *, model=None, guided: bool = False,
                  **params: float) -> Hierarchy:
    """Over-segment ``image`` with ``method`` and build the region hierarchy over the result.

    ``guided=True`` lets a loaded CAS ``regions`` model's code shape the hierarchy (regions it tells
    apart merge last). Cut it at any granularity with ``hierarchy.cut(hierarchy.regions_at(g))``.
    Images over :data:`WORK_PIXELS` are over-segmented downscaled; the hierarchy's superpixels are
    at the image's own size either way.
    """
    rgb = to_rgb8(image)
    h, w = rgb.shape[:2]
    # Large photos are over-segmented at a bounded working size and the superpixels scaled back up:
    # at full size a 12 MP photo gives more superpixels than a 16-bit label map holds, and a 40 MP
    # one took gigabytes and minutes.
    scale = min(1.0, (WORK_PIXELS / (h * w)) ** 0.5)
    work = rgb if scale == 1.0 else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                                               interpolation=cv2.INTER_AREA)
    regions = oversegment(work, method, model=model, **params)
    probs = None
    if guided:
        if model is None:
            raise ValueError("a model-guided hierarchy needs a loaded regions model (model=...)")
        from .infer import predict_probabilities

        probs = predict_probabilities(model, work)
    hierarchy = build_hierarchy(work, regions, probs=probs)
    if scale == 1.0:
        return hierarchy
    # Nearest-neighbour up-sampling never drops a superpixel: every source pixel lands somewhere.
    return Hierarchy(cv2.resize(hierarchy.superpixels, (w, h), interpolation=cv2.INTER_NEAREST), hierarchy.merges)


def salient_object(image: np.ndarray, model) -> np.ndarray:
    """A one-click start: background (1) and salient object (2) from a saliency model.

    Returns
    -------
    ndarray of int32, HxW, ids 1 and 2 (only 1 when nothing stands out).
    """
    from .infer import binarize, predict_saliency

    return np.where(binarize(predict_saliency(model, to_rgb8(image))), 2, 1).astype(np.int32)


def untouched_regions(labels: np.ndarray, proposal: np.ndarray) -> np.ndarray:
    """Ids of the regions of ``labels`` that are exactly one region of ``proposal``, pixel for pixel.

    Proposal id 0 means "no proposal here" (pixels a person had already settled when the proposal
    was made), so a region lying there is never untouched.

    Returns
    -------
    ndarray of int
        Sorted region ids (never 0): the regions nobody changed since the over-segmentation.
    """
    labels, proposal = np.asarray(labels), np.asarray(proposal)
    if labels.shape != proposal.shape:
        return np.zeros(0, np.int64)
    # O(pixels), no sort: each region takes the proposal id of one of its pixels (any: fancy
    # assignment keeps one), then counts the pixels that disagree with it.
    lab = labels.ravel().astype(np.int64)
    prop = proposal.ravel().astype(np.int64)
    n = int(lab.max()) + 1
    rep = np.zeros(n, np.int64)
    rep[lab] = prop
    disagree = np.bincount(lab[prop != np.take(rep, lab)], minlength=n)
    sizes = np.bincount(lab, minlength=n)
    proposal_sizes = np.bincount(prop, minlength=int(rep.max()) + 1)
    keep = (sizes > 0) & (disagree == 0) & (rep != 0) & (sizes == proposal_sizes[rep])
    keep[UNLABELLED] = False
    return np.flatnonzero(keep).astype(np.int64)


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


def regions_inside(labels: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Ids of the regions (never :data:`UNLABELLED`) at least half inside the closed polygon
    ``outline`` ((N, 2) int (x, y) points): what a lasso merges."""
    from .grouping import coverage

    inside = cv2.fillPoly(np.zeros(labels.shape, np.uint8), [np.asarray(outline, np.int32).reshape(-1, 2)], 1)
    ids = np.flatnonzero(coverage(inside, labels) >= 0.5)
    return ids[ids != UNLABELLED]


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


def boundaries(labels: np.ndarray) -> np.ndarray:
    """Boolean HxW map of pixels whose right or lower neighbour is in another region."""
    return boundary_map(labels)


def colorize(labels: np.ndarray, *, seed: int = 7) -> np.ndarray:
    """HxWx3 uint8 colours, a fixed colour per id; unlabelled (0) is dark gray."""
    rng = np.random.default_rng(seed)
    n = int(labels.max()) + 1
    palette = rng.integers(40, 256, (max(n, 1), 3), dtype=np.uint8)
    palette[0] = (48, 48, 48)
    return np.take(palette, labels, axis=0)  # 4x faster than palette[labels] at 4 MP (7 vs 29 ms)


def matched_colours(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each region of ``labels`` given the id of the ``reference`` region it overlaps most (HxW).

    Colouring two segmentations by the ids this returns (same reference) paints regions that match
    the same reference region alike, so a before / after comparison shows what changed.
    Reference ids below 1 (unlabelled, ignored) never win while another overlaps.
    """
    labels, reference = np.asarray(labels, np.int64), np.asarray(reference, np.int64)
    ref = np.where(reference > 0, reference, 0)
    n, m = int(labels.max()) + 1, int(ref.max()) + 1
    counts = np.bincount(labels.ravel() * m + ref.ravel(), minlength=n * m).reshape(n, m)
    counts[:, 0] = np.where(counts[:, 1:].sum(1) > 0, 0, counts[:, 0])
    return np.take(counts.argmax(1), labels)


def overlay(image: np.ndarray, labels: np.ndarray, *, alpha: float = 0.45,
            highlight: Sequence[int] = (), muted: Sequence[int] = (), colour_ids: np.ndarray | None = None) -> np.ndarray:
    """The image blended with region colours, boundaries in black or white (whichever contrasts with
    the image there, so they show on sky and shadow alike) and ``highlight`` regions in yellow;
    ``muted`` regions (e.g. proposed, not yet confirmed) keep the plain image, outlined only.
    ``colour_ids`` (HxW), when given, chooses the colours (e.g. :func:`matched_colours`) while the
    outlines stay those of ``labels``."""
    rgb = np.ascontiguousarray(to_rgb8(image))
    labels = np.asarray(labels)
    # uint8 blending and per-id lookup tables keep a 4 MP overlay near 50 ms (float maths and
    # np.isin over the pixels took 270 ms).
    out = cv2.addWeighted(rgb, 1.0 - alpha, colorize(labels if colour_ids is None else colour_ids), alpha, 0.0)
    n = int(labels.max()) + 1

    def pixels_of(ids: Sequence[int]) -> np.ndarray:
        table = np.zeros(n, bool)
        ids = np.asarray(list(ids), np.int64)
        table[ids[(ids >= 0) & (ids < n)]] = True
        return np.take(table, labels)

    # cv2.copyTo with a uint8 mask: 2 ms at 4 MP where np.copyto(where=HxWx1) took 15-20 ms.
    if len(muted):
        cv2.copyTo(rgb, pixels_of(muted).view(np.uint8), out)
    if len(highlight):
        yellow = cv2.add(rgb // 2, np.array([127, 115, 0, 0], np.float64))
        cv2.copyTo(yellow, pixels_of(highlight).view(np.uint8), out)
    edge = boundaries(labels)
    luma = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[edge]
    out[edge] = np.where(luma[:, None] < 128, 255, 0).astype(np.uint8)
    return out


class History:
    """Undo / redo over label-map states, kept zlib-compressed and bounded in bytes.

    At most ``limit`` states and ``max_bytes`` of compressed states are kept; the oldest go first.
    A label map compresses well (a 4 MP map of a few hundred regions to well under 1 MB), so the
    bound holds a long history without growing a session's memory with the image size. Each state
    may carry a second map, ``aux`` (the annotation session keeps its proposal there, so undo
    restores which regions count as proposed too).
    """

    def __init__(self, labels: np.ndarray, *, aux: np.ndarray | None = None, limit: int = 30,
                 max_bytes: int = 32 << 20) -> None:
        if np.asarray(labels).max(initial=0) > MAX_ID:  # packed as uint16: larger ids would wrap on undo
            raise ValueError(f"region ids above {MAX_ID} cannot be stored; merge some regions first")
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []
        self.current = np.asarray(labels, np.int32)
        self.aux = aux
        self.note = None  # the restored state's note (see push); None until an undo or redo
        self.limit, self.max_bytes = limit, max_bytes
        self.edits = 0

    @staticmethod
    def _pack_one(labels: np.ndarray | None) -> tuple[bytes, tuple[int, int]] | None:
        if labels is None:
            return None
        return zlib.compress(np.ascontiguousarray(labels, np.uint16).tobytes(), 1), labels.shape

    @staticmethod
    def _unpack_one(state: tuple[bytes, tuple[int, int]] | None) -> np.ndarray | None:
        if state is None:
            return None
        data, shape = state
        return np.frombuffer(zlib.decompress(data), np.uint16).reshape(shape).astype(np.int32)

    def _pack(self, note: object = None) -> tuple:
        return self._pack_one(self.current), self._pack_one(self.aux), note

    def _restore(self, state: tuple) -> None:
        self.current, self.aux = self._unpack_one(state[0]), self._unpack_one(state[1])
        self.note = state[2]

    def peek_undo(self) -> np.ndarray | None:
        """The label map one undo would bring back (None at the oldest state)."""
        return self._unpack_one(self._undo[-1][0]) if self._undo else None

    @property
    def nbytes(self) -> int:
        """Bytes held by the undo and redo states."""
        return sum(len(p[0]) + (len(a[0]) if a else 0) for p, a, _ in self._undo + self._redo)

    def _trim(self) -> None:
        del self._undo[: -self.limit]
        while self._undo and self.nbytes > self.max_bytes:
            self._undo.pop(0)

    def push(self, labels: np.ndarray, aux: np.ndarray | None = None, *, note: object = None) -> np.ndarray:
        """Make ``labels`` (and ``aux``, when given; else the current one stays) current, remembering the
        previous state with ``note``: a small immutable value that describes it beside the maps (the
        annotation session keeps its confirmations there, so undo restores them whole)."""
        for arr in (labels, aux):
            if arr is not None and np.asarray(arr).max(initial=0) > MAX_ID:
                raise ValueError(f"region ids above {MAX_ID} cannot be stored; merge some regions first")
        self._undo.append(self._pack(note))
        self._redo.clear()
        self._trim()
        self.current = np.asarray(labels, np.int32)
        if aux is not None:
            self.aux = np.asarray(aux, np.int32)
        self.edits += 1
        return self.current

    def _step(self, source: list, target: list, note: object) -> np.ndarray:
        if source:
            target.append(self._pack(note))
            self._restore(source.pop())
            # The count is of the edits in the state shown: an undo takes one back, a redo brings it back.
            self.edits += 1 if source is self._redo else -1
            self.edits = max(self.edits, 0)
        return self.current

    def undo(self, *, note: object = None) -> np.ndarray:
        """Step back (no-op at the oldest state); ``note`` describes the state left (see :meth:`push`),
        ``self.note`` then holds the restored state's."""
        return self._step(self._undo, self._redo, note)

    def redo(self, *, note: object = None) -> np.ndarray:
        """Step forward again (no-op at the newest state); ``note`` as in :meth:`undo`."""
        return self._step(self._redo, self._undo, note)

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` would change anything."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` would change anything."""
        return bool(self._redo)
