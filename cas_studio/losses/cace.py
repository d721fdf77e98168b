"""Class-agnostic cross-entropy (CACE): CE under the best matching of regions to channels."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ._regions import LossModule, check_choice, check_inputs, index_regions, reduce
from .ce import log_probabilities


def cace_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int = -1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Cross-entropy minimised over the assignments of regions to channels.

    The paper defines the binary CACE as the smaller of the CE under the two labelings
    (foreground = channel 0 or channel 1). For K regions and M >= K channels we take the minimum
    over all injective assignments :math:`\pi` of regions to channels,

    .. math:: \mathrm{CACE} = \min_\pi -\frac{1}{|\Omega|} \sum_i \sum_{x \in r_i} \log s_{\pi(i)}(x),

    computed exactly per image by linear assignment (Hungarian algorithm, SciPy) on the K x M
    table of per-region summed cross-entropies, which is gathered in one pass over the pixels.
    The assignment is a discrete choice, so gradients flow through the chosen costs only.

    Args:
        input: (B, M, H, W) logits (``from_logits=True``) or probabilities.
        target: (B, H, W) integer region ids in [0, 65535]; at most M regions per image.
        from_logits: apply a log-softmax over dim 1; otherwise take the log of ``input``.
        ignore_index: pixels whose target equals this are left out.
        reduction: ``"mean"`` / ``"sum"`` over images, or ``"none"`` for (B,).

    Returns:
        The loss; an image with no labelled pixel contributes 0.

    Raises:
        ValueError: on bad shapes or dtypes, NaN/inf input, or an image with more regions than
            channels (no injective assignment exists).

    Example:
        >>> logits = torch.tensor([[[[5.0]], [[-5.0]]]])  # predicts channel 0 everywhere
        >>> float(cace_loss(logits, torch.tensor([[[1]]]))) < 1e-3  # id 1 matched to channel 0
        True
    """
    check_inputs(input, target, name="cace_loss")
    check_choice("cace_loss", reduction)
    index = index_regions(target, ignore_index, name="cace_loss")
    b, m = input.shape[:2]
    too_many = index.regions_per_image > m
    if bool(too_many.any()):
        i = int(torch.nonzero(too_many)[0])
        raise ValueError(f"cace_loss: image {i} has {int(index.regions_per_image[i])} regions but "
                         f"only M={m} channels; CACE needs at most one region per channel")
    logp = log_probabilities(input, from_logits=from_logits).flatten(2)
    cost = -index.region_sum(logp)  # (B, M, K): summed CE of giving region k channel c

    table = cost.detach().cpu().numpy()
    channel = np.zeros((b, max(index.kmax, 1)), dtype=np.int64)
    for i, k in enumerate(index.regions_per_image.tolist()):
        if k:  # one exact assignment problem per image: a combinatorial step, not a pixel loop
            rows, cols = linear_sum_assignment(table[i, :, :k].T)
            channel[i, rows] = cols
    choice = torch.from_numpy(channel[:, : index.kmax]).to(cost.device).unsqueeze(1)
    chosen = (cost.gather(1, choice).squeeze(1) * index.present).sum(1)
    pixels = index.region_size.sum(1).clamp_min(1).to(cost.dtype)
    return reduce(chosen / pixels, reduction)


class CACELoss(LossModule):
    """Module form of :func:`cace_loss`."""

    function = staticmethod(cace_loss)
