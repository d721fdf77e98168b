"""``cas-studio bench propagate``: one annotated frame labels the whole video, measured on ``davis``.

For each ``davis`` sequence (frames in order), the first frame's true mask goes in and
:func:`cas_studio.video.propagate` labels the rest; J (mean IoU of the object) is taken over the
other frames. Beside it on the same frames: the base model with no fine-tune, binarised as the app
binarises it (the paper's 2x mean threshold), and the first mask copied to every frame. Then the
loop's second step: the worst propagated frame is annotated too (its true mask) and the sequence
propagated again; J of both rounds is reported on the frames annotated in neither.

``--annotator`` adds what a person then does: on every propagated frame, click-to-object clicks
(the NoC protocol: one pixel each, at the larger error) correct the propagated object until its IoU
reaches 0.90 (none when it already does; at most 20); beside it, in the same run, the clicks the
same click model needs on the same frames from nothing. Both are followed by one accept.

Every row is printed as it is measured; the last line is
``davis: J <ours> (base <b>, copy <c>), <s> s per sequence``.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict

import numpy as np

from ..data.sources import resolve
from ..inference.infer import binarize, predict_saliency
from ..io import read_image, read_label_map
from ..video import Frames, PropagateOptions, propagate
from ..models.weights import load_model


#: The IoU a corrected frame must reach (the NoC@90 protocol's).
TARGET_IOU = 0.90
#: Most clicks spent on one frame.
MAX_CLICKS = 20
#: The `davis` sequences propagation's options (zoom, base vote, imprint, flip) were chosen on;
#: the summary also reports J on the other sequences alone, which no choice looked at.
SELECTION = ("bmx-bumps", "boat", "car-turn", "kite-walk", "mallard-fly", "motocross-bumps", "scooter-gray",
             "stroller")


def _clicker():
    from ..interactive import ClickSegmenter

    return ClickSegmenter("clicks", "cpu")


def clicks_to(segmenter, image: np.ndarray, target: np.ndarray, *, start: np.ndarray | None = None) -> int:
    """Clicks of the NoC protocol until the object's IoU reaches :data:`TARGET_IOU` (``MAX_CLICKS``
    when it never does; 0 when ``start``, the mask being corrected, already reaches it)."""
    from ..interactive.clicks import iou, protocol_masks

    if start is not None and iou(start, target) >= TARGET_IOU:
        return 0
    segmenter.set_image(image)
    # The first click refines ``start`` (the app's click on a propagated region); later ones chain.
    predict = lambda clicks: segmenter.predict(clicks, previous=start if len(clicks) == 1 else None)  # noqa: E731
    for k, mask in enumerate(protocol_masks(predict, target, MAX_CLICKS, stop_iou=TARGET_IOU, start=start), 1):
        if iou(mask, target) >= TARGET_IOU:
            return k
    return MAX_CLICKS


def davis_sequences() -> dict[str, list]:
    """``davis`` items grouped by sequence, each in frame order."""
    seqs: dict[str, list] = defaultdict(list)
    for it in resolve("davis"):
        name, frame = re.match(r"(.+)_(\d+)$", it.image.stem).groups()
        seqs[name].append((int(frame), it))
    return {k: [it for _, it in sorted(v, key=lambda t: t[0])] for k, v in sorted(seqs.items())}


def jaccard(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two foreground masks (1.0 when both are empty, as DAVIS scores it)."""
    pred, truth = np.asarray(pred) > 0, np.asarray(truth) > 0
    union = np.logical_or(pred, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, truth).sum() / union)


