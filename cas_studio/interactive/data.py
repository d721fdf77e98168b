"""Training objects for the click model: one (image, object mask) pair per sample.

Objects come from four kinds of source, drawn with fixed odds per sample:

* ``duts``: a DUTS-TR salient-object mask, whole or one of its connected parts;
* ``bsds``: one human region of a BSDS500 train segmentation (class-free objects: any region a
  person drew), of 2-80% of the image;
* ``horses``: a Weizmann horse;
* ``composite``: two or three DUTS objects pasted onto another DUTS image at smaller scales; the
  target is one of them (objects beside objects, as in video frames).

Each sample is a random crop (55-100% of each side, so the aspect changes a little) resized to
``size`` x ``size``, flipped half the time, with colour jitter and sometimes a blur.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset

from ..data.sources import Item, read_target
from ..data.transforms import _jitter
from ..io import read_image

#: Default odds of each kind of object.
ODDS = {"duts": 0.5, "bsds": 0.2, "horses": 0.1, "composite": 0.2}


def crop_resize(image: np.ndarray, mask: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random crop that keeps part of the object, resized to ``size`` x ``size``."""
    h, w = mask.shape
    for _ in range(10):
        ch, cw = int(h * rng.uniform(0.55, 1.0)), int(w * rng.uniform(0.55, 1.0))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        if mask[top:top + ch, left:left + cw].sum() >= 0.5 * mask.sum():
            break
    else:
        top, left, ch, cw = 0, 0, h, w
    image = image[top:top + ch, left:left + cw]
    mask = mask[top:top + ch, left:left + cw]
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(np.ascontiguousarray(mask).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask.astype(bool)


def _one_part(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The whole mask, or (a third of the time) one of its connected parts of >= 1% of the image."""
    if rng.random() < 2 / 3:
        return mask
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 0.01 * mask.size]
    return comp == big[int(rng.integers(len(big)))] if len(big) > 1 else mask


def _bsds_region(item: Item, rng: np.random.Generator) -> np.ndarray | None:
    """One human region of 2-80% of the image from a random annotator, or ``None``."""
    labels = read_target(item, rng=rng)
    ids, counts = np.unique(labels, return_counts=True)
    frac = counts / labels.size
    ok = ids[(frac >= 0.02) & (frac <= 0.8)]
    return labels == ok[int(rng.integers(len(ok)))] if len(ok) else None


def _composite(items: Sequence[Item], size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """2-3 objects pasted at 20-60% of ``size`` onto another image; the mask of one of them."""
    bg = read_image(items[int(rng.integers(len(items)))].image)
    canvas = cv2.resize(bg, (size, size), interpolation=cv2.INTER_AREA)
    masks = []
    for _ in range(int(rng.integers(2, 4))):
        item = items[int(rng.integers(len(items)))]
        fg, m = read_image(item.image), read_target(item) > 0
        ys, xs = np.nonzero(m)
        if ys.size < 50:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        scale = rng.uniform(0.2, 0.6) * size / max(y1 - y0, x1 - x0)
        w, h = max(2, int((x1 - x0) * scale)), max(2, int((y1 - y0) * scale))
        obj = cv2.resize(fg[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA)
        om = cv2.resize(m[y0:y1, x0:x1].astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        canvas[top:top + h, left:left + w][om] = obj[om]
        placed = np.zeros((size, size), bool)
        placed[top:top + h, left:left + w] = om
        masks = [mk & ~placed for mk in masks] + [placed]  # later objects occlude earlier ones
    masks = [mk for mk in masks if mk.sum() >= 0.005 * size * size]
    if not masks:
        return canvas, np.zeros((size, size), bool)
    return canvas, masks[int(rng.integers(len(masks)))]


class ObjectDataset(Dataset):
    """Endless (image, object mask) samples; ``__getitem__(i)`` is deterministic in ``(seed, i)``.

    Returns ``(image (size, size, 3) uint8, mask (size, size) bool)``.
    """

    def __init__(self, sources: dict[str, Sequence[Item]], *, size: int = 320, seed: int = 0,
                 odds: dict[str, float] | None = None, length: int = 10**9) -> None:
        odds = dict(odds or ODDS)
        if "composite" in odds:
            sources = {**sources, "composite": sources.get("duts", ())}
        self.kinds = [k for k in odds if len(sources.get(k, ())) > 0]
        if not self.kinds:
            raise ValueError("no training objects: every source is empty")
        p = np.array([odds[k] for k in self.kinds], float)
        self.p = p / p.sum()
        self.sources, self.size, self.seed, self.length = sources, int(size), int(seed), int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, i))
        for _ in range(20):
            kind = self.kinds[int(rng.choice(len(self.kinds), p=self.p))]
            items = self.sources[kind]
            if kind == "composite":
                image, mask = _composite(items, self.size, rng)
            else:
                item = items[int(rng.integers(len(items)))]
                image = read_image(item.image)
                if kind == "bsds":
                    mask = _bsds_region(item, rng)
                    if mask is None:
                        continue
                else:
                    mask = _one_part(read_target(item, shape=image.shape[:2]) > 0, rng)
                image, mask = crop_resize(image, mask, self.size, rng)
            if mask.sum() >= 0.003 * mask.size:
                break
        image = _jitter(image, 0.25, rng)
        if rng.random() < 0.2:  # motion / focus blur, as in video frames
            k = int(rng.choice([3, 5, 7]))
            image = cv2.GaussianBlur(image, (k, k), 0)
        return image, mask
