"""The class-agnostic segmentation (CAS) loss of Sharma et al. (IJCAI 2021 WSRL workshop)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._regions import (
    LossModule,
    RegionBins,
    accumulation_dtype,
    check_choice,
    check_inputs,
    pair_distance_sum,
    reduce,
    region_bins,
)


class CASTerms(NamedTuple):
    """Per-image parts of the CAS loss, each of shape (B,).

    Attributes:
        uniformer: ``sum_i mean_{x in r_i} ||s(x) - s_i||^2`` (>= 0, small when every region is
            constant).
        discriminator: ``sum_{i != j} ||s_i - s_j||^2`` over ordered pairs (>= 0, large when the
            region means are far apart).
        num_regions: regions present in each image (int64).
    """

    uniformer: torch.Tensor
    discriminator: torch.Tensor
    num_regions: torch.Tensor


def _tables(sums: torch.Tensor, sq_count: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Region statistics from per-bin sums (B, C, bins) and per-bin [squared norm, count] sums.

    Returns the means (B, C, K), sizes (B, K) clamped to 1, region counts (B,) and the sum of the
    means (B, C), with K = bins - 1 (the spare bin of ignored pixels dropped), plus the uniformer
    and the discriminator.
    """
    n = sq_count[:, 1, :-1].clamp_min(1)  # empty bins: every sum is 0, so their means are 0
    k = (sq_count[:, 1, :-1] > 0).sum(1).to(sums.dtype)
    mean = sums[..., :-1] / n.unsqueeze(1)
    mean_sq = (mean * mean).sum(2).sum(1)  # summed in the order of ||total||^2 below: one region gives D = 0 exactly
    total = mean.sum(2)
    # sum_i mean_{x in r_i} ||s(x) - m_i||^2 = sum_i (sum_{x in r_i} ||s(x)||^2) / |r_i| - sum_i ||m_i||^2
    uniformer = ((sq_count[:, 0, :-1] / n).sum(1) - mean_sq).clamp_min(0.0)
    discriminator = pair_distance_sum(k, mean_sq, total).clamp_min(0.0)
    return mean, n, k, total, uniformer, discriminator


def _per_region_grad(mean: torch.Tensor, n: torch.Tensor, k: torch.Tensor, total: torch.Tensor,
                     grad_u: torch.Tensor, grad_d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient on s(x) is ``a_k + c_k s(x)`` for x in region k: a (B, C, bins) and c (B, 1, bins),
    0 in the spare bin so that ignored pixels get none.

    dU/ds(x) = 2 (s(x) - m_k) / n_k and dD/ds(x) = 4 (K m_k - sum_j m_j) / n_k.
    """
    gu, gd = grad_u.view(-1, 1, 1), grad_d.view(-1, 1, 1)
    sizes = n.unsqueeze(1)
    a = (4 * gd * (k.view(-1, 1, 1) * mean - total.unsqueeze(2)) - 2 * gu * mean) / sizes
    c = 2 * gu / sizes
    return F.pad(a, (0, 1)), F.pad(c, (0, 1))


class _CASTerms(torch.autograd.Function):
    """Uniformer and discriminator from (B, M, P) logits or probabilities, with a closed-form backward.

    On a CPU the cost is in scatters, gathers, the channel-wise softmax and fresh (B, M, P)
    buffers (each one page-faulted in), not in arithmetic, so the kernel keeps all four few: one
    scatter of the M channels and two one-channel ones (squared norms, sizes), one gather of the
    per-region gradient table straight into the output buffer, and the softmax's Jacobian applied
    in closed form, ``s * (g - <g, s>)``, in place, instead of autograd's saved graph.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, bins: RegionBins, from_logits: bool) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.softmax(x, dim=1) if from_logits else x
        sq = _channel_dot(s, s)
        sq_count = torch.cat([bins.sum(sq.unsqueeze(1)), bins.count(s.dtype)], 1)
        del sq
        mean, n, k, total, uniformer, discriminator = _tables(bins.sum(s), sq_count)
        ctx.bins, ctx.from_logits = bins, from_logits
        ctx.save_for_backward(s, mean, n, k, total)
        return uniformer, discriminator, k.to(torch.int64)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_u: torch.Tensor, grad_d: torch.Tensor, _grad_k) -> tuple[torch.Tensor, None, None]:
        s, mean, n, k, total = ctx.saved_tensors
        a, c = _per_region_grad(mean, n, k, total, grad_u, grad_d)
        grad = ctx.bins.spread(a, out=torch.empty_like(s))
        grad.addcmul_(s, ctx.bins.spread(c))  # dL/ds
        if not ctx.from_logits:
            return grad, None, None
        return grad.sub_(_channel_dot(grad, s).unsqueeze(1)).mul_(s), None, None


