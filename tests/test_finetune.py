"""Fine-tuning on an annotation project improves a model on a held-out image; runs are managed."""

from __future__ import annotations

import time

import pytest
import torch

from cas_studio.app.wording import run_message
from cas_studio.data import resolve
from cas_studio.data.project import create_project
from cas_studio.training.finetune import (
    FinetuneOptions, RunInProgress, RunManager, kept_weights, list_runs, make_config, max_regions,
)
from cas_studio.models.factory import build_model
from cas_studio.training.runs import Run
from cas_studio.training.command import train, validate
from cas_studio.models.weights import WeightsInfo, load_model, save_weights

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
    # An untrained base with frozen BatchNorm statistics barely moves at 3e-3 (its loss stays near 0
    # and only a one-epoch spike crossed the bar); at 1e-2 held-out covering climbs steadily, to
    # 0.74-0.79 for base seeds 0-2 against 0.51 before.
    options = FinetuneOptions(base=str(base_model), task="regions", epochs=12, lr=1e-2, size=64, batch=4)
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
    project.label_path("mosaic1.png").write_bytes(b"corrupt")  # the held-out label map
    manager = RunManager()
    run = manager.start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=32, batch=1))
    run.thread.join(60)
    assert run.error and "not a readable label map" in run.error
    assert run.state()["state"] == "failed"


def test_a_corrupt_training_label_map_is_refused_before_any_run(tmp_path, base_model):
    """Counting regions (for the averaged loss) reads the training maps: a bad one is named at once."""
    from cas_studio.io import ImageError

    project = make_project(tmp_path / "p", n=2, size=32)
    project.label_path("mosaic0.png").write_bytes(b"corrupt")
    with pytest.raises(ImageError, match="mosaic0.png.png: not a readable label map"):
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


def _proposed_project(root, n=3, size=48, confirm=None):
    """Images over-segmented into a 4x4 grid of proposed regions; in the images of ``confirm`` the
    top two rows are merged into one region (so confirmed) and the rest stay proposed."""
    import numpy as np

    project = make_project(root, n=n, size=size)
    grid = (np.arange(size)[:, None] // (size // 4)) * 4 + np.arange(size)[None, :] // (size // 4) + 1
    for i, image in enumerate(project.annotated()):
        project.save_proposal(image, grid)
        labels = np.where(grid <= 8, 1, grid) if confirm is None or i in confirm else grid
        project.save_labels(image, labels)
    return project, grid


def test_untouched_regions_are_the_proposals_nobody_changed():
    import numpy as np

    from cas_studio.data.confirmation import untouched_regions

    proposal = np.array([[1, 1, 2, 2], [3, 3, 4, 4]])
    assert untouched_regions(proposal, proposal).tolist() == [1, 2, 3, 4]
    merged = np.array([[1, 1, 1, 1], [3, 3, 4, 4]])  # 2 merged into 1
    assert untouched_regions(merged, proposal).tolist() == [3, 4]
    grown = np.array([[1, 1, 2, 2], [3, 4, 4, 4]])  # 4 grew into 3's pixel; 3 shrank
    assert untouched_regions(grown, proposal).tolist() == [1, 2]
    erased = np.array([[1, 1, 2, 0], [3, 3, 4, 4]])  # part of 2 erased: changed
    assert untouched_regions(erased, proposal).tolist() == [1, 3, 4]


def test_proposed_regions_are_ignored_or_one_rest_region(tmp_path):
    import numpy as np

    from cas_studio.data import IGNORE, read_target

    project, grid = _proposed_project(tmp_path / "p", n=2)
    image = project.annotated()[0]
    assert project.sidecar(image)["confirmed"] == [1]
    (item,) = [it for it in resolve(f"{project.root}@train")]
    target = read_target(item)
    assert set(np.unique(target).tolist()) == {IGNORE, 1} and (target == 1).sum() == (grid <= 8).sum()
    (rest_item,) = resolve(f"{project.root}@train+rest")
    rest = read_target(rest_item)
    assert set(np.unique(rest).tolist()) == {1, int(grid.max()) + 1}
    # Confirming one proposed region by hand, then the whole image.
    project.save_labels(image, np.where(grid <= 8, 1, grid), by_hand=[16])
    assert project.sidecar(image)["confirmed"] == [1, 16]
    project.save_labels(image, np.where(grid <= 8, 1, grid), image_confirmed=True)
    assert project.sidecar(image)["confirmed"] == [1] + list(range(9, 17))


def test_imports_and_old_sidecars_count_as_confirmed(tmp_path):
    import json

    import numpy as np

    from cas_studio.data import IGNORE, read_target
    from cas_studio.io import write_label_map

    project, grid = _proposed_project(tmp_path / "p", n=2, confirm=())
    assert project.confirmed() == []
    image = project.annotated()[0]
    write_label_map(tmp_path / "mask.png", (grid > 8).astype(np.uint8) * 255)
    project.import_labels(image, tmp_path / "mask.png", binary=True)
    assert project.sidecar(image)["confirmed"] == [1, 2] and project.confirmed() == [image]
    side = project.label_path(project.annotated()[1]).with_suffix(".json")
    meta = json.loads(side.read_text())
    del meta["confirmed"]  # a sidecar from before confirmation existed
    side.write_text(json.dumps(meta))
    assert len(project.confirmed()) == 2
    assert IGNORE not in read_target(project.items()[1])


def test_fewer_than_two_confirmed_images_is_refused(tmp_path, base_model):
    project, _ = _proposed_project(tmp_path / "p", n=3, confirm=(0,))
    with pytest.raises(ValueError, match="1 confirmed image.*needs at least 2"):
        RunManager().start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=48))
    project.save_labels(project.annotated()[1], project.load_labels(project.annotated()[1]), image_confirmed=True)
    assert make_config(project.root, FinetuneOptions(base=str(base_model)), tmp_path / "r").val.endswith("@holdout")


