"""Distillation: a one-pass student of a flip-averaging teacher (``cas-studio distill``)."""

from __future__ import annotations

import pytest
import torch

from cas_studio.training.distill import DistillTrainer, distillation_loss, teacher_probabilities
from cas_studio.models.factory import build_model
from cas_studio.training.config import TrainConfig
from cas_studio.models.weights import WeightsInfo, load_model, save_weights

from .helpers import make_figure_ground


def test_the_distillation_loss_is_zero_only_where_the_student_agrees():
    logits = torch.randn(2, 2, 8, 8)
    same = torch.softmax(logits / 1.5, 1)
    assert distillation_loss(logits, same, 1.5).abs() < 1e-6
    assert distillation_loss(-logits, same, 1.5) > 0.01
    grad_check = torch.randn(1, 2, 4, 4, dtype=torch.double, requires_grad=True)
    target = torch.softmax(torch.randn(1, 2, 4, 4, dtype=torch.double), 1)
    assert torch.autograd.gradcheck(lambda z: distillation_loss(z, target, 2.0).double(), (grad_check,))


def test_the_teacher_target_is_its_flip_average():
    torch.manual_seed(0)
    teacher = build_model("lraspp_mobilenet_v3_large", 2, pretrained=False).eval()
    x = torch.randn(1, 3, 32, 32)
    probs = teacher_probabilities(teacher, x, 1.0)
    with torch.no_grad():
        expected = torch.softmax((teacher(x) + teacher(x.flip(-1)).flip(-1)) / 2, 1)
    torch.testing.assert_close(probs, expected)


@pytest.mark.slow
def test_a_student_run_records_one_pass_at_the_teachers_temperature(tmp_path):
    torch.manual_seed(0)
    data = make_figure_ground(tmp_path / "fg", n=6, size=48)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=2, task="saliency", input_size=32,
                       saliency_channel=1, flip_average=True, temperature=1.5)
    teacher = save_weights(build_model(info.arch, 2, pretrained=False), tmp_path / "teacher.safetensors", info)
    cfg = TrainConfig(task="saliency", train=[str(data)], val=str(data), out_dir=str(tmp_path / "run"), size=32,
                      batch=3, epochs=1, lr=1e-3, val_limit=3, arch=info.arch, init=str(teacher))
    trainer = DistillTrainer(cfg, teacher=str(teacher), weight=1.0, temperature=1.5, show_progress=False)
    trainer.fit()
    student = load_model(tmp_path / "run" / "last.safetensors", device="cpu")
    assert student.info.flip_average is False and student.info.temperature == 1.5
    with pytest.raises(ValueError, match="temperature > 0"):
        DistillTrainer(cfg, teacher=str(teacher), temperature=0)
