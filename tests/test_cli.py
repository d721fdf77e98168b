"""The command line: predict and eval end to end on generated data, with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cas_studio.cli import main
from cas_studio.io import read_label_map, write_image, write_label_map
from cas_studio.models import build_model
from cas_studio.weights import WeightsInfo, save_weights

from .helpers import make_figure_ground


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w")
    torch.manual_seed(0)
    paths = {}
    for task, m in (("saliency", 2), ("regions", 4)):
        info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=m, task=task, input_size=64,
                           saliency_channel=1 if task == "saliency" else None)
        paths[task] = save_weights(build_model(info.arch, m), folder / f"{task}.safetensors", info)
    return paths


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(c in out for c in ("app", "train", "predict", "eval", "bench"))


def test_predict_writes_maps_at_input_size(tiny, tmp_path):
    data = make_figure_ground(tmp_path / "d", n=2, size=40)
    write_image(data / "images" / "wide.png", np.zeros((30, 70, 3), np.uint8))
    assert main(["predict", "--weights", str(tiny["saliency"]), "--task", "saliency", str(data / "images"),
                 "--out", str(tmp_path / "sal")]) == 0
    sal = read_label_map(tmp_path / "sal" / "wide.png")
    assert sal.shape == (30, 70) and sal.max() <= 255
    assert main(["predict", "--weights", str(tiny["regions"]), "--task", "regions",
                 str(data / "images" / "000.png"), "--out", str(tmp_path / "reg")]) == 0
    labels = read_label_map(tmp_path / "reg" / "000.png")
    assert labels.shape == (40, 40) and labels.min() == 0


def test_predict_errors(tiny, tmp_path, capsys):
    assert main(["predict", "--weights", str(tiny["saliency"]), "--task", "saliency", str(tmp_path / "nope.jpg"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", "--weights", str(tiny["saliency"]), "--task", "saliency", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no images" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"broken")
    assert main(["predict", "--weights", str(tiny["saliency"]), "--task", "saliency", str(tmp_path / "bad"),
                 "--out", str(tmp_path / "o")]) == 1
    assert "skipped" in capsys.readouterr().out


def test_eval_predictions_folder_and_json(tmp_path, capsys):
    data = make_figure_ground(tmp_path / "d", n=3, size=40)
    assert main(["eval", "--task", "saliency", "--data", str(data), "--pred", str(data / "masks"),
                 "--json", str(tmp_path / "m.json"), "--pr-curve", str(tmp_path / "pr.png")]) == 0
    out = capsys.readouterr().out
    assert "| method | adp_fbeta" in out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["mae"] == 0.0 and metrics["adp_fbeta"] == pytest.approx(1.0)
    assert (tmp_path / "pr.png").stat().st_size > 0


def test_eval_model_and_baselines(tiny, tmp_path, capsys):
    data = make_figure_ground(tmp_path / "d", n=2, size=40)
    assert main(["eval", "--task", "saliency", "--data", str(data), "--weights", str(tiny["saliency"])]) == 0
    assert main(["eval", "--task", "saliency", "--data", str(data), "--method", "spectral_residual"]) == 0
    lm = tmp_path / "lm"
    for i in range(2):
        write_image(lm / "images" / f"{i}.png", np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8))
        write_label_map(lm / "labels" / f"{i}.png", np.arange(32 * 32).reshape(32, 32) // 256)
    assert main(["eval", "--task", "regions", "--data", str(lm), "--method", "felzenszwalb", "--scale", "100"]) == 0
    assert "covering" in capsys.readouterr().out
    assert main(["eval", "--task", "regions", "--data", str(lm), "--method", "spectral_residual"]) == 2
    assert "saliency method" in capsys.readouterr().err


def test_eval_missing_predictions(tmp_path, capsys):
    data = make_figure_ground(tmp_path / "d", n=2, size=40)
    (tmp_path / "p").mkdir()
    assert main(["eval", "--task", "saliency", "--data", str(data), "--pred", str(tmp_path / "p")]) == 2
    assert "no prediction for 2 of 2" in capsys.readouterr().err
