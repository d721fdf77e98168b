"""Propagation: annotate a few frames of a video, get the same regions on every frame.

A copy of a base model is fine-tuned on the annotated frames alone with the CAS loss (class-free:
region ids are just ids, any number of regions), within a time budget, as OSVOS (Caelles et al.,
CVPR 2017) fine-tunes a foreground network on a video's first frame. Then each annotated region's
mean output is its *prototype*, and every pixel of every other frame takes the region whose
prototype is nearest: the ids a person gave come back out, on every frame.

Example:
    >>> import numpy as np
    >>> from cas_studio.video import Frames, PropagateOptions, propagate
    >>> frames = [np.full((64, 96, 3), 40, np.uint8) for _ in range(3)]
    >>> for f in frames:
    ...     f[16:48, 20:60] = 220
    >>> mask = np.zeros((64, 96), np.int32); mask[16:48, 20:60] = 255
    >>> out = list(propagate(Frames.from_arrays(frames), {0: mask}, options=PropagateOptions(steps=2, size=64)))
    >>> [i for i, _ in out], [set(np.unique(m).tolist()) <= {0, 255} for _, m in out]
    ([0, 1, 2], [True, True, True])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..data.transforms import to_tensor
from ..io import to_rgb8
from ..losses import cas_loss
from ..models.weights import load_model, resolve_device
from ..training.budget import Budget
from .frames import Frames


#: Mean region IoU between the annotation and the base model's own output decoded by nearest
#: prototype, under which the base does not tell the annotated regions apart and the output layer
#: is imprinted. On 8 hard `davis` sequences at 60 steps the saliency head kept as it is gave J
#: 0.659, imprinted 0.635: where the base model already finds the annotated object, its head is
#: the better start; where it finds another object (a salient thing that is not the annotated
#: one), the imprinted head is.
SEPARATED = 0.7

#: The fine-tune's scale range for more than two regions: small moves between frames.
NEAR = (0.8, 1.25)

#: Fine-tune steps over which the learning rate rises linearly to its value.
WARMUP_STEPS = 10


class PropagationError(ValueError):
    """The frames or annotations cannot be propagated; the message says why."""


@dataclass(frozen=True)
class PropagateOptions:
    """How a propagation fine-tunes and labels.

    Attributes:
        model: the base model (a shipped name or a ``.safetensors`` path): a foreground network for
            one object, its code is what the fine-tune adapts.
        seconds: the fine-tune's time budget (labelling the frames comes on top).
        steps: the most fine-tune steps (the budget usually ends it first on a CPU).
        size: the working long side in pixels, for training and labelling.
        batch: augmented copies of the annotated frames per step.
        lr: AdamW learning rate of the decoder (the encoder takes a third).
        alpha: the CAS loss's uniformer weight.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: the augmentation's random seed.
        frozen_blocks: the encoder's stem and first blocks kept as they are (no backward through
            them: faster steps).
        flip: label each frame by the mean output of it and its mirror image (two passes; on 8
            hard `davis` sequences at 60 steps J 0.635 -> 0.647).
        imprint: start the output layer from the annotated regions (:func:`imprint_head`). None
            (the default) imprints when the base model's own output does not already tell the
            annotated regions apart (mean region IoU under :data:`SEPARATED`) and whenever there
            are more than two regions; False keeps the base model's head (a new, random one
            for more regions than it has channels).
        zoom: the range of the fine-tune's random scale (log-uniform); above 1.25x it zooms in
            around the annotated object, as when it comes closer. Objects in `davis` grow up to
            8x in area within a sequence; on the 8 sequences propagation's options were chosen
            on, at 80 steps, J was 0.647 with (0.8, 1.25), 0.695 with (0.7, 3.0) and 0.713 with
            (0.6, 4.0). For more than two regions the range is :data:`NEAR`.
        near_share: the share of each batch's copies that keep to :data:`NEAR` whatever ``zoom``
            says (the first ``round(batch * near_share)`` copies). Every copy zoomed wide lost on
            sequences whose object keeps its size: on all 30 `davis` sequences (45 s budget, one
            thread beside another run) J was 0.766 with (0.8, 1.25) and no base vote, 0.748 with
            every copy wide and the vote, 0.773 with half the copies near and the vote (chosen
            on the 8 sequences: 0.660, 0.698, 0.727; on the other 22: 0.805, 0.766, 0.790).
        base_vote: the weight of the un-tuned base model's own vote: its output, with its own
            prototypes of the annotated regions, adds this times its squared distances to the
            fine-tuned ones, a guard against a fine-tune that over-fits the annotated frames
            (on those 8 sequences at 80 steps, J 0.647 -> 0.665, 0.695 -> 0.712 and 0.713 ->
            0.713 with the three zooms; 0 turns it off, saving one pass a frame).
    """

    model: str = "saliency"
    seconds: float = 45.0
    steps: int = 400
    size: int = 384
    batch: int = 2
    lr: float = 1e-3
    alpha: float = 0.5
    device: str = "auto"
    seed: int = 0
    imprint: bool | None = None
    frozen_blocks: int = 0
    flip: bool = True
    zoom: tuple[float, float] = (0.6, 4.0)
    near_share: float = 0.5
    base_vote: float = 1.0


@dataclass(frozen=True)
class Progress:
    """One progress report: ``stage`` is ``"fine-tune"`` or ``"label"``; ``eta_s`` the seconds left."""

    stage: str
    done: int
    total: int
    elapsed_s: float
    eta_s: float | None


def region_table(annotations: Mapping[int, np.ndarray], *, ignore: int | None = None) -> np.ndarray:
    """The sorted region ids used across ``annotations`` (``ignore`` left out), checked.

    Raises:
        PropagationError: no annotation, or fewer than two regions in all (an empty mask is one).
    """
    if not annotations:
        raise PropagationError("no annotated frame: annotate at least one frame to propagate from")
    ids = np.unique(np.concatenate([np.unique(np.asarray(a)) for a in annotations.values()]))
    if ignore is not None:
        ids = ids[ids != ignore]
    if len(ids) < 2:
        what = f"only region {ids[0]}" if len(ids) else "no region"
        raise PropagationError(f"the annotations hold {what}: propagation needs at least two regions "
                               "(an empty mask has nothing to follow)")
    return ids


def _check_annotation(index: int, labels: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise PropagationError(f"annotation of frame {index}: expected an HxW label map, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != np.bool_:
        raise PropagationError(f"annotation of frame {index}: expected integer region ids, got {labels.dtype}")
    if labels.shape != tuple(frame_shape[:2]):
        raise PropagationError(f"annotation of frame {index} is {labels.shape[1]}x{labels.shape[0]} but the frame "
                               f"is {frame_shape[1]}x{frame_shape[0]}")
    return labels.astype(np.int64)


def _working_size(h: int, w: int, side: int) -> tuple[int, int]:
    scale = side / max(h, w)
    return max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32)


def _augment(image: np.ndarray, target: np.ndarray, rng: np.random.Generator, *,
             zoom: tuple[float, float] = (0.8, 1.25)) -> tuple[np.ndarray, np.ndarray]:
    """A random similarity transform (scale, shift, small rotation, flip) and colour jitter, OSVOS-style:
    what the object may do between frames. Pixels warped in from outside are ignored (-1).

    The scale is log-uniform in ``zoom``. Beyond 1.25x the zoom centres on a pixel of a region other
    than the largest (the object, in a 0/255 mask), put anywhere in the middle half of the view, so
    an object that comes closer is still seen whole or in part rather than zoomed out of view.
    """
    h, w = target.shape
    angle = rng.uniform(-10, 10)
    scale = float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
    centre = np.array([w / 2, h / 2])
    to = centre + rng.uniform(-0.1, 0.1, 2) * (w, h)
    if scale > 1.25:
        ids, counts = np.unique(target[target >= 0], return_counts=True)
        if len(ids) > 1:
            region = rng.choice(ids[np.arange(len(ids)) != int(np.argmax(counts))])
            ys, xs = np.nonzero(target == region)
            k = int(rng.integers(len(ys)))
            centre = np.array([xs[k], ys[k]], float)
            to = np.array([w, h]) * rng.uniform(0.25, 0.75, 2)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    m[:, 2] += to - centre
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    target = cv2.warpAffine(target.astype(np.float32), m, (w, h), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=-1).astype(np.int64)
    if rng.random() < 0.5:
        image, target = image[:, ::-1], target[:, ::-1]
    x = image.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    return np.clip(x, 0, 255).astype(np.uint8), np.ascontiguousarray(target)


class Propagator:
    """A base model fine-tuned on annotated frames, and the region prototypes that label new frames.

    Build it with :meth:`fit`; :meth:`label` gives one frame's label map in the annotations' ids.
    """

    def __init__(self, model: torch.nn.Module, ids: np.ndarray, prototypes: torch.Tensor,
                 frame_shape: tuple[int, int], work: tuple[int, int], *, steps: int, stopped: bool,
                 flip: bool = False, base: tuple[torch.nn.Module, torch.Tensor, float] | None = None) -> None:
        self.model, self.ids, self.prototypes = model, ids, prototypes
        self.frame_shape, self.work = frame_shape, work
        self.steps, self.stopped, self.flip = steps, stopped, flip
        self.base = base  # (the un-tuned model, its prototypes, its vote's weight)

    @classmethod
    def fit(cls, annotated: Mapping[int, tuple[np.ndarray, np.ndarray]], *,
            options: PropagateOptions = PropagateOptions(), ignore: int | None = None,
            progress: Callable[[Progress], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> Propagator:
        """Fine-tune on ``{frame index: (frame, label map)}`` and compute the prototypes.

        Args:
            annotated: each annotated frame (HxWx3) with its HxW integer label map (any ids).
            options: the base model and the fine-tune's budget.
            ignore: a label value that marks unannotated pixels (neither trained nor a region).
            progress: called after every step with a :class:`Progress`.
            should_stop: polled every step; True ends the fine-tune early (the result still labels).

        Raises:
            PropagationError: no annotated frame, annotated frames of different sizes, a label map
                that is not HxW integers of its frame's size, fewer than two regions in all.
        """
        if not annotated:
            raise PropagationError("no annotated frame: annotate at least one frame to propagate from")
        frames, labels = {}, {}
        shape = None
        for i, (frame, lab) in sorted(annotated.items()):
            frame = to_rgb8(frame, source=f"frame {i}")
            if shape is not None and frame.shape[:2] != shape:
                raise PropagationError(f"frame {i} is {frame.shape[1]}x{frame.shape[0]} but frame "
                                       f"{min(annotated)} is {shape[1]}x{shape[0]}: all frames must share one size")
            shape = frame.shape[:2]
            frames[i], labels[i] = frame, _check_annotation(i, lab, frame.shape)
        ids = region_table(labels, ignore=ignore)
        device = resolve_device(options.device)
        model = load_model(options.model, "cpu", out_channels=max(len(ids), 2) if len(ids) > 2 else None)
        model = model.to(device)
        work = _working_size(*shape, options.size)
        small = {i: cv2.resize(f, work[::-1], interpolation=cv2.INTER_AREA) for i, f in frames.items()}
        # Region ids -> 0..N-1, ignored pixels -1; resizing by nearest neighbour keeps ids whole.
        index = {}
        for i, lab in labels.items():
            k = np.searchsorted(ids, lab).clip(0, len(ids) - 1)
            k[ids[k] != lab] = -1
            index[i] = cv2.resize(k.astype(np.float32), work[::-1], interpolation=cv2.INTER_NEAREST).astype(np.int64)
        base = None
        if options.base_vote > 0 or (options.imprint is None and len(ids) == 2):
            original = load_model(options.model, "cpu").to(device)
            seen = {i: _probabilities(original, small[i], device) for i in small}
            base = (original, _prototypes(seen, index, ids, work), float(options.base_vote))
        imprint = options.imprint
        if imprint is None:  # more than two regions: a new head, always imprinted
            imprint = len(ids) > 2 or _agreement(seen, index, base[1]) < SEPARATED
        if imprint:
            imprint_head(model, [small[i] for i in small], [index[i] for i in small], len(ids))
        steps, stopped = _finetune(model, small, index, options, device, progress, should_stop)
        tuned = {i: _probabilities(model, small[i], device) for i in small}
        return cls(model, ids, _prototypes(tuned, index, ids, work), shape, work, steps=steps, stopped=stopped,
                   flip=options.flip, base=base if options.base_vote > 0 else None)

    @torch.inference_mode()
    def label(self, frame: np.ndarray) -> np.ndarray:
        """HxW label map of ``frame`` in the annotations' ids: each pixel takes the nearest prototype."""
        frame = to_rgb8(frame, source="frame")
        if frame.shape[:2] != self.frame_shape:
            raise PropagationError(f"frame is {frame.shape[1]}x{frame.shape[0]} but the annotated frames are "
                                   f"{self.frame_shape[1]}x{self.frame_shape[0]}: all frames must share one size")
        device = next(self.model.parameters()).device
        small = cv2.resize(frame, self.work[::-1], interpolation=cv2.INTER_AREA)
        p = _probabilities(self.model, small, device)  # (M, h, w)
        if self.flip:
            p = 0.5 * (p + _probabilities(self.model, np.ascontiguousarray(small[:, ::-1]), device).flip(-1))
        dist = _distances(p, self.prototypes)  # (N, h, w)
        if self.base is not None:
            model, prototypes, weight = self.base
            dist += weight * _distances(_probabilities(model, small, device), prototypes)
        dist = dist.numpy()
        # Up-sampled before the arg-min so borders stay smooth.
        h, w = self.frame_shape
        up = np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) for d in dist])
        return self.ids[up.argmin(0)]


