"""The discriminative (metric-learning) loss of De Brabandere, Neven and Van Gool (2017)."""

from __future__ import annotations

import torch

from ._regions import LossModule, accumulation_dtype, check_choice, check_inputs, index_regions, reduce

_EPS = 1e-12


def _norm(sq: torch.Tensor) -> torch.Tensor:
    # Clamped so the gradient of sqrt stays finite where two points coincide.
    return torch.sqrt(sq.clamp_min(_EPS))


def discriminative_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    delta_v: float = 0.5,
    delta_d: float = 1.5,
    var_weight: float = 1.0,
    dist_weight: float = 1.0,
    reg_weight: float = 0.001,
    ignore_index: int = -1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Discriminative loss for instance embeddings (De Brabandere et al., 2017).

    Per image with C regions, embedding :math:`x` and region means :math:`\mu_c`:

    .. math::

        L_{var} = \frac1C \sum_c \frac{1}{|r_c|} \sum_{x \in r_c} [\|\mu_c - x\| - \delta_v]_+^2,\quad
        L_{dist} = \frac{1}{C(C-1)} \sum_{c \ne c'} [2\delta_d - \|\mu_c - \mu_{c'}\|]_+^2,\quad
        L_{reg} = \frac1C \sum_c \|\mu_c\|

    and the loss is ``var_weight * L_var + dist_weight * L_dist + reg_weight * L_reg``. The
    embeddings are used as they are (no softmax). The pull and regulariser terms are one pass over
    the pixels; the push term compares every pair of region means, O(C^2 M) per image.

    Args:
        input: (B, M, H, W) embeddings, M >= 2.
        target: (B, H, W) integer region ids in [0, 65535].
        delta_v: pull margin.
        delta_d: push margin (means closer than ``2 * delta_d`` are pushed apart).
        var_weight: weight of the pull term.
        dist_weight: weight of the push term.
        reg_weight: weight of the regulariser on the means' norms.
        ignore_index: pixels whose target equals this are left out.
        reduction: ``"mean"`` / ``"sum"`` over images, or ``"none"`` for (B,).

    Returns:
        The loss; an image with no labelled pixel contributes 0.

    Example:
        >>> emb = torch.randn(1, 4, 8, 8)
        >>> float(discriminative_loss(emb, torch.randint(0, 3, (1, 8, 8)))) >= 0
        True
    """
    check_inputs(input, target, name="discriminative_loss")
    check_choice("discriminative_loss", reduction)
    if delta_v < 0 or delta_d < 0:
        raise ValueError(f"discriminative_loss: margins must be >= 0, got delta_v={delta_v}, delta_d={delta_d}")
    index = index_regions(target, ignore_index, name="discriminative_loss")
    x = input.to(accumulation_dtype(input)).flatten(2)  # (B, M, P)
    n = index.region_size.to(x.dtype).clamp_min(1)
    k = index.regions_per_image.to(x.dtype)
    mean = index.region_sum(x) / n.unsqueeze(1)  # (B, M, K)

    # Pull: ignored pixels land in the spare slot, which region_sum drops.
    gap = _norm(((x - index.gather(mean)) ** 2).sum(1, keepdim=True))
    pull = index.region_sum(torch.relu(gap - delta_v) ** 2).squeeze(1) / n
    l_var = (pull * index.present).sum(1) / k.clamp_min(1)

    # Push: every ordered pair of distinct regions present in the image.
    kmax = index.kmax
    pair = index.present.unsqueeze(2) & index.present.unsqueeze(1)
    pair &= ~torch.eye(kmax, dtype=torch.bool, device=x.device)
    dist = _norm(((mean.unsqueeze(3) - mean.unsqueeze(2)) ** 2).sum(1))  # (B, K, K)
    push = (torch.relu(2 * delta_d - dist) ** 2 * pair).sum((1, 2))
    l_dist = push / (k * (k - 1)).clamp_min(1)

    l_reg = (_norm((mean * mean).sum(1)) * index.present).sum(1) / k.clamp_min(1)
    return reduce(var_weight * l_var + dist_weight * l_dist + reg_weight * l_reg, reduction)


class DiscriminativeLoss(LossModule):
    """Module form of :func:`discriminative_loss`."""

    function = staticmethod(discriminative_loss)

    def __init__(self, *, delta_v: float = 0.5, delta_d: float = 1.5, var_weight: float = 1.0,
                 dist_weight: float = 1.0, reg_weight: float = 0.001, ignore_index: int = -1,
                 reduction: str = "mean") -> None:
        super().__init__(delta_v=delta_v, delta_d=delta_d, var_weight=var_weight, dist_weight=dist_weight,
                         reg_weight=reg_weight, ignore_index=ignore_index, reduction=reduction)
