"""``cas-studio train``: train a model as a :class:`~cas_studio.training.config.TrainConfig` says.

The engine is :class:`cas_studio.training.trainer.Trainer`; the run folder's format is
:class:`cas_studio.training.runs.Run`. Under ``torchrun`` the same command trains with
DistributedDataParallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from .runs import Run, state_of
from .config import TrainConfig, add_arguments, from_arguments
from .trainer import EpochEvent, StepEvent, Trainer, TrainingFailed, validate

__all__ = ["EpochEvent", "StepEvent", "TrainConfig", "Trainer", "TrainingFailed", "build_parser",
           "main", "train", "validate"]


def train(cfg: TrainConfig, *, resume: bool = False, recipe: str = "",
          on_step: Callable[[StepEvent], None] | None = None, on_epoch: Callable[[EpochEvent], None] | None = None,
          should_stop: Callable[[], bool] | None = None, show_progress: bool = True) -> dict:
    """Train a model as ``cfg`` says and return the final row of metrics (a :class:`Trainer` run).

    ``should_stop`` is polled after each step; when it returns True the run ends cleanly with
    state ``stopped``, as Ctrl-C does.

    Raises:
        TrainingFailed: the loss became NaN/inf; the last good checkpoint is kept.
    """
    trainer = Trainer(cfg, recipe=recipe, on_step=on_step, on_epoch=on_epoch, should_stop=should_stop,
                      show_progress=show_progress)
    return trainer.fit(resume=resume)


def build_parser() -> argparse.ArgumentParser:
    """The ``cas-studio train`` command line: one option per :class:`TrainConfig` field, plus ``--resume``."""
    p = argparse.ArgumentParser(prog="cas-studio train", description="Train a CAS (or baseline) model.")
    add_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio train``."""
    argv = sys.argv[1:] if argv is None else argv
    args = vars(build_parser().parse_args(argv))
    resume = args.pop("resume")
    try:
        cfg = from_arguments(args)
        train(cfg, resume=resume, recipe="cas-studio train " + shlex.join(argv))
    except TrainingFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = Run(cfg.out_dir).status()
    print(f"{status['state']}: {status['message']} -> {cfg.out_dir}")
    return 0 if state_of(status).ended_well else 1
