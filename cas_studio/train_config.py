"""The configuration of a training run: everything a run depends on, checked where it is made."""

from __future__ import annotations

from dataclasses import dataclass, field

from .losses import LOSSES
from .losses.balance import SCOPES as BALANCE_SCOPES
from .losses.ce import OVERFLOW as CE_OVERFLOW
from .decoders import DECODERS
from .models import ARCHITECTURES, DEFAULT_ARCH
from .tasks import TRAINABLE


@dataclass
class TrainConfig:
    """Everything a run depends on; saved as ``config.json`` and in the weights metadata."""

    task: str = "saliency"
    train: list[str] = field(default_factory=lambda: ["sod:train"])
    val: str | None = "sod:val"
    out_dir: str = "runs/saliency"
    arch: str = DEFAULT_ARCH
    loss: str = "cas"
    alpha: float = 0.5
    cas_average: bool = False
    #: CE only: what a region id >= ``out_channels`` means (:data:`cas_studio.losses.ce.OVERFLOW`).
    ce_overflow: str = "error"
    balance: float = 0.0
    balance_scope: str = "image"
    #: Weight of the cross-image discriminator (:func:`cas_studio.losses.cross_image_loss`).
    cross_image: float = 0.0
    #: Revive channels the model stopped using, by splitting busy ones (:mod:`cas_studio.channel_split`).
    split_dead: bool = False
    #: How validation turns a regions/texture model's code into regions, and what the weights
    #: record: ``"argmax"`` or ``"merge"`` (:mod:`cas_studio.grouping`, at its defaults). None:
    #: what the ``init`` weights record, else arg-max.
    decoder: str | None = None
    out_channels: int = 2
    size: int = 256
    batch: int = 8
    epochs: int = 30
    lr: float = 1e-3
    backbone_lr: float | None = None
    pretrained: bool = True
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    label_noise: float = 0.0
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    crop: str = "square"
    freeze_backbone: bool = False
    init: str | None = None
    val_limit: int | None = None
    val_size: int | None = None
    steps_per_epoch: int | None = None
    #: Score the starting model on ``val`` as epoch 0 and keep it unless an epoch beats it: no
    #: ``best.safetensors`` is written for a run that never improves on where it started.
    keep_start: bool = False

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
        for name in ("size", "batch", "epochs", "out_channels"):
            if getattr(self, name) < (2 if name == "out_channels" else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.train:
            raise ValueError("no training data given")
        if self.val_size is not None and self.val_size < 1:
            raise ValueError(f"val_size must be positive, got {self.val_size}")
        if self.backbone_lr is not None and self.backbone_lr < 0:
            raise ValueError(f"backbone_lr must be >= 0, got {self.backbone_lr}")
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
