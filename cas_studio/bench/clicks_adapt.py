"""``cas-studio bench clicks-adapt``: the click model fine-tuned on a sequence's accepted objects.

For each `davis` sequence, the true masks of its first ``--accepted`` frames stand for the objects
a person accepted there; :func:`cas_studio.interactive.adapt.adapt_click_model` fine-tunes a copy
of the click model on them, and the NoC protocol (one pixel a click, at the larger error; at most
20) runs on every *other* frame of the sequence with the click model before and after, in the same
run. Last line: ``davis: NoC@90 <before> -> <after>, NoC@85 <before> -> <after>, <s> s per adaptation``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from ..interactive import ClickSegmenter
from ..interactive.adapt import AdaptOptions, adapt_click_model
from ..io import read_image, read_label_map
from ..models.weights import load_model
from .noc import Predictor, evaluate
from .propagate import davis_sequences


def _method(model: torch.nn.Module) -> Predictor:
    seg = ClickSegmenter(model, "cpu")

    def start(image: np.ndarray) -> Callable[[list], np.ndarray]:
        seg.set_image(image)
        return seg.predict
    return start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; one line per sequence and the summary line."""
    p = argparse.ArgumentParser(prog="cas-studio bench clicks-adapt", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default="clicks")
    p.add_argument("--accepted", type=int, default=3, help="frames whose objects count as accepted")
    p.add_argument("--seconds", type=float, default=AdaptOptions.seconds, help="fine-tune budget per sequence")
    p.add_argument("--steps", type=int, default=AdaptOptions.steps)
    p.add_argument("--lr", type=float, default=AdaptOptions.lr)
    p.add_argument("--only", default="", help="comma-separated sequence names")
    p.add_argument("--sequences", type=int, default=0, help="only the first N sequences (0: all)")
    args = p.parse_args(argv)
    seqs = davis_sequences()
    if args.only:
        seqs = {k: v for k, v in seqs.items() if k in args.only.split(",")}
    if args.sequences:
        seqs = dict(list(seqs.items())[: args.sequences])
    base = load_model(args.weights, "cpu")
    options = AdaptOptions(seconds=args.seconds, steps=args.steps, lr=args.lr, device="cpu")
    rows = []
    for name, items in seqs.items():
        if len(items) <= args.accepted:
            continue
        frames = [(read_image(it.image), read_label_map(it.target) > 0) for it in items]
        accepted, rest = frames[: args.accepted], frames[args.accepted:]
        t0 = time.perf_counter()
        tuned = adapt_click_model(accepted, weights=base, options=options)
        seconds = time.perf_counter() - t0
        before, after = evaluate(_method(base), rest), evaluate(_method(tuned), rest)
        rows.append({"n": len(rest), "b90": before["noc90"], "a90": after["noc90"], "b85": before["noc85"],
                     "a85": after["noc85"], "b1": before["iou1"], "a1": after["iou1"], "s": seconds})
        print(f"{name:18s} {len(rest):2d} frames  NoC@90 {before['noc90']:5.2f} -> {after['noc90']:5.2f}  "
              f"NoC@85 {before['noc85']:5.2f} -> {after['noc85']:5.2f}  IoU@1 {before['iou1']:.3f} -> "
              f"{after['iou1']:.3f}  {seconds:4.1f} s", flush=True)
    if not rows:
        print("no sequence has more frames than --accepted")
        return 1
    w = np.array([r["n"] for r in rows], float)
    mean = lambda k: float(np.average([r[k] for r in rows], weights=w))  # noqa: E731  per frame
    print(f"{int(w.sum())} frames of {len(rows)} sequences, {args.accepted} accepted each; budget {args.seconds:g} s, "
          f"lr {args.lr:g}; IoU after one click {mean('b1'):.3f} -> {mean('a1'):.3f}")
    print(f"davis: NoC@90 {mean('b90'):.2f} -> {mean('a90'):.2f}, NoC@85 {mean('b85'):.2f} -> {mean('a85'):.2f}, "
          f"{np.mean([r['s'] for r in rows]):.1f} s per adaptation")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
