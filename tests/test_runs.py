"""The Run type owns the run folder; the Trainer's events, stop request and keep-the-start rule."""

from __future__ import annotations

import ast
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from cas_studio.app.wording import outcome_sentence, run_message
from cas_studio.models.factory import build_model
from cas_studio.training.runs import Run
from cas_studio.training.command import TrainConfig
from cas_studio.training.trainer import EpochEvent, Outcome, StepEvent, Trainer

from .helpers import make_figure_ground


@pytest.fixture(scope="module")
def figure_ground(tmp_path_factory):
    return make_figure_ground(tmp_path_factory.mktemp("fg") / "set", n=8, size=48)


def config(data, out, **kw) -> TrainConfig:
    base = dict(task="saliency", train=[str(data)], val=str(data), out_dir=str(out), size=32, batch=4,
                epochs=2, lr=2e-3, val_limit=4, arch="lraspp_mobilenet_v3_large", pretrained=False)
    return TrainConfig(**{**base, **kw})


def test_run_round_trips_its_files_and_resolves_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Run("runs/a")
    assert run.folder == tmp_path / "runs" / "a" and run == Run(tmp_path / "runs" / "a")
    assert run.status()["state"] == "unknown" and run.rows() == [] and run.config() == {} and run.weights() is None
    run.create({"task": "regions"})
    run.set_status("running", "epoch 1/3", outcome={"improved": True})
    run.set_status("finished", "3 epochs")
    assert run.config() == {"task": "regions"}
    status = run.status()
    assert status["state"] == "finished" and status["outcome"] == {"improved": True}  # earlier extras kept
    run.write_rows([{"epoch": 0, "covering": 0.3}, {"epoch": 1, "loss": -1.0, "covering": 0.4}])
    assert [r["epoch"] for r in run.rows()] == [0, 1] and (run.folder / "curves.png").is_file()
    run.save_state({"epoch": 1, "best": 0.4})
    assert run.load_state() == {"epoch": 1, "best": 0.4}
    with pytest.raises(ValueError, match="unknown run state"):
        run.set_status("paused")


def test_a_corrupt_status_reads_as_unknown(tmp_path):
    run = Run(tmp_path).create({})
    (tmp_path / "status.json").write_text("{not json")
    assert run.status()["state"] == "unknown"


def test_no_module_but_runs_opens_the_run_files():
    """The run folder's format lives in one place."""
    package = Path(__file__).resolve().parents[1] / "cas_studio"
    offenders = []
    for path in package.rglob("*.py"):
        if path.name == "runs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ("config.json", "status.json", "metrics.jsonl"):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []


def test_events_arrive_in_order_and_a_stop_request_is_clean(figure_ground, tmp_path):
    steps: list[StepEvent] = []
    epochs: list[EpochEvent] = []
    trainer = Trainer(config(figure_ground, tmp_path / "r", epochs=3, val=None), show_progress=False,
                      on_step=steps.append, on_epoch=epochs.append)

    def stop_after_three(event: StepEvent) -> None:
        steps.append(event)
        if len(steps) == 3:
            trainer.request_stop()

    trainer.on_step = stop_after_three
    trainer.fit()
    assert [(e.epoch, e.step) for e in steps] == [(0, 1), (0, 2), (1, 1)]  # 2 steps per epoch
    assert [e.epoch for e in epochs] == [1] and epochs[0].is_best
    status = Run(tmp_path / "r").status()
    assert status["state"] == "stopped" and status["epoch"] == 1


def test_keep_start_scores_the_start_and_keeps_it_when_nothing_beats_it(figure_ground, tmp_path):
    first = Trainer(config(figure_ground, tmp_path / "a", epochs=1), show_progress=False)
    first.fit()
    base = tmp_path / "a" / "last.safetensors"
    # lr 0: the weights cannot move, so no epoch can beat the start.
    events: list[EpochEvent] = []
    trainer = Trainer(config(figure_ground, tmp_path / "b", epochs=2, lr=0.0, init=str(base), keep_start=True),
                      show_progress=False, on_epoch=events.append)
    trainer.fit()
    assert [e.epoch for e in events] == [0, 1, 2] and events[0].is_best and not any(e.is_best for e in events[1:])
    outcome = trainer.outcome()
    assert outcome.improved is False and outcome.best_epoch == 0
    run = Run(tmp_path / "b")
    assert not run.best_path.is_file() and run.last_path.is_file()
    assert run.status()["outcome"]["improved"] is False
    assert "; not improved: held-out " in run.status()["message"]
    assert [r["epoch"] for r in run.rows()] == [0, 1, 2]
    with pytest.raises(ValueError, match="keep_start needs a validation set"):
        config(figure_ground, tmp_path / "c", val=None, keep_start=True)


def test_outcome_sentences():
    assert outcome_sentence(Outcome("covering", 0.41, 0.58, 3, True, holdout=4, noise=0.02)).startswith(
        "improved held-out covering 0.41 -> 0.58")
    lost = outcome_sentence(Outcome("covering", 0.41, 0.41, 0, False))
    assert lost.startswith("did not beat the base model (0.41 -> 0.41); the base stays selected")