def _distances(probs: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """(N, h, w) squared distance of each pixel's (M, h, w) output to each of N prototypes."""
    return ((probs[None] - prototypes[:, :, None, None]) ** 2).sum(1)


def _prototypes(probs: dict, index: dict, ids: np.ndarray, work: tuple[int, int]) -> torch.Tensor:
    """(N, M) mean output of each annotated region, from each annotated frame's (M, h, w) output."""
    m = next(iter(probs.values())).shape[0]
    sums = torch.zeros(len(ids), m, dtype=torch.float64)
    counts = torch.zeros(len(ids), dtype=torch.float64)
    for i, out in probs.items():
        p = out.double().flatten(1)  # (M, hw)
        t = torch.from_numpy(index[i]).flatten()
        keep = t >= 0
        sums.index_add_(0, t[keep], p[:, keep].T)
        counts.index_add_(0, t[keep], torch.ones(int(keep.sum()), dtype=torch.float64))
    if (counts == 0).any():  # a region seen only in pixels smaller than the working size's grid
        missing = ids[(counts == 0).numpy()]
        raise PropagationError(f"region(s) {missing.tolist()[:5]} are too small to see at the working size "
                               f"{work[1]}x{work[0]}: raise the size or enlarge them")
    return (sums / counts[:, None]).float()


def _agreement(probs: dict, index: dict, prototypes: torch.Tensor) -> float:
    """Mean IoU, over the annotated regions, of the annotation and the annotated frames' outputs
    decoded by nearest prototype."""
    n = len(prototypes)
    inter, union = np.zeros(n), np.zeros(n)
    for i, p in probs.items():
        pred = _distances(p, prototypes).argmin(0).numpy()
        t = index[i]
        keep = t >= 0
        for k in range(n):
            a, b = (pred == k) & keep, t == k
            inter[k] += (a & b).sum()
            union[k] += (a | b).sum()
    return float(np.mean(inter / np.maximum(union, 1)))


@torch.inference_mode()
def _probabilities(model: torch.nn.Module, image: np.ndarray, device: torch.device) -> torch.Tensor:
    """(M, h, w) softmax output on the CPU for one working-size RGB image (BatchNorm as recorded)."""
    model.eval()
    x = to_tensor(image, model.info.mean, model.info.std)
    return torch.softmax(model(x[None].to(device)).float(), 1)[0].cpu()


@torch.no_grad()
def imprint_head(model: torch.nn.Module, images: Sequence[np.ndarray], targets: Sequence[np.ndarray], n: int, *,
                 scale: float = 4.0, max_pixels: int = 20_000) -> bool:
    """Set the output layer so each annotated region starts on a channel of its own; True if done.

    A head with new channels is random, and the CAS loss from there can settle with two regions on
    one channel (seen on three shapes: two pairs of regions shared two channels after 40 steps).
    Imprinting (as Qi et al., CVPR 2018, imprint a new class's weights) solves, by ridge regression
    from the last layer's input features to the region indices, for the 1x1 convolution whose
    logits are ``scale`` on a pixel's own region and 0 elsewhere. Which channel a region gets
    follows its index: an arbitrary order, as CAS allows. Networks whose output layer is not one
    1x1 convolution are left as they are.
    """
    layers = model.output_layers()
    if len(layers) != 1 or layers[0].kernel_size != (1, 1) or n > layers[0].out_channels:
        return False
    conv = layers[0]
    seen: list[torch.Tensor] = []
    hook = conv.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].float()))
    try:
        device = conv.weight.device
        info = model.info
        xs, ys = [], []
        for image, target in zip(images, targets):
            model(to_tensor(image, info.mean, info.std)[None].to(device))
            f = seen.pop()[0]  # (C, h, w) at the feature's stride
            t = cv2.resize(target.astype(np.float32), (f.shape[2], f.shape[1]), interpolation=cv2.INTER_NEAREST)
            keep = torch.from_numpy(t.ravel() >= 0)
            xs.append(f.flatten(1).T.cpu()[keep])
            ys.append(torch.from_numpy(t.ravel().astype(np.int64))[keep])
    finally:
        hook.remove()
    x, y = torch.cat(xs).double(), torch.cat(ys)
    if len(y) > max_pixels:
        pick = torch.from_numpy(np.random.default_rng(0).choice(len(y), max_pixels, replace=False))
        x, y = x[pick], y[pick]
    # Every region weighs the same in the fit, whatever its size (as in the CAS loss).
    w = (1.0 / torch.bincount(y, minlength=n).clamp_min(1).double())[y]
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    target = torch.full((len(y), conv.out_channels), 0.0, dtype=x.dtype)
    target[torch.arange(len(y)), y] = scale
    gram = (xb * w[:, None]).T @ xb
    ridge = 1e-3 * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=x.dtype)
    sol = torch.linalg.solve(gram + ridge, (xb * w[:, None]).T @ target)  # (C + 1, M)
    conv.weight.copy_(sol[:-1].T.reshape(conv.weight.shape).to(conv.weight))
    if conv.bias is not None:
        conv.bias.copy_(sol[-1].to(conv.bias))
    return True