def test_more_images_more_held_out(tmp_path):
    project = make_project(tmp_path / "p", n=10, size=32)
    train_items, held = project.split()
    assert (len(train_items), len(held)) == (8, 2)
    assert [it.image for it in held] == project.confirmed()[-2:]


def test_a_run_that_does_not_beat_its_base_is_never_offered(tmp_path, base_model, monkeypatch):
    from cas_studio.training import trainer

    scores = iter([0.41, 0.37, 0.39])  # the base, then two worse epochs
    monkeypatch.setattr(trainer, "validate", lambda *a, **k: {"covering": next(scores)})
    project = make_project(tmp_path / "p", n=3, size=48)
    manager = RunManager()
    job = manager.start(project.root, FinetuneOptions(base=str(base_model), epochs=2, size=48, batch=2))
    job.thread.join(120)
    state = job.state()
    assert state["state"] == "finished", state
    assert state["outcome"]["improved"] is False and "not improved: held-out covering 0.410 -> 0.390" in state["message"]
    assert "did not beat the base model (0.41 -> 0.39); the base stays selected" in run_message(state)
    assert kept_weights(job.run) is None and job.run.last_path.is_file()


def test_the_estimate_is_of_the_runs_order(tmp_path, base_model):
    from cas_studio.training.finetune import estimate
    from cas_studio.training.trainer import Trainer

    project = make_project(tmp_path / "p", n=9, size=64)
    options = FinetuneOptions(base=str(base_model), epochs=4, size=64, batch=2)
    guess = estimate(project.root, options)
    assert (guess.train_images, guess.holdout_images) == (7, 2) and "7 training images" in guess.sentence()
    t0 = time.perf_counter()
    Trainer(make_config(project.root, options, tmp_path / "run"), show_progress=False).fit()
    actual = time.perf_counter() - t0
    # The 2x target is reported by `cas-studio bench finetune` on a quiet machine; on a loaded one the
    # few timed steps swing more, so the test guards the order of magnitude (the old estimate was 12x).
    assert actual / 3 <= guess.seconds <= actual * 3, (guess.seconds, actual)


def test_two_starts_at_once_make_one_run(tmp_path, base_model):
    from .helpers import in_threads

    project = make_project(tmp_path / "p", n=3, size=48)
    manager = RunManager()
    results = in_threads(lambda: manager.start(project.root, FinetuneOptions(base=str(base_model), epochs=3, size=48,
                                                                             batch=2)), 2)
    jobs = [r for r in results if not isinstance(r, Exception)]
    assert len(jobs) == 1 and sum(isinstance(r, RunInProgress) for r in results) == 1
    jobs[0].thread.join(120)
    assert len([p for p in (project.root / "runs").iterdir() if p.is_dir()]) == 1


def test_a_second_process_on_the_same_project_is_refused(tmp_path, base_model):
    """The project's fine-tune lock file is held by another process: this one must not start."""
    import subprocess
    import sys

    project = make_project(tmp_path / "p", n=3, size=48)
    (project.root / "runs").mkdir(exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom filelock import FileLock\n"
         "lock = FileLock(sys.argv[1], thread_local=False)\nlock.acquire()\nprint('held', flush=True)\ntime.sleep(60)",
         str(project.root / "runs" / ".finetune.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgress, match="another process is fine-tuning"):
            RunManager().start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=48, batch=2))
        assert not [p for p in (project.root / "runs").iterdir() if p.is_dir()]
    finally:
        holder.kill()
        holder.wait()


