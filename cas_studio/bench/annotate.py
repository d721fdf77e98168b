"""Server-side time of over-segmentation and of each edit, at 1 and 4 megapixels.

Each over-segmentation line also prints its time relative to scikit-image's plain marker
watershed measured in the same run (a machine-independent ratio); each edit line times the whole
server-side step the app takes (the edit, the overlay the browser gets, and the save into an
annotation project: label map, proposal check and sidecar, atomically). Targets:
over-segmentation <= 1 s per megapixel with any method, each edit round trip <= 300 ms at 4 MP.
``--clicks`` runs the simulated annotator instead (:mod:`cas_studio.bench.clicks`).
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
from ..grouping import coverage


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
    for megapixels in (1, 4):
        lines += _edits(megapixels, repeat)
    return lines


def _edits(megapixels: int, repeat: int) -> list[str]:
    """Time each edit as the app's save path does it, on a project image of ``megapixels`` MP."""
    from ..data.project import create_project
    from ..io import write_image

    side = int(1000 * megapixels ** 0.5)
    image = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    work = Path(tempfile.mkdtemp(prefix="cas-bench-annotate-"))
    project = create_project(work / "project")
    (path,) = project.add_images([write_image(work / "astronaut.png", image)])
    hierarchy = ann.build_regions(image)
    labels = hierarchy.cut(hierarchy.regions_at(0.8))
    project.save_proposal(path, labels)
    project.save_labels(path, labels)  # the first save decodes and hashes the image, as opening does
    ids, sizes = np.unique(labels, return_counts=True)
    big = int(ids[np.argmax(sizes)])
    s = side / 1000
    stroke = ann.stroke_mask(labels.shape, [(int(100 * s), int(100 * s)), (int(400 * s), int(300 * s)),
                                            (int(700 * s), int(650 * s))], radius=int(15 * s))

    def step(edit: Callable[[], np.ndarray]) -> Callable[[], None]:
        def run_once() -> None:
            new = edit()
            proposed = ann.untouched_regions(new, labels)
            ann.overlay(image, new, highlight=[big], muted=proposed)
            project.save_labels(path, new)
        return run_once

    outline = (np.array([(300, 300), (700, 320), (680, 700), (320, 680)]) * s).astype(np.int32)
    here = int(labels[side // 2, side // 2])
    sp = hierarchy.superpixels

    def lasso() -> np.ndarray:  # as Session.lasso
        return ann.merge(labels, ann.regions_inside(labels, outline))

    def grow() -> np.ndarray:  # as Session.grow: the region takes its next ancestor in the hierarchy
        node = hierarchy.ancestor(np.flatnonzero(coverage(labels == here, sp, hierarchy.finest) > 0.5))
        return ann.paint(labels, np.isin(sp, node), here)

    edits = {
        "merge": lambda: ann.merge(labels, [int(ids[0]), int(ids[1])]),
        "lasso": lasso,
        "grow": grow,
        "paint-to-merge": lambda: ann.merge_under(labels, stroke),
        "split": lambda: ann.split(labels, image, big, parts=3),
        "brush stroke": lambda: ann.paint(labels, stroke),
        "erase": lambda: ann.erase(labels, stroke),
        "granularity": lambda: ann.regranulate(labels, labels, hierarchy.cut(hierarchy.regions_at(0.4)))[0],
    }
    return [f"edit {name} {megapixels}MP: {(ms := _median_ms(step(fn), repeat)):.0f} ms, {ms / 300:.2f} of target"
            for name, fn in edits.items()]


def large(megapixels: tuple[float, ...] = (12.0, 39.9)) -> list[str]:
    """The annotation session on large photos: over-segmentation (with its save), the canvas picture,
    a select + merge (with its save), regions and peak memory (``--large``)."""
    import resource

    from ..annotation import Session
    from ..data.project import create_project
    from ..io import write_image

    lines = []
    work = Path(tempfile.mkdtemp(prefix="cas-bench-large-"))
    for mp in megapixels:
        w = int((mp * 1e6 * 4 / 3) ** 0.5)
        h = int(mp * 1e6 / w)
        image = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_LINEAR)
        s = Session(create_project(work / f"p{mp:g}"))
        s.add_images([str(write_image(work / f"big{mp:g}.jpg", image))])
        t0 = time.perf_counter()
        s.oversegment("felzenszwalb")
        t1 = time.perf_counter()
        picture = s.picture(2_100_000)
        t2 = time.perf_counter()
        s.click_region("select / merge", w // 40, h // 40)
        t_select = time.perf_counter()
        s.picture(2_100_000)  # with a region selected: the grow preview is drawn too
        t_shown = time.perf_counter()
        s.click_region("select / merge", w // 2, h // 2)
        t3 = time.perf_counter()
        lines.append(f"large {mp:g}MP ({w}x{h}): oversegment and save {t1 - t0:.1f} s, canvas "
                     f"{picture.shape[1]}x{picture.shape[0]} in {1000 * (t2 - t1):.0f} ms (with a selection and its "
                     f"grow preview {1000 * (t_shown - t_select):.0f} ms), select + merge + save "
                     f"{1000 * (t3 - t2 - (t_shown - t_select)):.0f} ms, {len(np.unique(s.labels()))} regions, peak RSS "
                     f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
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
    parser.add_argument("--large", action="store_true", help="the session on 12 and 39.9 MP photos instead")
    args = parser.parse_args(argv)
    for line in (large() if args.large else run(repeat=args.repeat)):
        print(line, flush=True)
    return 0