def _finetune(model: torch.nn.Module, images: dict[int, np.ndarray], targets: dict[int, np.ndarray],
              options: PropagateOptions, device: torch.device, progress, should_stop) -> tuple[int, bool]:
    """The OSVOS-style fine-tune: BatchNorm frozen (a few images cannot re-estimate it), CAS loss."""
    model.eval()  # BatchNorm keeps its statistics; gradients still flow
    frozen = ("net.encoder._conv_stem.", "net.encoder._bn0.",
              *(f"net.encoder._blocks.{b}." for b in range(options.frozen_blocks)))
    for n, p in model.named_parameters():
        p.requires_grad_(not (options.frozen_blocks and n.startswith(frozen)))
    enc = [p for n, p in model.named_parameters() if n.startswith("net.encoder.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("net.encoder.")]
    opt = torch.optim.AdamW([{"params": enc, "lr": options.lr / 3}, {"params": rest, "lr": options.lr}],
                            weight_decay=1e-4)
    rng = np.random.default_rng(options.seed)
    keys = sorted(images)
    # Zoomed in on one region, a copy hides the others, and with more than two regions the CAS
    # loss then lets two of them share a code (the 3-shape test: 2 pairs on 2 channels, also with
    # the batch scored as one image): the wide zoom is for one object against the rest.
    ids = np.unique(np.concatenate([np.unique(t) for t in targets.values()]))
    zoom = options.zoom if (ids >= 0).sum() <= 2 else NEAR
    near = round(options.batch * options.near_share)
    info = model.info
    budget = Budget(options.steps, options.seconds, should_stop)
    bar = tqdm(total=options.steps, desc="fine-tune", unit="step", leave=False, disable=None)
    for step in budget:
        xs, ts = [], []
        for copy in range(options.batch):
            k = keys[int(rng.integers(len(keys)))]
            im, t = _augment(images[k], targets[k], rng, zoom=NEAR if copy < near else zoom)
            xs.append(to_tensor(im, info.mean, info.std))
            ts.append(torch.from_numpy(t))
        warm = min(1.0, (step + 1) / WARMUP_STEPS)  # Adam's first steps are large whatever the gradient
        for group, lr in zip(opt.param_groups, (options.lr / 3, options.lr)):
            group["lr"] = lr * warm
        logits = model(torch.stack(xs).to(device))
        loss = cas_loss(logits, torch.stack(ts).to(device), alpha=options.alpha, average=True)
        if not torch.isfinite(loss):
            raise PropagationError(f"the fine-tune's loss became {float(loss)} at step {step + 1}: lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        if progress is not None:
            done, elapsed = step + 1, budget.elapsed
            left = min(options.steps - done, max(0.0, options.seconds - elapsed) * done / max(elapsed, 1e-9))
            progress(Progress("fine-tune", done, options.steps, elapsed, left * elapsed / done))
    bar.close()
    return budget.done, budget.stopped


def propagate(frames: Frames | Sequence[np.ndarray], annotations: Mapping[int, np.ndarray], *,
              options: PropagateOptions = PropagateOptions(), ignore: int | None = None,
              progress: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Label every frame from the annotated ones: yields ``(frame index, HxW label map)`` in order.

    Annotated frames come out exactly as they went in (``ignore`` pixels included); every other
    frame gets the annotations' ids, each pixel the region whose fine-tuned prototype is nearest.
    Frames are read one at a time (a long 1080p video never sits in memory). The fine-tune
    happens before the first frame is yielded.

    Args:
        frames: a :class:`Frames` (a folder or a video) or a list of HxWx3 frames.
        annotations: ``{frame index: HxW integer label map}`` for the annotated frames; binary
            0/255 masks and region ids alike.
        options: the base model, the fine-tune's time budget and working size.
        ignore: a label value that marks unannotated pixels.
        progress: called with a :class:`Progress` after every fine-tune step and every frame.
        should_stop: polled between steps and frames; True ends the fine-tune early, then ends
            labelling (frames labelled so far have been yielded).

    Raises:
        PropagationError: see :meth:`Propagator.fit`; also an annotation index outside the frames.
    """
    if not isinstance(frames, Frames):
        frames = Frames.from_arrays(list(frames))
    n = len(frames)
    bad = [i for i in annotations if not 0 <= int(i) < n]
    if bad:
        raise PropagationError(f"annotation(s) for frame(s) {bad[:5]} but there are {n} frames")
    region_table(annotations, ignore=ignore)  # fail before reading any frame
    wanted = set(int(i) for i in annotations)
    annotated = {}
    for i, frame in enumerate(frames):
        if i in wanted:
            annotated[i] = (frame, annotations[i])
            if len(annotated) == len(wanted):
                break
    prop = Propagator.fit(annotated, options=options, ignore=ignore, progress=progress, should_stop=should_stop)
    if prop.stopped:
        return
    start = time.perf_counter()
    for i, frame in enumerate(tqdm(frames, total=n, desc="label", unit="frame", leave=False, disable=None)):
        if should_stop is not None and should_stop():
            return
        out = np.asarray(annotations[i]) if i in wanted else prop.label(frame)
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(Progress("label", i + 1, n, elapsed, elapsed / (i + 1) * (n - i - 1)))
        yield i, out
