"""Forward+backward time of the CAS loss against cross-entropy on the same tensors.

Each line is ``name K=.. M=.. HxW: ratio``, the median time of the first loss divided by that of
the baseline, both measured in this run, so the numbers compare across noisy machines.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from ..training.allocator import keep_freed_memory
from ..losses import ce_loss, cas_loss, discriminative_loss
from ..losses.reference import cas_loss_reference

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Case:
    """One benchmark configuration."""

    batch: int
    channels: int
    regions: int
    size: int

    def label(self) -> str:
        """Human-readable configuration, e.g. ``K=2 M=2 256x256``."""
        return f"K={self.regions} M={self.channels} {self.size}x{self.size}"


CASES = [Case(8, 2, 2, 256), Case(8, 8, 8, 256), Case(8, 8, 32, 256), Case(8, 8, 128, 256),
         Case(8, 8, 8, 128), Case(8, 8, 8, 512)]


def _time(fn: LossFn, x: torch.Tensor, target: torch.Tensor, min_run_time: float) -> float:
    """Median seconds of one forward+backward."""
    x = x.detach().requires_grad_(True)

    def step() -> None:
        fn(x, target).backward()
        x.grad = None
        if x.is_cuda:
            torch.cuda.synchronize()

    for _ in range(3):  # warm-up: allocator, thread pool, caches
        step()
    timer = Timer("step()", globals={"step": step}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def _ratio(fn: LossFn, base: LossFn, x: torch.Tensor, t_fn: torch.Tensor, t_base: torch.Tensor,
           min_run_time: float, rounds: int = 3) -> tuple[float, float]:
    """Median over alternating rounds of time(fn) / time(base), and fn's median time.

    Alternating the two and taking the median of the per-round ratios cancels slow drifts of a
    shared machine (frequency scaling, other jobs) that would bias one side.
    """
    ratios, times = [], []
    for _ in range(rounds):
        a = _time(fn, x, t_fn, min_run_time / rounds)
        b = _time(base, x, t_base, min_run_time / rounds)
        ratios.append(a / b)
        times.append(a)
    return sorted(ratios)[rounds // 2], sorted(times)[rounds // 2]


def _inputs(case: Case, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(case.batch, case.channels, case.size, case.size, generator=gen)
    # Blocky region maps so that every region is a real, spatially coherent patch.
    cells = torch.randint(0, case.regions, (case.batch, 16, 16), generator=gen)
    cells.view(case.batch, -1)[:, : case.regions] = torch.arange(case.regions)[: 256]
    target = F.interpolate(cells[:, None].float(), size=(case.size, case.size), mode="nearest")[:, 0].long()
    return x.to(device), target.to(device)


def run(*, devices: list[torch.device], min_run_time: float = 1.0, loop: bool = True) -> Iterator[str]:
    """Yield one result line per (case, comparison, device)."""
    for device in devices:
        tag = "" if device.type == "cpu" else f" [{device.type}]"
        sizes_seen = {}
        for case in CASES:
            x, target = _inputs(case, device)
            ce_target = target % case.channels  # CE reads ids as class labels, which must be < M
            torch_ce = lambda a, b: F.cross_entropy(a, b)  # noqa: E731
            cas_ce, t_cas = _ratio(cas_loss, ce_loss, x, target, ce_target, min_run_time)
            cas_torch, _ = _ratio(cas_loss, torch_ce, x, target, ce_target, min_run_time)
            disc_ce, _ = _ratio(discriminative_loss, ce_loss, x, target, ce_target, min_run_time)
            t_torch_ce = _time(torch_ce, x, ce_target, min_run_time / 3)
            sizes_seen[case.size] = (t_cas, t_torch_ce)
            yield f"cas/ce {case.label()}{tag}: {cas_ce:.2f}"
            yield f"cas/torch_ce {case.label()}{tag}: {cas_torch:.2f}"
            yield f"discriminative/ce {case.label()}{tag}: {disc_ce:.2f}"
            if loop and case.size <= 256 and case.regions <= 32:
                loop_cas, _ = _ratio(lambda a, b: cas_loss_reference(a, b).mean(), cas_loss, x, target, target,
                                     min_run_time, rounds=1)
                yield f"loop/cas {case.label()}{tag}: {loop_cas:.2f}"
        if 128 in sizes_seen and 512 in sizes_seen:
            # Linear cost means 16x the pixels takes about 16x the time; CE shows what the
            # memory hierarchy adds on this machine.
            (cas_lo, ce_lo), (cas_hi, ce_hi) = sizes_seen[128], sizes_seen[512]
            yield f"cas 512x512/128x128 (16x pixels) K=8 M=8{tag}: {cas_hi / cas_lo:.2f}"
            yield f"torch_ce 512x512/128x128 (16x pixels) K=8 M=8{tag}: {ce_hi / ce_lo:.2f}"


def main(argv: list[str] | None = None) -> int:
    """Print the loss benchmark; ``--quick`` for a short run."""
    parser = argparse.ArgumentParser(prog="cas-studio bench loss", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter timing runs, no loop baseline")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto = CPU, plus CUDA when present")
    args = parser.parse_args(argv)
    if args.device == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(args.device)]
    kept = keep_freed_memory()  # as training runs (Trainer.setup); both sides of each ratio share it
    print(f"# forward+backward time ratios, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'freed memory kept for reuse' if kept else 'freed memory returned to the OS'} (cas_studio.training.allocator)")
    for line in run(devices=devices, min_run_time=0.2 if args.quick else 1.0, loop=not args.quick):
        print(line, flush=True)
    return 0
