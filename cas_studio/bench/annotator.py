"""Server-side time of over-segmentation and of each edit, at 1 and 4 megapixels.

Each over-segmentation line also prints its time relative to scikit-image's plain marker
watershed measured in the same run (a machine-independent ratio); each edit line times the whole
server-side step the app takes, through the annotation ``Session`` itself (the edit, the canvas
picture the browser gets, and the save into an annotation project: label map, proposal check and
sidecar, atomically). Targets:
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

from .. import annotation as ann


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
        from ..models.weights import load_model

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
    """Time each edit through the app's own path, :class:`~cas_studio.annotation.Session`: the
    edit, its atomic save, and the canvas picture the browser gets; on a ``megapixels`` MP image."""
    from ..annotation.session import Session
    from ..annotation.view import DISPLAY_PIXELS, picture
    from ..data.project import create_project
    from ..io import write_image

    side = int(1000 * megapixels ** 0.5)
    image = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    work = Path(tempfile.mkdtemp(prefix="cas-bench-annotate-"))
    session = Session(create_project(work / "project"))
    session.add_images([str(write_image(work / "astronaut.png", image))])
    session.oversegment(ann.DEFAULT_METHOD, granularity=0.8)
    labels = session.labels()
    ids, sizes = np.unique(labels, return_counts=True)
    big = int(ids[np.argmax(sizes)])
    ys, xs = np.nonzero(labels == big)
    s = side / 1000
    line = [(100 * s, 100 * s), (400 * s, 300 * s), (700 * s, 650 * s)]
    outline = [(int(x * s), int(y * s)) for x, y in [(300, 300), (700, 320), (680, 700), (320, 680)]]
    centre = (side // 2, side // 2)
    first = np.argwhere(labels != big)[0]  # a pixel of another region, for a merge click

    def selecting(x: int, y: int) -> Callable[[], None]:
        def prepare() -> None:
            session.deselect()
            session.click_region("merge", x, y)
        return prepare

    # (prepare, edit): prepare is not timed; each edit is undone (untimed) before the next repeat.
    edits = {
        "merge": (selecting(int(xs[0]), int(ys[0])),
                  lambda: session.click_region("merge", int(first[1]), int(first[0]))),
        "lasso": (session.deselect, lambda: session.lasso(outline)),
        "grow": (selecting(*centre), session.grow),
        "paint-to-merge": (session.deselect, lambda: session.stroke("merge", line, radius=15 * s)),
        "split": (session.deselect, lambda: session.click_region("split", int(xs[0]), int(ys[0]), parts=3)),
        "brush stroke": (session.deselect, lambda: session.stroke("new", line, radius=15 * s)),
        "erase": (session.deselect, lambda: session.stroke("erase", line, radius=15 * s)),
        "granularity": (session.deselect, lambda: session.set_granularity(0.4)),
    }
    lines = []
    for name, (prepare, edit) in edits.items():
        times = []
        for _ in range(repeat):
            prepare()
            edits_before = session.history.edits
            t0 = time.perf_counter()
            edit()
            picture(session, DISPLAY_PIXELS)
            times.append((time.perf_counter() - t0) * 1000)
            if session.history.edits == edits_before:
                raise RuntimeError(f"bench annotate: the {name} edit changed nothing")
            session.undo()
        ms = float(np.median(times))
        lines.append(f"edit {name} {megapixels}MP: {ms:.0f} ms, {ms / 300:.2f} of target")
    return lines


def large(megapixels: tuple[float, ...] = (12.0, 39.9)) -> list[str]:
    """The annotation session on large photos: over-segmentation (with its save), the canvas picture,
    a select + merge (with its save), regions and peak memory (``--large``)."""
    import resource

    from ..annotation.session import Session
    from ..annotation.view import DISPLAY_PIXELS, picture
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
        shown = picture(s, DISPLAY_PIXELS)
        t2 = time.perf_counter()
        s.click_region("merge", w // 40, h // 40)
        t3 = time.perf_counter()
        picture(s, DISPLAY_PIXELS)  # with a region selected: the grow preview is drawn too
        t4 = time.perf_counter()
        s.click_region("merge", w // 2, h // 2)
        t5 = time.perf_counter()
        lines.append(f"large {mp:g}MP ({w}x{h}): oversegment and save {t1 - t0:.1f} s, canvas "
                     f"{shown.shape[1]}x{shown.shape[0]} in {1000 * (t2 - t1):.0f} ms (with a selection and its "
                     f"grow preview {1000 * (t4 - t3):.0f} ms), select + merge + save "
                     f"{1000 * ((t3 - t2) + (t5 - t4)):.0f} ms, {len(np.unique(s.labels()))} regions, peak RSS "
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
