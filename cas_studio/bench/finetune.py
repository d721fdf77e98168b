"""Wall time of fine-tuning a shipped model on 10 annotated 256x256 images for 20 epochs.

The target is 2 minutes on a 2-core CPU. The line also gives the time relative to one epoch of the
same run, so machines of different speed compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ..data.synthetic import make_annotated_project
from ..finetune import FinetuneOptions, make_config
from ..train import train
from ..weights import available_weights

TARGET_S = 120.0


def main(argv: list[str] | None = None) -> int:
    """Print the fine-tuning benchmark."""
    p = argparse.ArgumentParser(prog="cas-studio bench finetune", description=__doc__)
    p.add_argument("--base", default="regions", help="the model to fine-tune (a shipped name or a path)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--images", type=int, default=10)
    args = p.parse_args(argv)
    if args.base not in available_weights() and not Path(args.base).is_file():
        print(f"error: no model {args.base!r} to fine-tune; available: {available_weights() or 'none'}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="cas-bench-ft-"))
    project = make_annotated_project(work / "project", n=args.images + 1, size=256)  # +1 held out
    cfg = make_config(project.root, FinetuneOptions(base=args.base, epochs=args.epochs, size=256, batch=4),
                      work / "run")
    epoch_times: list[float] = []
    t0 = time.perf_counter()
    train(cfg, show_progress=False,
          on_progress=lambda p: epoch_times.append(time.perf_counter()) if p.metrics is not None else None)
    total = time.perf_counter() - t0
    first_epoch = epoch_times[0] - t0 if epoch_times else total
    print(f"finetune {args.base} {args.images} images 256x256 x {args.epochs} epochs: {total:.1f} s, "
          f"{total / TARGET_S:.2f} of target, {total / first_epoch:.1f}x one epoch")
    return 0
