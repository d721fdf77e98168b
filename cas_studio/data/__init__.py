"""Data: dataset layouts and named sets, augmentation, label noise, and a torch Dataset.

Names load on first use, so that reading a project (``cas_studio.data.project``) needs no torch.
"""

from __future__ import annotations

import importlib

#: Public name -> the submodule that defines it.
_LAZY = {"RegionDataset": "dataset", "make_dataset": "dataset", "region_label_noise": "noise",
         "IGNORE": "items", "Item": "items", "NAMED": "sources", "bsds_segmentations": "sources",
         "data_root": "sources", "folder_items": "sources", "read_target": "sources", "resolve": "sources",
         "Augment": "transforms", "augment_pair": "transforms", "to_tensor": "transforms"}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    """Import the submodule of a public name on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cas_studio.data' has no attribute {name!r}")
