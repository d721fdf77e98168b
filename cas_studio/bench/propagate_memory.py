"""``cas-studio bench propagate-memory``: a long 1080p video is labelled in bounded memory.

A synthetic 1920x1080 video (a textured disc moving over a textured background, written with
OpenCV) is propagated from its first frame's mask, once with ``--short`` frames and once with
``--frames`` frames, each in a fresh process. Printed per run: peak resident memory (the process's
``ru_maxrss``), seconds, frames per second of labelling, and J of the disc on the labelled frames
(the video's true masks are known). The last line is the ratio of the long run's peak memory to the
short run's, measured in the same invocation: near 1 means memory does not grow with the video's
length.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

#: Frame size of the synthetic video (1080p).
SIZE = (1920, 1080)


def disc_mask(index: int, frames: int) -> np.ndarray:
    """The disc's true mask on frame ``index`` (HxW bool): it crosses the frame left to right."""
    w, h = SIZE
    x = int(w * (0.2 + 0.6 * index / max(1, frames - 1)))
    y = int(h * (0.5 + 0.15 * np.sin(index / 15)))
    return cv2.circle(np.zeros((h, w), np.uint8), (x, y), h // 6, 1, -1).astype(bool)


def write_video(path: Path, frames: int) -> Path:
    """The synthetic video: a noisy green-brown background and a red-textured disc."""
    w, h = SIZE
    rng = np.random.default_rng(0)
    background = np.clip(rng.normal((60, 110, 70), 25, (h // 4, w // 4, 3)), 0, 255).astype(np.uint8)
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_CUBIC)
    texture = np.clip(rng.normal((40, 60, 200), 30, (h // 4, w // 4, 3)), 0, 255).astype(np.uint8)
    texture = cv2.resize(texture, (w, h), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video here")
    try:
        for i in range(frames):
            frame = background.copy()
            mask = disc_mask(i, frames)
            frame[mask] = texture[mask]
            writer.write(frame)  # BGR, as OpenCV writes
    finally:
        writer.release()
    return path


def run_once(frames: int, seconds: float) -> dict:
    """Propagate a ``frames``-long synthetic video in this process; peak memory, time and J."""
    from ..video import Frames, PropagateOptions, propagate

    with tempfile.TemporaryDirectory() as tmp:
        video = Frames.open(write_video(Path(tmp) / "disc.mp4", frames))
        first = disc_mask(0, frames).astype(np.uint8) * 255
        t0 = time.perf_counter()
        scores, labelled_s, every = [], None, max(1, frames // 100)  # J on about 100 frames: scoring all would dominate
        for index, labels in propagate(video, {0: first}, options=PropagateOptions(seconds=seconds)):
            if labelled_s is None:
                labelled_s = time.perf_counter()  # the fine-tune is over when the first frame comes
            if index and index % every == 0:
                truth, mine = disc_mask(index, frames), labels == 255
                scores.append((truth & mine).sum() / max(1, (truth | mine).sum()))
        total = time.perf_counter() - t0
    return {"frames": frames, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": total, "fps": frames / max(1e-9, time.perf_counter() - labelled_s) if labelled_s else 0.0,
            "J": float(np.mean(scores)) if scores else float("nan")}


def main(argv: list[str] | None = None) -> int:
    """Run the short and the long video, each in its own process; print both and the memory ratio."""
    p = argparse.ArgumentParser(prog="cas-studio bench propagate-memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=1000, help="the long video's frames")
    p.add_argument("--short", type=int, default=100, help="the short video's frames (the baseline)")
    p.add_argument("--seconds", type=float, default=10.0, help="fine-tune budget of each run")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a child run
    args = p.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_once(args.one, args.seconds)))
        return 0
    rows = []
    for n in (args.short, args.frames):
        child = subprocess.run([sys.executable, "-m", "cas_studio.cli", "bench", "propagate-memory", "--one", str(n),
                                "--seconds", str(args.seconds)], capture_output=True, text=True)
        if child.returncode != 0:
            print(child.stdout + child.stderr, file=sys.stderr)
            return 1
        row = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{n} frames at {SIZE[0]}x{SIZE[1]}: peak memory {row['peak_mb']:.0f} MB, {row['seconds']:.0f} s "
              f"({row['fps']:.1f} frames/s labelled), J {row['J']:.3f}", flush=True)
    print(f"peak memory {rows[1]['frames']} / {rows[0]['frames']} frames: {rows[1]['peak_mb'] / rows[0]['peak_mb']:.2f}x")
    return 0