def _run(frames: Frames, annotations: dict[int, np.ndarray], options: PropagateOptions) -> tuple[dict, int]:
    """Label maps by frame index, and the fine-tune steps taken."""
    steps = [0]

    def seen(event) -> None:
        if event.stage == "fine-tune":
            steps[0] = event.done

    return dict(propagate(frames, annotations, options=options, progress=seen)), steps[0]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints one line per sequence and the summary line."""
    p = argparse.ArgumentParser(prog="cas-studio bench propagate", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=PropagateOptions.seconds, help="fine-tune budget per round")
    p.add_argument("--size", type=int, default=PropagateOptions.size)
    p.add_argument("--lr", type=float, default=PropagateOptions.lr)
    p.add_argument("--batch", type=int, default=PropagateOptions.batch)
    p.add_argument("--steps", type=int, default=PropagateOptions.steps)
    p.add_argument("--model", default=PropagateOptions.model)
    p.add_argument("--frozen-blocks", type=int, default=PropagateOptions.frozen_blocks)
    p.add_argument("--no-flip", action="store_true", help="label each frame in one pass, not with its mirror image")
    p.add_argument("--zoom", default=",".join(f"{z:g}" for z in PropagateOptions.zoom),
                   help="the fine-tune's scale range LOW,HIGH")
    p.add_argument("--near-share", type=float, default=PropagateOptions.near_share,
                   help="share of each batch's copies kept to small scale changes")
    p.add_argument("--base-vote", type=float, default=PropagateOptions.base_vote,
                   help="weight of the un-tuned base model's vote (0: none)")
    p.add_argument("--only", default="", help="comma-separated sequence names")
    p.add_argument("--imprint", choices=("auto", "always", "never"), default="auto",
                   help="start the output layer from the annotated regions (auto: when the base does not tell them apart)")
    p.add_argument("--sequences", type=int, default=0, help="only the first N sequences (0: all)")
    p.add_argument("--no-second", action="store_true", help="skip the second round (worst frame annotated too)")
    p.add_argument("--annotator", action="store_true",
                   help="also count the clicks that correct each propagated frame to IoU 0.90, against clicking it from nothing")
    args = p.parse_args(argv)
    options = PropagateOptions(model=args.model, seconds=args.seconds, size=args.size, lr=args.lr,
                               batch=args.batch, steps=args.steps,
                               imprint={"auto": None, "always": True, "never": False}[args.imprint],
                               frozen_blocks=args.frozen_blocks, flip=not args.no_flip,
                               zoom=tuple(float(z) for z in args.zoom.split(",")), base_vote=args.base_vote,
                               near_share=args.near_share)
    seqs = davis_sequences()
    if args.only:
        seqs = {k: v for k, v in seqs.items() if k in args.only.split(",")}
    if args.sequences:
        seqs = dict(list(seqs.items())[: args.sequences])
    base = load_model(options.model, "cpu")
    clicker = _clicker() if args.annotator else None
    rows = []
    for name, items in seqs.items():
        images = [read_image(it.image) for it in items]
        truth = [read_label_map(it.target) for it in items]
        frames = Frames.from_arrays(images, [it.image.stem for it in items])
        t0 = time.perf_counter()
        out, steps = _run(frames, {0: truth[0]}, options)
        seconds = time.perf_counter() - t0
        others = range(1, len(items))
        j = {i: jaccard(out[i], truth[i]) for i in others}
        j_base = [jaccard(binarize(predict_saliency(base, images[i])), truth[i]) for i in others]
        j_copy = [jaccard(truth[0], truth[i]) for i in others]
        row = {"seq": name, "frames": len(items), "J": float(np.mean(list(j.values()))),
               "base": float(np.mean(j_base)), "copy": float(np.mean(j_copy)), "s": seconds}
        line = (f"{name:18s} {len(items):2d} frames  J {row['J']:.3f}  base {row['base']:.3f}  "
                f"copy {row['copy']:.3f}  {seconds:5.1f} s, {steps} steps")
        if clicker is not None:
            fixes = [clicks_to(clicker, images[i], truth[i] > 0, start=out[i] > 0) for i in others]
            scratch = [clicks_to(clicker, images[i], truth[i] > 0) for i in others]
            row["fix"], row["scratch"] = float(np.mean(fixes)), float(np.mean(scratch))
            line += f"  clicks a frame: {row['fix']:.2f} correcting, {row['scratch']:.2f} from nothing"
        if not args.no_second and len(items) > 2:
            worst = min(j, key=j.get)
            out2, _ = _run(frames, {0: truth[0], worst: truth[worst]}, options)
            rest = [i for i in others if i != worst]
            row["J1_rest"] = float(np.mean([j[i] for i in rest]))
            row["J2_rest"] = float(np.mean([jaccard(out2[i], truth[i]) for i in rest]))
            line += f"  | + worst frame {worst}: J {row['J1_rest']:.3f} -> {row['J2_rest']:.3f} on the other {len(rest)}"
        print(line, flush=True)
        rows.append(row)
    mean = lambda k: float(np.mean([r[k] for r in rows if k in r]))  # noqa: E731
    if any("J2_rest" in r for r in rows):
        n = sum("J2_rest" in r for r in rows)
        print(f"second annotated frame (the worst): J {mean('J1_rest'):.3f} -> {mean('J2_rest'):.3f} "
              f"on the frames annotated in neither round, {n} sequences")
    if any("fix" in r for r in rows):
        frames = sum(r["frames"] - 1 for r in rows)
        print(f"the annotator on {frames} propagated frames: {mean('fix'):.2f} clicks a frame to IoU {TARGET_IOU} "
              f"correcting the propagation, {mean('scratch'):.2f} from nothing ({mean('fix') / mean('scratch'):.2f}x), "
              "each then one accept")
    print(f"options: model {options.model}, budget {options.seconds:g} s, size {options.size}, lr {options.lr:g}, "
          f"batch {options.batch}, imprint {args.imprint}, frozen blocks {options.frozen_blocks}, flip {options.flip}, "
          f"zoom {options.zoom[0]:g}-{options.zoom[1]:g} (near share {options.near_share:g}), base vote {options.base_vote:g}, at most {options.steps} steps")
    held = [r["J"] for r in rows if r["seq"] not in SELECTION]
    if held and len(held) < len(rows):
        print(f"J on the {len(held)} sequences no option was chosen on: {np.mean(held):.3f}; "
              f"on the {len(rows) - len(held)} chosen on: {np.mean([r['J'] for r in rows if r['seq'] in SELECTION]):.3f}")
    print(f"davis: J {mean('J'):.3f} (base {mean('base'):.3f}, copy {mean('copy'):.3f}), "
          f"{mean('s'):.1f} s per sequence")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
