"""Videos in an annotation project: frames added as an ordered sequence, and propagation that
fills every unconfirmed frame's proposal from the confirmed ones.

What a person confirmed is what trains: on each frame with confirmed regions, those regions are
the annotation and everything else is ignored. Frames with no confirmed region receive the
propagated label map as their *proposal* (every region proposed, none confirmed), so the usual
tools correct them and confirming makes them training data for the next round. A frame with any
confirmed region is never written, and a frame another session saved meanwhile is skipped (the
save names the version it was based on).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.project import EditConflict, Project
from ..io import read_image, write_image
from .frames import Frames
from .propagation import PropagateOptions, PropagationError, Progress, propagate

#: Frames kept from a video added to a project unless the caller says otherwise.
MAX_VIDEO_FRAMES = 500


def add_video(project: Project, video: str | os.PathLike, *, every: int = 1,
              max_frames: int = MAX_VIDEO_FRAMES) -> list[Path]:
    """Add every ``every``-th frame of ``video`` (at most ``max_frames``) to ``project`` as a sequence
    named after the file; frames are stored as ``<stem>_<index>.png`` (lossless)."""
    if every < 1 or max_frames < 1:
        raise ValueError(f"every and max_frames must be >= 1, got {every} and {max_frames}")
    frames = Frames.open(video)
    stem = Path(video).stem
    with tempfile.TemporaryDirectory(prefix="cas-video-") as tmp:
        paths = []
        for i, frame in enumerate(frames):
            if i % every:
                continue
            if len(paths) == max_frames:
                break
            paths.append(write_image(Path(tmp) / f"{stem}_{i:05d}.png", frame))
        return project.add_sequence(Path(video).name, paths)


@dataclass
class ProjectPropagation:
    """What a project propagation did: frames learned from, frames filled, frames left alone."""

    sequence: str
    learned_from: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # saved by another session meanwhile
    stopped: bool = False

    def summary(self) -> str:
        """One line, e.g. ``"clip.mp4: learned from 1 frame, filled 7 (0 skipped)"``."""
        n = len(self.learned_from)
        line = (f"{self.sequence}: learned from {n} confirmed frame{'s' * (n != 1)}, "
                f"filled {len(self.filled)} unconfirmed frame{'s' * (len(self.filled) != 1)}")
        if self.skipped:
            line += f"; {len(self.skipped)} left alone (another session saved them)"
        return line + (" (stopped)" if self.stopped else "")


def propagate_sequence(project: Project, sequence: str, *, options: PropagateOptions = PropagateOptions(),
                       progress: Callable[[Progress], None] | None = None,
                       should_stop: Callable[[], bool] | None = None) -> ProjectPropagation:
    """Fine-tune on the confirmed regions of ``sequence``'s frames and give every frame with no
    confirmed region the propagated labels as its proposal.

    Raises:
        PropagationError: no frame of the sequence has a confirmed region, or fewer than two
            confirmed regions in all.
        KeyError: no sequence of that name.
    """
    frames = project.sequences()[sequence]
    annotations, versions = {}, {}
    for i, path in enumerate(frames):
        ids = project.confirmed_ids(path)
        versions[i] = project.version(path)
        if ids is not None and len(ids):
            labels = project.load_labels(path)
            annotations[i] = np.where(np.isin(labels, ids), labels, 0)  # unconfirmed: not trained on
    if not annotations:
        raise PropagationError(f"{sequence}: no frame has a confirmed region yet: annotate and confirm one "
                               "frame, then propagate")
    report = ProjectPropagation(sequence, learned_from=[frames[i].name for i in sorted(annotations)])
    source = Frames([p.stem for p in frames], lambda i: read_image(frames[i]), source=sequence)
    stop = should_stop or (lambda: False)
    for i, labels in propagate(source, annotations, options=options, ignore=0, progress=progress,
                               should_stop=should_stop):
        if i in annotations:
            continue
        path = frames[i]
        try:  # labels and proposal alike: every region proposed, committed as one record
            project.save_labels(path, labels, proposal=labels, method="propagate",
                                params={"model": options.model, "from": report.learned_from},
                                expected_version=versions[i])
            report.filled.append(path.name)
        except EditConflict:
            report.skipped.append(path.name)
    report.stopped = bool(stop())
    return report

