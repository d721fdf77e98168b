"""Synthetic data for tests that must run without ../shared/data (thin names over the library's)."""

from __future__ import annotations

from cas_studio.data.synthetic import blob_image, make_annotated_project, make_figure_ground


def make_project(root, n=6, size=64, seed=0):
    """Two-texture mosaics annotated as 2 regions (see ``make_annotated_project``)."""
    return make_annotated_project(root, n=n, size=size, seed=seed)


__all__ = ["blob_image", "make_figure_ground", "make_project"]