def _channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, M, P) x (B, M, P) -> (B, P) sum over channels: one pass per channel, faster on a CPU than
    ``vecdot``'s strided reduction over dim 1."""
    out = a[:, 0] * b[:, 0]
    for m in range(1, a.shape[1]):
        out.addcmul_(a[:, m], b[:, m])
    return out


class _CASTermsBinary(torch.autograd.Function):
    """The same from (B, 2, P) logits: with two channels the softmax is ``s_0 = sigmoid(x_0 - x_1)``,
    ``s_1 = 1 - s_0``, so every term is a function of the one map s_0 and each pass touches half the
    values. ||s - m||^2 = 2 (s_0 - m_0)^2, so U and D are twice their one-channel values, and
    dL/dx_0 = -dL/dx_1 = s_0 s_1 dL/ds_0."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bins: RegionBins) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = torch.sub(x[:, 0:1], x[:, 1:2]).sigmoid_()  # (B, 1, P)
        sq_count = torch.cat([bins.sum(s0 * s0), bins.count(s0.dtype)], 1)
        mean, n, k, total, uniformer, discriminator = _tables(bins.sum(s0), sq_count)
        ctx.bins = bins
        ctx.save_for_backward(s0, mean, n, k, total)
        return 2 * uniformer, 2 * discriminator, k.to(torch.int64)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_u: torch.Tensor, grad_d: torch.Tensor, _grad_k) -> tuple[torch.Tensor, None]:
        s0, mean, n, k, total = ctx.saved_tensors
        a, c = _per_region_grad(mean, n, k, total, 2 * grad_u, 2 * grad_d)
        # One (B, 2, P) buffer: c_k spread into the second channel, then dL/dx_0 = (a_k + c_k s_0) s_0 (1 - s_0)
        # built in the first, and its negation over the second.
        out = s0.new_empty(s0.shape[0], 2, s0.shape[2])
        g, other = out[:, 0:1], out[:, 1:2]
        ctx.bins.spread(a, out=g)
        ctx.bins.spread(c, out=other)
        g.addcmul_(other, s0).mul_(s0)
        g.addcmul_(g, s0, value=-1.0)
        torch.neg(g, out=other)
        return out, None


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"cas_loss: alpha must lie in [0, 1], got {alpha}")


def cas_terms(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int = -1,
) -> CASTerms:
    """Per-image uniformer and discriminator of the CAS loss (see :func:`cas_loss`).

    Args:
        input: (B, M, H, W) logits, or probabilities when ``from_logits=False``.
        target: (B, H, W) integer region ids in [0, 65535]; only equality of ids matters.
        from_logits: apply a softmax over dim 1 first.
        ignore_index: target value of pixels to leave out.

    Returns:
        :class:`CASTerms` of (B,) tensors, float32 (float64 for float64 input).

    Example:
        >>> logits = torch.randn(2, 3, 8, 8)
        >>> target = torch.randint(0, 4, (2, 8, 8))
        >>> terms = cas_terms(logits, target)
        >>> terms.uniformer.shape, bool((terms.discriminator >= 0).all())
        (torch.Size([2]), True)
    """
    check_inputs(input, target, name="cas_loss")
    bins = region_bins(target, ignore_index, name="cas_loss")
    x = input.to(accumulation_dtype(input)).flatten(2)
    if from_logits and x.shape[1] == 2:
        uniformer, discriminator, count = _CASTermsBinary.apply(x, bins)
    else:
        uniformer, discriminator, count = _CASTerms.apply(x, bins, from_logits)
    return CASTerms(uniformer, discriminator, count)


def cas_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 0.5,
    average: bool = False,
    from_logits: bool = True,
    ignore_index: int = -1,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Class-agnostic segmentation loss (Eq. 1 of Sharma et al., 2021).

    For one image with regions :math:`r_1..r_N` (the distinct ids of ``target`` present in it),
    softmax output :math:`s(x) \in \Delta^{M-1}` and region means :math:`\hat s_i`:

    .. math::

        \mathrm{CAS} = \alpha \sum_i \frac{1}{|r_i|}\sum_{x \in r_i} \|s(x) - \hat s_i\|^2
                     - (1 - \alpha) \sum_{i \ne j} \|\hat s_i - \hat s_j\|^2

    with :math:`i \ne j` over ordered pairs, as in the paper. The value only depends on which
    pixels share an id, never on the ids themselves, and each region counts once whatever its
    size. Cost is one pass over the pixels plus O(N M) per image.

    Bounds (for each image with N regions and M channels):

    * uniformer: each region's term is a variance of points of the probability simplex, so it lies
      in :math:`[0, 1 - 1/M]` (all mass split evenly between vertices); the sum lies in
      :math:`[0, N(1 - 1/M)]`.
    * discriminator: it equals :math:`2N^2 \mathrm{Var}(\hat s)`, convex in the means, so its
      maximum is at simplex vertices: with :math:`N = qM + r` means spread as evenly as possible
      over the M vertices, :math:`D_{max} = 2(N^2 - r(q+1)^2 - (M-r)q^2)`, which is
      :math:`2N(N-1)` when :math:`N \le M`.
    * so :math:`-(1-\alpha) D_{max} \le \mathrm{CAS} \le \alpha N (1 - 1/M)` (see
      :func:`cas_bounds`). The lower bound is reached by constant regions on distinct vertices,
      the upper one when every region's mass is split evenly over all M vertices around the same
      mean (region sizes multiples of M).

    ``average=True`` (not the paper's form) divides the uniformer by N and the discriminator by
    the N(N-1) ordered pairs, so each image's loss lies in :math:`[-(1-\alpha) D_{max}/(N(N-1)),
    \alpha(1 - 1/M)]` whatever its number of regions. With the paper's sums, an image of 200
    superpixels has ~40,000 discriminator terms against a few for an image of 3 regions, and it
    dominates a batch; averaged, every image weighs the same. Both forms are minimised by the same
    outputs for a given image, and both depend only on which pixels share an id. One region gives a
    discriminator of 0 in both.

    The authors' reference code computes the uniformer on the foreground region only (binary
    saliency); we follow the paper's equation, which sums over every region, because the
    background is a region like any other: leaving it out lets the network put arbitrary
    non-constant output there, and the equation is what generalises to N regions.

    Args:
        input: (B, M, H, W) logits (``from_logits=True``) or probabilities; M >= 2. float16 and
            bfloat16 are accepted and accumulated in float32.
        target: (B, H, W) integer region ids in [0, 65535], any numbering, not necessarily
            contiguous.
        alpha: weight of the uniformer in [0, 1]; the discriminator gets ``1 - alpha``.
        average: average the uniformer over regions and the discriminator over ordered pairs
            instead of summing (for targets with many regions, e.g. fine-tuning on superpixels).
        from_logits: apply a softmax over dim 1 first.
        ignore_index: pixels whose target equals this are left out.
        reduction: ``"mean"`` or ``"sum"`` over images, or ``"none"`` for a (B,) tensor. An image
            with no labelled pixel contributes 0.

    Returns:
        The loss, float32 (float64 for float64 input).

    Raises:
        ValueError: on a shape mismatch, a non-integer target, NaN/inf input, M < 2, ids outside
            [0, 65535], alpha outside [0, 1] or an unknown reduction.

    Example:
        >>> logits = torch.randn(2, 2, 16, 16, requires_grad=True)
        >>> target = torch.zeros(2, 16, 16, dtype=torch.long)
        >>> target[:, 4:12, 4:12] = 7
        >>> loss = cas_loss(logits, target, alpha=0.5)
        >>> loss.backward()
        >>> logits.grad.shape
        torch.Size([2, 2, 16, 16])
    """
    _check_alpha(alpha)
    check_choice("cas_loss", reduction)
    terms = cas_terms(input, target, from_logits=from_logits, ignore_index=ignore_index)
    uniformer, discriminator = terms.uniformer, terms.discriminator
    if average:
        n = terms.num_regions.to(uniformer.dtype)
        uniformer = uniformer / n.clamp_min(1)
        discriminator = discriminator / (n * (n - 1)).clamp_min(1)
    values = alpha * uniformer - (1.0 - alpha) * discriminator
    return reduce(values, reduction)


