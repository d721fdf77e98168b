"""``cas-studio propagate FRAMES --masks ANNOTATED --out OUT``: label every frame from a few annotated ones.

FRAMES is a folder of images (natural name order) or a video file (mp4 / avi / mov; its frames
are named 00000, 00001, ... by 0-based index). ANNOTATED is a folder of PNG label maps named like
the frames they annotate (``bear_00000.png`` for ``bear_00000.jpg``; ``00012.png`` or ``12.png``
for a video's frame 12): binary 0/255 masks or region ids. OUT receives one PNG per frame, named
like the frame, with the annotations' own values (8-bit when every id fits, else 16-bit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..io import IMAGE_SUFFIXES, ImageError, read_label_map, write_image, write_label_map
from .frames import Frames
from .propagation import PropagateOptions, PropagationError, propagate


def read_annotations(folder: str | Path, frames: Frames) -> dict[int, np.ndarray]:
    """``{frame index: label map}`` from a folder of label maps named like the frames.

    Raises:
        ValueError: the folder holds no label map, or one whose name matches no frame.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"annotations folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no annotated frame (PNG label maps named like the frames)")
    out = {}
    for path in files:
        index = frames.index_of(path.stem)
        if index is None:
            raise ValueError(f"{path.name}: matches no frame of {frames.source} (frames are named like "
                             f"{', '.join(frames.names[:2])}, ...)")
        out[index] = read_label_map(path)
    return out


def write_labels(path: Path, labels: np.ndarray) -> Path:
    """A label map as an 8-bit PNG when every id fits (a 0/255 mask stays one), else 16-bit."""
    labels = np.asarray(labels)
    if labels.size and 0 <= labels.min() and labels.max() <= 255:
        return write_image(path, labels.astype(np.uint8))
    return write_label_map(path, labels)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``cas-studio propagate``."""
    d = PropagateOptions()
    p = argparse.ArgumentParser(prog="cas-studio propagate", description=__doc__.split("\n\n")[0])
    p.add_argument("frames", metavar="FRAMES", help="a folder of frames or a video file")
    p.add_argument("--masks", required=True, metavar="ANNOTATED", help="folder of label maps named like their frames")
    p.add_argument("--out", required=True, metavar="OUT", help="folder for one label map per frame")
    p.add_argument("--seconds", type=float, default=d.seconds, help=f"fine-tune time budget (default {d.seconds:g})")
    p.add_argument("--model", default=d.model, help=f"base model, a shipped name or a .safetensors path (default {d.model})")
    p.add_argument("--size", type=int, default=d.size, help=f"working long side in pixels (default {d.size})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"most fine-tune steps (default {d.steps})")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``cas-studio propagate``; 0 on success, 2 with a message on bad input."""
    args = build_parser().parse_args(argv)
    options = PropagateOptions(model=args.model, seconds=args.seconds, size=args.size, steps=args.steps,
                               device=args.device)
    try:
        frames = Frames.open(args.frames)
        annotations = read_annotations(args.masks, frames)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        written = 0
        for index, labels in propagate(frames, annotations, options=options):
            write_labels(out / f"{frames.names[index]}.png", labels)
            written += 1
    except (PropagationError, ImageError, ValueError, FileNotFoundError) as err:
        print(f"cas-studio propagate: {err}", file=sys.stderr)
        return 2
    print(f"wrote {written} label maps to {out} ({len(annotations)} annotated, {written - len(annotations)} propagated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
