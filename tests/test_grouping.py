"""Superpixels merged by their CAS code: the region decoder for the regions model."""

from __future__ import annotations

import numpy as np
import pytest

from cas_studio.inference.grouping import absorb_small, adjacent_pairs, merge_regions, regions_from_code
from cas_studio.metrics import region_metrics


def grid(h: int, w: int, cell: int) -> np.ndarray:
    """Square superpixels of side ``cell``."""
    return (np.arange(h)[:, None] // cell) * (-(-w // cell)) + np.arange(w)[None, :] // cell


def test_adjacent_pairs_are_unique_sorted_and_complete():
    lab = np.array([[0, 0, 1], [2, 2, 1], [2, 3, 3]])
    assert adjacent_pairs(lab).tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]


def test_merges_superpixels_of_one_code_and_keeps_codes_apart():
    truth = np.zeros((24, 24), np.int64)
    truth[:, 12:] = 1
    truth[16:, :] = 2
    code = np.eye(3)[truth].transpose(2, 0, 1) + np.random.default_rng(0).normal(0, 0.05, (3, 24, 24))
    out = merge_regions(grid(24, 24, 4), code, threshold=0.5)
    assert region_metrics(out, [truth])["covering"] == pytest.approx(1.0)
    assert merge_regions(grid(24, 24, 4), code, threshold=1e-6).max() + 1 == 36  # nothing merges
    assert merge_regions(grid(24, 24, 4), code, threshold=10).max() == 0  # everything does


def test_output_regions_are_unions_of_input_regions():
    rng = np.random.default_rng(1)
    sp = grid(30, 40, 5)
    out = merge_regions(sp, rng.random((4, 30, 40)), threshold=0.3)
    for s in np.unique(sp):
        assert len(np.unique(out[sp == s])) == 1


def test_merging_follows_the_code_not_adjacency_order():
    """Only touching regions merge: two far-apart patches of one code stay two regions."""
    truth = np.zeros((8, 24), np.int64)
    truth[:, 8:16] = 1  # code A | code B | code A
    code = np.eye(2)[truth].transpose(2, 0, 1)
    out = merge_regions(grid(8, 24, 4), code, threshold=0.5)
    assert out.max() + 1 == 3


def test_regions_from_code_merges_felzenszwalb_superpixels_and_checks_shapes():
    from skimage.segmentation import felzenszwalb

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 50, 3)).astype(np.uint8)
    image[:, 25:] //= 4  # a dark right half
    code = np.zeros((2, 40, 50))
    code[1, :, 25:] = 1
    code[0] = 1 - code[1]
    labels = regions_from_code(code, image, scale=20, threshold=0.5, min_size=10, color_weight=0)  # the code alone
    superpixels = felzenszwalb(image, scale=20, sigma=0.8, min_size=10)
    np.testing.assert_array_equal(labels, merge_regions(superpixels, code, threshold=0.5))
    assert superpixels.max() + 1 > 10 and labels.max() + 1 < superpixels.max() + 1
    with pytest.raises(ValueError, match="probabilities are"):
        regions_from_code(code[:, :30], image)


def test_absorb_small_merges_tiny_regions_into_their_closest_neighbour():
    labels = np.zeros((20, 20), np.int64)
    labels[:, 10:] = 1
    labels[5:7, 8:10] = 2  # 4 px inside region 0's side, touching 0 only
    labels[12:14, 9:11] = 3  # 4 px on the border of 0 and 1
    features = np.zeros((1, 20, 20))
    features[0, :, 10:] = 1.0
    features[0, 12:14, 9:11] = 0.9  # closer to region 1's code
    out = absorb_small(labels, features, min_area=10)
    assert len(np.unique(out)) == 2
    assert out[5, 8] == out[0, 0] and out[12, 9] == out[0, 19]
    # Nothing below the bound: the labels come back unchanged (renumbered only).
    np.testing.assert_array_equal(absorb_small(labels, features, min_area=4), labels)
    np.testing.assert_array_equal(absorb_small(labels, features, min_area=0), labels)


def test_min_area_leaves_no_region_below_it():
    rng = np.random.default_rng(3)
    image = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    probs = rng.random((4, 60, 80)).astype(np.float32)
    probs /= probs.sum(0)
    plain = regions_from_code(probs, image, scale=50, min_size=5, threshold=0.05)
    cleaned = regions_from_code(probs, image, scale=50, min_size=5, threshold=0.05, min_area=0.02)
    sizes = np.bincount(cleaned.ravel())
    assert sizes.min() >= 0.02 * cleaned.size and len(sizes) < len(np.unique(plain))
    # Every cleaned region is a union of the plain ones.
    for r in np.unique(plain):
        assert len(np.unique(cleaned[plain == r])) == 1
