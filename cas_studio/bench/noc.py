"""``cas-studio bench clicks``: number of clicks (NoC) of click-to-object, beside GrabCut.

The standard protocol (Xu et al. 2016; RITM): the first click at the object's interior point
farthest from its border; each next click at the point farthest from the border of the larger
error region (a false negative gives a positive click, a false positive a negative one); at most
20 clicks. A simulated click lands on one pixel, as a hand's does. NoC@85 / NoC@90 are the mean
clicks to IoU 0.85 / 0.90 (20 when never reached).

Methods, each given the same protocol on the same images in the same run:

* ``clicks``: :class:`~cas_studio.interactive.ClickSegmenter` on the shipped (or ``--weights``) model;
* ``grabcut``: OpenCV's GrabCut seeded by the same kind of clicks (positive clicks as sure
  foreground, negative ones as sure background, a disk of probable foreground around the first
  click, the previous result as probable foreground), run at long side 480 because it takes
  seconds per click at full size; on every ``--grabcut-every``-th image;
* ``salient object``: today's one-click tool, the saliency model's binary map, which ignores clicks.

Sets: ``davis`` frames at their full 854x480 (no training run uses them) and SOD val.
The last line reads ``davis: NoC@90 <ours> vs GrabCut <theirs>`` (both on GrabCut's images).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np

from ..data.sources import read_target, resolve
from ..interactive.clicks import Click, iou, protocol_masks
from ..io import read_image

MAX_CLICKS = 20
GRABCUT_SIDE = 480

#: A method: set_image(image) -> predict(clicks) -> mask.
Predictor = Callable[[np.ndarray], Callable[[list[Click]], np.ndarray]]


def run_protocol(predictor: Callable[[list[Click]], np.ndarray], target: np.ndarray,
                 max_clicks: int = MAX_CLICKS) -> tuple[list[float], float]:
    """IoU after each click of the NoC protocol on one object, and the seconds per click.

    Returns
    -------
    ious : IoU after clicks 1..max_clicks (the last value repeated once the prediction is exact)
    seconds : mean time of one ``predictor`` call
    """
    spent = [0.0]

    def timed(clicks: list[Click]) -> np.ndarray:
        tic = time.perf_counter()
        out = predictor(clicks)
        spent[0] += time.perf_counter() - tic
        return out

    ious = [iou(pred, target) for pred in protocol_masks(timed, target, max_clicks)]
    calls = len(ious)
    ious += [ious[-1] if ious else 1.0] * (max_clicks - calls)  # exact: later clicks change nothing
    return ious, spent[0] / max(1, calls)


def noc(ious: list[float], threshold: float, max_clicks: int = MAX_CLICKS) -> int:
    """Clicks needed to reach ``threshold`` IoU (``max_clicks`` when never reached)."""
    for k, value in enumerate(ious, 1):
        if value >= threshold:
            return k
    return max_clicks


def click_method(weights: str, zoom: bool = True) -> Predictor:
    """The click model as a method."""
    from ..interactive import ClickSegmenter

    seg = ClickSegmenter(weights, "cpu", zoom=zoom)

    def start(image: np.ndarray) -> Callable[[list[Click]], np.ndarray]:
        seg.set_image(image)
        return seg.predict
    return start


def grabcut_method(image: np.ndarray) -> Callable[[list[Click]], np.ndarray]:
    """GrabCut at long side 480, seeded by the clicks (see the module docstring)."""
    h, w = image.shape[:2]
    s = min(1.0, GRABCUT_SIDE / max(h, w))
    small = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else image
    bgr = np.ascontiguousarray(small[..., ::-1])
    state = {"prev": None}

    def predict(clicks: list[Click]) -> np.ndarray:
        mask = np.full(bgr.shape[:2], cv2.GC_PR_BGD, np.uint8)
        if state["prev"] is not None:
            mask[state["prev"]] = cv2.GC_PR_FGD
        else:
            x0, y0, _ = clicks[0]
            cv2.circle(mask, (round(x0 * s), round(y0 * s)), int(0.1 * max(bgr.shape[:2])), cv2.GC_PR_FGD, -1)
        for x, y, positive in clicks:
            cv2.circle(mask, (round(x * s), round(y * s)), 3, cv2.GC_FGD if positive else cv2.GC_BGD, -1)
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        try:
            cv2.grabCut(bgr, mask, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
        except cv2.error:  # one sign of seeds only: nothing to model the other
            pass
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        state["prev"] = fg
        return cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return predict


def salient_method() -> Predictor:
    """Today's one-click tool: the salient-object mask, whatever the clicks."""
    from ..inference.infer import binarize, predict_saliency
    from ..models.weights import load_model

    model = load_model("saliency", "cpu")

    def start(image: np.ndarray) -> Callable[[list[Click]], np.ndarray]:
        mask = binarize(predict_saliency(model, image))
        return lambda clicks: mask
    return start


