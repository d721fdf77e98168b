"""The command line: predict and eval end to end on generated data, with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cas_studio.cli import main
from cas_studio.io import read_label_map, write_image, write_label_map
from cas_studio.models.factory import build_model
from cas_studio.models.weights import WeightsInfo, save_weights

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


def test_eval_worst_images_figure_picks_the_worst(tmp_path, capsys):
    from cas_studio.data import read_target, resolve
    from cas_studio.inference.evaluate import worst_examples
    from cas_studio.inference.scoring import evaluate_saliency

    data = make_figure_ground(tmp_path / "d", n=4, size=40)
    items = resolve(str(data))
    bad = items[2].image.stem

    def predict(it, image):
        gt = (read_target(it) > 0).astype(np.float32)
        return 1 - gt if it.image.stem == bad else gt

    scores = []
    evaluate_saliency(predict, items, progress=False, scores=scores)
    assert len(scores) == 4 and max(scores, key=lambda s: s[1])[0].image.stem == bad
    shown = []
    worst_examples(lambda it, im: (shown.append(it.image.stem), predict(it, im))[1], "saliency", scores,
                   tmp_path / "w.png", n=2)
    assert shown[0] == bad and len(shown) == 2
    assert (tmp_path / "w.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no scored images"):
        worst_examples(predict, "saliency", [], tmp_path / "x.png")
    assert main(["eval", "--task", "saliency", "--data", str(data), "--pred", str(data / "masks"),
                 "--worst", str(tmp_path / "cli.png"), "--worst-n", "1"]) == 0
    assert (tmp_path / "cli.png").is_file()


def test_eval_worst_for_regions_is_lowest_covering(tmp_path):
    from cas_studio.inference.evaluate import worst_examples
    from cas_studio.inference.scoring import evaluate_regions
    from cas_studio.data import resolve

    lm = tmp_path / "lm"
    truth = np.arange(32 * 32).reshape(32, 32) // 256
    for i in range(3):
        write_image(lm / "images" / f"{i}.png", np.full((32, 32, 3), 60 * i, np.uint8))
        write_label_map(lm / "labels" / f"{i}.png", truth)
    items = resolve(str(lm))
    predict = lambda it, im: np.zeros((32, 32), np.int64) if it.image.stem == "1" else truth  # noqa: E731
    scores = []
    evaluate_regions(predict, items, progress=False, scores=scores)
    assert min(scores, key=lambda s: s[1])[0].image.stem == "1"
    assert worst_examples(predict, "regions", scores, tmp_path / "r.png", n=1).is_file()


def test_eval_decoder_flag_overrides_the_models_decoder(monkeypatch):
    from cas_studio.inference import evaluate

    seen = []
    monkeypatch.setattr(evaluate, "model_predictor", lambda w, t, items, size=None, decoder=None, **kw: seen.append(decoder)
                        or (lambda it, im: __import__("numpy").zeros(im.shape[:2], int)))
    monkeypatch.setattr(evaluate, "resolve", lambda data: [])
    assert evaluate.main(["--task", "regions", "--data", "x", "--weights", "w", "--decoder", "merge"]) == 2  # no images
    monkeypatch.setattr(evaluate, "resolve", lambda data: [evaluate.Item(__import__("pathlib").Path("i.png"), __import__("pathlib").Path("t.png"), "label_map")])
    from cas_studio.inference.outputs import output_of
    monkeypatch.setattr(output_of("regions"), "evaluate", lambda predict, items, scores=None, **kw: {"covering": 1.0})
    from cas_studio.inference.clustering import DECODER_DEFAULTS
    from cas_studio.inference.grouping import DEFAULTS

    for argv, expected in ((["--decoder", "merge", "--merge-threshold", "0.2"], {"method": "merge", **DEFAULTS, "threshold": 0.2}),
                           (["--decoder", "merge", "--merge-color-weight", "1.5", "--merge-scale", "400"],
                            {"method": "merge", **DEFAULTS, "color_weight": 1.5, "scale": 400.0}),
                           (["--decoder", "cluster", "--cluster-threshold", "0.4"],
                            {"method": "cluster", **DECODER_DEFAULTS, "threshold": 0.4}),
                           (["--decoder", "argmax"], {"method": "argmax"}), ([], None)):
        assert evaluate.main(["--task", "regions", "--data", "x", "--weights", "w", *argv]) == 0
        assert seen[-1] == expected


def test_eval_decoder_options_alone_change_the_recorded_decoder(tmp_path):
    """``--merge-min-area 0`` on a model recording a merge decoder changes that one setting (it
    used to be ignored without ``--decoder merge``); an option of another decoder is refused."""
    import argparse

    from cas_studio.inference.evaluate import decoder_from_args
    from cas_studio.models.factory import build_model
    from cas_studio.models.weights import WeightsInfo, save_weights

    recorded = {"method": "merge", "scale": 300.0, "threshold": 0.3, "min_size": 100, "color_weight": 1.0,
                "min_area": 0.005}
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=4, task="regions", decoder=recorded)
    weights = save_weights(build_model(info.arch, 4), tmp_path / "w.safetensors", info)

    def args(**kw):
        base = dict(weights=str(weights), decoder=None, merge_scale=None, merge_threshold=None,
                    merge_color_weight=None, merge_min_area=None, cluster_threshold=None)
        return argparse.Namespace(**{**base, **kw})

    assert decoder_from_args(args()) is None  # the model's own
    assert decoder_from_args(args(merge_min_area=0.0)) == {**recorded, "min_area": 0.0}
    with pytest.raises(ValueError, match="--cluster-threshold.*decoder in use is 'merge'"):
        decoder_from_args(args(cluster_threshold=0.2))
    with pytest.raises(ValueError, match="--merge-threshold.*decoder in use is 'argmax'"):
        decoder_from_args(args(decoder="argmax", merge_threshold=0.2))


def test_predict_regions_uses_the_decoder_the_weights_record(tmp_path):
    from cas_studio.inference.infer import decode_regions, predict_probabilities
    from cas_studio.inference.labelling import labels_from_probabilities
    from cas_studio.models.weights import load_model

    torch.manual_seed(0)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=4, task="regions", input_size=64,
                       decoder={"method": "merge", "scale": 100.0, "threshold": 0.25, "min_size": 20,
                                "color_weight": 1.0})
    weights = save_weights(build_model(info.arch, 4), tmp_path / "merge.safetensors", info)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (200, 30, 30)
    image[:, 32:] = (20, 40, 220)
    write_image(tmp_path / "in" / "two.png", image)
    assert main(["predict", "--weights", str(weights), "--task", "regions", str(tmp_path / "in"),
                 "--out", str(tmp_path / "out")]) == 0
    got = read_label_map(tmp_path / "out" / "two.png")
    model = load_model(weights)
    probs = predict_probabilities(model, image)
    np.testing.assert_array_equal(got, decode_regions(model, probs, image))
    assert got[0, 0] != got[0, -1]  # the colour edge splits the superpixels the code merges
    assert len(np.unique(labels_from_probabilities(probs))) == 1  # arg-max alone sees one region


def test_flip_is_refused_for_region_models(tiny, tmp_path, capsys):
    data = make_figure_ground(tmp_path / "d", n=1, size=40)
    assert main(["eval", "--task", "regions", "--data", str(data), "--weights", str(tiny["regions"]),
                 "--flip"]) == 2
    assert "saliency models only" in capsys.readouterr().err
    assert main(["predict", "--weights", str(tiny["regions"]), "--task", "regions", str(data / "images"),
                 "--out", str(tmp_path / "out"), "--flip"]) == 2
    assert "saliency models only" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any prediction is written


def test_eval_saliency_test_time_options(tiny, tmp_path):
    data = make_figure_ground(tmp_path / "d", n=2, size=40)
    runs = {}
    for name, extra in (("plain", []), ("tta", ["--flip", "--temperature", "3"])):
        assert main(["eval", "--task", "saliency", "--data", str(data), "--weights", str(tiny["saliency"]),
                     "--json", str(tmp_path / f"{name}.json"), *extra]) == 0
        runs[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert runs["plain"]["mae"] != runs["tta"]["mae"]


def test_predict_mask_and_cutout_follow_the_saliency_map(tiny, tmp_path):
    import cv2

    from cas_studio.inference.infer import adaptive_threshold

    data = make_figure_ground(tmp_path / "d", n=1, size=40)
    assert main(["predict", "--weights", str(tiny["saliency"]), "--task", "saliency", str(data / "images"),
                 "--out", str(tmp_path / "o"), "--mask", "--cutout"]) == 0
    sal = read_label_map(tmp_path / "o" / "000.png") / 255.0
    mask = read_label_map(tmp_path / "o" / "000_mask.png")
    assert set(np.unique(mask)) <= {0, 255}
    # The mask is the saliency map at the automatic threshold (8-bit rounding aside).
    t = adaptive_threshold(sal)
    clear = np.abs(sal - t) > 1 / 255
    assert ((mask == 255) == (sal >= t))[clear].all()
    rgba = cv2.imread(str(tmp_path / "o" / "000_cutout.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (40, 40, 4) and (rgba[..., 3] == mask).all()


def test_predict_mask_is_refused_for_a_region_task(tiny, tmp_path, capsys):
    assert main(["predict", "--weights", str(tiny["regions"]), "--task", "regions", str(tmp_path),
                 "--out", str(tmp_path / "o"), "--mask"]) == 2
    assert "need a saliency task" in capsys.readouterr().err


def test_predict_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from cas_studio.cli import main\n"
            "try:\n    main(['predict', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_predict_never_overwrites_an_output_of_the_same_run(tiny, tmp_path, capsys):
    folder = tmp_path / "in"
    for name in ("a.png", "a.jpg", "a_mask.jpg", "b.png"):
        write_image(folder / name, np.full((32, 40, 3), len(name) * 20, np.uint8))
    assert main(["predict", "--weights", str(tiny["saliency"]), "--task", "saliency", str(folder), "--mask",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "wrote 4 predictions" in out and "keep the source extension" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a_jpg.png", "a_jpg_mask.png", "a_mask_jpg.png", "a_mask_jpg_mask.png", "a_png.png",
                     "a_png_mask.png", "b.png", "b_mask.png"]
