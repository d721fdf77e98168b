"""Superpixels merged by their CAS code: the region decoder for the regions model."""

from __future__ import annotations

import numpy as np
import pytest

from cas_studio.grouping import adjacent_pairs, merge_regions, regions_from_code
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
