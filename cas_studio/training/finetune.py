"""Fine-tuning on an annotation project, in a background thread: what the app's Fine-tune tab drives.

A run trains on the project's confirmed regions (proposed ones are left out by default), scores
the base model on the held-out images first, keeps the best epoch by held-out score, and ends
with one plain sentence: it improved, or it did not and the base model stays selected. A run that
did not beat its base is never offered as a model. One run at a time per project, in this process
and across processes (a lock file); each run lives in its own ``<project>/runs/<timestamp>/``
(a :class:`~cas_studio.training.runs.Run`), so its state survives an app restart.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock, Timeout
from tqdm import tqdm

from ..data import read_target, resolve
from ..data.project import file_sha256, open_project
from ..io import atomic_path
from ..inference.tasks import get_task
from .runs import Run, RunState, state_of
from .config import TrainConfig
from .trainer import EpochEvent, StepEvent, Trainer
from ..models.weights import read_weights

#: Fewest confirmed images a run needs: one to learn from and one to check it on.
MIN_CONFIRMED = 2
PROPOSED = ("ignore", "rest")


@dataclass
class FinetuneOptions:
    """Hyper-parameters a user sets for fine-tuning (good defaults for a few images)."""

    base: str = "regions"
    task: str = "regions"
    #: ``None``: the task's (:attr:`cas_studio.inference.tasks.Task.finetune`, ``Task.alpha``).
    epochs: int | None = None
    lr: float | None = None
    alpha: float | None = None
    size: int = 256
    batch: int = 4
    freeze_backbone: bool = False
    device: str = "auto"
    #: Average the CAS terms over regions and pairs (``cas_loss(average=True)``); ``None`` decides
    #: per project: on when an image has more regions than the model has channels, where the
    #: paper's summed discriminator over all pairs would swamp everything else.
    average: bool | None = None
    #: What proposed (never confirmed) regions are in training: one "rest" region (the default), or
    #: left out ("ignore"). Measured by ``cas-studio bench finetune --realistic``: both raised the
    #: held-out covering alike (0.820 -> 0.835), and "rest" kept more of the base model's general
    #: skill (BSDS500 val covering 0.506 against 0.483; the base scores 0.523).
    proposed: str = "rest"

    def __post_init__(self) -> None:
        task = get_task(self.task)
        lr, epochs = task.finetune
        self.lr = lr if self.lr is None else self.lr
        self.epochs = epochs if self.epochs is None else self.epochs
        self.alpha = task.alpha if self.alpha is None else self.alpha
        if self.proposed not in PROPOSED:
            raise ValueError(f"proposed must be one of {PROPOSED}, got {self.proposed!r}")
        if self.epochs < 1 or self.batch < 1 or self.size < 16:
            raise ValueError(f"epochs and batch must be >= 1 and size >= 16, got {self.epochs}, {self.batch}, {self.size}")


def make_config(project_root: str | Path, options: FinetuneOptions, out_dir: str | Path) -> TrainConfig:
    """The training configuration of a fine-tuning run (scored against held-out images).

    Raises:
        ValueError: fewer than :data:`MIN_CONFIRMED` confirmed images.
    """
    root = Path(project_root).expanduser().resolve()
    project = open_project(root)
    confirmed = project.confirmed()
    if len(confirmed) < MIN_CONFIRMED:
        raise ValueError(f"{root.name}: {len(confirmed)} confirmed image(s); fine-tuning needs at least "
                         f"{MIN_CONFIRMED} (one to learn from, one to check the result on). Annotate and "
                         f"confirm more images first.")
    _, info = read_weights(options.base)
    train_source = f"{root}@train+rest" if options.proposed == "rest" else f"{root}@train"
    train_items = resolve(train_source)
    # Every task is checked on the held-out images; a saliency model's mask class-free, by
    # covering (SaliencyOutput.validate): a project's regions do not say which is salient.
    validate_on = f"{root}@holdout"
    average = options.average
    if average is None:
        average = max_regions(train_items) > info.out_channels
    return TrainConfig(
        task=options.task, train=[train_source], val=validate_on,
        out_dir=str(out_dir), arch=info.arch, loss="cas", alpha=options.alpha, cas_average=average,
        out_channels=info.out_channels, size=options.size, batch=min(options.batch, len(train_items)),
        epochs=options.epochs, lr=options.lr, device=options.device, freeze_backbone=options.freeze_backbone,
        # Measured on davis frames (bench finetune --frames): re-estimating BatchNorm statistics
        # from a few annotated images wrecks a trained model (adaptive F-beta 0.656 -> 0.398).
        freeze_bn=True,
        init=options.base, keep_start=validate_on is not None,
    )


def max_regions(items: list) -> int:
    """The largest number of labelled regions in one image of ``items``."""
    return max((len(np.unique(labels[labels >= 0])) for labels in map(read_target, items)), default=0)


@dataclass(frozen=True)
class Estimate:
    """A run's expected wall time, measured from real training steps on this machine."""

    seconds: float
    train_images: int
    holdout_images: int
    device: str

    def sentence(self) -> str:
        """e.g. "about 01:20 on cpu: 5 training images, 1 held out"."""
        return (f"about {format_seconds(self.seconds)} on {self.device}: {self.train_images} training images, "
                f"{self.holdout_images} held out for checking")


