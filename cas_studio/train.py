"""``cas-studio train``: train a model as a :class:`~cas_studio.train_config.TrainConfig` says.

The engine is :class:`cas_studio.trainer.Trainer`; the run folder's format is
:class:`cas_studio.runs.Run`. Under ``torchrun`` the same command trains with
DistributedDataParallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from .decoders import DECODERS
from .losses import LOSSES
from .losses.balance import SCOPES as BALANCE_SCOPES
from .losses.ce import OVERFLOW as CE_OVERFLOW
from .models import ARCHITECTURES
from .runs import Run
from .train_config import TrainConfig
from .trainer import EpochEvent, StepEvent, Trainer, TrainingFailed, validate
from .tasks import TRAINABLE

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
    """The ``cas-studio train`` command line."""
    p = argparse.ArgumentParser(prog="cas-studio train", description="Train a CAS (or baseline) model.")
    d = TrainConfig()
    p.add_argument("--task", choices=TRAINABLE, default=d.task)
    p.add_argument("--data", action="append", dest="train", metavar="SOURCE",
                   help="training set: a named set (sod:train, horses, davis, bsds500:train, mosaics, "
                        "outex-mosaics, composites:SOURCE, ...) or a folder; repeatable")
    p.add_argument("--val", default=d.val, help="validation set (named or folder); 'none' to skip")
    p.add_argument("--out", dest="out_dir", default=d.out_dir, help="run folder")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default=d.arch)
    p.add_argument("--loss", choices=sorted(LOSSES), default=d.loss)
    p.add_argument("--alpha", type=float, default=d.alpha)
    p.add_argument("--cas-average", action="store_true",
                   help="average the CAS terms over regions and pairs instead of summing (many regions per image)")
    p.add_argument("--ce-overflow", choices=CE_OVERFLOW, default=d.ce_overflow,
                   help="--loss ce only: 'ignore' leaves out pixels whose region id has no channel (a CE "
                        "twin of a regions model; BSDS500 images have more regions than --channels)")
    p.add_argument("--balance", type=float, default=d.balance,
                   help="weight of the channel-balance regulariser (keeps all channels in use; regions/texture)")
    p.add_argument("--balance-scope", choices=BALANCE_SCOPES, default=d.balance_scope,
                   help="balance each image's channel usage, or the batch's (spreads textures over all channels)")
    p.add_argument("--cross-image", type=float, default=d.cross_image,
                   help="weight of the cross-image discriminator: regions of different images of a batch "
                        "are pushed apart, so content spreads over all channels (texture)")
    p.add_argument("--split-dead", action="store_true",
                   help="after each epoch of the first two thirds, give every unused channel a copy of a "
                        "busy one, which training then pulls apart (regions/texture)")
    p.add_argument("--decoder", choices=DECODERS, default=None,
                   help="how validation decodes regions (and what the weights record): arg-max, or "
                        "superpixels merged by the code (default: as the --init weights, else arg-max)")
    p.add_argument("--channels", dest="out_channels", type=int, default=d.out_channels)
    p.add_argument("--size", type=int, default=d.size)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--backbone-lr", type=float, default=None,
                   help="peak learning rate of the encoder (default: --lr); e.g. 4x lower for a pretrained one")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                   help="start the encoder from scratch instead of its packaged ImageNet weights")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default=d.optimizer)
    p.add_argument("--label-noise", type=float, default=d.label_noise)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--crop", choices=["square", "frame"], default=d.crop,
                   help="training crops: squares of the shorter side, or scaled copies of the whole frame "
                        "(keeps the image's aspect; for saliency)")
    p.add_argument("--freeze-backbone", action="store_true")
    p.add_argument("--init", default=None,
                   help="weights to start from (a shipped name or a path); with another channel count "
                        "its trunk is kept and its output layers start afresh")
    p.add_argument("--val-limit", type=int, default=None, help="validate on the first N images only")
    p.add_argument("--val-size", type=int, default=None,
                   help="input size for validation (default --size); e.g. 512 to validate textures at their own scale")
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio train``."""
    argv = sys.argv[1:] if argv is None else argv
    args = vars(build_parser().parse_args(argv))
    resume = args.pop("resume")
    if args["train"] is None:
        args.pop("train")
    if args["val"] in ("none", ""):
        args["val"] = None
    try:
        cfg = TrainConfig(**args)
        train(cfg, resume=resume, recipe="cas-studio train " + shlex.join(argv))
    except TrainingFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = Run(cfg.out_dir).status()
    print(f"{status['state']}: {status['message']} -> {cfg.out_dir}")
    return 0 if status["state"] in ("finished", "stopped") else 1
