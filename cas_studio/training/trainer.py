"""The training engine: one :class:`Trainer` that ``cas-studio train``, fine-tuning and the
low-fidelity experiment all drive.

A run is set up once (:meth:`Trainer.setup`), then trained one step at a time (:meth:`Trainer.step`)
with an end-of-epoch pass (:meth:`Trainer.end_epoch`: BatchNorm recalibration, validation,
checkpoints, status). Callers listen through two explicit events, ``on_step`` and ``on_epoch``, and
end a run with :meth:`Trainer.request_stop` (or a polled ``should_stop``), which finishes the current
step and records the run as ``stopped``. Under ``torchrun`` the same code trains with
DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 alone writes the run folder.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler
from tqdm import tqdm

from .channel_split import dead_channels, split_dead_channels
from ..data import make_dataset, resolve
from ..data.transforms import Augment
from .allocator import keep_freed_memory
from ..inference.decoders import default_decoder
from ..losses import channel_balance_loss, cross_image_loss, make_loss
from ..models.factory import PRETRAINED, build_model
from .runs import Run, RunState
from ..inference.outputs import output_of
from ..inference.tasks import get_task
from .config import TrainConfig
from ..models.weights import WeightsInfo, load_model, resolve_device, save_weights


class TrainingFailed(RuntimeError):
    """Training stopped on an error (e.g. a NaN loss); the last good checkpoint is kept."""


@dataclass(frozen=True)
class StepEvent:
    """Sent after every training step."""

    epoch: int  # 0-based
    epochs: int
    step: int  # 1-based, within the epoch
    steps: int
    loss: float
    images_per_s: float


@dataclass(frozen=True)
class EpochEvent:
    """Sent after every epoch (and for epoch 0, the starting model, when it is scored)."""

    epoch: int  # 1-based; 0 is the starting model
    epochs: int
    row: dict
    is_best: bool


class Verdict(StrEnum):
    """A fine-tune against its start, by the task's selection metric on the held-out images."""

    IMPROVED = "improved"
    #: Better, but by less than the epoch-to-epoch swing of the score.
    NO_CLEAR_CHANGE = "no clear change"
    NOT_IMPROVED = "not improved"
    #: The start was not scored.
    UNSCORED = "unscored"


@dataclass(frozen=True)
class Outcome:
    """How a run ended up against where it started, by the task's selection metric."""

    key: str
    start: float | None
    best: float | None
    best_epoch: int | None
    improved: bool | None  # None when the start was not scored
    best_trained: float | None = None  # the best trained epoch's score (what a lost run reached)
    holdout: int | None = None  # how many held-out images the scores rest on
    noise: float | None = None  # typical epoch-to-epoch change of the trained epochs' score

    @property
    def clear(self) -> bool:
        """Whether the change from the start is larger than the epoch-to-epoch swing of the score.

        No swing measured (fewer than three trained epochs, or a score that never moved between
        them) leaves nothing to compare the change with, and one held-out image is no evidence of a
        change beyond it: neither is clear.
        """
        if self.start is None or self.best is None or self.noise is None or self.noise <= 0:
            return False
        if self.holdout is not None and self.holdout < 2:
            return False
        return abs(self.best - self.start) > self.noise

    @property
    def verdict(self) -> Verdict:
        """How the run compares with its start (see :class:`Verdict`)."""
        if self.start is None or self.best is None:
            return Verdict.UNSCORED
        if not self.improved:
            return Verdict.NOT_IMPROVED
        return Verdict.IMPROVED if self.clear else Verdict.NO_CLEAR_CHANGE

    def summary(self) -> str:
        """The facts in one line for logs and the CLI, e.g.
        ``"improved: held-out covering 0.410 -> 0.580 on 3 images (epoch 2)"``; user-facing wording
        (what to do next) belongs to the app."""
        if self.best is None:
            return "no scores"
        if self.start is None:
            return f"best {self.key} {self.best:.3f} (epoch {self.best_epoch})"
        on = f" on {self.holdout} image{'s' * (self.holdout != 1)}" if self.holdout else ""
        reached = self.best if self.improved else (self.best_trained if self.best_trained is not None else self.best)
        noise = f", epoch-to-epoch swing {self.noise:.3f}" if self.noise is not None else ""
        epoch = f" (epoch {self.best_epoch})" if self.improved else ""
        return f"{self.verdict}: held-out {self.key} {self.start:.3f} -> {reached:.3f}{on}{epoch}{noise}"


