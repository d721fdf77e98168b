"""A torch ``Dataset`` over :class:`~cas_studio.data.sources.Item` lists."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..io import read_image
from .noise import region_label_noise
from .sources import Item, read_target
from .transforms import Augment, augment_pair, to_tensor


class RegionDataset(Dataset):
    """Images and region maps, augmented together, resized to ``size`` x ``size``.

    Each sample is ``(image (3, S, S) float32 normalised, target (S, S) int64)``. Randomness comes
    from ``seed``, the epoch (:meth:`set_epoch`) and the index, so runs are reproducible with any
    number of workers.
    """

    def __init__(self, items: Sequence[Item], *, size: int = 256, augment: Augment | None = None,
                 label_noise: float = 0.0, seed: int = 0) -> None:
        if not items:
            raise ValueError("dataset is empty: no image/target pairs were found")
        self.items, self.size = list(items), int(size)
        self.augment = augment if augment is not None else Augment()
        self.label_noise, self.seed, self.epoch = float(label_noise), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Draw different augmentations (and BSDS annotators) in each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i))
        item = self.items[i]
        image = read_image(item.image)
        labels = read_target(item, rng=rng, shape=image.shape[:2])
        image, labels = augment_pair(image, labels, self.size, self.augment, rng)
        if self.label_noise:
            labels = region_label_noise(labels, self.label_noise, rng)
        return to_tensor(image), torch.from_numpy(labels)


def make_dataset(source: str, *, size: int, label_noise: float = 0.0, seed: int = 0,
                 augment: Augment | None = None) -> Dataset:
    """A training dataset for a source name or folder.

    ``mosaics`` composes texture mosaics from the Outex regions and crops of the BSDS500 training
    images, all in gray because the Outex mosaics it is validated on are gray (a model that
    separates by colour learns nothing about texture); ``outex-mosaics`` from the Outex regions
    only (``outex-mosaics:train`` from those of mosaics 000-039, leaving 040-049 to ``outex-layouts``); ``mosaics:FOLDER`` composes them from crops of the images in FOLDER, in colour;
    ``composites:SOURCE`` pastes the objects of a figure-ground SOURCE onto its other images.
    """
    from .composites import CompositeDataset
    from .mosaics import TRAIN_MOSAICS, MosaicDataset, folder_textures, outex_textures, to_gray
    from .sources import data_root, resolve

    if source.startswith("composites:"):
        return CompositeDataset(resolve(source.partition(":")[2]), size=size, seed=seed)
    if source == "outex-mosaics":
        return MosaicDataset(outex_textures(data_root() / "outex"), size=size, seed=seed)
    if source == "outex-mosaics:train":  # the textures of mosaics 000-039: outex-layouts keeps 040-049
        return MosaicDataset(outex_textures(data_root() / "outex", mosaics=TRAIN_MOSAICS), size=size, seed=seed)
    if source == "mosaics" or source.startswith("mosaics:"):
        folder = source.partition(":")[2]
        if folder:
            textures = folder_textures(folder, seed=seed)
        else:
            root = data_root()
            bsds = folder_textures(root / "bsds500" / "images" / "train", crops_per_image=1, seed=seed)
            textures = outex_textures(root / "outex") + to_gray(bsds)
        return MosaicDataset(textures, size=size, seed=seed)
    return RegionDataset(resolve(source), size=size, augment=augment, label_noise=label_noise, seed=seed)
