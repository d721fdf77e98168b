"""The model factory: every architecture builds offline and returns full-resolution logits."""

from __future__ import annotations

import pytest
import torch

from cas_studio.models.factory import ARCHITECTURES, DEFAULT_ARCH, PRETRAINED, build_model, count_parameters


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt to fetch weights fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to download weights: {args}")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_builds_offline_and_keeps_resolution(arch):
    model = build_model(arch, 3).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3 + model.extra_inputs, 67, 45))
    assert out.shape == (1, 3, 67, 45)
    assert torch.isfinite(out).all()


def test_wide_decoder_doubles_the_fpn_width_and_keeps_the_encoder():
    plain, wide = build_model("efficientnet_lite1_fpn", 2), build_model("efficientnet_lite1_fpn_wide", 2)
    assert [layer.in_channels for layer in plain.output_layers()] == [64]
    assert [layer.in_channels for layer in wide.output_layers()] == [128]
    assert count_parameters(wide.net.encoder) == count_parameters(plain.net.encoder)
    assert "efficientnet_lite1_fpn_wide" in PRETRAINED and "fcn_resnet101" not in PRETRAINED


def test_default_is_small_and_trains():
    model = build_model(DEFAULT_ARCH, 2)
    assert count_parameters(model) < 5_000_000
    out = model(torch.randn(2, 3, 64, 64))
    out.mean().backward()
    assert all(p.grad is not None for p in model.backbone_parameters() if p.requires_grad)


@pytest.mark.parametrize("arch,channels,message", [("unet", 2, "unknown architecture"),
                                                  (DEFAULT_ARCH, 1, "out_channels")])
def test_bad_arguments(arch, channels, message):
    with pytest.raises(ValueError, match=message):
        build_model(arch, channels)


def test_weights_stay_channels_last_through_save_and_load_and_logits_are_contiguous(tmp_path):
    from cas_studio.models.weights import WeightsInfo, load_model, save_weights

    model = build_model(DEFAULT_ARCH, 5).eval()
    save_weights(model, tmp_path / "m.safetensors", WeightsInfo(task="regions", arch=DEFAULT_ARCH, out_channels=5))
    loaded = load_model(tmp_path / "m.safetensors", device="cpu")
    for m in (model, loaded):
        convs = [p for p in m.parameters() if p.ndim == 4 and p.shape[-1] > 1]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
        with torch.inference_mode():
            out = m(torch.randn(1, 3, 40, 56))
        assert out.is_contiguous() and out.view(1, 5, -1).shape == (1, 5, 40 * 56)
    with torch.inference_mode():
        x = torch.randn(1, 3, 40, 56)
        assert torch.allclose(model(x), loaded(x), atol=1e-5)
