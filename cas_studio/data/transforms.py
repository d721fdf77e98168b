"""Augmentation applied to an image and its region map together, then resizing and normalising."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..constants import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class Augment:
    """Random flip, scale-crop and colour jitter (all off with ``Augment.none()``).

    ``frame=False`` crops squares (``scale`` is the fraction of the shorter side kept);
    ``frame=True`` crops a scaled copy of the whole frame, keeping its aspect (``scale`` is the
    fraction of each side kept), so the network also sees whole images, as in inference.
    """

    flip: bool = True
    scale: tuple[float, float] = (0.6, 1.0)
    jitter: float = 0.25  # brightness/contrast/saturation amplitude
    frame: bool = False

    @classmethod
    def none(cls) -> Augment:
        """No augmentation: only the resize."""
        return cls(flip=False, scale=(1.0, 1.0), jitter=0.0)


def augment_pair(image: np.ndarray, labels: np.ndarray, size: int, aug: Augment,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Augment ``image`` (HxWx3 uint8) and ``labels`` (HxW int) alike; return both at ``size`` x ``size``."""
    h, w = labels.shape
    if aug.flip and rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    frac = rng.uniform(*aug.scale)
    if aug.frame:
        ch, cw = max(1, int(round(h * frac))), max(1, int(round(w * frac)))
    else:
        ch = cw = max(1, int(round(min(h, w) * frac)))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    image = image[top:top + ch, left:left + cw]
    labels = labels[top:top + ch, left:left + cw]
    image = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA
                       if min(ch, cw) > size else cv2.INTER_LINEAR)
    labels = cv2.resize(np.ascontiguousarray(labels).astype(np.float32), (size, size),
                        interpolation=cv2.INTER_NEAREST).astype(np.int64)
    if aug.jitter:
        image = _jitter(image, aug.jitter, rng)
    return image, labels


def _jitter(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32)
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * (1 + rng.uniform(-amount, amount))  # saturation
    x = x.mean() + (x - x.mean()) * (1 + rng.uniform(-amount, amount))  # contrast
    x = x * (1 + rng.uniform(-amount, amount))  # brightness
    return np.clip(x, 0, 255).astype(np.uint8)


def to_tensor(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """HxWx3 uint8 RGB -> normalised (3, H, W) float32."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255)
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
