"""Shared input checks and per-region bookkeeping for the region losses.

Every loss here takes the same ``(input, target)`` pair: ``input`` is (B, M, H, W) and
``target`` is (B, H, W) integer region ids in ``[0, MAX_REGION_ID]``; pixels equal to
``ignore_index`` are left out. Regions are numbered per image, so one id in two images names two
unrelated regions.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import MAX_ID as MAX_REGION_ID

REDUCTIONS = ("mean", "sum", "none")

# Above this many bins the dense bincount path would waste memory; sort instead.
_DENSE_BIN_LIMIT = 1 << 24


def check_inputs(input: torch.Tensor, target: torch.Tensor, *, name: str, min_channels: int = 2) -> None:
    """Raise ``ValueError`` naming the problem when ``input``/``target`` are not a valid pair."""
    if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError(f"{name}: input and target must be torch.Tensor, got {type(input).__name__} "
                         f"and {type(target).__name__}")
    if input.ndim != 4:
        raise ValueError(f"{name}: input must be (B, M, H, W), got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise ValueError(f"{name}: input must be a floating-point tensor, got dtype {input.dtype}")
    if target.ndim != 3:
        raise ValueError(f"{name}: target must be (B, H, W) region ids, got shape {tuple(target.shape)}")
    if target.is_floating_point() or target.is_complex():
        raise ValueError(f"{name}: target must hold integer region ids, got dtype {target.dtype}")
    b, m, h, w = input.shape
    if tuple(target.shape) != (b, h, w):
        raise ValueError(f"{name}: shape mismatch: input {tuple(input.shape)} needs target "
                         f"{(b, h, w)}, got {tuple(target.shape)}")
    if input.numel() == 0:
        raise ValueError(f"{name}: input is empty, shape {tuple(input.shape)}")
    if m < min_channels:
        raise ValueError(f"{name}: input needs at least {min_channels} channels (M), got M={m}")
    if target.device != input.device:
        raise ValueError(f"{name}: input is on {input.device} but target is on {target.device}")
    # A sum is one cheap reduction and NaN/inf survive it; only when it is not finite (which huge
    # finite values could also cause) pay for the elementwise check.
    if not bool(torch.isfinite(input.sum())) and not bool(torch.isfinite(input).all()):
        raise ValueError(f"{name}: input contains NaN or inf values")


def check_choice(name: str, reduction: str) -> None:
    """Raise ``ValueError`` for a reduction other than mean / sum / none."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