def test_only_runs_this_app_recorded_become_models(tmp_path, base_model, monkeypatch):
    import shutil

    from cas_studio.training import trainer
    from cas_studio.training.finetune import record_run

    scores = iter([0.30, 0.50])  # the base, then a better epoch: the run's best is kept
    monkeypatch.setattr(trainer, "validate", lambda *a, **k: {"covering": next(scores)})
    project = make_project(tmp_path / "p", n=3, size=48)
    manager = RunManager()
    job = manager.start(project.root, FinetuneOptions(base=str(base_model), epochs=1, size=48, batch=2))
    job.thread.join(120)
    assert job.state()["state"] == "finished"
    weights = job.run.weights()
    assert kept_weights(job.run) == weights  # recorded when the run ended
    # A run folder placed in runs/ by hand, with a status saying "finished": never a model.
    forged = Run(project.root / "runs" / "20990101-000000")
    forged.folder.mkdir()
    shutil.copy(weights, forged.best_path)
    forged.set_status("finished", "done", outcome={"improved": True})
    assert kept_weights(forged) is None
    # Weights swapped after the run was recorded: no longer offered either.
    shutil.copy(base_model, weights)
    assert kept_weights(job.run) is None
    record_run(job.run)  # what the app itself records is offered again
    assert kept_weights(job.run) == weights


def test_start_on_a_folder_that_is_no_project_writes_nothing(tmp_path, base_model):
    missing = tmp_path / "no-such-project"
    with pytest.raises(ValueError):
        RunManager().start(missing, FinetuneOptions(base=str(base_model), epochs=1, size=48, batch=2))
    assert not missing.exists()


def test_a_killed_writers_temporary_files_are_removed_when_runs_are_listed(tmp_path):
    project = make_project(tmp_path / "p", n=1, size=32)
    run = Run(project.root / "runs" / "20260101-000000")
    run.folder.mkdir(parents=True)
    run.set_status("running", "epoch 1/2")
    leftover = run.folder / ".curves.png.k3j2h1.tmp"  # as atomic_path names them
    leftover.write_bytes(b"half a png")
    ((_, status),) = list_runs(project.root, RunManager())
    assert status["state"] == "interrupted" and not leftover.exists()


def test_a_fine_tune_runs_as_its_base_did(tmp_path):
    from cas_studio.data.synthetic import make_annotated_project

    torch.manual_seed(0)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=2, task="saliency", input_size=96,
                       saliency_channel=0, flip_average=True, temperature=1.5)
    base = save_weights(build_model(info.arch, 2), tmp_path / "base.safetensors", info)
    project = make_annotated_project(tmp_path / "p", n=3, size=48)
    cfg = make_config(project.root, FinetuneOptions(base=str(base), task="saliency", epochs=1, size=48, batch=2),
                      tmp_path / "run")
    from cas_studio.training.trainer import Trainer

    Trainer(cfg, show_progress=False).fit()
    tuned = load_model(Run(cfg.out_dir).weights(), device="cpu").info
    assert (tuned.flip_average, tuned.temperature, tuned.saliency_channel, tuned.input_size) == (True, 1.5, 0, 96)
    # Trained as saliency is trained, on whole frames (a square crop can cut the object off).
    assert cfg.crop == "frame"


def test_a_saliency_fine_tune_is_checked_on_the_held_out_regions_class_free(tmp_path):
    """A project's regions do not say which one is salient: its held-out images score a saliency
    model's binary mask as a two-region segmentation (covering), whatever the regions' ids."""
    import numpy as np

    from cas_studio.data.synthetic import make_annotated_project
    from cas_studio.io import read_label_map
    from cas_studio.training.trainer import Trainer
    from cas_studio.training.trainer import validate as check

    torch.manual_seed(0)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=2, task="saliency", input_size=48,
                       saliency_channel=1)
    base = save_weights(build_model(info.arch, 2), tmp_path / "base.safetensors", info)
    project = make_annotated_project(tmp_path / "p", n=4, size=48)
    cfg = make_config(project.root, FinetuneOptions(base=str(base), task="saliency", epochs=2, size=48, batch=2),
                      tmp_path / "run")
    assert cfg.val == f"{project.root}@holdout" and cfg.keep_start
    trainer = Trainer(cfg, show_progress=False)
    trainer.fit()
    outcome = trainer.outcome()
    assert outcome.key == "covering" and outcome.start is not None and outcome.holdout == 1
    assert "held-out covering" in outcome.summary()

    # Numbering the held-out regions the other way round changes nothing.
    model = load_model(base, device="cpu")
    before = check(model, "saliency", cfg.val, size=48)
    (held,) = resolve(cfg.val)
    labels = read_label_map(held.target)
    ids = np.unique(labels[labels > 0])
    assert len(ids) == 2
    swapped = np.select([labels == ids[0], labels == ids[1]], [ids[1], ids[0]], labels)
    project.save_labels(held.image, swapped, image_confirmed=True)
    assert not (read_label_map(held.target) == labels).all()
    after = check(model, "saliency", cfg.val, size=48)
    assert set(before) >= {"covering", "pri", "vi"} and after["covering"] == pytest.approx(before["covering"])
