"""Server-side time of over-segmentation and of each edit on a 1-megapixel image.

Each over-segmentation line also prints its time relative to scikit-image's plain marker
watershed measured in the same run (a machine-independent ratio); each edit line times the whole
server-side step (the edit, the overlay the browser gets, and the atomic save of the label map).
Targets: over-segmentation <= 1 s per megapixel with any method, each edit <= 300 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from skimage import data, filters, segmentation

from .. import annotate as ann
from ..io import write_label_map


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def run(*, repeat: int = 3) -> list[str]:
    """Return the result lines."""
    image = cv2.resize(data.astronaut(), (1000, 1000), interpolation=cv2.INTER_CUBIC)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    base = _median_ms(lambda: segmentation.watershed(filters.sobel(gray), markers=300), repeat)
    lines = [f"baseline skimage.watershed 1.0MP: {base:.0f} ms"]
    methods = ["watershed", "slic", "felzenszwalb"]
    model = None
    try:
        from ..weights import load_model

        model = load_model("regions", device="cpu")
        methods.append("model")
    except (FileNotFoundError, ValueError):
        lines.append("oversegment model: skipped (no shipped regions model)")
    for m in methods:
        ms = _median_ms(lambda: ann.oversegment(image, m, model=model), repeat)
        lines.append(f"oversegment {m} 1.0MP: {ms:.0f} ms, {ms / base:.2f}x skimage, {ms / 1000:.2f} of target")
    labels = ann.oversegment(image, "watershed")
    ids, sizes = np.unique(labels, return_counts=True)
    big = int(ids[np.argmax(sizes)])
    stroke = ann.stroke_mask(labels.shape, [(100, 100), (400, 300), (700, 650)], radius=15)
    out = Path(tempfile.mkdtemp()) / "labels.png"

    def step(edit: Callable[[], np.ndarray]) -> Callable[[], None]:
        def run_once() -> None:
            new = edit()
            ann.overlay(image, new, highlight=[big])
            write_label_map(out, new)
        return run_once

    edits = {
        "merge": lambda: ann.merge(labels, [int(ids[0]), int(ids[1])]),
        "split": lambda: ann.split(labels, image, big, parts=3),
        "brush stroke": lambda: ann.paint(labels, stroke),
        "erase": lambda: ann.erase(labels, stroke),
    }
    for name, fn in edits.items():
        ms = _median_ms(step(fn), repeat)
        lines.append(f"edit {name} 1.0MP: {ms:.0f} ms, {ms / 300:.2f} of target")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the annotation benchmark (``--clicks``: the simulated annotator, :mod:`.clicks`)."""
    argv = list(argv or [])
    if "--clicks" in argv:
        from .clicks import main as clicks

        argv.remove("--clicks")
        return clicks(argv)
    parser = argparse.ArgumentParser(prog="cas-studio bench annotate", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for line in run(repeat=args.repeat):
        print(line, flush=True)
    return 0
