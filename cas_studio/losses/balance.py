"""Channel balance: a regulariser that keeps every output channel in use (not a region loss)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._regions import accumulation_dtype

_EPS = 1e-12


def channel_balance_loss(input: torch.Tensor, *, from_logits: bool = True) -> torch.Tensor:
    r"""KL divergence from the batch's mean channel usage to the uniform distribution.

    .. math:: \mathrm{B} = \log M - H(\bar s), \qquad \bar s = \frac{1}{B|\Omega|} \sum_{b, x} s_b(x)

    0 when the M channels carry equal mass over the batch, :math:`\log M` when one channel carries
    all of it. Why: trained with CAS alone, a softmax network can saturate all but two channels to
    zero early on; their gradient then vanishes and they never return, so a texture or region model
    separates only about two kinds of region. A small weight of this term (``cas-studio train
    --balance``) keeps every channel alive. It reads no target, so it is as label-free as CAS.
    Not for 2-channel saliency, whose foreground is usually much smaller than its background.

    Args:
        input: (B, M, H, W) logits (``from_logits=True``) or probabilities.
        from_logits: apply a softmax over dim 1 first.

    Returns:
        A scalar tensor in [0, log M].

    Raises:
        ValueError: ``input`` is not a floating-point (B, M, H, W) tensor with M >= 2.

    Example:
        >>> channel_balance_loss(torch.zeros(2, 4, 3, 3))
        tensor(0.)
    """
    if not isinstance(input, torch.Tensor) or input.ndim != 4 or not input.is_floating_point():
        raise ValueError("channel_balance_loss: input must be a floating-point (B, M, H, W) tensor, got "
                         f"{getattr(input, 'dtype', type(input).__name__)} of shape {tuple(getattr(input, 'shape', ()))}")
    m = input.shape[1]
    if m < 2:
        raise ValueError(f"channel_balance_loss: needs at least 2 channels, got {m}")
    x = input.to(accumulation_dtype(input))
    probs = torch.softmax(x, dim=1) if from_logits else x
    usage = probs.mean(dim=(0, 2, 3))
    usage = usage / usage.sum()
    entropy = -(usage * torch.log(usage.clamp_min(_EPS))).sum()
    return (math.log(m) - entropy).clamp_min(0)


class ChannelBalanceLoss(nn.Module):
    """Module form of :func:`channel_balance_loss`."""

    def __init__(self, *, from_logits: bool = True) -> None:
        super().__init__()
        self.from_logits = from_logits

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Compute the regulariser, see :func:`channel_balance_loss`."""
        return channel_balance_loss(input, from_logits=self.from_logits)
