"""``cas-studio distill``: one network that does in one pass what a model does with test-time options.

The shipped ``saliency`` model averages each image with its mirror image (two network passes) at
softmax temperature 1.5. Distillation trains a copy of it (the *student*) to give, in one pass,
the teacher's flip-averaged softmax, while the task's own loss on the ground truth keeps it honest:

    loss = task loss(student(x), regions) + w * T^2 * KL(teacher_T(x) || student_T(x))

with ``teacher_T`` the teacher's softmax of its flip-averaged logits at temperature T and
``student_T`` the student's one-pass softmax at T (Hinton et al., 2015, whose T^2 keeps the
gradient's scale). The student is validated, and recorded in its weights, as one pass at T.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace

import torch
from torch.nn import functional as F

from .runs import Run, state_of
from .config import TrainConfig, add_arguments, from_arguments
from .trainer import Trainer, TrainingFailed


def teacher_probabilities(teacher: torch.nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """The teacher's softmax at ``temperature`` of its logits averaged with its mirror image's."""
    with torch.no_grad():
        logits = (teacher(x) + teacher(x.flip(-1)).flip(-1)) / 2
        return torch.softmax(logits.float() / temperature, 1)


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(teacher || student)`` per pixel, averaged (Hinton et al.'s scaling)."""
    # At least float32 (half-precision logits would lose the small probabilities), double kept.
    logits = student_logits.to(torch.promote_types(student_logits.dtype, torch.float32))
    log_student = F.log_softmax(logits / temperature, 1)
    return F.kl_div(log_student, teacher_probs, reduction="none").sum(1).mean() * temperature ** 2


class DistillTrainer(Trainer):
    """A :class:`Trainer` whose loss adds the distillation term from a frozen teacher."""

    def __init__(self, cfg: TrainConfig, *, teacher: str, weight: float = 1.0, temperature: float = 1.5,
                 **kwargs) -> None:
        super().__init__(cfg, **kwargs)
        if weight < 0 or temperature <= 0:
            raise ValueError(f"weight must be >= 0 and temperature > 0, got {weight} and {temperature}")
        self.teacher_name, self.weight, self.temperature = teacher, weight, temperature

    def setup(self, *, resume: bool = False) -> None:
        """The run's setup, the frozen teacher, and the student recorded as one pass at T."""
        from ..models.weights import info_of, load_model

        super().setup(resume=resume)
        self.teacher = load_model(self.teacher_name, device=self.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        # Validated (and later used) as it will run: one pass at T.
        self.model.info = replace(info_of(self.model), flip_average=False, temperature=self.temperature)

    def weights_info(self, row: dict):
        """The run's metadata, recording the student's test-time options: one pass at T."""
        return replace(super().weights_info(row), flip_average=False, temperature=self.temperature)

    def step(self, x: torch.Tensor, t: torch.Tensor, *, where: str = "") -> float:
        """One optimisation step on task loss + distillation; NaN/inf raises :class:`TrainingFailed`."""
        x, t = x.to(self.device, non_blocking=True), t.to(self.device, non_blocking=True)
        target = teacher_probabilities(self.teacher, x, self.temperature)
        logits = self.net(x)
        loss = self.loss_fn(logits.float(), t) + self.weight * distillation_loss(logits, target, self.temperature)
        if not torch.isfinite(loss):
            raise TrainingFailed(f"loss became {loss.item()} {where}; try a lower learning rate "
                                 f"(the last good checkpoint is kept)")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return loss.item()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio distill``: ``cas-studio train``'s options plus the teacher's."""
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="cas-studio distill", description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--teacher", default="saliency", help="the model to imitate, with its recorded flip average")
    p.add_argument("--distill-weight", type=float, default=1.0, help="w: the distillation term's weight")
    p.add_argument("--temperature", type=float, default=1.5, help="T of both softmaxes (the teacher's recorded T)")
    args = vars(p.parse_args(argv))
    teacher, weight, temperature = args.pop("teacher"), args.pop("distill_weight"), args.pop("temperature")
    try:
        cfg = from_arguments(args)
        trainer = DistillTrainer(cfg, teacher=teacher, weight=weight, temperature=temperature,
                                 recipe="cas-studio distill " + shlex.join(argv))
        trainer.fit()
    except (TrainingFailed, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = Run(cfg.out_dir).status()
    print(f"{status['state']}: {status['message']} -> {cfg.out_dir}")
    return 0 if state_of(status).ended_well else 1
