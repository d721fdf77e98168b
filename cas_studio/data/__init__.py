"""Data: dataset layouts and named sets, augmentation, label noise, and a torch Dataset."""

from .dataset import RegionDataset, make_dataset
from .noise import region_label_noise
from .items import IGNORE, Item
from .sources import NAMED, bsds_segmentations, data_root, folder_items, read_target, resolve
from .transforms import Augment, augment_pair, to_tensor

__all__ = ["IGNORE", "NAMED", "Augment", "Item", "RegionDataset", "make_dataset", "augment_pair", "bsds_segmentations", "data_root",
           "folder_items", "read_target", "region_label_noise", "resolve", "to_tensor"]
