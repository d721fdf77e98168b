"""Cross-entropy with region ids taken as class labels: the paper's CE baseline."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._regions import LossModule, accumulation_dtype, check_choice, check_inputs, reduce

_EPS = 1e-12
#: What :func:`ce_loss` does with a label that has no channel.
OVERFLOW = ("error", "ignore")


def log_probabilities(input: torch.Tensor, *, from_logits: bool) -> torch.Tensor:
    """log-softmax of logits, or the clamped log of probabilities, in the accumulation dtype."""
    x = input.to(accumulation_dtype(input))
    return F.log_softmax(x, dim=1) if from_logits else torch.log(x.clamp_min(_EPS))


def ce_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int = -1,
    reduction: str = "mean",
    overflow: str = "error",
) -> torch.Tensor:
    r"""Pixel-wise cross-entropy, reading each region id as a class label.

    .. math:: \mathrm{CE} = -\frac{1}{|\Omega|} \sum_{x \in \Omega} \log s_{t(x)}(x)

    per image over its labelled pixels :math:`\Omega`. This is the paper's CE baseline: it is *not*
    invariant to renaming ids (swap foreground and background and the loss changes).

    Args:
        input: (B, M, H, W) logits (``from_logits=True``) or probabilities.
        target: (B, H, W) integer labels in [0, M).
        from_logits: apply a log-softmax over dim 1; otherwise take the log of ``input``.
        ignore_index: pixels whose target equals this are left out.
        reduction: ``"mean"`` / ``"sum"`` over images, or ``"none"`` for (B,).
        overflow: what a label >= M means: ``"error"`` raises; ``"ignore"`` leaves those pixels
            out, as a CE twin of a multi-region model must when an image (a BSDS500 segmentation
            of up to ~100 regions) has more ids than the model has channels.

    Returns:
        The loss; an image with no labelled pixel contributes 0.

    Raises:
        ValueError: on bad shapes or dtypes, NaN/inf input, a negative label, or with
        ``overflow="error"`` a label >= M.

    Example:
        >>> ce_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
        tensor(0.6931)
    """
    check_inputs(input, target, name="ce_loss")
    check_choice("ce_loss", reduction)
    if overflow not in OVERFLOW:
        raise ValueError(f"ce_loss: overflow must be one of {OVERFLOW}, got {overflow!r}")
    labels = target.to(torch.int64)
    m = input.shape[1]
    if overflow == "ignore":
        labels = torch.where(labels >= m, ignore_index, labels)
    lo, hi = (int(v) for v in torch.aminmax(labels))
    valid = None if (lo > ignore_index or hi < ignore_index) else labels != ignore_index
    if valid is not None:
        lo, hi = (int(v) for v in torch.aminmax(torch.where(valid, labels, 0)))
    if lo < 0 or hi >= m:
        hint = "" if lo < 0 else " (overflow='ignore' leaves such pixels out)"
        raise ValueError(f"ce_loss: takes region ids as class labels, which must lie in "
                         f"[0, M={m}); found {lo if lo < 0 else hi}{hint}")
    x = input.to(accumulation_dtype(input))
    if from_logits:
        per_pixel = F.cross_entropy(x, labels, ignore_index=ignore_index, reduction="none")
    else:
        per_pixel = F.nll_loss(torch.log(x.clamp_min(_EPS)), labels, ignore_index=ignore_index, reduction="none")
    if valid is None:
        per_image = per_pixel.flatten(1).mean(1)
    else:
        per_image = per_pixel.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp_min(1).to(per_pixel.dtype)
    return reduce(per_image, reduction)


class CELoss(LossModule):
    """Module form of :func:`ce_loss`."""

    function = staticmethod(ce_loss)
