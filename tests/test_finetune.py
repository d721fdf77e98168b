"""Fine-tuning on an annotation project improves a model on a held-out image; runs are managed."""

from __future__ import annotations

import time

import pytest
import torch

from cas_studio.data import resolve
from cas_studio.data.project import create_project
from cas_studio.finetune import (
    FinetuneOptions, RunInProgress, RunManager, kept_weights, list_runs, make_config, max_regions,
)
from cas_studio.models import build_model
from cas_studio.runs import Run
from cas_studio.train import train, validate
from cas_studio.weights import WeightsInfo, load_model, save_weights

from .helpers import make_project


@pytest.fixture
def base_model(tmp_path):
    torch.manual_seed(0)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=4, task="regions", input_size=64)
    return save_weights(build_model(info.arch, 4), tmp_path / "base.safetensors", info)


def test_project_split_holds_out_the_last_image(tmp_path):
    project = make_project(tmp_path / "p", n=3)
    train_items, held = resolve(f"{project.root}@train"), resolve(f"{project.root}@holdout")
    assert len(train_items) == 2 and len(held) == 1
    assert held[0].image.name == project.annotated()[-1].name


def test_finetuning_improves_the_held_out_image(tmp_path, base_model):
    project = make_project(tmp_path / "p", n=6)
    options = FinetuneOptions(base=str(base_model), task="regions", epochs=12, lr=3e-3, size=64, batch=4)
    cfg = make_config(project.root, options, tmp_path / "run")
    before = validate(load_model(base_model, device="cpu"), "regions", cfg.val, size=64)
    train(cfg, show_progress=False)
    after = validate(load_model(tmp_path / "run" / "best.safetensors", device="cpu"), "regions", cfg.val, size=64)
    assert after["covering"] > before["covering"] + 0.15, (before, after)


def test_manager_runs_in_background_one_per_project(tmp_path, base_model):
    project = make_project(tmp_path / "p", n=3, size=48)
    manager = RunManager()
    options = FinetuneOptions(base=str(base_model), epochs=30, size=48, batch=2)
    run = manager.start(project.root, options)
    with pytest.raises(RunInProgress, match="already in progress"):
        manager.start(project.root, options)
    deadline = time.time() + 60
    while run.progress is None and time.time() < deadline:
        time.sleep(0.05)
    assert run.progress is not None and run.alive
    assert manager.stop(project.root)
    run.thread.join(60)
    assert run.state()["state"] == "stopped"
    assert Run(run.out_dir).last_path.is_file() or run.progress.epoch == 0
    second = manager.start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=48, batch=2))
    second.thread.join(120)
    assert second.state()["state"] == "finished" and Run(second.out_dir).last_path.is_file()
    assert [s["state"] for _, s in list_runs(project.root, manager)][:1] == ["finished"]


def test_interrupted_run_is_reported_after_restart(tmp_path):
    project = make_project(tmp_path / "p", n=1, size=32)
    stale = project.root / "runs" / "20260101-000000"
    stale.mkdir(parents=True)
    Run(stale).set_status("running", "epoch 3/20")
    ((_, status),) = list_runs(project.root, RunManager())
    assert status["state"] == "interrupted" and "checkpoint" in status["message"]


def test_crash_is_reported_with_a_readable_error(tmp_path, base_model):
    project = make_project(tmp_path / "p", n=2, size=32)
    (project.root / "labels" / "mosaic1.png").write_bytes(b"corrupt")  # the held-out label map
    manager = RunManager()
    run = manager.start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=32, batch=1))
    run.thread.join(60)
    assert run.error and "not a readable label map" in run.error
    assert run.state()["state"] == "failed"


def test_a_corrupt_training_label_map_is_refused_before_any_run(tmp_path, base_model):
    """Counting regions (for the averaged loss) reads the training maps: a bad one is named at once."""
    from cas_studio.io import ImageError

    project = make_project(tmp_path / "p", n=2, size=32)
    (project.root / "labels" / "mosaic0.png").write_bytes(b"corrupt")
    with pytest.raises(ImageError, match="mosaic0.png: not a readable label map"):
        RunManager().start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=32, batch=1))
    assert not (project.root / "runs").exists() or not any(p.is_dir() for p in (project.root / "runs").iterdir())


def test_no_annotation_no_run(tmp_path, base_model):
    project = create_project(tmp_path / "empty")
    with pytest.raises(ValueError, match="0 confirmed image.*needs at least 2"):
        RunManager().start(project.root, FinetuneOptions(base=str(base_model)))


def test_average_cas_when_images_have_more_regions_than_channels(tmp_path, base_model):
    """2 regions on a 4-channel base: the paper's sums; superpixel-like grids of 36: averaged."""
    import numpy as np

    project = make_project(tmp_path / "p", n=3, size=48)
    assert make_config(project.root, FinetuneOptions(base=str(base_model)), tmp_path / "r").cas_average is False
    grid = (np.arange(48)[:, None] // 8) * 6 + np.arange(48)[None, :] // 8 + 1
    for image in project.annotated():
        project.save_labels(image, grid)
    assert max_regions(resolve(f"{project.root}@train")) == 36
    assert make_config(project.root, FinetuneOptions(base=str(base_model)), tmp_path / "r").cas_average is True
    forced = make_config(project.root, FinetuneOptions(base=str(base_model), average=False), tmp_path / "r")
    assert forced.cas_average is False


def test_a_running_run_is_listed_as_running_from_a_relative_project_path(tmp_path, base_model, monkeypatch):
    """The app's default project folder is relative; a live run must not read as interrupted."""
    make_project(tmp_path / "projects" / "mine", n=3, size=48)
    monkeypatch.chdir(tmp_path)
    relative = "projects/mine"
    manager = RunManager()
    run = manager.start(relative, FinetuneOptions(base=str(base_model), epochs=50, size=48, batch=2))
    try:
        deadline = time.time() + 60
        while run.progress is None and time.time() < deadline:
            time.sleep(0.05)
        assert run.alive
        assert [s["state"] for _, s in list_runs(relative, manager)] == ["running"]
    finally:
        manager.stop(relative)
        run.thread.join(60)
