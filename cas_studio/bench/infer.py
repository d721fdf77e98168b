"""Inference time per 256x256 image of each shipped model (and of the default architecture untrained).

Lines read ``infer NAME 256x256: X ms, Y of target`` with the target 30 ms per image on CPU; the
untrained default architecture, timed in the same run, is the baseline the ratio column compares to.
A model whose weights ask for flip averaging (two network passes per image) gets a second figure,
``as shipped (flip average): X ms, Y of target``, timed with both passes in one batch of two.

``--api`` times what a Python script does instead: ``predict_saliency(load_model("saliency"), image)``
on a 256x256 image, in two fresh processes, one with the C library's allocator as it comes and one
after ``cas_studio.keep_freed_memory()`` (what the CLI and the app call), and prints their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torch.utils.benchmark import Timer

from ..training.allocator import keep_freed_memory
from ..models.factory import DEFAULT_ARCH, build_model
from ..models.weights import available_weights, load_model

TARGET_MS = 30.0


def _ms(model: torch.nn.Module, size: int, min_run_time: float, *, flip: bool = False) -> float:
    # A click model takes its click maps as extra input channels: one pass per click.
    x = torch.randn(1, 3 + model.extra_inputs, size, size)
    # As predict_probabilities runs it: the image and its mirror in one batch.
    stmt = "model(torch.cat([x, x.flip(-1)]))" if flip else "model(x)"
    with torch.inference_mode():
        model(x)
        timer = Timer(stmt, globals={"model": model, "x": x, "torch": torch}, num_threads=torch.get_num_threads())
        return timer.blocked_autorange(min_run_time=min_run_time).median * 1000


def _api_ms(size: int, repeat: int) -> float:
    """Median ms of ``predict_saliency`` on a ``size`` image in this process, as a script calls it."""
    from ..inference.infer import predict_saliency

    model = load_model("saliency", device="cpu")
    image = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    predict_saliency(model, image, size=size)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        predict_saliency(model, image, size=size)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def _api_lines(size: int, repeat: int) -> list[str]:
    ms = {}
    for label, keep in (("allocator as it comes", False), ("after keep_freed_memory()", True)):
        code = ("import cas_studio\n" + ("cas_studio.keep_freed_memory()\n" if keep else "")
                + f"from cas_studio.bench.infer import _api_ms\nprint(_api_ms({size}, {repeat}))")
        env = {k: v for k, v in os.environ.items() if k != "CAS_STUDIO_MALLOC"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        ms[label] = float(out.stdout.strip().splitlines()[-1])
    a, b = ms.values()
    return [f"api predict_saliency {size}x{size}, {label}: {v:.1f} ms" for label, v in ms.items()] + [
        f"api keep_freed_memory(): {a / b:.2f}x faster"]


def main(argv: list[str] | None = None) -> int:
    """Print inference times."""
    p = argparse.ArgumentParser(prog="cas-studio bench infer", description=__doc__)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--min-run-time", type=float, default=2.0)
    p.add_argument("--api", action="store_true", help="time a Python script's predict_saliency with and without "
                                                      "keep_freed_memory(), each in a fresh process")
    p.add_argument("--repeat", type=int, default=30, help="--api: predictions timed per process")
    args = p.parse_args(argv)
    if args.api:
        print("\n".join(_api_lines(args.size, args.repeat)))
        return 0
    keep_freed_memory()  # as the CLI and the app run models
    base = _ms(build_model(DEFAULT_ARCH, 2).eval(), args.size, args.min_run_time)
    print(f"infer {DEFAULT_ARCH} (untrained baseline) {args.size}x{args.size}: {base:.1f} ms, "
          f"{base / TARGET_MS:.2f} of target")
    for name in available_weights():
        model = load_model(name, device="cpu")
        ms = _ms(model, args.size, args.min_run_time)
        line = f"infer {name} {args.size}x{args.size}: {ms:.1f} ms, {ms / TARGET_MS:.2f} of target, {ms / base:.2f}x baseline"
        if model.info.flip_average:
            both = _ms(model, args.size, args.min_run_time, flip=True)
            line += f"; as shipped (flip average): {both:.1f} ms, {both / TARGET_MS:.2f} of target"
        print(line)
    return 0
