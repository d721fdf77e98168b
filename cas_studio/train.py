"""Training: the loop, validation, checkpoints, resume, and ``cas-studio train``.

A run writes into ``out_dir``: ``config.json``, ``metrics.csv`` and ``metrics.jsonl`` (one row per
epoch), ``curves.png``, ``last.safetensors`` and ``best.safetensors`` (weights with full metadata),
``last.state.pt`` (optimiser, scheduler and epoch, read back with ``weights_only=True``) and
``status.json`` (``running`` / ``finished`` / ``stopped`` / ``failed`` with a message).
Under ``torchrun`` the same command trains with DistributedDataParallel (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler
from tqdm import tqdm

from .data import make_dataset, resolve
from .data.transforms import Augment
from .io import atomic_path
from .losses import LOSSES, channel_balance_loss
from .metrics import SaliencyMeter
from .models import ARCHITECTURES, DEFAULT_ARCH, PRETRAINED, build_model
from .weights import TASKS, WeightsInfo, load_model, resolve_device, save_weights

#: The metric that picks the best checkpoint per task, and whether higher is better.
SELECTION = {"saliency": ("adp_fbeta", True), "regions": ("covering", True), "texture": ("covering", True)}


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
    balance: float = 0.0
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

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {TASKS}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {sorted(ARCHITECTURES)}")
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
        if self.balance < 0:
            raise ValueError(f"balance must be >= 0, got {self.balance}")


class TrainingFailed(RuntimeError):
    """Training stopped on an error (e.g. a NaN loss); the last good checkpoint is kept."""


@dataclass
class Progress:
    """What a progress callback receives after every step and every epoch."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    images_per_s: float
    metrics: dict[str, float] | None = None


def _is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def write_status(out_dir: Path, state: str, message: str = "", **extra) -> None:
    """Record the run's state atomically so a restarted app can show it."""
    payload = {"state": state, "message": message, "time": time.time(), **extra}
    with atomic_path(out_dir / "status.json") as tmp:
        tmp.write_text(json.dumps(payload, indent=2))


