"""Checkpoint averaging (a "model soup"): the uniform mean of several fine-tunes of one network.

Fine-tunes that start from the same weights stay in one basin of the loss, so the mean of their
parameters is a network too, and usually a better one than each (Wortsman et al., ICML 2022;
Izmailov et al., UAI 2018). Networks trained independently do not share one: a CAS network is
free to give a region any code, so two separate runs code the same region differently and the
mean of their weights means nothing. Average only checkpoints of runs that share a start.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch.optim.swa_utils import AveragedModel

from .factory import SegmentationNet
from .weights import check_flip_average, check_temperature, load_model, save_weights


def average_models(sources: Sequence[str | os.PathLike]) -> SegmentationNet:
    """The uniform average of several weights files of one architecture, on the CPU, in eval mode.

    Parameters and buffers (batch-norm statistics included) are averaged with equal weights;
    ``.info`` is the first source's, without its validation metrics (they belong to the first
    source, not to the average).

    Args:
        sources: two or more shipped names or ``.safetensors`` paths: fine-tunes of one network.

    Raises:
        ValueError: fewer than two sources, or sources that differ in architecture, channel count,
            task or saliency channel (then they are not fine-tunes of one network).
    """
    if len(sources) < 2:
        raise ValueError(f"averaging needs at least two weights files, got {len(sources)}")
    # One source in memory beside the running average, however many sources there are.
    first = load_model(sources[0], device="cpu")
    averaged = AveragedModel(first, use_buffers=True)
    with torch.no_grad():
        averaged.update_parameters(first)
        for source in sources[1:]:
            model = load_model(source, device="cpu")
            for name in ("arch", "out_channels", "task", "saliency_channel"):
                if getattr(model.info, name) != getattr(first.info, name):
                    raise ValueError(f"{source}: {name} is {getattr(model.info, name)!r} but {sources[0]} has "
                                     f"{getattr(first.info, name)!r}; only fine-tunes of one network can be averaged")
            averaged.update_parameters(model)
    result = averaged.module
    result.info = replace(first.info, metrics={})
    return result.eval()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio average``."""
    p = argparse.ArgumentParser(prog="cas-studio average", description=__doc__.splitlines()[0])
    p.add_argument("sources", nargs="+", metavar="WEIGHTS", help="two or more .safetensors files (or shipped names)")
    p.add_argument("--out", required=True, help="the averaged weights file to write")
    p.add_argument("--half", action="store_true", help="store float16 (half the size)")
    p.add_argument("--size", type=int, default=None, help="record this inference input size (default: the first's)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="record flip averaging at inference (saliency models; default: the first's)")
    p.add_argument("--temperature", type=float, default=None,
                   help="record this softmax temperature (default: the first's)")
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    try:
        if args.temperature is not None:
            check_temperature(args.temperature)  # before the (slow) loading
        model = average_models(args.sources)
        check_flip_average(args.flip, model.info.task)
        # WeightsInfo checks what is recorded (size, temperature, flip for the task).
        recorded = {"input_size": args.size, "flip_average": args.flip, "temperature": args.temperature}
        info = replace(model.info, recipe="cas-studio average " + shlex.join(argv),
                       **{k: v for k, v in recorded.items() if v is not None})
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_weights(model, args.out, info, half=args.half)
    print(f"averaged {len(args.sources)} files of {info.arch} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
