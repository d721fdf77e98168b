"""Networks: the architecture factory, the EfficientNet-Lite encoder, weights files and averaging.

``build_model`` and the architecture table live in :mod:`~cas_studio.models.factory`; weights files
(safetensors plus declared metadata) in :mod:`~cas_studio.models.weights`.
"""

from __future__ import annotations

from .factory import ARCHITECTURES, SegmentationNet, build_model

__all__ = ["ARCHITECTURES", "SegmentationNet", "build_model"]
