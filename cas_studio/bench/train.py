"""Training throughput (images per second) of an architecture at 256x256, forward + backward + step.

The line reads ``train ARCH 256x256 batch 8 (cpu): X img/s, Y of target`` with the target 8 img/s on
a 2-core CPU for the pretrained default; ``--baseline`` adds the same measurement of another
architecture in the same run (default LR-ASPP MobileNetV3, the previous default), so machines of
different speed compare by the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from ..training.allocator import keep_freed_memory
from ..losses import cas_loss
from ..models.factory import DEFAULT_ARCH, build_model
from ..models.weights import resolve_device

TARGET_IMG_S = 8.0


def images_per_second(arch: str, *, size: int = 256, batch: int = 8, steps: int = 6,
                      device: str = "auto") -> float:
    """Measured training images per second of ``arch`` with the CAS loss on random data."""
    dev = resolve_device(device)
    model = build_model(arch, 2).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen).to(dev)
    t = torch.randint(0, 3, (batch, size, size), generator=gen).to(dev)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, enabled=dev.type == "cuda"):
            logits = model(x)
        cas_loss(logits.float(), t).backward()
        opt.step()

    step()  # warm-up: allocator, kernels
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    """Print training throughput."""
    p = argparse.ArgumentParser(prog="cas-studio bench train", description=__doc__)
    p.add_argument("--arch", default=DEFAULT_ARCH)
    p.add_argument("--baseline", default="lraspp_mobilenet_v3_large", help="'none' to skip")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    kept = keep_freed_memory()  # as Trainer.setup does
    dev = resolve_device(args.device).type
    rate = images_per_second(args.arch, size=args.size, batch=args.batch, steps=args.steps, device=args.device)
    line = (f"train {args.arch} {args.size}x{args.size} batch {args.batch} ({dev}): {rate:.1f} img/s, "
            f"{rate / TARGET_IMG_S:.2f} of target")
    if args.baseline != "none":
        base = images_per_second(args.baseline, size=args.size, batch=args.batch, steps=args.steps, device=args.device)
        line += f", {rate / base:.2f}x {args.baseline} ({base:.1f} img/s)"
    print(line + ("" if kept else "; freed memory returned to the OS (CAS_STUDIO_MALLOC=default or not glibc)"))
    return 0
