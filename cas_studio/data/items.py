"""A training sample: an image file and where its region map comes from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: How an item's target is read: binary mask (PNG, any >0 is foreground), JPEG mask (> 127),
#: PNG label map, BSDS .mat (one of several human segmentations), or an annotation-project label
#: map (0 = unlabelled and regions nobody confirmed read as IGNORE; with ``annotation_rest`` the
#: unconfirmed regions become one "rest" region instead).
TARGET_KINDS = ("mask", "jpeg_mask", "label_map", "bsds_mat", "annotation", "annotation_rest")
#: Targets of annotation projects: class-free regions, with nothing recording which one is salient.
PROJECT_KINDS = ("annotation", "annotation_rest")
#: Region id of ignored pixels in the targets returned by :func:`cas_studio.data.read_target`.
IGNORE = -1


@dataclass(frozen=True)
class Item:
    """One training sample: an image file and its region-map file."""

    image: Path
    target: Path
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}")


def class_free(items) -> bool:
    """Whether every one of ``items`` (at least one) is an annotation project's class-free regions."""
    items = list(items)
    return bool(items) and all(it.kind in PROJECT_KINDS for it in items)