class LossModule(nn.Module):
    """The ``nn.Module`` form of a loss function, the one pattern every loss here follows.

    A subclass names its function as ``function = staticmethod(the_loss)`` and passes its options
    (``from_logits``, ``ignore_index``, ``reduction`` and its own, e.g. CAS's ``alpha``) to
    ``super().__init__``; they are checked against the function's signature once, here, and
    ``forward`` calls the function with them.
    """

    function: Callable[..., torch.Tensor]

    def __init__(self, **options) -> None:
        super().__init__()
        accepted = self.option_names()
        unknown = set() if accepted is None else set(options) - accepted
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)}; it takes {sorted(accepted)}")
        if "reduction" in options:
            check_choice(type(self).__name__, options["reduction"])
        self.options = options

    @classmethod
    def option_names(cls) -> set[str] | None:
        """The keyword options the loss takes: those its constructor names, else those its function
        names; None when both take any (``**kwargs``)."""
        # A subclass that spells out its constructor (CASLoss) can take only those options, even
        # when its function is swapped for one that takes **kwargs.
        for fn in (cls.__init__, cls.function):
            params = inspect.signature(fn).parameters.values()
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                return {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
        return None

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss with the options given at construction."""
        return type(self).function(input, target, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` to per-image values of shape (B,)."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def pair_distance_sum(count: torch.Tensor, square_sum: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """sum over ordered pairs (i != j) of ||m_i - m_j||^2 for ``count`` means, from their sum of
    squared norms and their vector sum (last dim): 2 N sum_i ||m_i||^2 - 2 ||sum_i m_i||^2.

    O(N M) instead of a N x N table; broadcasts over leading dims.
    """
    return 2 * count * square_sum - 2 * (total * total).sum(-1)


def accumulation_dtype(input: torch.Tensor) -> torch.dtype:
    """float64 stays float64; everything narrower accumulates in float32."""
    return torch.float64 if input.dtype == torch.float64 else torch.float32


@dataclass(frozen=True)
class RegionIndex:
    """Per-image compact numbering of the regions present in a batch.

    Region k of image b (k < regions_per_image[b]) is the k-th smallest id present in that image;
    per-region values live in (B, ..., Kmax) grids whose absent slots are zero.

    Attributes:
        pixel_slot: (B, H*W) int64, the slot of each pixel; ignored pixels hold ``kmax`` (one
            spare slot, dropped after accumulation).
        present: (B, Kmax) bool, which slots hold a region.
        region_id: (B, Kmax) int64, the original id in each slot (0 where absent).
        region_size: (B, Kmax) int64, pixel count of each region (0 where absent).
        regions_per_image: (B,) int64.
        kmax: the largest region count of any image.
    """

    pixel_slot: torch.Tensor
    present: torch.Tensor
    region_id: torch.Tensor
    region_size: torch.Tensor
    regions_per_image: torch.Tensor
    kmax: int

    @functools.cached_property
    def bins(self) -> RegionBins:
        """The slots as accumulation bins (the spare slot last), for sums and gathers."""
        return RegionBins.of(self.pixel_slot, self.kmax + 1)

    def region_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum per-pixel ``values`` (B, C, H*W) over each region: (B, C, Kmax) (see :meth:`RegionBins.sum`)."""
        return self.bins.sum(values)[..., :-1]

    def gather(self, grid: torch.Tensor) -> torch.Tensor:
        """Spread per-region values (B, C, Kmax) back to the pixels: (B, C, H*W); 0 if ignored."""
        return self.bins.spread(F.pad(grid, (0, 1)))


#: Accumulator copies per bin in CPU scatters (see :class:`RegionBins`).
_LANES = 8


@dataclass(frozen=True)
class RegionBins:
    """Each pixel's accumulation bin, for losses that only need per-region sums.

    Bin ``k < bins - 1`` of an image holds one region (its id itself when ids are small, else a
    compact slot); the last bin collects ignored pixels and is dropped after accumulation. Empty
    bins are harmless: their sums and counts are 0.

    Attributes:
        key: (B, H*W) int64 bin of each pixel.
        bins: bins per image, the spare one included.
        lanes: (B, H*W) int64, ``key + (pixel % 8) * bins`` on CPU (None on CUDA): a scatter-add
            adds each pixel to one of 8 copies of its bin.
    """

    key: torch.Tensor
    bins: int
    lanes: torch.Tensor | None = None

    @classmethod
    def of(cls, key: torch.Tensor, bins: int) -> RegionBins:
        """Bins ``key`` (B, H*W) in [0, bins), with the 8-lane keys on CPU."""
        if key.is_cuda:
            return cls(key, bins)
        return cls(key, bins, key + torch.arange(key.shape[1], device=key.device) % _LANES * bins)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Per-bin sums of ``values`` (B, C, H*W): (B, C, bins), the spare bin last.

        Neighbouring pixels mostly share a region, so a plain CPU scatter-add waits on the previous
        add to the same address for nearly every pixel; spreading neighbours over 8 copies of each
        bin (summed at the end) breaks that chain, 4x faster for 2 regions at 256x256
        (``cas-studio bench loss``). On CUDA float atomics would make sums vary from run to run,
        so ``index_put_(accumulate=True)`` sorts and stays deterministic.
        """
        b, c, p = values.shape
        if values.is_cuda or self.lanes is None:
            flat = self.key + torch.arange(b, device=values.device).unsqueeze(1) * self.bins
            rows = values.permute(0, 2, 1).expand(b, p, c).reshape(b * p, c)
            out = values.new_zeros(b * self.bins, c).index_put((flat.reshape(-1),), rows, accumulate=True)
            return out.reshape(b, self.bins, c).permute(0, 2, 1)
        out = values.new_zeros(b, c, _LANES * self.bins)
        out.scatter_add_(2, self.lanes.unsqueeze(1).expand(b, c, p), values)
        return out.view(b, c, _LANES, self.bins).sum(2)

    def count(self, dtype: torch.dtype) -> torch.Tensor:
        """Pixels per bin: (B, 1, bins) of ``dtype``."""
        b, p = self.key.shape
        # float32 stops counting at 2^24 (adding 1 no longer changes the sum): count in float64 there.
        acc = torch.float64 if p >= 1 << 24 and dtype != torch.float64 else dtype
        return self.sum(torch.ones((), dtype=acc, device=self.key.device).expand(b, 1, p)).to(dtype)

    def spread(self, table: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
        """Per-bin values (B, C, bins) back to the pixels: (B, C, H*W), written into ``out`` if given."""
        b, c, _ = table.shape
        return torch.gather(table, 2, self.key.unsqueeze(1).expand(b, c, self.key.shape[1]), out=out)


def _flat_ids(target: torch.Tensor, ignore_index: int, name: str) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(B, H*W) int64 ids, the ignored-pixel mask (None when ``ignore_index`` cannot occur: no
    masking at all) and the largest id kept; ``ValueError`` for ids outside [0, MAX_REGION_ID]."""
    flat = target.reshape(target.shape[0], -1).to(torch.int64)
    lo, hi = (int(v) for v in torch.aminmax(flat))
    ignored = None if (lo > ignore_index or hi < ignore_index) else flat == ignore_index
    if ignored is not None:
        lo, hi = (int(v) for v in torch.aminmax(torch.where(ignored, 0, flat)))
    if lo < 0 or hi > MAX_REGION_ID:
        raise ValueError(f"{name}: region ids must lie in [0, {MAX_REGION_ID}] (or equal "
                         f"ignore_index={ignore_index}), found {lo if lo < 0 else hi}")
    return flat, ignored, hi


def region_bins(target: torch.Tensor, ignore_index: int, *, name: str) -> RegionBins:
    """Bins of the regions of each image: the ids themselves when they are few enough to index a
    table directly (no renumbering pass), else the compact slots of :func:`index_regions`."""
    flat, ignored, hi = _flat_ids(target, ignore_index, name)
    if hi + 1 > max(256, flat.shape[1] // 4):  # sparse ids: per-bin tables would outweigh the pixels
        return index_regions(target, ignore_index, name=name).bins
    return RegionBins.of(flat if ignored is None else torch.where(ignored, hi + 1, flat), hi + 2)


def index_regions(target: torch.Tensor, ignore_index: int, *, name: str) -> RegionIndex:
    """Number the regions of each image compactly, in one pass over the pixels."""
    b = target.shape[0]
    flat, ignored, hi = _flat_ids(target, ignore_index, name)
    valid = None if ignored is None else ~ignored
    span = hi + 1
    rows = torch.arange(b, device=flat.device).unsqueeze(1)
    if valid is None:
        valid = torch.ones_like(flat, dtype=torch.bool)
        all_valid = True
    else:
        all_valid = False
    if b * span <= max(_DENSE_BIN_LIMIT, 4 * flat.numel()):
        # Dense path: count every possible (image, id) pair; ignored pixels go to one extra bin.
        key = flat + rows * span if all_valid else torch.where(valid, flat + rows * span, b * span)
        counts = torch.bincount(key.reshape(-1), minlength=b * span + 1)[: b * span].reshape(b, span)
        present_ids = counts > 0
        slot_of_id = torch.cumsum(present_ids, 1) - 1
        per_image = present_ids.sum(1)
        kmax = int(per_image.max()) if b else 0
        if all_valid and bool(present_ids.all()):
            pixel_slot = flat  # ids are already 0..K-1 in every image (binary masks, compact maps)
        elif all_valid:
            pixel_slot = slot_of_id.gather(1, flat)
        else:
            pixel_slot = torch.where(valid, slot_of_id.gather(1, torch.where(valid, flat, 0)), kmax)
        img, ids = torch.nonzero(present_ids, as_tuple=True)
        sizes = counts[img, ids]
    else:
        key = torch.where(valid, flat + rows * span, -1)
        uniq, inverse, sizes = torch.unique(key, return_inverse=True, return_counts=True)
        keep = uniq >= 0
        if not bool(keep[0]):  # -1 (ignored pixels) sorts first
            inverse, uniq, sizes = inverse - 1, uniq[1:], sizes[1:]
        img = torch.div(uniq, span, rounding_mode="floor")
        ids = uniq - img * span
        per_image = torch.bincount(img, minlength=b)
        kmax = int(per_image.max()) if b else 0
        start = torch.cumsum(per_image, 0) - per_image
        pixel_slot = torch.where(valid, inverse - start.unsqueeze(1), kmax)
    start = torch.cumsum(per_image, 0) - per_image
    slot = torch.arange(img.numel(), device=flat.device) - start[img]
    region_id = torch.zeros(b, kmax, dtype=torch.int64, device=flat.device)
    region_id[img, slot] = ids
    region_size = torch.zeros_like(region_id)
    region_size[img, slot] = sizes
    return RegionIndex(
        pixel_slot=pixel_slot,
        present=region_size > 0,
        region_id=region_id,
        region_size=region_size,
        regions_per_image=per_image,
        kmax=kmax,
    )
