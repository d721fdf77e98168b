"""The model factory: every architecture builds offline and returns full-resolution logits."""

from __future__ import annotations

import pytest
import torch

from cas_studio.models import ARCHITECTURES, DEFAULT_ARCH, build_model, count_parameters


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
        out = model(torch.randn(1, 3, 67, 45))
    assert out.shape == (1, 3, 67, 45)
    assert torch.isfinite(out).all()


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
