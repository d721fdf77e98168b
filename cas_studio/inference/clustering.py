"""Regions by clustering a network's feature maps: the texture decoder.

A CAS texture model gives every texture a fixed channel, and with a few hundred textures on a few
live channels, two textures that meet in one image often share one (measured on Outex: in every
mosaic). The encoder under that output still tells them apart: k-means of its stride-8 features
with the true region count scores 0.92 covering on Outex mosaics where the arg-max code scores
0.65. This decoder clusters those features with no region count given: k-means into more
clusters than any image needs, then average-linkage merging of the cluster centres while they are
closer than a cosine distance.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

#: The texture decoder's settings, chosen on synthetic mosaics of the training textures (never on
#: the Outex mosaics it is evaluated on): see ``weights/README.md``, texture.
DEFAULTS = {"clusters": 10, "threshold": 0.3, "sigma": 1.5}
#: The decoder as ``infer.decode_regions`` runs it: also the smallest region kept, in pixels.
DECODER_DEFAULTS = {**DEFAULTS, "min_size": 1024}


def regions_from_features(features: np.ndarray, *, clusters: int = DEFAULTS["clusters"],
                          threshold: float = DEFAULTS["threshold"], sigma: float = DEFAULTS["sigma"],
                          seed: int = 0) -> np.ndarray:
    """Cluster a (C, h, w) feature map into regions, their number found by merging.

    Parameters
    ----------
    features : (C, h, w) float array
        Feature vectors per position (e.g. an encoder's stride-8 map); each is scaled to unit
        length, so distances are cosine-like.
    clusters : int, keyword-only
        k of the k-means over-clustering: an upper bound on the regions an image can get.
    threshold : float, keyword-only
        Cluster centres closer than this (Euclidean distance between unit-scaled features,
        average linkage) are merged into one region. Larger: fewer regions.
    sigma : float, keyword-only
        Gaussian smoothing of each feature channel, in feature-map pixels, before clustering.
    seed : int, keyword-only
        Seed of k-means++ initialisation (the result is deterministic for a given seed).

    Returns
    -------
    labels : (h, w) int32 array
        Region ids 0..N-1 at the feature map's resolution; a region may be spatially split (make
        connected components afterwards if needed).

    Raises
    ------
    ValueError
        If ``features`` is not a finite (C, h, w) array or an option is out of range.

    Examples
    --------
    >>> f = np.zeros((2, 8, 8), np.float32); f[0, :, :4] = 1; f[1, :, 4:] = 1
    >>> np.unique(regions_from_features(f, clusters=3, sigma=0)).tolist()
    [0, 1]
    """
    f = np.asarray(features, np.float32)
    if f.ndim != 3 or min(f.shape) < 1:
        raise ValueError(f"features must be a (C, h, w) array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or inf")
    if clusters < 1 or threshold < 0 or sigma < 0:
        raise ValueError(f"need clusters >= 1, threshold >= 0 and sigma >= 0, got {clusters}, {threshold}, {sigma}")
    f = f / np.maximum(np.linalg.norm(f, axis=0, keepdims=True), 1e-12)
    if sigma > 0:
        f = np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in f])
    points = np.ascontiguousarray(f.reshape(f.shape[0], -1).T)
    k = min(int(clusters), len(np.unique(points, axis=0)))
    if k < 2:
        return np.zeros(f.shape[1:], np.int32)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    _, assignment, centres = cv2.kmeans(points, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    # A condensed distance matrix: linkage() would mistake a square matrix of centres for one.
    merged = fcluster(linkage(pdist(centres.astype(np.float64)), "average"), threshold, criterion="distance")
    _, labels = np.unique(merged[assignment.ravel()], return_inverse=True)
    return labels.reshape(f.shape[1:]).astype(np.int32)
