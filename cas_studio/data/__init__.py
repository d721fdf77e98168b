"""Data: dataset layouts and named sets, augmentation, label noise, and a torch Dataset.

Names load on first use, so that reading a project (``cas_studio.data.project``) needs no torch.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

#: Public name -> the submodule that defines it.
_LAZY = {"RegionDataset": "dataset", "make_dataset": "dataset", "region_label_noise": "noise",
         "IGNORE": "items", "Item": "items", "NAMED": "sources", "bsds_segmentations": "sources",
         "data_root": "sources", "folder_items": "sources", "read_target": "sources", "resolve": "sources",
         "Augment": "transforms", "augment_pair": "transforms", "to_tensor": "transforms"}
__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
