"""The safetensors weights format: round trips, name resolution and clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cas_studio.io import atomic_path
from cas_studio.models.factory import build_model
from cas_studio.models.weights import (
    WEIGHTS_DIR_ENV, WeightsInfo, available_weights, load_model, read_weights, resolve_weights, save_weights,
)

ARCH = "lraspp_mobilenet_v3_large"


def make_info(**kw) -> WeightsInfo:
    base = dict(arch=ARCH, out_channels=2, task="saliency", input_size=256, saliency_channel=1,
                training_data="synthetic", recipe="cas-studio train --demo", metrics={"fbeta": 0.5})
    return WeightsInfo(**{**base, **kw})


@pytest.fixture
def saved(tmp_path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = build_model(ARCH, 2).eval()
    return model, save_weights(model, tmp_path / "m.safetensors", make_info())


def test_round_trip_same_outputs_and_metadata(saved):
    model, path = saved
    loaded = load_model(path, device="cpu")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))
    assert loaded.info == make_info()
    assert not loaded.training


def test_half_storage_is_smaller_and_loads_as_float32(saved, tmp_path):
    model, full = saved
    half = save_weights(model, tmp_path / "h.safetensors", make_info(), half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half, device="cpu")
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), atol=5e-2, rtol=5e-2)


def test_bare_name_resolves_in_weights_dir(saved, tmp_path, monkeypatch):
    _, path = saved
    folder = tmp_path / "shipped"
    folder.mkdir()
    path.rename(folder / "regions.safetensors")
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(folder))
    assert resolve_weights("regions") == folder / "regions.safetensors"
    assert "regions" in available_weights()
    assert load_model("regions", device="cpu").info.task == "saliency"


def test_missing_name_lists_available(monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no weights named 'nonesuch'"):
        load_model("nonesuch")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "absent.safetensors")


def test_truncated_file(saved):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "g.safetensors"
    path.write_bytes(b"\x00not a safetensors file at all")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_weights(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "f.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not a CAS Studio weights file"):
        load_model(path)


def test_other_channel_count_keeps_the_trunk_and_renews_the_head(saved):
    model, path = saved
    loaded = load_model(path, device="cpu", out_channels=5)
    assert loaded.out_channels == 5 and loaded.info.out_channels == 5
    assert loaded.info.saliency_channel is None and loaded.info.recipe == make_info().recipe
    old, new = model.state_dict(), loaded.state_dict()
    renewed = sorted(k for k in new if new[k].shape != old[k].shape)
    assert renewed and all(k.startswith("net.classifier.") for k in renewed)
    for k in new:
        if k not in renewed:
            torch.testing.assert_close(new[k], old[k], msg=k)
    with torch.inference_mode():
        assert loaded(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64)


def test_other_channel_count_still_refuses_a_wrong_trunk(saved, tmp_path):
    model, _ = saved
    path = tmp_path / "x.safetensors"
    save_weights(model, path, make_info())
    tensors, _ = read_weights(path)
    key = next(k for k in tensors if k.startswith("net.backbone.") and tensors[k].ndim == 4)
    tensors[key] = tensors[key][:, :1].contiguous()
    save_file(tensors, str(path), metadata=make_info().to_metadata())
    with pytest.raises(ValueError, match="shape mismatch"):
        load_model(path, out_channels=4)


def test_mismatched_tensors(saved, tmp_path):
    model, _ = saved
    path = tmp_path / "x.safetensors"
    save_weights(model, path, make_info())
    tensors, info = read_weights(path)
    lying = make_info(out_channels=3)
    save_file(tensors, str(path), metadata=lying.to_metadata())
    with pytest.raises(ValueError, match="do not fit .*3 channels.*shape mismatch"):
        load_model(path)


def test_bad_metadata_values(tmp_path):
    with pytest.raises(ValueError, match="unknown task"):
        make_info(task="cats")
    meta = make_info().to_metadata()
    meta["out_channels"] = "two"
    path = tmp_path / "b.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata=meta)
    with pytest.raises(ValueError, match="bad weights metadata"):
        load_model(path)


def test_metadata_is_plain_strings():
    meta = make_info().to_metadata()
    assert all(isinstance(v, str) for v in meta.values())
    assert json.loads(meta["metrics"]) == {"fbeta": 0.5}
    assert meta["arch"] == ARCH


def test_save_refuses_info_for_another_model(tmp_path):
    with pytest.raises(ValueError, match="info says"):
        save_weights(build_model(ARCH, 2), tmp_path / "w.safetensors", make_info(out_channels=4))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_atomic_write_gives_readable_permissions(tmp_path):
    target = tmp_path / "new.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert target.stat().st_mode & 0o777 == 0o644
    target.chmod(0o600)
    with atomic_path(target) as tmp:
        tmp.write_text("y")
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("field, value", [("flip_average", "yes"), ("flip_average", 1), ("temperature", 0),
                                          ("temperature", 1e6), ("temperature", True), ("temperature", "2")])
def test_bad_test_time_options_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        make_info(**{field: value})


def test_flip_average_is_refused_in_a_region_models_metadata():
    with pytest.raises(ValueError, match="saliency models only, not to this regions model"):
        make_info(task="regions", saliency_channel=None, flip_average=True)
    assert make_info(task="regions", saliency_channel=None).flip_average is False


def test_weights_without_test_time_options_load_with_the_defaults(tmp_path):
    meta = make_info().to_metadata()
    del meta["flip_average"], meta["temperature"]  # weights written before the options existed
    info = WeightsInfo.from_metadata(meta)
    assert (info.flip_average, info.temperature) == (False, 1.0)


def test_weights_with_nan_are_refused_by_name(tmp_path):
    torch.manual_seed(0)
    model = build_model(ARCH, 2).eval()
    first = next(n for n, p in model.named_parameters())
    with torch.no_grad():
        dict(model.named_parameters())[first].fill_(float("nan"))
    path = save_weights(model, tmp_path / "diverged.safetensors", make_info())
    with pytest.raises(ValueError, match=r"diverged.safetensors: 1 tensor\(s\) hold NaN or infinite values"):
        load_model(path, device="cpu")
