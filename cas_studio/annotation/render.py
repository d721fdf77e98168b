"""Drawing label maps: region colours, boundaries and the overlay the Annotate tab shows."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..io import to_rgb8
from ..colours import colorize
from ..metrics import boundary_map


def boundaries(labels: np.ndarray) -> np.ndarray:
    """Boolean HxW map of pixels whose right or lower neighbour is in another region."""
    return boundary_map(labels)


def matched_colours(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each region of ``labels`` given the id of the ``reference`` region it overlaps most (HxW).

    Colouring two segmentations by the ids this returns (same reference) paints regions that match
    the same reference region alike, so a before / after comparison shows what changed.
    Reference ids below 1 (unlabelled, ignored) never win while another overlaps.
    """
    labels, reference = np.asarray(labels, np.int64), np.asarray(reference, np.int64)
    ref = np.where(reference > 0, reference, 0)
    n, m = int(labels.max()) + 1, int(ref.max()) + 1
    counts = np.bincount(labels.ravel() * m + ref.ravel(), minlength=n * m).reshape(n, m)
    counts[:, 0] = np.where(counts[:, 1:].sum(1) > 0, 0, counts[:, 0])
    return np.take(counts.argmax(1), labels)


#: Above this many proposed regions their outlines are drawn faintly (at :data:`FAINT_INK` of full
#: contrast); a person reads the photo at the finest cut, and the outlines at a coarse one.
FAINT_ABOVE = 300
FAINT_INK = 0.2


def overlay(image: np.ndarray, labels: np.ndarray, *, alpha: float = 0.45,
            highlight: Sequence[int] = (), muted: Sequence[int] = (), colour_ids: np.ndarray | None = None) -> np.ndarray:
    """The image blended with region colours, boundaries in black or white (whichever contrasts with
    the image there, so they show on sky and shadow alike) and ``highlight`` regions in yellow;
    ``muted`` regions (e.g. proposed, not yet confirmed) keep the plain image, outlined only (faintly
    when there are more than :data:`FAINT_ABOVE` of them).
    ``colour_ids`` (HxW), when given, chooses the colours (e.g. :func:`matched_colours`) while the
    outlines stay those of ``labels``."""
    rgb = np.ascontiguousarray(to_rgb8(image))
    labels = np.asarray(labels)
    # uint8 blending and per-id lookup tables keep a 4 MP overlay near 50 ms (float maths and
    # np.isin over the pixels took 270 ms).
    n = int(labels.max()) + 1
    if colour_ids is None:  # touching coloured regions never share a colour; muted ones show the photo
        coloured = np.flatnonzero(np.bincount(labels.ravel(), minlength=n))
        if len(muted):
            coloured = np.setdiff1d(coloured, np.asarray(list(muted), np.int64))
        colours = colorize(labels, distinct=coloured, image=rgb)
    else:  # matched colours: the same reference id looks the same in every view compared
        colours = colorize(colour_ids)
    out = cv2.addWeighted(rgb, 1.0 - alpha, colours, alpha, 0.0)

    def pixels_of(ids: Sequence[int]) -> np.ndarray:
        table = np.zeros(n, bool)
        ids = np.asarray(list(ids), np.int64)
        table[ids[(ids >= 0) & (ids < n)]] = True
        return np.take(table, labels)

    # cv2.copyTo with a uint8 mask: 2 ms at 4 MP where np.copyto(where=HxWx1) took 15-20 ms.
    muted_px = pixels_of(muted) if len(muted) else None
    if muted_px is not None:
        cv2.copyTo(rgb, muted_px.view(np.uint8), out)
    if len(highlight):
        yellow = cv2.add(rgb // 2, np.array([127, 115, 0, 0], np.float64))
        cv2.copyTo(yellow, pixels_of(highlight).view(np.uint8), out)
    edge = boundaries(labels)
    luma = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[edge]
    plain = out.copy() if len(muted) > FAINT_ABOVE else None
    out[edge] = np.where(luma[:, None] < 128, 255, 0).astype(np.uint8)
    if plain is not None:
        # Hundreds of proposed superpixels outlined in full make a mesh, not a picture: their
        # outlines are drawn faintly; an edited, confirmed or selected region keeps a full one.
        # Whole-image cv2 blending and one masked copy: +25 ms at 4 MP, where indexing took +120.
        faint = cv2.addWeighted(out, FAINT_INK, plain, 1.0 - FAINT_INK, 0.0)
        cv2.copyTo(faint, (edge & muted_px).view(np.uint8), out)
    return out
