"""Label-free region annotation: over-segment, edit, confirm, undo, and the session that drives them.

The rooms: :mod:`~cas_studio.annotation.oversegmentation` (watershed / SLIC / Felzenszwalb / model and
the region hierarchy of :mod:`~cas_studio.annotation.hierarchy`), :mod:`~cas_studio.annotation.edits`
(pure functions on label maps), :mod:`~cas_studio.annotation.history` (bounded undo),
:mod:`~cas_studio.annotation.render` (colours and overlays), :mod:`~cas_studio.annotation.tools`
(what a click or a stroke does) and :mod:`~cas_studio.annotation.session` (one person annotating one
project). The names below are importable from here; :class:`Session` loads on first use.

Example:
    >>> import numpy as np
    >>> from cas_studio import annotation as ann
    >>> labels = np.array([[1, 1, 2], [3, 3, 2]], np.int32)
    >>> ann.merge(labels, [1, 2]).tolist()
    [[1, 1, 1], [3, 3, 1]]
"""

from __future__ import annotations

from .._lazy import lazy_getattr
from ..constants import MAX_ID, UNLABELLED
from .edits import (erase, merge, merge_under, paint, recut, inside_outline, regranulate, region_at, split,
                    stroke_mask, untouched_regions)
from .history import History
from .oversegmentation import (DEFAULT_GRANULARITY, DEFAULT_METHOD, DEFAULTS, METHODS, build_regions, oversegment,
                          relabel, salient_object)
from .render import boundaries, colorize, matched_colours, overlay

_LAZY = {name: "session" for name in ("Session", "AnnotationError", "SaveConflict", "PendingObject")}
__all__ = ["MAX_ID", "UNLABELLED", "erase", "merge", "merge_under", "paint", "recut", "inside_outline",
           "regranulate", "region_at", "split", "stroke_mask", "untouched_regions", "History",
           "DEFAULT_GRANULARITY", "DEFAULT_METHOD", "DEFAULTS", "METHODS", "build_regions", "oversegment",
           "relabel", "salient_object", "boundaries", "colorize", "matched_colours", "overlay",
           "Session", "AnnotationError", "SaveConflict", "PendingObject"]

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
