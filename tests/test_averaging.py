"""Checkpoint averaging: the mean of the weights, refusals that name the problem, the command."""

from __future__ import annotations

import pytest
import torch

from cas_studio.models.averaging import average_models, main
from cas_studio.models.factory import build_model
from cas_studio.models.weights import WeightsInfo, load_model, save_weights

ARCH = "lraspp_mobilenet_v3_large"


def info(**kw) -> WeightsInfo:
    base = dict(arch=ARCH, out_channels=2, task="saliency", input_size=256, saliency_channel=1,
                recipe="cas-studio train --demo", metrics={"max_fbeta": 0.5})
    return WeightsInfo(**{**base, **kw})


def saved(path, seed, **kw):
    torch.manual_seed(seed)
    model = build_model(ARCH, 2).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)  # distinct statistics, so their mean is checked too
    return model, save_weights(model, path, info(**kw))


def test_average_is_the_mean_of_parameters_and_buffers(tmp_path):
    a, pa = saved(tmp_path / "a.safetensors", 0)
    b, pb = saved(tmp_path / "b.safetensors", 1)
    c, pc = saved(tmp_path / "c.safetensors", 2)
    avg = average_models([pa, pb, pc])
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    checked = 0
    for key, value in avg.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (sa[key] + sb[key] + sc[key]) / 3)
            checked += 1
    assert checked > 100
    assert avg.info.metrics == {} and avg.info.saliency_channel == 1 and not avg.training


def test_average_of_copies_gives_the_same_outputs(tmp_path):
    a, pa = saved(tmp_path / "a.safetensors", 0)
    _, pb = saved(tmp_path / "b.safetensors", 0)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(average_models([pa, pb])(x), a(x))


def test_one_source_is_refused(tmp_path):
    _, pa = saved(tmp_path / "a.safetensors", 0)
    with pytest.raises(ValueError, match="at least two"):
        average_models([pa])


@pytest.mark.parametrize("field, value", [("saliency_channel", 0), ("task", "regions")])
def test_sources_of_different_networks_are_refused(tmp_path, field, value):
    _, pa = saved(tmp_path / "a.safetensors", 0)
    _, pb = saved(tmp_path / "b.safetensors", 1, **{field: value})
    with pytest.raises(ValueError, match=f"{field} is .*only fine-tunes of one network"):
        average_models([pa, pb])


def test_other_architectures_are_refused(tmp_path):
    _, pa = saved(tmp_path / "a.safetensors", 0)
    other = build_model("efficientnet_lite0_fpn", 2)
    pb = save_weights(other, tmp_path / "b.safetensors", info(arch="efficientnet_lite0_fpn"))
    with pytest.raises(ValueError, match="arch is 'efficientnet_lite0_fpn'"):
        average_models([pa, pb])


def test_command_records_the_test_time_options_and_itself(tmp_path):
    _, pa = saved(tmp_path / "a.safetensors", 0)
    _, pb = saved(tmp_path / "b.safetensors", 1)
    out = tmp_path / "avg.safetensors"
    assert main([str(pa), str(pb), "--out", str(out), "--half", "--size", "448", "--flip",
                 "--temperature", "1.5"]) == 0
    loaded = load_model(out, device="cpu")
    assert (loaded.info.input_size, loaded.info.flip_average, loaded.info.temperature) == (448, True, 1.5)
    assert loaded.info.recipe.startswith("cas-studio average ") and str(pb) in loaded.info.recipe
    assert out.stat().st_size < 0.6 * pa.stat().st_size  # float16


@pytest.mark.parametrize("extra, message", [
    (["--temperature", "50"], "temperature must be"),
    (["--size", "5"], "input_size must be"),
])
def test_command_refuses_bad_options_and_writes_nothing(tmp_path, capsys, extra, message):
    _, pa = saved(tmp_path / "a.safetensors", 0)
    _, pb = saved(tmp_path / "b.safetensors", 1)
    out = tmp_path / "avg.safetensors"
    assert main([str(pa), str(pb), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_command_refuses_flip_for_a_region_model(tmp_path, capsys):
    _, pa = saved(tmp_path / "a.safetensors", 0, task="regions", saliency_channel=None)
    _, pb = saved(tmp_path / "b.safetensors", 1, task="regions", saliency_channel=None)
    out = tmp_path / "avg.safetensors"
    assert main([str(pa), str(pb), "--out", str(out), "--flip"]) == 2
    assert "flip averaging applies to saliency models only" in capsys.readouterr().err and not out.exists()
