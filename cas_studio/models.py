"""The model factory: torchvision segmentation networks, never with downloaded weights."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision.models import segmentation as tvseg

#: Architectures by name. ``lraspp_mobilenet_v3_large`` is the CPU default; the ResNet-101 models
#: are the paper's.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "lraspp_mobilenet_v3_large": tvseg.lraspp_mobilenet_v3_large,
    "deeplabv3_mobilenet_v3_large": tvseg.deeplabv3_mobilenet_v3_large,
    "fcn_resnet101": tvseg.fcn_resnet101,
    "deeplabv3_resnet101": tvseg.deeplabv3_resnet101,
}
DEFAULT_ARCH = "lraspp_mobilenet_v3_large"


class SegmentationNet(nn.Module):
    """A torchvision segmentation network that returns (B, M, H, W) logits as a plain tensor."""

    def __init__(self, arch: str, out_channels: int) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
        if int(out_channels) < 2:
            raise ValueError(f"out_channels must be >= 2, got {out_channels}")
        self.arch, self.out_channels = arch, int(out_channels)
        # weights=None and weights_backbone=None: torchvision would otherwise fetch ImageNet
        # weights from the internet, which we never do.
        self.net = ARCHITECTURES[arch](weights=None, weights_backbone=None, num_classes=self.out_channels,
                                       aux_loss=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, M, H, W) logits at the input's resolution."""
        return self.net(x)["out"]

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters of the feature extractor (what ``freeze_backbone`` freezes)."""
        return list(self.net.backbone.parameters())


def build_model(arch: str = DEFAULT_ARCH, out_channels: int = 2) -> SegmentationNet:
    """Build an untrained segmentation network with ``out_channels`` output channels.

    Example:
        >>> model = build_model("lraspp_mobilenet_v3_large", 2).eval()
        >>> model(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 2, 64, 64])
    """
    return SegmentationNet(arch, out_channels)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
