"""Channel balance: a regulariser that keeps the output channels of a multi-region model in use."""

from __future__ import annotations

import math

import torch

from ._regions import LossModule, accumulation_dtype, check_choice, check_inputs, index_regions, reduce

_EPS = 1e-12
#: Over what a usage is scored: each image, or the batch as one image.
SCOPES = ("image", "batch")


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(_EPS))).sum(-1)


def channel_balance_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int = -1,
    reduction: str = "mean",
    scope: str = "image",
) -> torch.Tensor:
    r"""How far an image's (or a batch's) channel usage is less spread than its regions' areas.

    .. math:: \mathrm{B} = \max\bigl(0,\ \min(H(a), \log M) - H(u)\bigr)

    per image, with :math:`a_i = |r_i| / |\Omega|` the area fractions of its regions and
    :math:`u = \frac{1}{|\Omega|}\sum_{x \in \Omega} s(x)` its mean softmax over the labelled pixels.

    Why: the CAS discriminator's gradient moves each region mean away from the others only within
    the span of the current means, and a softmax saturated to zero passes no gradient, so a
    multi-region model trained with CAS alone can end with two or three live channels, too few to
    tell five textures apart. At CAS's optimum with N <= M (one vertex per region) :math:`u = a`, so
    this term is 0 there and does not move the optimum; it only penalises regions sharing a channel.
    It reads regions, never classes, so it is as label-free as CAS. Used through
    ``cas-studio train --balance W``.

    With ``scope="batch"`` the whole batch is scored as one image whose regions are all distinct:
    :math:`a` runs over every region of every image and :math:`u` is the batch's mean softmax. A
    network that gives each texture a fixed channel (a local network cannot choose channels per
    image) is then pushed to spread its textures over all M channels instead of a few, so fewer
    regions that meet in one image share a channel. Measured on Outex it did not help: blurring every
    pixel's code also spreads the batch's usage (``weights/README.md``, texture).

    Args:
        input: (B, M, H, W) logits (``from_logits=True``) or probabilities.
        target: (B, H, W) integer region ids (any numbering).
        from_logits: apply a softmax over dim 1 first.
        ignore_index: pixels whose target equals this are left out.
        reduction: ``"mean"`` / ``"sum"`` over images, or ``"none"`` for (B,).
        scope: ``"image"`` (one term per image) or ``"batch"`` (one term for the batch; with
            ``reduction="none"`` it is repeated for every image).

    Returns:
        The regulariser, in [0, log M]; an image with no labelled pixel contributes 0.

    Raises:
        ValueError: on bad shapes or dtypes, or NaN/inf input.

    Example:
        >>> two_regions = torch.tensor([[[0, 1]]])               # a 1x2 image, one pixel each
        >>> own = torch.tensor([[[[9., -9.]], [[-9., 9.]]]])     # each region its own channel
        >>> shared = torch.tensor([[[[9., 9.]], [[-9., -9.]]]])  # both regions on channel 0
        >>> round(channel_balance_loss(own, two_regions).item(), 4), round(channel_balance_loss(shared, two_regions).item(), 4)
        (0.0, 0.6931)
    """
    check_inputs(input, target, name="channel_balance_loss")
    check_choice("channel_balance_loss", reduction)
    if scope not in SCOPES:
        raise ValueError(f"channel_balance_loss: scope must be one of {SCOPES}, got {scope!r}")
    b, m = input.shape[:2]
    index = index_regions(target, ignore_index, name="channel_balance_loss")
    x = input.to(accumulation_dtype(input))
    probs = torch.softmax(x, dim=1) if from_logits else x
    per_region = index.region_sum(probs.reshape(b, m, -1))  # (B, M, Kmax)
    sizes = index.region_size  # (B, Kmax)
    if scope == "batch":  # the batch as one image whose regions are all distinct
        per_region = per_region.transpose(0, 1).reshape(1, m, -1)
        sizes = sizes.reshape(1, -1)
    labelled = sizes.sum(1).clamp_min(1).to(x.dtype)
    usage = per_region.sum(2) / labelled.unsqueeze(1)
    areas = sizes.to(x.dtype) / labelled.unsqueeze(1)
    goal = _entropy(areas).clamp_max(math.log(m))
    return reduce(torch.relu(goal - _entropy(usage)).expand(b), reduction)


class ChannelBalanceLoss(LossModule):
    """Module form of :func:`channel_balance_loss`."""

    function = staticmethod(channel_balance_loss)
