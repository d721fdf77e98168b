"""Ordered frames from a folder of images or a video file, read lazily.

A 1,000-frame 1080p video is 6 GB of RGB: nothing here holds more than one frame at a time.
Frames are named so that outputs and annotations can be matched to them: a folder's frames by
their file stems (in name order), a video's frames by their 0-based index, ``00000``, ``00001``, ...
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..io import ImageError, list_images, read_image, to_rgb8

#: Video containers read through OpenCV's bundled FFmpeg.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _natural_key(name: str) -> list:
    # "frame10" after "frame9", as a person numbers frames without zero padding
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class Frames:
    """An ordered, lazily read sequence of RGB frames: ``len``, iteration, ``names``.

    Use :meth:`open` for a path; ``Frames.from_arrays`` wraps frames already in memory.
    """

    def __init__(self, names: list[str], read: callable, iterate: callable | None = None,
                 source: str = "frames") -> None:
        self.names = list(names)
        self.source = source
        self._read = read
        self._iterate = iterate

    @classmethod
    def open(cls, path: str | os.PathLike) -> Frames:
        """Frames of a folder of images (natural name order) or of a video file (mp4 / avi / mov)."""
        path = Path(path)
        if path.is_dir():
            files = sorted(list_images(path), key=lambda p: _natural_key(p.name))
            stems = [p.stem for p in files]
            if len(set(stems)) != len(stems):
                dup = sorted({s for s in stems if stems.count(s) > 1})
                raise ValueError(f"{path}: several frames share a name ({', '.join(dup[:3])}); "
                                 "frames are matched to annotations by name")
            return cls(stems, lambda i: read_image(files[i]), source=str(path))
        if not path.is_file():
            raise FileNotFoundError(f"no such folder or video: {path}")
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{path}: not a folder of frames or a video ({', '.join(VIDEO_SUFFIXES)})")
        count = _count_frames(path)
        names = [f"{i:05d}" for i in range(count)]
        return cls(names, lambda i: _read_video_frame(path, i), lambda: _iterate_video(path), source=str(path))

    @classmethod
    def from_arrays(cls, frames: list[np.ndarray], names: list[str] | None = None) -> Frames:
        """Frames already in memory (HxWx3 uint8, or anything :func:`cas_studio.io.to_rgb8` takes)."""
        names = names if names is not None else [f"{i:05d}" for i in range(len(frames))]
        if len(names) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(names)} names")
        return cls(names, lambda i: to_rgb8(frames[i], source=f"frame {i}"), source="arrays")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} of {len(self)}")
        return self._read(index % len(self))

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._iterate is not None:
            yield from self._iterate()
        else:
            for i in range(len(self)):
                yield self._read(i)

    def index_of(self, name: str) -> int | None:
        """The index of the frame called ``name`` (a video's frames also answer to a bare integer)."""
        try:
            return self.names.index(name)
        except ValueError:
            pass
        if self._iterate is not None and name.isdigit() and int(name) < len(self):
            return int(name)
        return None


def _count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ImageError(f"{path}: cannot open this video (corrupt, or a codec OpenCV lacks)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:  # some containers do not record it: count by decoding (grab skips the colour conversion)
            count = 0
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if count == 0:
        raise ImageError(f"{path}: the video has no frames")
    return count


def _iterate_video(path: Path) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield np.ascontiguousarray(bgr[..., ::-1])
    finally:
        cap.release()


def _read_video_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        # Seeking lands on keyframes in some codecs: decode forward from the start instead, exact.
        for _ in range(index):
            if not cap.grab():
                break
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ImageError(f"{path}: cannot decode frame {index}")
    return np.ascontiguousarray(bgr[..., ::-1])
