"""Fine-tuning on an annotation project, in a background thread: what the app's Fine-tune tab drives.

One run at a time per project; each run lives in ``<project>/runs/<timestamp>/`` (the folder
layout of :mod:`cas_studio.train`), so its state survives an app restart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import resolve
from .data.project import open_project
from .losses import cas_loss
from .models import build_model
from .train import Progress, TrainConfig, read_status, train
from .weights import read_weights, resolve_device


@dataclass
class FinetuneOptions:
    """Hyper-parameters a user sets for fine-tuning (good defaults for a few images)."""

    base: str = "regions"
    task: str = "regions"
    epochs: int = 20
    lr: float = 5e-4
    alpha: float = 0.5
    size: int = 256
    batch: int = 4
    freeze_backbone: bool = False
    device: str = "auto"
    #: Average the CAS terms over regions and pairs (``cas_loss(average=True)``); ``None`` decides
    #: per project: on when an image has more regions than the model has channels, where the
    #: paper's summed discriminator over all pairs would swamp everything else.
    average: bool | None = None


def make_config(project_root: str | Path, options: FinetuneOptions, out_dir: str | Path) -> TrainConfig:
    """The training configuration of a fine-tuning run (validation on a held-out image if any)."""
    root = Path(project_root)
    project = open_project(root)
    annotated = project.annotated()
    if not annotated:
        raise ValueError(f"{root}: annotate at least one image before fine-tuning")
    _, info = read_weights(options.base)
    holdout = len(annotated) >= 2
    # Saliency metrics need binary masks, which a project's region maps need not be.
    validate_on = f"{root}@holdout" if holdout and options.task != "saliency" else None
    average = options.average
    if average is None:
        average = max_regions(resolve(f"{root}@train")) > info.out_channels
    return TrainConfig(
        task=options.task, train=[f"{root}@train"], val=validate_on,
        out_dir=str(out_dir), arch=info.arch, loss="cas", alpha=options.alpha, cas_average=average,
        out_channels=info.out_channels,
        size=options.size, batch=min(options.batch, max(1, len(annotated) - holdout)), epochs=options.epochs,
        lr=options.lr, device=options.device, freeze_backbone=options.freeze_backbone, init=options.base,
    )


def max_regions(items: list) -> int:
    """The largest number of labelled regions in one image of ``items``."""
    from .data.sources import read_target

    return max((len(np.unique(labels[labels >= 0])) for labels in map(read_target, items)), default=0)


def estimate_seconds(config: TrainConfig) -> float:
    """Rough wall time of a run, from one timed training step on random data of the run's size."""
    device = resolve_device(config.device)
    model = build_model(config.arch, config.out_channels).to(device).train()
    x = torch.randn(config.batch, 3, config.size, config.size, device=device)
    t = torch.randint(0, 2, (config.batch, config.size, config.size), device=device)
    cas_loss(model(x), t).backward()  # warm-up
    t0 = time.perf_counter()
    cas_loss(model(x), t).backward()
    per_image = (time.perf_counter() - t0) / config.batch
    images = len(resolve(config.train[0]))
    return per_image * images * config.epochs * 1.3  # plus data loading and validation


class RunInProgress(RuntimeError):
    """A second run was asked for while the project already has one."""


@dataclass
class Run:
    """A background fine-tuning run and what it has reported so far."""

    project: Path
    out_dir: Path
    config: TrainConfig
    started: float = field(default_factory=time.time)
    progress: Progress | None = None
    losses: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    error: str | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

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

    def state(self) -> dict:
        """The run's status file, or ``running`` while the thread is alive."""
        status = read_status(self.out_dir)
        if self.alive:
            status = {**status, "state": "running"}
        return status


class RunManager:
    """Starts, stops and reports fine-tuning runs; at most one per project at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[Path, Run] = {}

    def active(self, project_root: str | Path) -> Run | None:
        """The project's current (or last, in this process) run."""
        return self._runs.get(Path(project_root).resolve())

    def start(self, project_root: str | Path, options: FinetuneOptions) -> Run:
        """Start a run in a background thread; :class:`RunInProgress` if one is running."""
        root = Path(project_root).resolve()
        with self._lock:
            current = self._runs.get(root)
            if current is not None and current.alive:
                raise RunInProgress(f"a fine-tuning run is already in progress for {root.name} "
                                    f"({current.out_dir.name}); stop it or wait for it to finish")
            out_dir = root / "runs" / time.strftime("%Y%m%d-%H%M%S")
            config = make_config(root, options, out_dir)
            run = Run(project=root, out_dir=out_dir, config=config)
            self._runs[root] = run

        def on_progress(p: Progress) -> None:
            run.progress = p
            if p.metrics is None:
                run.losses.append(p.loss)
            else:
                run.rows.append(p.metrics)

        def work() -> None:
            try:
                train(config, recipe=f"fine-tune of {options.base} on {root}", on_progress=on_progress,
                      should_stop=run.stop_requested.is_set, show_progress=False)
            except Exception as err:  # reported in the UI; train() has written status.json
                run.error = f"{type(err).__name__}: {err}"

        run.thread = threading.Thread(target=work, name=f"finetune-{root.name}", daemon=True)
        run.thread.start()
        return run

    def stop(self, project_root: str | Path) -> bool:
        """Ask the project's run to stop after the current step; False if none is running."""
        run = self.active(project_root)
        if run is None or not run.alive:
            return False
        run.stop_requested.set()
        return True


def list_runs(project_root: str | Path, manager: RunManager | None = None) -> list[tuple[Path, dict]]:
    """Every run folder of a project with its final state, newest first.

    A run recorded as ``running`` that no thread of this process owns was cut off (the app was
    stopped during it): it is reported as ``interrupted``, its last checkpoint kept.
    """
    runs_dir = Path(project_root).resolve() / "runs"  # as RunManager keys runs: a relative path must match
    if not runs_dir.is_dir():
        return []
    active = manager.active(project_root) if manager else None
    out = []
    for d in sorted((p for p in runs_dir.iterdir() if p.is_dir()), reverse=True):
        status = read_status(d)
        if status.get("state") == "running" and not (active and active.out_dir == d and active.alive):
            status = {**status, "state": "interrupted",
                      "message": "the app stopped during this run; its last checkpoint is kept"}
        out.append((d, status))
    return out


def run_weights(run_dir: str | Path) -> Path | None:
    """The best checkpoint of a run folder, if it has one."""
    for name in ("best.safetensors", "last.safetensors"):
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None
