"""What the Annotate canvas shows of a session: the picture, at most a screen's worth of pixels.

The session holds the state; this module draws it (the image, its regions, the selection, the
grow preview and a pending click object) and maps between the picture's pixels and the image's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..io import read_image
from . import render

if TYPE_CHECKING:
    from .session import Session

#: Most pixels the canvas is sent: larger photos are shown downscaled (about a screen's worth), their
#: edits still made at full size.
DISPLAY_PIXELS = 2_100_000


#: The colour of the grow preview.
GROW_TINT = (255, 0, 200)


def _tint(out: np.ndarray, image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], weight: float) -> None:
    """Blend ``colour`` into ``out`` where ``mask`` is set, over ``image``; only within the mask's
    bounding box (a preview is usually a small part of the picture, redrawn after every action)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    part = image[box]
    blend = cv2.addWeighted(part, 1 - weight, np.full_like(part, colour), weight, 0.0)
    np.copyto(out[box], blend, where=mask[box].astype(bool)[..., None])



def display_scale(s: Session, max_pixels: int | None = None) -> float:
    """How many image pixels one pixel of :func:`picture` (``max_pixels``) spans (1: full size)."""
    if s.image is None:
        s.image = read_image(s.current())
    h, w = s.image.shape[:2]
    return 1.0 if not max_pixels or h * w <= max_pixels else (h * w / max_pixels) ** 0.5


def _display_size(s: Session, scale: float) -> tuple[int, int]:
    h, w = s.image.shape[:2]
    return max(1, round(w / scale)), max(1, round(h / scale))


def _shown(s: Session, mask_or_labels: np.ndarray, scale: float) -> np.ndarray:
    """A label map or mask at the picture's size. Pixel centres (NEAREST_EXACT), as the canvas
    maps a click: a shown pixel is the region under its centre, the one a click on it selects."""
    if scale == 1.0:
        return mask_or_labels
    return cv2.resize(mask_or_labels.astype(np.int32), _display_size(s, scale), interpolation=cv2.INTER_NEAREST_EXACT)


def shown_labels(s: Session, max_pixels: int | None = None) -> np.ndarray:
    """The label map at :func:`picture`'s size (``max_pixels``): each shown pixel's region id."""
    labels = s.labels()
    return _shown(s, labels, display_scale(s, max_pixels))


def picture(s: Session, max_pixels: int | None = None) -> np.ndarray:
    """The canvas: the image with its regions, the selection, and a pending click object; at
    most ``max_pixels`` (downscaled by :func:`display_scale`, so a 40 MP photo is drawn and sent
    as a screen's worth, not in full)."""
    scale = display_scale(s, max_pixels)
    size = _display_size(s, scale)
    image = s.image if scale == 1.0 else cv2.resize(s.image, size, interpolation=cv2.INTER_AREA)

    def shown(mask_or_labels: np.ndarray) -> np.ndarray:
        return _shown(s, mask_or_labels, scale)

    if s.history is None and s.pending.mask is None:
        return image
    labels = shown(s.history.current) if s.history is not None else np.zeros(image.shape[:2], np.int32)
    out = render.overlay(image, labels, highlight=s.selected, muted=s.proposed())
    preview = s.grow_preview_if_ready()
    if preview is not None:  # what G would add to the selection, tinted before it is applied
        # Magenta: rare in photos, so the tint shows on wood and skin where orange vanished.
        _tint(out, image, shown(preview), GROW_TINT, 0.5)
    if s.pending.mask is not None:
        _tint(out, image, shown(s.pending.mask), (0, 220, 255), 0.55)
        r = max(3, round(0.006 * max(image.shape[:2])))
        for x, y, positive in s.pending.clicks:
            centre = (int(x / scale), int(y / scale))
            cv2.circle(out, centre, r + 1, (255, 255, 255), -1)
            cv2.circle(out, centre, r, (0, 200, 0) if positive else (220, 0, 0), -1)
    return out
