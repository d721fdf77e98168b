"""Channel splitting: revive output channels that a CAS model stopped using.

A softmax channel whose probability is near 0 everywhere gets a near-zero gradient, so once a
multi-region model settles on a few channels (measured on Outex textures: 3 of 32) no loss on the
softmax can bring the others back. Vector quantisation meets the same collapse in its codebooks
and answers it by splitting (Linde, Buzo and Gray, 1980): a dead code becomes a copy of a busy one,
and training then pulls the two copies apart. Here a dead channel takes the output-layer weights
of the busiest live channel plus a little noise, and both get ``log 2`` less bias, so the model's
output is unchanged at the moment of the split; the CAS discriminator then separates the regions
that were sharing the channel.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def dead_channels(usage: torch.Tensor, *, min_share: float = 0.1) -> list[int]:
    """Channels whose share of the usage is below ``min_share`` of an even share (1/M).

    Args:
        usage: (M,) non-negative usage of each channel, e.g. mean softmax over an epoch's pixels.
        min_share: a channel is dead below ``min_share / M`` of the total usage.

    Returns:
        The dead channels' indices, ascending.

    Example:
        >>> dead_channels(torch.tensor([0.5, 0.49, 0.01, 0.0]))
        [2, 3]
    """
    if usage.ndim != 1 or usage.numel() < 2:
        raise ValueError(f"usage must be a (M,) tensor with M >= 2, got shape {tuple(usage.shape)}")
    share = usage.double() / usage.double().sum().clamp_min(1e-30)
    return [int(c) for c in torch.nonzero(share < min_share / usage.numel()).flatten()]


@torch.no_grad()
def split_dead_channels(
    layers: list[nn.Conv2d],
    usage: torch.Tensor,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    min_share: float = 0.1,
    noise: float = 0.01,
    generator: torch.Generator | None = None,
) -> list[tuple[int, int]]:
    """Make each dead channel a copy of a busy one; each live channel is split at most once per call.

    Args:
        layers: the output convolutions whose summed outputs are the logits
            (:meth:`cas_studio.models.SegmentationNet.output_layers`); row c makes channel c.
        usage: (M,) usage of each channel over recent training batches (see :func:`dead_channels`).
        optimizer: its per-parameter state (e.g. AdamW's moments) is copied along with the rows.
        min_share: the deadness threshold of :func:`dead_channels`.
        noise: standard deviation of the noise added to a copy, relative to the copied row's.
        generator: for the noise (the same seed on every process of a distributed run).

    Returns:
        ``(dead, source)`` pairs in the order they were made; empty when no channel is dead.

    Raises:
        ValueError: when a layer has no row per channel.

    Example:
        >>> conv = nn.Conv2d(4, 3, 1)
        >>> split_dead_channels([conv], torch.tensor([0.7, 0.3, 0.0]), generator=torch.Generator().manual_seed(0))
        [(2, 0)]
    """
    m = usage.numel()
    for layer in layers:
        if layer.weight.shape[0] != m:
            raise ValueError(f"split_dead_channels: a layer has {layer.weight.shape[0]} output rows "
                             f"for {m} channels")
    dead = dead_channels(usage, min_share=min_share)
    live = sorted(set(range(m)) - set(dead), key=lambda c: -float(usage[c]))  # busiest first
    pairs = list(zip(dead, live))  # doubling: at most one copy of each live channel per call
    for target, source in pairs:
        for i, layer in enumerate(layers):
            w = layer.weight
            scale = float(w[source].std()) if w[source].numel() > 1 else 1.0
            w[target] = w[source] + noise * scale * torch.randn(w[source].shape, generator=generator).to(w)
            if layer.bias is not None and i == 0:  # the logits are a sum: halve the mass once
                layer.bias[source] -= math.log(2.0)
            if layer.bias is not None:
                layer.bias[target] = layer.bias[source]
            if optimizer is not None:
                _copy_state_rows(optimizer, [layer.weight, layer.bias], source, target, rows=m)
    return pairs


def _copy_state_rows(optimizer: torch.optim.Optimizer, params: list, source: int, target: int, *, rows: int) -> None:
    """Row ``target`` of each per-row optimizer state (e.g. AdamW's moments) becomes a copy of row ``source``."""
    for param in params:
        state = optimizer.state.get(param, {}) if param is not None else {}
        for value in state.values():
            if torch.is_tensor(value) and value.ndim > 0 and value.shape[0] == rows:
                value[target] = value[source]
