"""Texture mosaics composed on the fly: random layouts filled with patches of real textures.

The Outex suite's mosaics all share one 5-region layout, so a model trained on them learns the
layout, not texture. We cut texture patches out of each Outex region (and out of any image
folder) and compose new mosaics with 2-6 regions in random layouts: Voronoi cells whose borders
are bent by smooth noise, so that boundaries are not straight lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..io import list_images, read_image, read_label_map
from .transforms import to_tensor


def outex_textures(root: str | os.PathLike, *, mosaics: Sequence[int] | None = None) -> list[np.ndarray]:
    """Square texture patches (HxWx3 uint8), the largest square inside each region of each mosaic."""
    root = Path(root)
    gt = read_label_map(root / "gt.png")
    files = sorted((root / "mosaics").glob("*.png"))
    if mosaics is not None:
        files = [f for i, f in enumerate(files) if i in set(mosaics)]
    if not files:
        raise ValueError(f"{root}/mosaics: no mosaic images")
    boxes = []
    for value in np.unique(gt):
        # Padded with background so that the image border counts as a region border.
        inside = np.pad((gt == value).astype(np.uint8), 1)
        dist = cv2.distanceTransform(inside, cv2.DIST_C, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        r = int(dist[y, x]) - 1
        boxes.append((y - r, y + r, x - r, x + r))
    patches = []
    for f in files:
        image = read_image(f)
        patches += [image[y0:y1, x0:x1] for y0, y1, x0, x1 in boxes if y1 - y0 >= 16]
    return patches


def folder_textures(folder: str | os.PathLike, *, crops_per_image: int = 4, size: int = 96,
                    seed: int = 0) -> list[np.ndarray]:
    """Random square crops from every image of a folder, used as extra textures."""
    rng = np.random.default_rng(seed)
    patches = []
    for f in list_images(folder):
        image = read_image(f)
        h, w = image.shape[:2]
        s = min(size, h, w)
        for _ in range(crops_per_image):
            y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            patches.append(image[y:y + s, x:x + s])
    return patches


def to_gray(patches: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The patches in gray, kept as three equal channels (the Outex mosaics are gray)."""
    return [np.repeat(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2) for p in patches]


def random_layout(size: int, regions: int, rng: np.random.Generator, *, warp: float = 0.12) -> np.ndarray:
    """A (size, size) int64 map of ``regions`` warped Voronoi cells, ids 0..regions-1 (all present)."""
    for _ in range(20):
        seeds = rng.uniform(0, size, (regions, 2))
        yy, xx = np.mgrid[:size, :size].astype(np.float32)
        # Smooth random displacement bends the straight Voronoi borders into blob-like ones.
        noise = rng.normal(size=(2, 8, 8)).astype(np.float32)
        dy, dx = (cv2.resize(n, (size, size), interpolation=cv2.INTER_CUBIC) * warp * size for n in noise)
        py, px = yy + dy, xx + dx
        d = (py[None] - seeds[:, 0, None, None]) ** 2 + (px[None] - seeds[:, 1, None, None]) ** 2
        labels = d.argmin(0)
        if len(np.unique(labels)) == regions:
            return labels.astype(np.int64)
    return labels.astype(np.int64)


def _fill(patch: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size texture from a patch: a slight random scale, then tiled by translation.

    Orientation is kept: no flips and no mirror tiling, because a mirrored texture is often
    another texture (left- and right-leaning stripes), and the model must tell them apart.
    """
    scale = rng.uniform(0.85, 1.15)
    p = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    pad_y, pad_x = max(0, size - p.shape[0] + 1), max(0, size - p.shape[1] + 1)
    tiled = np.pad(p, ((0, pad_y), (0, pad_x), (0, 0)), mode="wrap")
    y, x = int(rng.integers(0, tiled.shape[0] - size + 1)), int(rng.integers(0, tiled.shape[1] - size + 1))
    return tiled[y:y + size, x:x + size]


def compose_mosaic(textures: Sequence[np.ndarray], size: int, rng: np.random.Generator, *,
                   regions: tuple[int, int] = (2, 6)) -> tuple[np.ndarray, np.ndarray]:
    """One mosaic: (size x size x 3 uint8 image, size x size int64 labels 0..N-1)."""
    if len(textures) < regions[1]:
        raise ValueError(f"need at least {regions[1]} textures, got {len(textures)}")
    n = int(rng.integers(regions[0], regions[1] + 1))
    labels = random_layout(size, n, rng)
    chosen = rng.choice(len(textures), n, replace=False)
    image = np.zeros((size, size, 3), np.uint8)
    for k, t in enumerate(chosen):
        image[labels == k] = _fill(textures[t], size, rng)[labels == k]
    return image, labels


class MosaicDataset(Dataset):
    """``length`` random mosaics per epoch, reproducible from ``seed``, epoch and index."""

    def __init__(self, textures: Sequence[np.ndarray], *, size: int = 256, length: int = 400,
                 regions: tuple[int, int] = (2, 6), seed: int = 0) -> None:
        if not textures:
            raise ValueError("no textures to compose mosaics from")
        self.textures, self.size, self.length = list(textures), int(size), int(length)
        self.regions, self.seed, self.epoch = regions, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new mosaics in each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        image, labels = compose_mosaic(self.textures, self.size, rng, regions=self.regions)
        return to_tensor(image), torch.from_numpy(labels)


#: Outex mosaics whose textures are kept for validation (``outex-layouts``); training draws from the rest.
VAL_MOSAICS = range(40, 50)
TRAIN_MOSAICS = range(0, 40)


def layout_set(folder: str | os.PathLike, textures: Sequence[np.ndarray], *, n: int = 50, size: int = 512,
               regions: tuple[int, int] = (2, 5), seed: int = 2026) -> Path:
    """Write ``n`` mosaics of new random layouts (``regions`` cells, warped Voronoi) to ``folder``
    (``images/NNN.png`` and ``labels/NNN.png``, ids 1..N), once: the same files for the same
    arguments. Returns ``folder``."""
    from ..io import write_image, write_label_map

    folder = Path(folder)
    done = folder / "done.txt"
    stamp = f"n={n} size={size} regions={regions} seed={seed} textures={len(textures)}"
    if done.is_file() and done.read_text() == stamp:
        return folder
    rng = np.random.default_rng(seed)
    for i in range(n):
        image, labels = compose_mosaic(textures, size, rng, regions=regions)
        write_image(folder / "images" / f"{i:03d}.png", to_gray([image])[0])
        write_label_map(folder / "labels" / f"{i:03d}.png", labels + 1)
    done.write_text(stamp)
    return folder