def test_outcome_verdicts_and_the_library_summary():
    assert Outcome("covering", 0.41, 0.58, 3, True, holdout=4, noise=0.02).verdict == "improved"
    assert Outcome("covering", 0.41, 0.41, 0, False, 0.39).verdict == "not improved"
    assert Outcome("covering", None, 0.5, 2, None).verdict == "unscored"
    summary = Outcome("covering", 0.41, 0.41, 0, False, 0.39, holdout=1).summary()
    assert summary == "not improved: held-out covering 0.410 -> 0.390 on 1 image"
    assert "annotate" not in summary.lower()  # advice is the app's


def test_the_app_replaces_the_library_summary_with_its_sentence():
    outcome = Outcome("covering", 0.40, 0.58, 2, True, 0.58, holdout=3, noise=0.05)
    status = {"state": "finished", "message": f"stopped by the user; last checkpoint kept; {outcome.summary()}",
              "outcome": asdict(outcome), "head": "stopped by the user; last checkpoint kept"}
    assert run_message(status) == ("stopped by the user; last checkpoint kept; improved held-out covering 0.40 -> 0.58 "
                                   "on 3 held-out images (epoch 2)")
    assert run_message({"state": "failed", "message": "NaN loss"}) == "NaN loss"
    # A status another version wrote (no head recorded) is shown as it is.
    old = {k: v for k, v in status.items() if k != "head"}
    assert run_message({**old, "message": "2 epochs; improved by the old words"}) == "2 epochs; improved by the old words"
    assert run_message({"state": "finished", "message": "2 epochs", "outcome": {"unknown": 1}}) == "2 epochs"


def test_resume_keeps_the_best_epoch(figure_ground, tmp_path):
    cfg = config(figure_ground, tmp_path / "r", epochs=2, val=None)
    trainer = Trainer(cfg, show_progress=False)
    trainer.on_epoch = lambda e: trainer.request_stop()
    trainer.fit()
    assert Run(cfg.out_dir).status()["state"] == "stopped" and Run(cfg.out_dir).load_state()["epoch"] == 0
    assert Run(cfg.out_dir).status()["head"] == "stopped by the user; last checkpoint kept"  # no outcome words
    again = Trainer(cfg, show_progress=False)
    again.fit(resume=True)
    assert [r["epoch"] for r in Run(cfg.out_dir).rows()] == [1, 2]
    assert again.best_epoch in (1, 2)
    assert torch.load(Run(cfg.out_dir).state_path, weights_only=True)["best_epoch"] == again.best_epoch


def test_an_outcome_within_the_epoch_to_epoch_swing_is_no_clear_change():
    noisy = Outcome("covering", 0.40, 0.43, 2, True, 0.43, holdout=1, noise=0.05)
    assert not noisy.clear
    assert outcome_sentence(noisy).startswith("no clear change on 1 held-out image: covering 0.40 -> 0.43")
    assert "one held-out image is too few" in outcome_sentence(noisy)
    clear = Outcome("covering", 0.40, 0.58, 2, True, 0.58, holdout=3, noise=0.05)
    assert clear.clear and outcome_sentence(clear) == "improved held-out covering 0.40 -> 0.58 on 3 held-out images (epoch 2)"


def test_one_held_out_image_or_no_measured_swing_is_never_called_an_improvement():
    one_image = Outcome("covering", 0.40, 0.44, 2, True, 0.44, holdout=1, noise=0.0)  # what the newcomer saw
    assert one_image.verdict == "no clear change"
    assert "one held-out image is too few to tell a change from chance" in outcome_sentence(one_image)
    unmeasured = Outcome("covering", 0.40, 0.58, 2, True, 0.58, holdout=5, noise=None)
    assert unmeasured.verdict == "no clear change" and "too few epochs" in outcome_sentence(unmeasured)
    assert Outcome("covering", 0.40, 0.58, 2, True, 0.58, holdout=5, noise=0.03).verdict == "improved"


def test_a_run_of_a_few_steps_trains(figure_ground, tmp_path):
    """Ten optimiser steps in all (a short fine-tune): the schedule must not divide by zero."""
    cfg = config(figure_ground, tmp_path / "short", epochs=5, batch=4, steps_per_epoch=2, val=None)
    Trainer(cfg, show_progress=False).fit()
    assert Run(cfg.out_dir).status()["state"] == "finished"


def test_freeze_bn_keeps_the_starting_statistics(figure_ground, tmp_path):
    """A fine-tune with freeze_bn trains the weights but leaves every BatchNorm's statistics as
    its start had them (no update in training, no recalibration after)."""
    from cas_studio.models.weights import WeightsInfo, load_model, save_weights

    torch.manual_seed(0)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=2, task="saliency", input_size=32,
                       saliency_channel=1)
    start = save_weights(build_model(info.arch, 2, pretrained=False), tmp_path / "start.safetensors", info)
    stats = lambda m: torch.cat([b.running_mean for b in m.modules()  # noqa: E731
                                 if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)])
    for frozen in (True, False):
        cfg = config(figure_ground, tmp_path / f"run{frozen}", epochs=1, val=None, init=str(start), freeze_bn=frozen)
        Trainer(cfg, show_progress=False).fit()
        before, after = load_model(start, device="cpu"), load_model(Run(cfg.out_dir).weights(), device="cpu")
        assert torch.equal(stats(before), stats(after)) == frozen
        changed = any(not torch.equal(p, q) for p, q in zip(before.parameters(), after.parameters()))
        assert changed  # the weights themselves trained either way