def cas_bounds(num_regions: int, num_channels: int, *, alpha: float = 0.5,
               average: bool = False) -> tuple[float, float]:
    """Attainable (lower, upper) bounds of the per-image CAS loss for N regions and M channels.

    ``average=True`` gives the bounds of ``cas_loss(..., average=True)``.
    """
    _check_alpha(alpha)
    n, m = int(num_regions), int(num_channels)
    q, r = divmod(n, m)
    d_max = 2.0 * (n * n - r * (q + 1) ** 2 - (m - r) * q * q)
    u_max = n * (1.0 - 1.0 / m)
    if average:
        d_max, u_max = d_max / max(n * (n - 1), 1), u_max / max(n, 1)
    return -(1.0 - alpha) * d_max, alpha * u_max


class CASLoss(LossModule):
    """Module form of :func:`cas_loss`; the options are fixed at construction.

    Example:
        >>> criterion = CASLoss(alpha=0.5)
        >>> criterion(torch.randn(1, 2, 8, 8), torch.randint(0, 2, (1, 8, 8))).shape
        torch.Size([])
    """

    function = staticmethod(cas_loss)

    def __init__(self, *, alpha: float = 0.5, average: bool = False, from_logits: bool = True,
                 ignore_index: int = -1, reduction: str = "mean") -> None:
        _check_alpha(alpha)
        super().__init__(alpha=alpha, average=average, from_logits=from_logits, ignore_index=ignore_index,
                         reduction=reduction)
