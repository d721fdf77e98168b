"""Over-segmentation: watershed, SLIC, Felzenszwalb or a CAS model, and the region hierarchy over it.

Label maps are HxW int32 arrays; 0 means unlabelled (ignored in training) and regions are 1..N.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage import segmentation as skseg

from ..io import to_rgb8
from .hierarchy import Hierarchy, build_hierarchy

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
# Over-segmentation runs at most at this many pixels per method; labels are upsampled back
# (nearest). SLIC and Felzenszwalb (scikit-image) cost ~1.5 us/pixel here, OpenCV's watershed less.
_WORK_PIXELS = {"watershed": 1_000_000, "slic": 250_000, "felzenszwalb": 250_000}


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
        from ..inference.infer import predict_regions

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
        from ..inference.infer import predict_probabilities

        probs = predict_probabilities(model, work)
    hierarchy = build_hierarchy(work, regions, probs=probs)
    if scale == 1.0:
        return hierarchy
    # Nearest-neighbour up-sampling never drops a superpixel: every source pixel lands somewhere.
    return Hierarchy(cv2.resize(hierarchy.superpixels, (w, h), interpolation=cv2.INTER_NEAREST), hierarchy.merges)


def salient_object(image: np.ndarray, model) -> np.ndarray:
    """A one-click start: background (1) and salient object (2) from a model whose output kind gives
    an object mask (a saliency model).

    Returns
    -------
    ndarray of int32, HxW, ids 1 and 2 (only 1 when nothing stands out).

    Raises
    ------
    ValueError
        The model's task gives no object mask (a regions or click model).
    """
    from ..inference.outputs import output_of  # torch loads when a model is used, not with the session
    from ..models.weights import info_of

    task = info_of(model).task
    try:
        kind = output_of(task)
    except ValueError:
        kind = None
    if kind is None or not kind.binary:
        raise ValueError(f"a {task} model gives no salient object; the salient object needs a saliency model")
    return np.where(kind.object_mask(model, to_rgb8(image)), 2, 1).astype(np.int32)
