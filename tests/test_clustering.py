"""The texture decoder: feature maps clustered into regions whose number is found by merging."""

from __future__ import annotations

import numpy as np
import pytest

from cas_studio.inference.clustering import DECODER_DEFAULTS, regions_from_features
from cas_studio.metrics import region_metrics


def _three_regions(noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(16, 48, 48) features: three regions, each a different random direction plus noise."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((48, 48), np.int32)
    truth[:, 24:] = 1
    truth[30:, :30] = 2
    directions = rng.normal(size=(3, 16))
    features = directions[truth].transpose(2, 0, 1) + noise * rng.normal(size=(16, 48, 48))
    return features.astype(np.float32), truth


def test_finds_the_regions_without_being_told_how_many():
    features, truth = _three_regions(noise=0.3)
    # sigma=0: smoothing would add mixed features along the boundaries (there the decoder's
    # min_size absorbs them)
    labels = regions_from_features(features, sigma=0)  # up to 10 clusters, merged back to 3
    assert labels.shape == truth.shape and labels.dtype == np.int32
    assert len(np.unique(labels)) == 3
    assert region_metrics(labels, [truth])["covering"] > 0.97


def test_threshold_sets_how_much_is_merged():
    features, _ = _three_regions(noise=0.3)
    assert len(np.unique(regions_from_features(features, threshold=10.0))) == 1  # everything merged
    assert len(np.unique(regions_from_features(features, threshold=0.0))) == 10  # nothing merged


def test_deterministic_for_a_seed_and_scale_free():
    features, _ = _three_regions(noise=0.5, seed=3)
    a = regions_from_features(features, seed=1)
    assert np.array_equal(a, regions_from_features(features, seed=1))
    assert np.array_equal(a, regions_from_features(features * 7.0, seed=1))  # only directions count


def test_constant_features_give_one_region_and_bad_input_is_named():
    assert np.unique(regions_from_features(np.ones((4, 8, 8), np.float32))).tolist() == [0]
    with pytest.raises(ValueError, match=r"\(C, h, w\)"):
        regions_from_features(np.ones((8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        regions_from_features(np.full((2, 4, 4), np.nan))
    with pytest.raises(ValueError, match="clusters >= 1"):
        regions_from_features(np.ones((2, 4, 4)), clusters=0)


def test_cluster_decoder_through_decode_regions_and_weights(tmp_path):
    from dataclasses import replace

    from cas_studio.inference.infer import decode_regions, predict_probabilities, predict_regions
    from cas_studio.models.factory import build_model
    from cas_studio.models.weights import WeightsInfo, load_model, save_weights

    model = build_model("efficientnet_lite0_fpn", 4).eval()
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, 64:] = 255
    image[::4, 64:] = 0  # stripes on the right: a second texture
    probs = predict_probabilities(model, image, size=128)
    labels = decode_regions(model, probs, image, decoder={"method": "cluster", "min_size": 16}, size=128)
    assert labels.shape == image.shape[:2] and labels.dtype == np.int32
    assert labels.min() == 0 and len(np.unique(labels)) == labels.max() + 1
    info = WeightsInfo(task="texture", arch="efficientnet_lite0_fpn", out_channels=4,
                       decoder={"method": "cluster", **DECODER_DEFAULTS})
    save_weights(model, tmp_path / "t.safetensors", info)
    recorded = load_model(tmp_path / "t.safetensors")
    assert recorded.info.decoder["method"] == "cluster"
    assert predict_regions(recorded, image, size=128).shape == image.shape[:2]
    with pytest.raises(ValueError, match="decoder must be a dict"):
        replace(info, decoder={"method": "kmeans"})
    other = build_model("lraspp_mobilenet_v3_large", 4).eval()
    with pytest.raises(ValueError, match="EfficientNet-Lite FPN"):
        decode_regions(other, probs, image, decoder={"method": "cluster"})
