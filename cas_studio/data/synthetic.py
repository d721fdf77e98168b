"""Generated data for demos, notebooks and tests when no real data is at hand."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import write_image, write_label_map


def blob_image(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A noisy dark background with one bright disc.

    Returns
    -------
    image : ndarray, (size, size, 3) uint8
    mask : ndarray, (size, size) uint8, 255 on the disc, 0 elsewhere
    """
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    r = rng.integers(size // 8, size // 4)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
    image = rng.integers(0, 90, (size, size, 3)).astype(np.uint8)
    image[mask] = rng.integers(170, 255, 3).astype(np.uint8)
    return image, (mask * 255).astype(np.uint8)


def make_figure_ground(root: str | os.PathLike, *, n: int = 8, size: int = 64, seed: int = 0) -> Path:
    """Write ``n`` blob images and masks in the ``images/`` + ``masks/`` layout; return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for i in range(n):
        image, mask = blob_image(rng, size)
        write_image(root / "images" / f"{i:03d}.png", image)
        write_label_map(root / "masks" / f"{i:03d}.png", mask)
    return root


def stripe_and_noise_textures(seed: int = 0) -> list[np.ndarray]:
    """Two easily told apart 32x32 textures: red stripes, and gray noise."""
    rng = np.random.default_rng(seed)
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[::4] = (200, 60, 60)
    noise = rng.integers(100, 160, (32, 32, 3)).astype(np.uint8)
    return [stripes, noise]


def wavy_halves(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) int64 labels 0/1 split near the middle by a random wavy line, in a random orientation."""
    yy, xx = np.mgrid[:size, :size]
    edge = size * (rng.uniform(0.4, 0.6) + 0.12 * np.sin(2 * np.pi * (yy / size * rng.uniform(0.5, 2) + rng.random())))
    labels = (xx > edge).astype(np.int64)
    return np.rot90(labels, int(rng.integers(4))).copy()


def make_annotated_project(root: str | os.PathLike, *, n: int = 6, size: int = 64, seed: int = 0):
    """An annotation project of two-texture images (stripes | noise, split by a wavy line), annotated as 2 regions."""
    from .project import create_project

    root = Path(root)
    rng = np.random.default_rng(seed)
    textures = stripe_and_noise_textures(seed)
    project = create_project(root)
    staging = root / ".staging"
    for i in range(n):
        labels = wavy_halves(size, rng)
        order = rng.permutation(2)
        tiles = [np.tile(textures[k], (size // 32 + 1, size // 32 + 1, 1))[:size, :size] for k in order]
        image = np.where(labels[..., None] == 0, tiles[0], tiles[1])
        path = write_image(staging / f"mosaic{i}.png", image)
        (added,) = project.add_images([path])
        project.save_labels(added, labels + 1)
    for f in staging.iterdir():
        f.unlink()
    staging.rmdir()
    return project
