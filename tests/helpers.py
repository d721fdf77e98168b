"""Synthetic data for tests that must run without ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cas_studio.io import write_image, write_label_map


def blob_image(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A textured background with one bright disc; returns (RGB uint8, binary mask uint8 0/255)."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    r = rng.integers(size // 8, size // 4)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
    image = rng.integers(0, 90, (size, size, 3)).astype(np.uint8)
    image[mask] = rng.integers(170, 255, 3).astype(np.uint8)
    return image, (mask * 255).astype(np.uint8)


def make_figure_ground(root: Path, n: int = 8, size: int = 64, seed: int = 0) -> Path:
    """Write ``n`` images + masks in the ``images/`` + ``masks/`` layout."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        image, mask = blob_image(rng, size)
        write_image(root / "images" / f"{i:03d}.png", image)
        write_label_map(root / "masks" / f"{i:03d}.png", mask)
    return root


def make_project(root, n=6, size=64, seed=0):
    """A project of two-texture mosaics (stripes against noise, random wavy layouts), annotated as 2 regions."""
    from cas_studio.data.mosaics import compose_mosaic
    from cas_studio.data.project import create_project

    rng = np.random.default_rng(seed)
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[::4] = (200, 60, 60)
    noise = rng.integers(100, 160, (32, 32, 3)).astype(np.uint8)
    project = create_project(root)
    for i in range(n):
        image, labels = compose_mosaic([stripes, noise], size, rng, regions=(2, 2))
        path = root.parent / f"src{i}.png"
        write_image(path, image)
        (added,) = project.add_images([path])
        project.save_labels(added, labels + 1)
    return project