def read_status(out_dir: str | os.PathLike) -> dict:
    """The run's ``status.json`` (``{"state": "unknown"}`` if absent or unreadable)."""
    try:
        return json.loads((Path(out_dir) / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {"state": "unknown", "message": "no status recorded"}


def _loss_fn(cfg: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    fn = LOSSES[cfg.loss]
    region_loss = (lambda x, t: fn(x, t, alpha=cfg.alpha, average=cfg.cas_average)) if cfg.loss == "cas" else fn
    if cfg.balance:
        return lambda x, t: region_loss(x, t) + cfg.balance * channel_balance_loss(x, t)
    return region_loss


@torch.inference_mode()
def validate(model: torch.nn.Module, task: str, source: str, *, size: int, limit: int | None = None) -> dict[str, float]:
    """Validation metrics of ``model`` on ``source`` at the ground truth's resolution.

    Saliency: the saliency channel is chosen by correlation with the ground truth (the paper's
    rule) and reported as ``saliency_channel``; then SOD metrics. Regions / texture: covering,
    PRI, VI and boundary F against every human segmentation (see :mod:`cas_studio.evaluate`).
    """
    from .evaluate import evaluate_regions, saliency_channel_on
    from .infer import labels_from_probabilities, predict_probabilities

    items = resolve(source)[:limit]
    was_training = model.training
    model.eval()
    try:
        if task == "saliency":
            channel, probs, masks = saliency_channel_on(model, items, size=size)
            meter = SaliencyMeter()
            for p, m in zip(probs, masks):
                meter.update(p[channel], m)
            res = {k: v for k, v in meter.results().items() if np.isscalar(v)}
            return {**res, "saliency_channel": channel}
        segment = lambda it, im: labels_from_probabilities(predict_probabilities(model, im, size=size))  # noqa: E731
        return evaluate_regions(segment, items, progress=False)
    finally:
        model.train(was_training)


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, loader: DataLoader, device: torch.device, batches: int = 10) -> None:
    """Re-estimate BatchNorm statistics as exact averages over ``batches`` training batches.

    Trained from scratch with a high learning rate, the running averages lag behind the weights and
    the eval-mode output can collapse to one constant code; a short pass with the final weights
    ("precise BN") fixes that before validating and saving.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    for i, (x, _) in enumerate(loader):
        if i >= batches:
            break
        model(x.to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train(was_training)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in rows[0] if k not in ("epoch", "time_s", "lr", "saliency_channel")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, k in zip(axes[0], keys):
        ax.plot(epochs, [r.get(k, np.nan) for r in rows], marker="o", ms=3)
        ax.set_title(k)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _log(out_dir: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(out_dir / "metrics.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
    with atomic_path(out_dir / "metrics.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _plot(rows, out_dir / "curves.png")


def _weights_info(cfg: TrainConfig, metrics: dict[str, float], recipe: str) -> WeightsInfo:
    channel = metrics.get("saliency_channel") if cfg.task == "saliency" else None
    return WeightsInfo(
        arch=cfg.arch, out_channels=cfg.out_channels, task=cfg.task, input_size=cfg.val_size or cfg.size,
        saliency_channel=None if channel is None else int(channel),
        training_data=", ".join(cfg.train), recipe=recipe,
        metrics={k: round(float(v), 4) for k, v in metrics.items() if k != "saliency_channel"},
    )


def _param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """Optimiser groups: the encoder at ``backbone_lr`` (a pretrained trunk wants a gentler rate)."""
    if cfg.backbone_lr is None:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr}]
    trunk = {id(p) for p in model.backbone_parameters()}
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) in trunk], "lr": cfg.backbone_lr},
              {"params": [p for p in model.parameters() if p.requires_grad and id(p) not in trunk], "lr": cfg.lr}]
    return [g for g in groups if g["params"]]


def train(cfg: TrainConfig, *, resume: bool = False, recipe: str = "",
          on_progress: Callable[[Progress], None] | None = None,
          should_stop: Callable[[], bool] | None = None, show_progress: bool = True) -> dict:
    """Train a model as ``cfg`` says; return the final row of metrics.

    ``on_progress`` is called after each step and epoch; ``should_stop`` is polled each step and
    ends the run cleanly (state ``stopped``) when it returns True, as Ctrl-C does.

    Raises:
        TrainingFailed: the loss became NaN/inf; the last good checkpoint is kept.
    """
    out_dir = Path(cfg.out_dir)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(cfg.device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    torch.manual_seed(cfg.seed + rank)
    if _is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / "config.json") as tmp:
            tmp.write_text(json.dumps({**asdict(cfg), "recipe": recipe}, indent=2))
        write_status(out_dir, "running", "starting")

    augment = Augment(frame=cfg.crop == "frame")
    datasets = [make_dataset(src, size=cfg.size, label_noise=cfg.label_noise, seed=cfg.seed + 1000 * i, augment=augment)
                for i, src in enumerate(cfg.train)]
    data = ConcatDataset(datasets)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, seed=cfg.seed) if distributed else None
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(data, batch_size=cfg.batch, shuffle=sampler is None, sampler=sampler,
                        num_workers=cfg.workers, drop_last=len(data) >= cfg.batch * world, generator=gen,
                        persistent_workers=cfg.workers > 0)

    if cfg.init:
        # A different channel count keeps the trunk and starts the output layers afresh.
        model = load_model(cfg.init, device="cpu", out_channels=cfg.out_channels).train()
        if model.arch != cfg.arch:
            raise ValueError(f"--init {cfg.init} is a {model.arch} but the run asks for {cfg.arch}; "
                             f"pass --arch {model.arch}")
    else:
        model = build_model(cfg.arch, cfg.out_channels, pretrained=cfg.pretrained and cfg.arch in PRETRAINED)
    if cfg.freeze_backbone:
        for p in model.backbone_parameters():
            p.requires_grad_(False)
    model.to(device)
    groups = _param_groups(model, cfg)
    opt = (torch.optim.AdamW(groups, weight_decay=cfg.weight_decay) if cfg.optimizer == "adamw"
           else torch.optim.SGD(groups, momentum=0.9, weight_decay=cfg.weight_decay))
    steps = cfg.steps_per_epoch or len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups],
                                                total_steps=cfg.epochs * steps, pct_start=0.1)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    start_epoch, rows, best = 0, [], None
    state_path = out_dir / "last.state.pt"
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        last = load_model(out_dir / "last.safetensors", device="cpu")
        model.load_state_dict(last.state_dict())
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, best = int(state["epoch"]) + 1, state.get("best")
        rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines() if line]
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    loss_fn = _loss_fn(cfg)
    key, higher = SELECTION[cfg.task]
    final_state, message = "finished", ""

    try:
        for epoch in range(start_epoch, cfg.epochs):
            for d in datasets:
                d.set_epoch(epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)
            net.train()
            t0, seen, total = time.perf_counter(), 0, 0.0
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (show_progress and _is_main()),
                       dynamic_ncols=True, leave=False)
            for step, (x, t) in enumerate(loader):
                if step >= steps:
                    break
                x, t = x.to(device, non_blocking=True), t.to(device, non_blocking=True)
                with torch.autocast(device.type, enabled=amp):
                    logits = net(x)
                loss = loss_fn(logits.float(), t)
                if not torch.isfinite(loss):
                    raise TrainingFailed(f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                                         f"try a lower learning rate (the last good checkpoint is kept)")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                seen += x.shape[0] * world
                total += loss.item()
                rate = seen / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{total / (step + 1):.4f}", img_s=f"{rate:.1f}")
                bar.update()
                if on_progress:
                    on_progress(Progress(epoch, cfg.epochs, step + 1, steps, loss.item(), rate))
                if should_stop and should_stop():
                    raise KeyboardInterrupt
            bar.close()
            row = {"epoch": epoch + 1, "loss": total / max(1, min(steps, len(loader))),
                   "lr": sched.get_last_lr()[0], "time_s": round(time.perf_counter() - t0, 1)}
            if _is_main():
                recalibrate_batchnorm(model, loader, device)
                if cfg.val:
                    row.update(validate(model, cfg.task, cfg.val, size=cfg.val_size or cfg.size, limit=cfg.val_limit))
                rows.append(row)
                _log(out_dir, rows)
                info = _weights_info(cfg, row, recipe)
                save_weights(model, out_dir / "last.safetensors", info)
                score = row.get(key, -row["loss"])
                if best is None or (score > best if (higher or key not in row) else score < best):
                    best = score
                    save_weights(model, out_dir / "best.safetensors", info)
                with atomic_path(state_path) as tmp:
                    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                "epoch": epoch, "best": best}, tmp)
                write_status(out_dir, "running", f"epoch {epoch + 1}/{cfg.epochs}", epoch=epoch + 1)
                if on_progress:
                    on_progress(Progress(epoch, cfg.epochs, steps, steps, row["loss"], 0.0, row))
                if show_progress:
                    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
                    tqdm.write(f"epoch {epoch + 1}: {shown}")
    except KeyboardInterrupt:
        final_state, message = "stopped", "stopped by the user; last checkpoint kept"
    except Exception as err:
        if _is_main():
            message = str(err) if isinstance(err, TrainingFailed) else f"{type(err).__name__}: {err}"
            write_status(out_dir, "failed", message)
        raise
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()
    if _is_main():
        write_status(out_dir, final_state, message or f"{len(rows)} epochs", epoch=len(rows))
    return rows[-1] if rows else {}


def build_parser() -> argparse.ArgumentParser:
    """The ``cas-studio train`` command line."""
    p = argparse.ArgumentParser(prog="cas-studio train", description="Train a CAS (or baseline) model.")
    d = TrainConfig()
    p.add_argument("--task", choices=TASKS, default=d.task)
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
    p.add_argument("--balance", type=float, default=d.balance,
                   help="weight of the channel-balance regulariser (keeps all channels in use; regions/texture)")
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
    status = read_status(cfg.out_dir)
    print(f"{status['state']}: {status['message']} -> {cfg.out_dir}")
    return 0 if status["state"] in ("finished", "stopped") else 1
