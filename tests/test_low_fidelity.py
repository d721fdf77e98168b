"""The low-fidelity experiment runner: one run per (loss, p), reuse and resume, report."""

from __future__ import annotations

import json
import re

import pytest

from cas_studio.training import low_fidelity
from cas_studio.training.low_fidelity import Setup, figure, main, run, table
from cas_studio.training.runs import Run

from .helpers import make_figure_ground


@pytest.fixture(scope="module")
def figure_ground(tmp_path_factory):
    return make_figure_ground(tmp_path_factory.mktemp("lf") / "set", n=8, size=48)


def setup_for(data, **kw) -> Setup:
    base = dict(losses=("ce", "cas"), noise=(0.0, 0.5), train=[str(data)], val=str(data), size=32,
                epochs=2, batch=4, lr=2e-3, device="cpu")
    return Setup(**{**base, **kw})


def test_one_run_per_loss_and_noise_with_its_noise_level(figure_ground, tmp_path):
    results = run(setup_for(figure_ground), tmp_path, show_progress=False)
    assert [(r["loss"], r["p"]) for r in results] == [("ce", 0.0), ("cas", 0.0), ("ce", 0.5), ("cas", 0.5)]
    for r in results:
        cfg = json.loads((tmp_path / f"{r['loss']}_p{r['p']:g}" / "config.json").read_text())
        assert cfg["loss"] == r["loss"] and cfg["label_noise"] == r["p"] and cfg["epochs"] == 2
        assert len(r["curve"]) == 2 and 0 <= r["adp_fbeta"] <= 1 and 0 <= r["mae"] <= 1
    # Swapping the two ids of a mask leaves the CAS loss, hence the whole run, unchanged.
    cas = [r for r in results if r["loss"] == "cas"]
    assert cas[0]["curve"] == pytest.approx(cas[1]["curve"], abs=1e-3)


def test_finished_runs_are_reused_and_interrupted_ones_resume(figure_ground, tmp_path, monkeypatch):
    setup = setup_for(figure_ground, losses=("cas",), noise=(0.0,))
    first = run(setup, tmp_path, show_progress=False)
    calls = []
    monkeypatch.setattr(low_fidelity, "train", lambda cfg, **kw: calls.append(kw))
    assert run(setup, tmp_path, show_progress=False) == first and calls == []

    folder = tmp_path / "cas_p0"
    Run(folder).set_status("stopped", "stopped by the user")
    monkeypatch.setattr(low_fidelity, "train", lambda cfg, **kw: (calls.append(kw), Run(folder).set_status("finished")))
    run(setup, tmp_path, show_progress=False)
    assert calls == [{"resume": True, "recipe": "", "show_progress": False}]


def test_a_run_that_does_not_finish_is_an_error(figure_ground, tmp_path, monkeypatch):
    monkeypatch.setattr(low_fidelity, "train", lambda cfg, **kw: Run(tmp_path / "cas_p0").set_status("stopped", "by the user"))
    with pytest.raises(RuntimeError, match="did not finish"):
        run(setup_for(figure_ground, losses=("cas",), noise=(0.0,)), tmp_path, show_progress=False)
    assert Run(tmp_path / "cas_p0").status()["state"] == "stopped"


def test_table_and_figure():
    results = [{"loss": loss, "p": p, "run": "", "adp_fbeta": 0.5 + p / 10, "mae": 0.25, "max_fbeta": 0.6,
                "smeasure": 0.7, "curve": [0.4, 0.5]} for p in (0.0, 0.5) for loss in ("ce", "cas")]
    md = table(results).splitlines()
    assert md[0].startswith("| loss | p | adaptive F-beta | MAE") and len(md) == 2 + 4
    assert md[4] == "| CE | 0.5 | 0.550 | 0.250 | 0.600 | 0.700 |"


def test_figure_is_a_png(tmp_path):
    results = [{"loss": "cas", "p": 0.0, "adp_fbeta": 0.5, "mae": 0.2, "curve": [0.3, 0.5]}]
    path = figure(results, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_writes_results_and_refuses_missing_data(figure_ground, tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["--out", str(out), "--data", str(figure_ground), "--val", str(figure_ground), "--size", "32",
            "--epochs", "1", "--batch", "4", "--losses", "cace", "--noise", "0.5", "--device", "cpu", "--quiet"]
    assert main(args) == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["command"].startswith("cas-studio low-fidelity --out") and saved["results"][0]["loss"] == "cace"
    assert "| CACE | 0.5 |" in (out / "results.md").read_text() and (out / "low_fidelity.png").is_file()
    assert "| CACE | 0.5 |" in capsys.readouterr().out
    assert main(["--out", str(tmp_path / "x"), "--data", str(tmp_path / "missing"), "--val", str(figure_ground),
                 "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("kw, message", [({"noise": (0.0, 1.5)}, "[0, 1]"), ({"losses": ()}, "at least one"),
                                         ({"noise": (0.5, 0.5)}, "only once")])
def test_bad_setups_are_refused(kw, message, tmp_path, capsys):
    with pytest.raises(ValueError, match=re.escape(message)):
        Setup(**kw)
    assert main(["--out", str(tmp_path), "--noise", "2"]) == 2
    assert "[0, 1]" in capsys.readouterr().err and not any(tmp_path.iterdir())