def _is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def loss_function(cfg: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of ``cfg``: the registered region loss, plus the regularisers it asks for."""
    region_loss = make_loss(cfg.loss, alpha=cfg.alpha, average=cfg.cas_average, overflow=cfg.ce_overflow)
    if not (cfg.balance or cfg.cross_image):
        return region_loss

    def loss(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        value = region_loss(x, t)
        if cfg.balance:
            value = value + cfg.balance * channel_balance_loss(x, t, scope=cfg.balance_scope)
        if cfg.cross_image:
            value = value + cfg.cross_image * cross_image_loss(x, t)
        return value

    return loss


def selection(task: str, items: list) -> tuple[str, bool]:
    """The validation metric that picks the best checkpoint on ``items``, and whether higher is better
    (the task's output kind decides: a saliency model on a project's class-free regions is scored
    by covering)."""
    return output_of(task).selection(get_task(task), items)


@torch.inference_mode()
def validate(model: torch.nn.Module, task: str, source: str, *, size: int, limit: int | None = None,
             decoder: dict | None = None) -> dict[str, float]:
    """Validation metrics of ``model`` on ``source`` at the ground truth's resolution, as the task's
    output kind scores them (``Output.validate``).

    Saliency: the saliency channel is chosen by correlation with the ground truth (the paper's
    rule) and reported as ``saliency_channel``; then SOD metrics; on an annotation project's
    regions, which record no "salient", the binary mask is scored like a region model's output.
    Regions / texture: covering, PRI, VI and boundary F against every human segmentation, with the
    regions decoded by ``decoder`` (default arg-max; see :func:`cas_studio.inference.infer.decode_regions`).
    """
    items = resolve(source)[:limit]
    was_training = model.training
    model.eval()
    try:
        return output_of(task).validate(model, get_task(task), items, size=size, decoder=decoder)
    finally:
        model.train(was_training)


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, loader: DataLoader, device: torch.device, batches: int = 10) -> None:
    """Re-estimate BatchNorm statistics as exact averages over ``batches`` training batches.

    Trained from scratch with a high learning rate, the running averages lag behind the weights and
    the eval-mode output can collapse to one constant code; a short pass with the final weights
    ("precise BN") fixes that before validating and saving.
    """
    # torch's SWA helper does exactly this (reset, cumulative average, restore momentum and mode);
    # islice bounds it to ``batches`` instead of a whole epoch.
    torch.optim.swa_utils.update_bn(itertools.islice(loader, batches), model, device=device)


def param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """Optimiser groups: the encoder at ``backbone_lr`` (a pretrained trunk wants a gentler rate)."""
    if cfg.backbone_lr is None:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr}]
    trunk = {id(p) for p in model.backbone_parameters()}
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) in trunk], "lr": cfg.backbone_lr},
              {"params": [p for p in model.parameters() if p.requires_grad and id(p) not in trunk], "lr": cfg.lr}]
    return [g for g in groups if g["params"]]


def _weights_info(cfg: TrainConfig, metrics: dict[str, float], recipe: str, decoder: dict | None) -> WeightsInfo:
    channel = output_of(cfg.task).recorded_channel(metrics)
    return WeightsInfo(decoder=dict(decoder or {}),
        arch=cfg.arch, out_channels=cfg.out_channels, task=cfg.task, input_size=cfg.val_size or cfg.size,
        saliency_channel=None if channel is None else int(channel),
        training_data=", ".join(cfg.train), recipe=recipe,
        metrics={k: round(float(v), 4) for k, v in metrics.items() if k not in ("saliency_channel", "epoch")},
    )


class Trainer:
    """Trains one run as ``cfg`` says (see the module docstring).

    Example:
        >>> from cas_studio.training.config import TrainConfig
        >>> trainer = Trainer(TrainConfig(train=["my-folder"], out_dir="runs/x"))  # doctest: +SKIP
        >>> final_row = trainer.fit()  # doctest: +SKIP
    """

    #: (M,) softmax usage summed over the epoch's batches, for ``split_dead`` runs (else None).
    usage: torch.Tensor | None = None
    # What setup() makes (process group, data, model, optimiser): declared here so the class says
    # what a set-up trainer holds; used only after setup().
    device: torch.device
    distributed: bool
    rank: int
    world: int
    datasets: list
    sampler: DistributedSampler | None
    loader: DataLoader
    decoder: dict | None
    model: torch.nn.Module
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    steps: int
    sched: torch.optim.lr_scheduler.LRScheduler
    amp: bool
    scaler: torch.amp.GradScaler
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    key: str
    higher: bool
    #: The metadata of the weights the run started from (``init``), else None.
    init_info: WeightsInfo | None = None

    def __init__(self, cfg: TrainConfig, *, recipe: str = "", on_step: Callable[[StepEvent], None] | None = None,
                 on_epoch: Callable[[EpochEvent], None] | None = None, should_stop: Callable[[], bool] | None = None,
                 show_progress: bool = True) -> None:
        self.cfg, self.recipe = cfg, recipe
        self.on_step, self.on_epoch, self.should_stop = on_step, on_epoch, should_stop
        self.show_progress = show_progress
        self.run = Run(cfg.out_dir)
        self._stop = threading.Event()
        self.rows: list[dict] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.start_epoch = 0

    def request_stop(self) -> None:
        """Finish the current step, keep the last checkpoint and record the run as ``stopped``."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """Whether a stop was asked for (by :meth:`request_stop` or ``should_stop``)."""
        return self._stop.is_set() or bool(self.should_stop and self.should_stop())

    # setup --------------------------------------------------------------------------------------
    def setup(self, *, resume: bool = False) -> None:
        """Process group, run folder, data, model, optimiser, schedule, and the resume state."""
        cfg = self.cfg
        keep_freed_memory()  # 1.7x the CPU training throughput here (cas_studio.training.allocator)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        device = resolve_device(cfg.device)
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            if device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
                torch.cuda.set_device(device)
        self.device = device
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        torch.manual_seed(cfg.seed + self.rank)
        if _is_main():
            self.run.create({**asdict(cfg), "recipe": self.recipe})
            self.run.set_status(RunState.RUNNING, "starting")

        augment = Augment(frame=cfg.crop == "frame")
        self.datasets = [make_dataset(src, size=cfg.size, label_noise=cfg.label_noise, seed=cfg.seed + 1000 * i,
                                      augment=augment) for i, src in enumerate(cfg.train)]
        data = ConcatDataset(self.datasets)
        self.sampler = (DistributedSampler(data, num_replicas=self.world, rank=self.rank, seed=cfg.seed)
                        if self.distributed else None)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.loader = DataLoader(data, batch_size=cfg.batch, shuffle=self.sampler is None, sampler=self.sampler,
                                 num_workers=cfg.workers, drop_last=len(data) >= cfg.batch * self.world,
                                 generator=gen, persistent_workers=cfg.workers > 0)

        self.decoder = None
        if cfg.init:
            # A different channel count keeps the trunk and starts the output layers afresh.
            model = load_model(cfg.init, device="cpu", out_channels=cfg.out_channels).train()
            self.init_info = model.info
            # A fine-tuned model decodes its regions as its base did (and is scored that way).
            self.decoder = self.init_info.decoder or None
            if model.arch != cfg.arch:
                raise ValueError(f"--init {cfg.init} is a {model.arch} but the run asks for {cfg.arch}; "
                                 f"pass --arch {model.arch}")
        else:
            model = build_model(cfg.arch, cfg.out_channels, pretrained=cfg.pretrained and cfg.arch in PRETRAINED)
        if cfg.decoder is not None:
            self.decoder = default_decoder(cfg.decoder)
        if cfg.freeze_backbone:
            for p in model.backbone_parameters():
                p.requires_grad_(False)
        self.model = model.to(device)
        groups = param_groups(model, cfg)
        self.opt = (torch.optim.AdamW(groups, weight_decay=cfg.weight_decay) if cfg.optimizer == "adamw"
                    else torch.optim.SGD(groups, momentum=0.9, weight_decay=cfg.weight_decay))
        self.steps = cfg.steps_per_epoch or len(self.loader)
        total = cfg.epochs * self.steps
        # The one-cycle schedule divides by its warm-up's length, pct_start * total - 1 steps: at
        # exactly 10 steps (a short fine-tune) 10% makes it 0. Half a step more avoids that.
        pct = 0.1 if abs(0.1 * total - 1) > 1e-9 else 0.1 + 0.5 / total
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=[g["lr"] for g in groups],
                                                         total_steps=total, pct_start=pct)
        self.amp = device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

        state = self.run.load_state() if resume else None
        if state is not None:
            last = load_model(self.run.last_path, device="cpu")
            model.load_state_dict(last.state_dict())
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            self.start_epoch, self.best = int(state["epoch"]) + 1, state.get("best")
            self.best_epoch = state.get("best_epoch")
            self.rows = self.run.rows()
        self.net = torch.nn.parallel.DistributedDataParallel(model) if self.distributed else model
        self.usage = torch.zeros(cfg.out_channels, device=device) if cfg.split_dead else None
        self.loss_fn = loss_function(cfg)
        self.key, self.higher = selection(cfg.task, resolve(cfg.val)[:cfg.val_limit] if cfg.val else [])

    # one step and one epoch ---------------------------------------------------------------------
    def step(self, x: torch.Tensor, t: torch.Tensor, *, where: str = "") -> float:
        """One optimisation step on a batch; returns its loss. NaN/inf raises :class:`TrainingFailed`."""
        x, t = x.to(self.device, non_blocking=True), t.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, enabled=self.amp):
            logits = self.net(x)
        loss = self.loss_fn(logits.float(), t)
        if self.usage is not None:
            with torch.no_grad():
                self.usage += torch.softmax(logits.detach().float(), 1).mean((0, 2, 3))
        if not torch.isfinite(loss):
            raise TrainingFailed(f"loss became {loss.item()} {where}; try a lower learning rate "
                                 f"(the last good checkpoint is kept)")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return loss.item()

    def _score(self, row: dict) -> float:
        return row.get(self.key, -row.get("loss", 0.0))

    def _better(self, row: dict) -> bool:
        if self.best is None:
            return True
        score = self._score(row)
        return score > self.best if (self.higher or self.key not in row) else score < self.best

    def score_start(self) -> dict:
        """Score the starting model as epoch 0 (what ``keep_start`` compares against)."""
        cfg = self.cfg
        row = {"epoch": 0, **validate(self.model, cfg.task, cfg.val, size=cfg.val_size or cfg.size, limit=cfg.val_limit,
                                          decoder=self.decoder)}
        self.rows.append(row)
        self.best, self.best_epoch = self._score(row), 0
        self.run.write_rows(self.rows)
        if self.on_epoch:
            self.on_epoch(EpochEvent(0, cfg.epochs, row, True))
        return row

    def split_channels(self, epoch: int) -> int | None:
        """After an epoch of the first two thirds of a ``split_dead`` run: revive unused channels.

        Returns how many channels were split (None when the run does not split). Splitting stops
        for the last third so that the final epochs refine the channels they have.
        """
        if self.usage is None:
            return None
        usage, self.usage = self.usage, torch.zeros_like(self.usage)
        if epoch + 1 > (2 * self.cfg.epochs) // 3:
            return 0
        generator = torch.Generator().manual_seed(self.cfg.seed * 1000 + epoch)  # equal on every rank
        return len(split_dead_channels(self.model.output_layers(), usage.cpu(), optimizer=self.opt,
                                       generator=generator))

    def weights_info(self, row: dict) -> WeightsInfo:
        """The metadata each checkpoint of this run records (its config, metrics and decoder).

        A run that starts from other weights of the same task (a fine-tune) keeps how they run:
        their flip averaging, temperature, saliency channel (when this run's validation chose none)
        and, unless ``val_size`` says otherwise, their input size; a fine-tuned model then runs as
        its base did, and comparing the two compares the weights, not the test-time settings.
        """
        info = _weights_info(self.cfg, row, self.recipe, self.decoder)
        base = self.init_info
        if base is None or base.task != info.task or base.out_channels != info.out_channels:
            return info
        return replace(info, flip_average=base.flip_average, temperature=base.temperature,
                       saliency_channel=info.saliency_channel if info.saliency_channel is not None
                       else base.saliency_channel,
                       input_size=info.input_size if self.cfg.val_size else base.input_size)

    def end_epoch(self, epoch: int, mean_loss: float, seconds: float) -> dict:
        """BatchNorm recalibration, validation, metrics, checkpoints, resume state and status."""
        cfg = self.cfg
        row = {"epoch": epoch + 1, "loss": mean_loss, "lr": self.sched.get_last_lr()[0], "time_s": round(seconds, 1)}
        if self.usage is not None:
            row["dead_channels"] = len(dead_channels(self.usage.cpu()))
        if not cfg.freeze_bn:
            recalibrate_batchnorm(self.model, self.loader, self.device)
        if cfg.val:
            row.update(validate(self.model, cfg.task, cfg.val, size=cfg.val_size or cfg.size, limit=cfg.val_limit,
                                decoder=self.decoder))
        self.rows.append(row)
        self.run.write_rows(self.rows)
        info = self.weights_info(row)
        save_weights(self.model, self.run.last_path, info)
        is_best = self._better(row)
        if is_best:
            self.best, self.best_epoch = self._score(row), epoch + 1
            save_weights(self.model, self.run.best_path, info)
        self.run.save_state({"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                             "epoch": epoch, "best": self.best, "best_epoch": self.best_epoch})
        self.run.set_status(RunState.RUNNING, f"epoch {epoch + 1}/{cfg.epochs}", epoch=epoch + 1)
        if self.on_epoch:
            self.on_epoch(EpochEvent(epoch + 1, cfg.epochs, row, is_best))
        if self.show_progress:
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
            tqdm.write(f"epoch {epoch + 1}: {shown}")
        return row

    def outcome(self) -> Outcome:
        """The run against its starting model (``start`` is None unless epoch 0 was scored)."""
        start = next((self._score(r) for r in self.rows if r.get("epoch") == 0), None)
        improved = None if start is None else (self.best_epoch is not None and self.best_epoch > 0)
        trained = [self._score(r) for r in self.rows if r.get("epoch", 0) > 0 and self.key in r]
        reached = (max(trained) if self.higher else min(trained)) if trained else None
        # The median change between successive trained epochs: a smaller gain is not a clear one.
        noise = float(np.median(np.abs(np.diff(trained)))) if len(trained) >= 3 else None
        holdout = len(resolve(self.cfg.val)) if self.cfg.val else None
        return Outcome(self.key, start, self.best, self.best_epoch, improved, reached, holdout, noise)

    def _epoch(self, epoch: int) -> tuple[float, float] | None:
        """Train one epoch; the mean loss and seconds, or None when a stop was requested."""
        for d in self.datasets:
            d.set_epoch(epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        self.net.train()
        if self.cfg.freeze_bn:  # statistics stay the base's; the affine parameters still learn
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        t0, seen, total = time.perf_counter(), 0, 0.0
        bar = tqdm(total=self.steps, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", dynamic_ncols=True, leave=False,
                   disable=not (self.show_progress and _is_main()))
        done = 0
        try:
            for step, (x, t) in enumerate(self.loader):
                if step >= self.steps:
                    break
                loss = self.step(x, t, where=f"at epoch {epoch + 1}, step {step + 1}")
                done, total = step + 1, total + loss
                seen += x.shape[0] * self.world
                rate = seen / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{total / done:.4f}", img_s=f"{rate:.1f}")
                bar.update()
                if self.on_step:
                    self.on_step(StepEvent(epoch, self.cfg.epochs, done, self.steps, loss, rate))
                if self.stop_requested:
                    return None
        finally:
            bar.close()
        return total / max(1, done), time.perf_counter() - t0

    # the whole run ------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False) -> dict:
        """Set up (resuming if asked and possible), train every remaining epoch; the final row.

        Raises:
            TrainingFailed: the loss became NaN/inf; the last good checkpoint is kept.
        """
        self.setup(resume=resume)
        cfg = self.cfg
        state, message = RunState.FINISHED, ""
        try:
            if cfg.keep_start and _is_main() and not any(r.get("epoch") == 0 for r in self.rows):
                self.score_start()
            for epoch in range(self.start_epoch, cfg.epochs):
                result = self._epoch(epoch)
                if result is None:
                    state, message = RunState.STOPPED, "stopped by the user; last checkpoint kept"
                    break
                if self.usage is not None and self.distributed:
                    dist.all_reduce(self.usage)  # every rank splits the same channels
                if _is_main():
                    self.end_epoch(epoch, *result)
                # After the checkpoint: what is validated and saved is the model the epoch trained.
                self.split_channels(epoch)
        except KeyboardInterrupt:
            state, message = RunState.STOPPED, "stopped by the user; last checkpoint kept"
        except Exception as err:
            if _is_main():
                text = str(err) if isinstance(err, TrainingFailed) else f"{type(err).__name__}: {err}"
                self.run.set_status(RunState.FAILED, text)
            raise
        finally:
            if self.distributed and dist.is_initialized():
                dist.destroy_process_group()
        if _is_main():
            outcome = self.outcome()
            trained = sum(1 for r in self.rows if r.get("epoch", 0) > 0)
            head = message or f"{trained} epochs"
            summary = head + ("; " + outcome.summary() if outcome.start is not None else "")
            # ``head``: the message without the outcome, so a face can word the outcome its own way.
            self.run.set_status(state, summary, epoch=trained, outcome=asdict(outcome), head=head)
        return self.rows[-1] if self.rows else {}