def format_seconds(s: float | None) -> str:
    """``75`` -> ``"01:15"`` (tqdm's clock format, as the progress bars show it); None -> ``"-"``."""
    return "-" if s is None else tqdm.format_interval(round(s))


def estimate(project_root: str | Path, options: FinetuneOptions, *, steps: int = 3) -> Estimate:
    """Time a few real training steps and the real end of an epoch of the run ``options`` describe.

    The run's own data, model and batch are set up in a scratch folder. The total is the base's
    held-out scoring (the first scoring of a run, which warms caches up), plus per epoch the
    measured step time times the run's steps and the end of an epoch as the run does it (held-out
    scoring, BatchNorm recalibration, the weights and resume state written), timed the second time
    it runs, warm, as every epoch after the first finds it. Before, with one scoring timed cold and
    the writing left out, the estimate of a 20-epoch fine-tune on four photos was 0.58x the run.
    """
    with tempfile.TemporaryDirectory(prefix="cas-estimate-") as scratch:
        cfg = make_config(project_root, options, scratch)
        trainer = Trainer(cfg, show_progress=False)
        trainer.setup()
        # The timed steps may outnumber a short run's: its one-cycle schedule would refuse them.
        trainer.sched = torch.optim.lr_scheduler.ConstantLR(trainer.opt, factor=1.0, total_iters=0)
        batches = iter(trainer.loader)
        timed = []
        for i in range(steps + 1):  # the first step warms up allocators and kernels
            try:
                x, t = next(batches)
            except StopIteration:
                batches = iter(trainer.loader)
                x, t = next(batches)
            t0 = time.perf_counter()
            trainer.step(x, t)
            if i:
                timed.append(time.perf_counter() - t0)
        per_step = float(np.median(timed))
        holdout = resolve(cfg.val) if cfg.val else []
        t0 = time.perf_counter()
        if cfg.val:
            trainer.score_start()
        first_score = time.perf_counter() - t0
        ends = []
        for epoch in range(2):
            t0 = time.perf_counter()
            trainer.end_epoch(epoch, 0.0, 0.0)
            ends.append(time.perf_counter() - t0)
        total = cfg.epochs * (trainer.steps * per_step + ends[-1]) + first_score
        return Estimate(total, len(resolve(cfg.train[0])), len(holdout), trainer.device.type)


class RunInProgress(RuntimeError):
    """A second run was asked for while the project already has one (in this or another process)."""


@dataclass
class FinetuneJob:
    """A background fine-tuning run and what it has reported so far."""

    project: Path
    run: Run
    config: TrainConfig
    trainer: Trainer
    started: float = field(default_factory=time.time)
    progress: StepEvent | None = None
    losses: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def out_dir(self) -> Path:
        """The run folder."""
        return self.run.folder

    @property
    def alive(self) -> bool:
        """Whether the training thread is still running."""
        return self.thread is not None and self.thread.is_alive()

    def fraction(self) -> float:
        """Share of the run done, 0..1."""
        p = self.progress
        if p is None:
            return 0.0
        return min(1.0, (p.epoch + p.step / max(1, p.steps)) / max(1, p.epochs))

    def eta_seconds(self) -> float | None:
        """Seconds left, extrapolated from the time so far."""
        f = self.fraction()
        if f <= 0 or not self.alive:
            return None
        return (time.time() - self.started) * (1 - f) / f

    def stop(self) -> None:
        """Ask the run to stop after its current step."""
        self.trainer.request_stop()

    def state(self) -> dict:
        """The run's status, or ``running`` while the thread is alive."""
        status = self.run.status()
        if self.alive:
            status = {**status, "state": RunState.RUNNING}
        return status


