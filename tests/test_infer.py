"""Inference helpers: sizes, ranges, the paper's channel and threshold rules, region cleanup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cas_studio.inference.infer import (
    binarize, choose_saliency_channel, predict_probabilities, predict_regions,
    predict_saliency,
)
from cas_studio.inference.labelling import labels_from_probabilities
from cas_studio.models.factory import build_model
from cas_studio.inference.outputs import output_of


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("lraspp_mobilenet_v3_large", 3).eval()


def test_outputs_at_original_size(model):
    image = np.random.default_rng(0).integers(0, 255, (70, 113, 3), dtype=np.uint8)
    probs = predict_probabilities(model, image, size=64)
    assert probs.shape == (3, 70, 113)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    sal = predict_saliency(model, image, size=64)
    assert sal.shape == (70, 113) and sal.dtype == np.float32 and 0 <= sal.min() <= sal.max() <= 1
    labels = predict_regions(model, image, size=64, min_size=1)
    assert labels.shape == (70, 113) and labels.min() == 0
    assert labels.max() == len(np.unique(labels)) - 1


def test_gray_input_is_accepted(model):
    assert predict_saliency(model, np.zeros((20, 30), np.uint8), size=32).shape == (20, 30)


def test_channel_rule_picks_the_correlated_channel():
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True
    probs = np.stack([1.0 - gt, gt.astype(float)]).astype(np.float32)
    assert choose_saliency_channel([probs], [gt]) == 1
    assert choose_saliency_channel([probs[::-1]], [gt]) == 0


def test_binarize_default_is_twice_the_mean():
    sal = np.array([0.0, 0.1, 0.2, 0.9])
    assert binarize(sal).tolist() == [False, False, False, True]  # 2 x mean = 0.6
    assert binarize(sal, 0.15).tolist() == [False, False, True, True]


def test_labels_cleanup_absorbs_small_regions():
    probs = np.zeros((2, 20, 20), np.float32)
    probs[0] = 1
    probs[:, 5, 5] = (0, 1)  # a one-pixel speck
    probs[:, 10:, :] = np.array([0, 1], np.float32)[:, None, None]
    labels = labels_from_probabilities(probs, min_size=4)
    assert len(np.unique(labels)) == 2 and labels[5, 5] == labels[0, 0]
    assert len(np.unique(labels_from_probabilities(probs, min_size=1))) == 3


def test_batched_list_equals_one_by_one(model):
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, s, dtype=np.uint8) for s in ((40, 60, 3), (40, 60, 3), (50, 50, 3))]
    batched = predict_probabilities(model, images, size=64, batch_size=2)
    assert isinstance(batched, list) and len(batched) == 3
    for im, p in zip(images, batched):
        np.testing.assert_allclose(p, predict_probabilities(model, im, size=64), atol=1e-5)


def test_region_decoder_from_argument_or_weights(tmp_path):
    from dataclasses import replace

    from cas_studio.models.factory import build_model
    from cas_studio.models.weights import WeightsInfo, load_model, save_weights

    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 32:] = 255
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=3, task="regions", input_size=64)
    path = save_weights(build_model(info.arch, 3), tmp_path / "a.safetensors", info)
    model = load_model(path, device="cpu")
    merged = predict_regions(model, image, decoder={"method": "merge", "scale": 20, "threshold": 10.0})
    assert merged.shape == (48, 64) and merged.max() == 0  # a huge threshold merges everything
    save_weights(model, tmp_path / "b.safetensors", replace(info, decoder={"method": "merge", "threshold": 10.0}))
    recorded = load_model(tmp_path / "b.safetensors", device="cpu")
    assert recorded.info.decoder["method"] == "merge"
    assert predict_regions(recorded, image).max() == 0
    with pytest.raises(ValueError, match="unknown region decoder"):
        predict_regions(model, image, decoder={"method": "kmeans"})
    with pytest.raises(ValueError, match="decoder must be"):
        replace(info, decoder={"method": "kmeans"})


def _softmax_of(model, image, size, *, flip, temperature):
    from cas_studio.inference.infer import _prepare

    x = _prepare(model, image, size)[0][None]
    with torch.inference_mode():
        logits = model(x)
        if flip:
            logits = 0.5 * (logits + model(x.flip(-1)).flip(-1))
        return torch.softmax(logits / temperature, dim=1)[0]


def test_flip_averages_the_logits_of_the_mirror_image(model):
    image = np.random.default_rng(3).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    plain = predict_probabilities(model, image, size=96, flip=False)
    flipped = predict_probabilities(model, image, size=96, flip=True)
    expected = _softmax_of(model, image, 96, flip=True, temperature=1.0).numpy()
    np.testing.assert_allclose(flipped, expected, atol=1e-5)  # same size: no resampling
    assert np.abs(flipped - plain).max() > 1e-4  # an untrained net is near-uniform, but not mirror-symmetric
    # A mirrored image gives the mirrored map once both passes are averaged.
    np.testing.assert_allclose(predict_probabilities(model, image[:, ::-1].copy(), size=96, flip=True),
                               flipped[:, :, ::-1], atol=1e-4)


def test_temperature_spreads_values_and_keeps_the_ranking():
    torch.manual_seed(2)
    two = build_model("lraspp_mobilenet_v3_large", 2).eval()
    image = np.random.default_rng(4).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cold = predict_saliency(two, image, size=64, temperature=0.5)
    warm = predict_saliency(two, image, size=64, temperature=3.0)
    np.testing.assert_allclose(warm, _softmax_of(two, image, 64, flip=False, temperature=3.0)[1].numpy(),
                               atol=1e-5)
    assert np.abs(warm - 0.5).mean() < np.abs(cold - 0.5).mean()
    # Two channels: the map is a sigmoid of the logit difference over T, so the order is kept.
    rank = lambda v: np.argsort(np.argsort(v.ravel()))  # noqa: E731
    assert np.corrcoef(rank(cold), rank(warm))[0, 1] > 0.999


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_is_refused(model, bad):
    with pytest.raises(ValueError, match="temperature"):
        predict_probabilities(model, np.zeros((16, 16, 3), np.uint8), size=16, temperature=bad)


def test_weights_record_the_test_time_options(tmp_path):
    from dataclasses import replace

    from cas_studio.models.weights import WeightsInfo, load_model, save_weights

    torch.manual_seed(1)
    net = build_model("lraspp_mobilenet_v3_large", 2).eval()
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=2, task="saliency", input_size=64,
                       saliency_channel=1)
    plain = load_model(save_weights(net, tmp_path / "a.safetensors", info))
    tuned = load_model(save_weights(net, tmp_path / "b.safetensors",
                                    replace(info, flip_average=True, temperature=1.5)))
    assert (tuned.info.flip_average, tuned.info.temperature) == (True, 1.5)
    image = np.random.default_rng(5).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(predict_saliency(tuned, image),
                               predict_saliency(plain, image, flip=True, temperature=1.5), atol=1e-6)
    # Arguments win over what the weights record.
    np.testing.assert_allclose(predict_saliency(tuned, image, flip=False, temperature=1.0),
                               predict_saliency(plain, image), atol=1e-6)


def test_flip_is_refused_for_a_region_model_and_temperature_range_is_the_weights(tmp_path):
    from cas_studio.models.weights import MAX_TEMPERATURE, WeightsInfo, load_model, save_weights

    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=3, task="regions", input_size=32)
    regions = load_model(save_weights(build_model(info.arch, 3), tmp_path / "r.safetensors", info))
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="saliency models only"):
        predict_probabilities(regions, image, flip=True)
    assert predict_probabilities(regions, image, flip=False).shape == (3, 16, 16)
    with pytest.raises(ValueError, match="temperature must be a number in"):
        predict_probabilities(regions, image, temperature=MAX_TEMPERATURE * 2)


def test_one_registry_owns_the_decoders():
    from cas_studio.inference.decoders import DECODERS, default_decoder, get_decoder
    from cas_studio.inference.tasks import get_task
    from cas_studio.models.weights import WeightsInfo

    assert default_decoder("merge")["method"] == "merge" and "threshold" in default_decoder("merge")
    with pytest.raises(ValueError, match="unknown region decoder 'kmeans'; choose one of"):
        get_decoder("kmeans")
    # The metadata check and the task registry take their names from it.
    assert set(get_task("regions").decoders) == set(DECODERS)
    with pytest.raises(ValueError, match="decoder must be a dict with a method among"):
        WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=4, task="regions", decoder={"method": "kmeans"})
    # The command line's decoder options come from it too, each a setting its decoder has.
    for name in DECODERS:
        decoder = get_decoder(name)
        assert set(decoder.options) <= set(decoder.defaults()), name
    assert get_decoder("merge").flag("min_area") == "--merge-min-area"


def test_a_held_out_check_sees_a_saliency_model_as_its_binary_mask(model):
    image = np.random.default_rng(1).integers(0, 255, (50, 80, 3), dtype=np.uint8)
    mask = output_of("saliency").segment(model, image, size=64)
    assert mask.dtype == np.int32 and set(np.unique(mask)) <= {0, 1}
    assert (mask == binarize(predict_saliency(model, image, size=64))).all()
    regions = output_of("regions").segment(model, image, size=64)
    assert (regions == predict_regions(model, image, size=64)).all()


def test_a_large_photo_is_decoded_on_a_bounded_working_copy(model, monkeypatch):
    from cas_studio.inference import infer

    seen = []
    real = infer.predict_probabilities
    monkeypatch.setattr(infer, "predict_probabilities", lambda m, im, **kw: seen.append(np.shape(im)[-3:-1]) or real(m, im, **kw))
    monkeypatch.setattr(infer, "DECODE_PIXELS", 60 * 80)
    image = np.random.default_rng(2).integers(0, 255, (240, 320, 3), dtype=np.uint8)  # 16x the bound
    labels = infer.predict_regions(model, image, size=64)
    assert labels.shape == (240, 320) and labels.dtype == np.int32
    assert seen and seen[-1][0] * seen[-1][1] <= 60 * 80  # the network's output never at full size
    small, s = infer.working_copy(image)
    assert s == 0.25 and small.shape == (60, 80, 3)
    many = output_of("regions").predict_many(model, [image, image[:40, :40]], size=64)
    assert [m.shape for m in many] == [(240, 320), (40, 40)]
