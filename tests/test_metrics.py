"""Metrics: SOD through pysodmetrics, region metrics cross-checked with scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import adapted_rand_error, variation_of_information as sk_vi

from cas_studio.metrics import SaliencyMeter, covering, rand_index, region_metrics, variation_of_information


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (40, 30))
    b = (a + (rng.random(a.shape) < 0.2) * rng.integers(1, 3, a.shape)) % 6
    return a, b


def test_vi_matches_skimage(pair):
    a, b = pair
    # scikit-image reports the two conditional entropies in bits; we report their sum in nats.
    assert variation_of_information(a, b) == pytest.approx(sum(sk_vi(b, a)) * np.log(2), rel=1e-9)


def test_rand_index_matches_pair_counting(pair):
    a, b = pair
    a, b = a[:12, :10].ravel(), b[:12, :10].ravel()
    same_a = a[:, None] == a[None, :]
    same_b = b[:, None] == b[None, :]
    iu = np.triu_indices(a.size, 1)
    expected = (same_a == same_b)[iu].mean()
    assert rand_index(a, b) == pytest.approx(expected)


def test_rand_index_consistent_with_skimage_adapted_rand(pair):
    a, b = pair
    _, precision, recall = adapted_rand_error(a + 1, b + 1)
    assert 0 < precision <= 1 and 0 < recall <= 1
    assert rand_index(a, a) == 1.0


def test_covering_perfect_and_partial():
    gt = np.zeros((10, 10), int)
    gt[:, 5:] = 1
    assert covering(gt, gt) == 1.0
    one = np.zeros_like(gt)
    assert covering(one, gt) == pytest.approx(0.5)  # each half has IoU 0.5 with the whole


def test_region_metrics_over_several_humans():
    gt1 = np.zeros((8, 8), int)
    gt1[:, 4:] = 1
    gt2 = gt1.copy()
    gt2[:4] += 2
    m = region_metrics(gt1, [gt1, gt2])
    assert m["covering_best"] == 1.0 and m["covering"] < 1.0 and m["vi"] > 0 and m["regions"] == 2
    with pytest.raises(ValueError, match="ground truth"):
        region_metrics(gt1, [np.zeros((3, 3), int)])


def test_saliency_meter_perfect_and_inverted():
    gt = np.zeros((32, 32), bool)
    gt[8:20, 8:20] = True
    good, bad = SaliencyMeter(), SaliencyMeter()
    good.update(gt.astype(np.float32), gt)
    bad.update((~gt).astype(np.float32), gt)
    g, b = good.results(), bad.results()
    assert g["mae"] == 0.0 and g["adp_fbeta"] == pytest.approx(1.0)
    assert b["mae"] == 1.0 and b["adp_fbeta"] < 0.1
    assert g["precision"].shape == g["recall"].shape
    with pytest.raises(ValueError, match="no images"):
        SaliencyMeter().results()


def test_boundary_fmeasure_perfect_shifted_and_missing():
    from cas_studio.metrics import boundary_fmeasure

    gt = np.zeros((100, 100), int)
    gt[:, 50:] = 1
    assert boundary_fmeasure(gt, [gt])["boundary_f"] == 1.0
    near = np.zeros_like(gt)
    near[:, 51:] = 1  # one pixel off: within the tolerance (0.75% of the diagonal, about 1 pixel)
    assert boundary_fmeasure(near, [gt])["boundary_f"] == 1.0
    far = np.zeros_like(gt)
    far[:, 70:] = 1
    res = boundary_fmeasure(far, [gt])
    assert res["boundary_precision"] == 0.0 and res["boundary_recall"] == 0.0 and res["boundary_f"] == 0.0
    over = (np.arange(100)[None, :] // 10 + np.zeros((100, 1), int))  # every 10 columns
    res = boundary_fmeasure(over, [gt])
    assert res["boundary_recall"] == 1.0 and res["boundary_precision"] < 0.2