def _new_run_folder(root: Path) -> Path:
    """A fresh, uniquely named run folder (created, so two starts never share one)."""
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        folder = runs / (stamp if k == 0 else f"{stamp}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"{runs}: could not find a free run folder name")


class RunManager:
    """Starts, stops and reports fine-tuning runs; at most one per project at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[Path, FinetuneJob] = {}

    def active(self, project_root: str | Path) -> FinetuneJob | None:
        """The project's current (or last, in this process) run."""
        return self._jobs.get(Path(project_root).expanduser().resolve())

    def start(self, project_root: str | Path, options: FinetuneOptions) -> FinetuneJob:
        """Start a run in a background thread; :class:`RunInProgress` if one is running."""
        root = Path(project_root).expanduser().resolve()
        open_project(root)  # not a project: refused before anything (a lock file, runs/) is written
        with self._lock:  # held until the thread runs: two starts can never both pass the check
            current = self._jobs.get(root)
            if current is not None and current.alive:
                raise RunInProgress(f"a fine-tuning run is already in progress for {root.name} "
                                    f"({current.out_dir.name}); stop it or wait for it to finish")
            (root / "runs").mkdir(parents=True, exist_ok=True)
            # Another app process on the same project is refused too.
            project_lock = FileLock(str(root / "runs" / ".finetune.lock"), thread_local=False)
            try:
                project_lock.acquire(timeout=0)
            except Timeout:
                raise RunInProgress(f"another process is fine-tuning {root.name}; wait for it to finish") from None
            try:
                config = make_config(root, options, "")  # refuse bad input before making a folder
                folder = _new_run_folder(root)
                config = replace(config, out_dir=str(folder))
            except BaseException:
                project_lock.release()
                raise
            job = FinetuneJob(project=root, run=Run(folder), config=config, trainer=None)  # type: ignore[arg-type]

            def on_step(event: StepEvent) -> None:
                job.progress = event
                job.losses.append(event.loss)

            def on_epoch(event: EpochEvent) -> None:
                job.rows.append(event.row)

            job.trainer = Trainer(config, recipe=f"fine-tune of {options.base} on {root}", on_step=on_step,
                                  on_epoch=on_epoch, show_progress=False)

            def work() -> None:
                try:
                    job.trainer.fit()
                except Exception as err:  # reported in the UI; the Trainer has recorded "failed"
                    job.error = f"{type(err).__name__}: {err}"
                finally:
                    try:
                        record_run(job.run)
                    finally:
                        project_lock.release()

            job.thread = threading.Thread(target=work, name=f"finetune-{root.name}", daemon=True)
            self._jobs[root] = job
            job.thread.start()
        return job

    def stop(self, project_root: str | Path) -> bool:
        """Ask the project's run to stop after the current step; False if none is running."""
        job = self.active(project_root)
        if job is None or not job.alive:
            return False
        job.stop()
        return True


def list_runs(project_root: str | Path, manager: RunManager | None = None) -> list[tuple[Run, dict]]:
    """Every run of a project with its final state, newest first.

    A run recorded as ``running`` that no thread of this process owns was cut off (the app was
    stopped during it): it is reported as ``interrupted``, its last checkpoint kept.
    """
    root = Path(project_root).expanduser().resolve()  # as RunManager keys runs: a relative path must match
    runs_dir = root / "runs"
    if not runs_dir.is_dir():
        return []
    active = manager.active(root) if manager else None
    out = []
    for d in sorted((p for p in runs_dir.iterdir() if p.is_dir()), reverse=True):
        run = Run(d)
        status = run.status()
        mine = active is not None and active.run == run and active.alive
        if not mine:
            run.remove_temporaries()  # what a killed writer left half-written
        if state_of(status) is RunState.RUNNING and not mine:
            status = {**status, "state": RunState.INTERRUPTED,
                      "message": "the app stopped during this run; its last checkpoint is kept"}
        out.append((run, status))
    return out


#: The project's record of the runs this app made: run name -> SHA-256 of the weights it kept.
RECORD = ".recorded.json"


def _record_path(run: Run) -> Path:
    return run.folder.parent / RECORD


def record_run(run: Run) -> None:
    """Note a run this app made, with the hash of its weights, in the project's record (atomic).

    Only recorded runs whose weights still have that hash become models: a run folder placed in
    ``runs/`` by hand, or weights swapped afterwards, is never offered.
    """
    weights = run.weights()
    if weights is None:
        return
    path = _record_path(run)
    with FileLock(str(path) + ".lock"):
        record = _read_record(path)
        record[run.name] = file_sha256(weights)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(record, indent=1))


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded(run: Run) -> bool:
    """Whether this app made ``run`` and its weights are the ones it recorded."""
    weights = run.weights()
    expected = _read_record(_record_path(run)).get(run.name)
    # The Fine-tune tab asks every second for every run: the hash is taken once per weights file.
    return weights is not None and expected is not None and file_sha256(weights) == expected


def kept_weights(run: Run | str | os.PathLike, status: dict | None = None) -> Path | None:
    """The weights a run offers as a model: its best epoch, unless it did not beat its base (then
    None: the base stays selected) or this app did not record it (see :func:`record_run`)."""
    run = run if isinstance(run, Run) else Run(run)
    status = run.status() if status is None else status
    if (status.get("outcome") or {}).get("improved") is False or not recorded(run):
        return None
    return run.weights()
