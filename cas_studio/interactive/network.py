"""The click network's input and output, shared by training and :class:`ClickSegmenter`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from .clicks import click_maps

#: The click model's architecture (:data:`cas_studio.models.ARCHITECTURES`).
ARCH = "efficientnet_lite1_fpn_clicks"


def network_input(images: torch.Tensor, clicks: Sequence[Sequence], prev: torch.Tensor, *,
                  mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """(B, H, W, 3) uint8 images, per-image clicks and (B, 1, H, W) previous probabilities -> (B, 6, H, W)."""
    _, h, w, _ = images.shape
    x = images.permute(0, 3, 1, 2).float().div_(255)
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    maps = torch.from_numpy(np.stack([click_maps(c, (h, w)) for c in clicks]))
    return torch.cat([x, maps, prev.cpu().float()], 1)


def object_logit(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) object logit: channel 1 minus channel 0 of the 2-channel code."""
    logits = model(x.contiguous(memory_format=torch.channels_last))
    return (logits[:, 1] - logits[:, 0]).float()