def evaluate(method: Predictor, samples: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """NoC@85, NoC@90, the share never reaching 0.90, IoU after 1 click, mIoU curve, ms per click."""
    curves, times = [], []
    for image, target in samples:
        ious, sec = run_protocol(method(image), target)
        curves.append(ious)
        times.append(sec)
    c = np.array(curves)
    return {"noc85": float(np.mean([noc(x, 0.85) for x in curves])),
            "noc90": float(np.mean([noc(x, 0.90) for x in curves])),
            "never90": float(np.mean(c.max(1) < 0.90)), "iou1": float(c[:, 0].mean()),
            "curve": c.mean(0).tolist(), "ms": 1000 * float(np.mean(times)), "n": len(samples)}


def load_set(name: str, limit: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, bool mask) pairs of a named figure-ground set, the first ``limit`` by name."""
    items = sorted(resolve(name), key=lambda it: it.image.name)[:limit]
    out = []
    for it in items:
        image = read_image(it.image)
        out.append((image, read_target(it, shape=image.shape[:2]) > 0))
    return out


def speed_at_1mp(method: Predictor, samples: list[tuple[np.ndarray, np.ndarray]], clicks: int = 10) -> float:
    """Milliseconds per click with the images resized to 1 megapixel (after ``set_image``)."""
    times = []
    for image, target in samples:
        s = (1e6 / (image.shape[0] * image.shape[1])) ** 0.5
        size = (round(image.shape[1] * s), round(image.shape[0] * s))
        big = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(target.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        _, sec = run_protocol(method(big), mask, max_clicks=clicks)
        times.append(sec)
    return 1000 * float(np.mean(times))


def _row(name: str, r: dict) -> str:
    return (f"  {name:<34} {r['n']:>4} {r['noc85']:>7.2f} {r['noc90']:>7.2f} {100 * r['never90']:>8.0f}% "
            f"{r['iou1']:>7.3f} {r['ms']:>8.0f}")


def main(argv: list[str] | None = None) -> int:
    """Print the NoC table per set; the last line compares with GrabCut on davis."""
    p = argparse.ArgumentParser(prog="cas-studio bench clicks", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default="clicks")
    p.add_argument("--sets", nargs="+", default=["davis", "sod:val"])
    p.add_argument("--limit", type=int, default=None, help="first N images of each set (default: all)")
    p.add_argument("--grabcut-every", type=int, default=4, help="GrabCut on every N-th image (0: none)")
    p.add_argument("--no-zoom", action="store_true", help="the click model without its zoom-in")
    args = p.parse_args(argv)
    ours, salient = click_method(args.weights, zoom=not args.no_zoom), salient_method()
    header = f"  {'method':<34} {'imgs':>4} {'NoC@85':>7} {'NoC@90':>7} {'never.90':>9} {'IoU@1':>7} {'ms/click':>8}"
    last = ""
    for name in args.sets:
        samples = load_set(name, args.limit)
        print(f"{name} ({len(samples)} objects, full resolution)")
        print(header)
        r = evaluate(ours, samples)
        print(_row("click model (" + str(args.weights) + ")", r))
        print("    mean IoU after 1/2/3/5/10/20 clicks: "
              + " / ".join(f"{r['curve'][k - 1]:.3f}" for k in (1, 2, 3, 5, 10, 20)))
        print(_row("salient object (clicks ignored)", evaluate(salient, samples)))
        if name == "davis":
            ms = speed_at_1mp(ours, samples[:5])
            print(f"  click model at 1 MP (5 frames resized, 10 clicks each, zoom-in included): {ms:.0f} ms per "
                  f"click, {ms / 60:.2f} of the 60 ms target")
        if args.grabcut_every:
            sub = samples[::args.grabcut_every]
            g, o = evaluate(lambda im: grabcut_method(im), sub), evaluate(ours, sub)
            print(_row(f"grabcut, every {args.grabcut_every}th image", g))
            print(_row("click model, the same images", o))
            if name == "davis":
                last = f"davis: NoC@90 {o['noc90']:.2f} vs GrabCut {g['noc90']:.2f}"
    if last:
        print(last)
    return 0
