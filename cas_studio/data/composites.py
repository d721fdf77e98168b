"""Copy-paste composites for saliency: foregrounds cut out by their masks, pasted onto other images.

Each sample takes the salient object of one figure-ground item (its mask's bounding box), scales it,
and pastes it at a random place onto another item's image used as the background; the target is the
pasted mask. Only the items given are used, so passing training items keeps validation images out
of training in any form, backgrounds included.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..io import read_image
from .sources import Item, read_target
from .transforms import to_tensor


def paste(foreground: np.ndarray, mask: np.ndarray, background: np.ndarray, size: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paste the masked object of ``foreground`` onto ``background`` (resized to size x size).

    Returns
    -------
    image : (size, size, 3) uint8
    labels : (size, size) int64, 1 on the pasted object, 0 elsewhere
    """
    bg = cv2.resize(background, (size, size), interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return bg, np.zeros((size, size), np.int64)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    obj, obj_mask = foreground[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8)
    scale = rng.uniform(0.4, 0.9) * size / max(obj.shape[:2])
    w, h = max(1, int(obj.shape[1] * scale)), max(1, int(obj.shape[0] * scale))
    obj = cv2.resize(obj, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    obj_mask = cv2.resize(obj_mask, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
    image, labels = bg.copy(), np.zeros((size, size), np.int64)
    region = image[top:top + h, left:left + w]
    region[obj_mask] = obj[obj_mask]
    labels[top:top + h, left:left + w][obj_mask] = 1
    return image, labels


class CompositeDataset(Dataset):
    """``len(items)`` composites per epoch; foreground i, background drawn from the other items."""

    def __init__(self, items: Sequence[Item], *, size: int = 256, seed: int = 0) -> None:
        if len(items) < 2:
            raise ValueError("composites need at least two figure-ground images (one object, one background)")
        self.items, self.size, self.seed, self.epoch = list(items), int(size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new backgrounds and placements in each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i, 7))
        fg_item = self.items[i]
        j = int(rng.integers(len(self.items) - 1))
        bg_item = self.items[j + (j >= i)]
        fg = read_image(fg_item.image)
        mask = read_target(fg_item, shape=fg.shape[:2]) > 0
        image, labels = paste(fg, mask, read_image(bg_item.image), self.size, rng)
        if rng.random() < 0.5:
            image, labels = image[:, ::-1], labels[:, ::-1]
        return to_tensor(image), torch.from_numpy(np.ascontiguousarray(labels))
