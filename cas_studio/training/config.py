"""The configuration of a training run: everything a run depends on, checked where it is made."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

from ..losses import LOSSES
from ..losses.balance import SCOPES as BALANCE_SCOPES
from ..losses.ce import OVERFLOW as CE_OVERFLOW
from ..inference.decoders import DECODERS
from ..models.factory import ARCHITECTURES, DEFAULT_ARCH
from ..inference.tasks import TRAINABLE, get_task


def option(default, help: str = "", *, flag: str | None = None, choices=None, cli: bool = True, **kw):
    """A config field that also says how ``cas-studio train`` offers it (see :func:`add_arguments`)."""
    factory = kw.pop("default_factory", None)
    meta = {"help": help, "flag": flag, "choices": choices, "cli": cli}
    return field(default_factory=factory, metadata=meta) if factory else field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as ``config.json`` and in the weights metadata.

    Each field is one ``cas-studio train`` option too (its flag, choices and help are the field's
    metadata), so the command line is generated from here and cannot drift from it.
    """

    task: str = option("saliency", choices=TRAINABLE)
    train: list[str] = option(None, "training set: a named set (sod:train, horses, davis, bsds500:train, mosaics, "
                              "outex-mosaics, composites:SOURCE, ...) or a folder; repeatable", flag="--data",
                              default_factory=lambda: ["sod:train"])
    val: str | None = option("sod:val", "validation set (named or folder); 'none' to skip")
    out_dir: str = option("runs/saliency", "run folder", flag="--out")
    arch: str = option(DEFAULT_ARCH, choices=sorted(ARCHITECTURES))
    loss: str = option("cas", choices=sorted(LOSSES))
    alpha: float | None = option(None, "the CAS loss's weight of the uniformer against the discriminator (default: "
                                       "the task's, 0.5)")
    cas_average: bool = option(False, "average the CAS terms over regions and pairs instead of summing (many "
                                      "regions per image)")
    ce_overflow: str = option("error", "--loss ce only: 'ignore' leaves out pixels whose region id has no channel (a "
                                       "CE twin of a regions model; BSDS500 images have more regions than --channels)",
                              choices=CE_OVERFLOW)
    balance: float = option(0.0, "weight of the channel-balance regulariser (keeps all channels in use; "
                                 "regions/texture)")
    balance_scope: str = option("image", "balance each image's channel usage, or the batch's (spreads textures over "
                                         "all channels)", choices=BALANCE_SCOPES)
    cross_image: float = option(0.0, "weight of the cross-image discriminator: regions of different images of a "
                                     "batch are pushed apart, so content spreads over all channels (texture)")
    split_dead: bool = option(False, "after each epoch of the first two thirds, give every unused channel a copy of "
                                     "a busy one, which training then pulls apart (regions/texture)")
    decoder: str | None = option(None, "how validation decodes regions (and what the weights record): arg-max, or "
                                       "superpixels merged by the code (default: as the --init weights, else "
                                       "arg-max)", choices=DECODERS)
    out_channels: int | None = option(None, "output channels, the CAS code's length (default: the task's: "
                                            "saliency 2, regions 32, texture 8)", flag="--channels")
    size: int = option(256, "training input size")
    batch: int = option(8, "images per step")
    epochs: int = option(30, "epochs")
    lr: float = option(1e-3, "peak learning rate (one-cycle schedule)")
    backbone_lr: float | None = option(None, "peak learning rate of the encoder (default: --lr); e.g. 4x lower for a "
                                             "pretrained one")
    pretrained: bool = option(True, "start the encoder from scratch instead of its packaged ImageNet weights",
                              flag="--no-pretrained")
    weight_decay: float = option(1e-4, "weight decay")
    optimizer: str = option("adamw", choices=("adamw", "sgd"))
    label_noise: float = option(0.0, "share of region labels replaced by noise (robustness experiments)")
    seed: int = option(0, "random seed")
    device: str = option("auto", "auto (CUDA when present), cpu or cuda")
    workers: int = option(0, "data-loading worker processes")
    crop: str | None = option(None, "training crops: squares of the shorter side, or scaled copies of the whole frame "
                                    "(keeps the image's aspect); default: the task's (frame for saliency, square "
                                    "otherwise)", choices=("square", "frame"))
    freeze_backbone: bool = option(False, "train the decoder only")
    freeze_bn: bool = option(False, "keep every BatchNorm's statistics as the --init weights have them (no "
                                    "update, no recalibration): a fine-tune on a handful of images must not "
                                    "re-estimate them from those images")
    init: str | None = option(None, "weights to start from (a shipped name or a path); with another channel count "
                                    "its trunk is kept and its output layers start afresh")
    val_limit: int | None = option(None, "validate on the first N images only")
    val_size: int | None = option(None, "input size for validation (default --size); e.g. 512 to validate textures "
                                        "at their own scale")
    steps_per_epoch: int | None = option(None, "optimiser steps per epoch (default: one pass over the data)")
    #: Score the starting model on ``val`` as epoch 0 and keep it unless an epoch beats it: no
    #: ``best.safetensors`` is written for a run that never improves on where it started.
    keep_start: bool = option(False, cli=False)

    def __post_init__(self) -> None:
        if self.task not in TRAINABLE:
            raise ValueError(f"unknown task {self.task!r}; cas-studio train trains {list(TRAINABLE)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {sorted(ARCHITECTURES)}")
        if self.ce_overflow not in CE_OVERFLOW:
            raise ValueError(f"ce_overflow must be one of {CE_OVERFLOW}, got {self.ce_overflow!r}")
        if self.ce_overflow != "error" and self.loss != "ce":
            raise ValueError(f"ce_overflow is for loss 'ce' only; loss {self.loss!r} reads ids as regions, not classes")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be adamw or sgd, got {self.optimizer!r}")
        task = get_task(self.task)
        if self.out_channels is None:
            self.out_channels = task.channels
        if self.alpha is None:
            self.alpha = task.alpha
        for name in ("size", "batch", "epochs", "out_channels"):
            if getattr(self, name) < (2 if name == "out_channels" else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.train:
            raise ValueError("no training data given")
        if self.val_size is not None and self.val_size < 1:
            raise ValueError(f"val_size must be positive, got {self.val_size}")
        if self.backbone_lr is not None and self.backbone_lr < 0:
            raise ValueError(f"backbone_lr must be >= 0, got {self.backbone_lr}")
        if self.crop is None:  # the task's (tasks.Task.crop): saliency is judged on whole frames
            self.crop = task.crop
        if self.crop not in ("square", "frame"):
            raise ValueError(f"crop must be square or frame, got {self.crop!r}")
        if self.keep_start and not self.val:
            raise ValueError("keep_start needs a validation set to compare against")
        if self.balance < 0:
            raise ValueError(f"balance must be >= 0, got {self.balance}")
        if self.decoder is not None and self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.cross_image < 0:
            raise ValueError(f"cross_image must be >= 0, got {self.cross_image}")
        if self.balance_scope not in BALANCE_SCOPES:
            raise ValueError(f"balance_scope must be one of {BALANCE_SCOPES}, got {self.balance_scope!r}")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add one option per :class:`TrainConfig` field (flag, type, choices and help from the field).

    ``bool`` fields are switches that flip the default; ``list`` fields repeat; ``X | None``
    fields take an ``X``; ``--val none`` means no validation set.
    """
    types = {"int": int, "float": float, "str": str}
    for f in fields(TrainConfig):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        kw: dict = {"dest": f.name, "help": meta.get("help") or None}
        kind = str(f.type).split("|")[0].strip()
        if kind == "bool":
            kw["action"] = "store_false" if f.default else "store_true"
        elif kind.startswith("list"):
            kw.update(action="append", metavar="SOURCE", default=None)
        else:
            kw.update(type=types[kind], default=f.default)
            if meta.get("choices") is not None:
                kw["choices"] = list(meta["choices"])
            else:
                kw["metavar"] = flag[2:].upper().replace("-", "_")
        parser.add_argument(flag, **kw)
    return parser


def from_arguments(args: dict) -> TrainConfig:
    """The config of parsed :func:`add_arguments` options (unset lists keep their defaults)."""
    args = {k: v for k, v in args.items() if not (k == "train" and v is None)}
    if args.get("val") in ("none", ""):
        args["val"] = None
    return TrainConfig(**args)
