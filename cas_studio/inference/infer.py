"""Inference: saliency maps and region label maps from a loaded model, at the image's own size.

Large images are resized so that their longer side equals the model's training ``input_size``
(a CAS model's output is a smooth per-region code, so it upsamples well); the probabilities are
then resized back to the original resolution. Images are never tiled: tiling would number the
regions of each tile independently.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.transforms import to_tensor
from ..io import to_rgb8
from ..models.weights import check_flip_average, check_temperature, info_of
from .decoders import DEFAULT_DECODER, get_decoder


def model_input_size(model: nn.Module) -> int:
    """The side length a model was trained at (its weights metadata; 320 for a fresh network)."""
    return int(info_of(model).input_size)


def _prepare(model: nn.Module, image: np.ndarray, size: int | None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Normalised (3, h, w) network input (longer side = ``size``, multiples of 8) and the original size."""
    image = to_rgb8(image)
    h, w = image.shape[:2]
    side = size or model_input_size(model)
    scale = side / max(h, w)
    # Multiples of 8 keep the network's stride arithmetic exact.
    nh, nw = max(8, int(round(h * scale / 8)) * 8), max(8, int(round(w * scale / 8)) * 8)
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    info = info_of(model)
    return to_tensor(small, info.mean, info.std), (h, w)


def inference_options(model: nn.Module, *, flip: bool | None = None,
                      temperature: float | None = None) -> tuple[bool, float]:
    """(flip, temperature) for a prediction: the arguments where given, else what the weights record.

    Flip averaging is refused for region models: their channels may swap between an image and its
    mirror image, so averaging the two would blend unrelated regions.
    """
    info = info_of(model)
    if flip is None:
        flip = bool(info.flip_average)
    else:
        check_flip_average(bool(flip), info.task)
    if temperature is None:
        temperature = info.temperature
    return bool(flip), check_temperature(temperature)


@torch.inference_mode()
def predict_probabilities(model: nn.Module, image: np.ndarray | Sequence[np.ndarray], *,
                          size: int | None = None, batch_size: int = 8, flip: bool | None = None,
                          temperature: float | None = None) -> np.ndarray | list[np.ndarray]:
    """Softmax output at the image's size: (M, H, W) float32, or a list of them for a list of images.

    Args:
        model: a segmentation network returning (B, M, h, w) logits.
        image: HxWx3 uint8 RGB (gray / RGBA / 16-bit are converted), or a list of them; images of
            the same shape are run through the network together, ``batch_size`` at a time.
        size: longer side fed to the network (default: the model's training size).
        flip: average the logits of each image and of its mirror image (two network passes);
            default: what the weights record (``WeightsInfo.flip_average``), else off.
        temperature: softmax temperature T, ``softmax(logits / T)``; default: what the weights
            record, else 1.
    """
    flip, temperature = inference_options(model, flip=flip, temperature=temperature)
    single = not isinstance(image, (list, tuple))
    images = [image] if single else list(image)
    device = next(model.parameters()).device
    prepared = [_prepare(model, im, size) for im in images]
    out: list[np.ndarray | None] = [None] * len(images)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (x, _) in enumerate(prepared):
        groups.setdefault(tuple(x.shape), []).append(i)
    for idx in groups.values():
        for start in range(0, len(idx), batch_size):
            chunk = idx[start:start + batch_size]
            x = torch.stack([prepared[i][0] for i in chunk]).to(device)
            if flip:
                # Logits, not probabilities, are averaged: the mean of two softmaxes is blurrier
                # and lowered adaptive F-beta on DUTS-TE val, where the mean of logits raised it.
                # The mirror images ride in the same batch: one call of 2n images costs 0.65x two
                # calls of n on a CPU (cas-studio bench infer).
                both = model(torch.cat([x, x.flip(-1)])).float()
                logits = 0.5 * (both[: len(chunk)] + both[len(chunk):].flip(-1))
            else:
                logits = model(x).float()
            probs = torch.softmax(logits / temperature, dim=1)
            for k, i in enumerate(chunk):
                p = F.interpolate(probs[k:k + 1], size=prepared[i][1], mode="bilinear", align_corners=False)
                out[i] = p[0].cpu().numpy()
    return out[0] if single else out


def saliency_channel(model: nn.Module) -> int:
    """The channel that means "salient": from the weights metadata, else channel 1."""
    channel = info_of(model).saliency_channel
    return 1 if channel is None else int(channel)


def predict_saliency(model: nn.Module, image: np.ndarray, *, size: int | None = None,
                     channel: int | None = None, flip: bool | None = None,
                     temperature: float | None = None) -> np.ndarray:
    """Saliency map: HxW float32 in [0, 1] at the image's size (the saliency channel's softmax)."""
    probs = predict_probabilities(model, image, size=size, flip=flip, temperature=temperature)
    return probs[saliency_channel(model) if channel is None else channel]


def choose_saliency_channel(probabilities: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> int:
    """The paper's rule: the channel whose output correlates best with the ground truth.

    ``probabilities`` are (M, H, W) softmax outputs and ``masks`` the matching binary masks of a
    validation set.
    """
    if not probabilities:
        raise ValueError("need at least one validation image to choose the saliency channel")
    m = probabilities[0].shape[0]
    flat_gt = np.concatenate([np.asarray(g, dtype=np.float64).ravel() > 0 for g in masks]).astype(np.float64)
    scores = []
    for c in range(m):
        pred = np.concatenate([p[c].ravel() for p in probabilities]).astype(np.float64)
        if pred.std() == 0 or flat_gt.std() == 0:
            scores.append(-np.inf)
        else:
            scores.append(float(np.corrcoef(pred, flat_gt)[0, 1]))
    return int(np.argmax(scores))


#: Ceiling of the automatic threshold: the two-channel softmax's own decision boundary.
MAX_AUTO_THRESHOLD = 0.5


def adaptive_threshold(saliency: np.ndarray) -> float:
    """The automatic saliency threshold: 2 x mean saliency (the paper's rule), at most 0.5.

    The ceiling matters for large objects: past half the image, 2 x mean passes the largest
    values and the mask shrinks to a sliver (a portrait's face instead of the person).
    """
    return min(2.0 * float(np.mean(saliency)), MAX_AUTO_THRESHOLD)


def binarize(saliency: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Binary mask: saliency >= ``threshold``, by default :func:`adaptive_threshold`."""
    t = adaptive_threshold(saliency) if threshold is None else float(threshold)
    return saliency >= t


@torch.inference_mode()
def encoder_features(model: nn.Module, image: np.ndarray, *, size: int | None = None, level: int = 1) -> np.ndarray:
    """(C, h, w) float32 feature map of the model's encoder on ``image`` (level 1: stride 8).

    Only the EfficientNet-Lite FPN models expose their encoder's levels (strides 4, 8, 16, 32).
    """
    net = getattr(model, "net", None)
    if not hasattr(net, "encoder"):
        raise ValueError(f"the cluster decoder needs an EfficientNet-Lite FPN model, got {getattr(model, 'arch', type(model).__name__)}")
    x, _ = _prepare(model, image, size)
    device = next(model.parameters()).device
    feats = net.encoder(x.unsqueeze(0).to(device))
    return feats[level][0].float().cpu().numpy()


def decode_regions(model: nn.Module, probs: np.ndarray, image: np.ndarray, *, decoder: dict | None = None,
                   min_size: int = 64, size: int | None = None) -> np.ndarray:
    """HxW int32 region ids 0..N-1 from a model's (M, H, W) output on ``image``.

    ``decoder`` says how the CAS code becomes regions: ``{"method": "argmax"}`` (arg-max channel
    plus connected components, :func:`labels_from_probabilities`), ``{"method": "merge",
    "scale": ..., "threshold": ...}`` (superpixels merged by their code,
    :func:`cas_studio.inference.grouping.regions_from_code`) or ``{"method": "cluster", "clusters": ...,
    "threshold": ..., "sigma": ...}`` (the encoder's features at input ``size`` clustered,
    :func:`cas_studio.inference.clustering.regions_from_features`; for textures). By default, what the
    model's weights record, else arg-max.
    """
    spec = dict(decoder if decoder is not None else info_of(model).decoder)
    chosen = get_decoder(spec.pop("method", DEFAULT_DECODER))
    return chosen.run(probs, image, spec, min_size=min_size,
                      features=lambda: encoder_features(model, image, size=size))


#: Regions are decoded on at most this many pixels (the network sees 384-512 px anyway); a larger
#: image's labels are up-sampled (nearest), so its M float32 channels never sit in memory at full
#: size (32 channels of a 40 MP photo are 5 GB). A 40 MP photo through ``predict --task regions``:
#: 1.75 GB peak and 16 s here, against 2.5 GB at 2 MP.
DECODE_PIXELS = 1_000_000


def working_copy(image: np.ndarray, max_pixels: int | None = None) -> tuple[np.ndarray, float]:
    """``image`` shrunk (area-averaged) to at most ``max_pixels`` (default :data:`DECODE_PIXELS`),
    and the side scale (1: as it is)."""
    max_pixels = DECODE_PIXELS if max_pixels is None else max_pixels
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return image, 1.0
    s = (max_pixels / (h * w)) ** 0.5
    # Rounded down: the copy never exceeds ``max_pixels``.
    small = cv2.resize(to_rgb8(image), (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    return small, s


def predict_regions(model: nn.Module, image: np.ndarray, *, size: int | None = None,
                    min_size: int = 64, decoder: dict | None = None) -> np.ndarray:
    """Region label map: HxW int32 ids 0..N-1 at the image's size (see :func:`decode_regions`).

    Images over :data:`DECODE_PIXELS` are decoded on a working copy of that size and the labels
    up-sampled, so memory stays bounded whatever the photo.
    """
    small, s = working_copy(image)
    probs = predict_probabilities(model, small, size=size)
    labels = decode_regions(model, probs, small, decoder=decoder, min_size=max(1, round(min_size * s * s)), size=size)
    return labels if s == 1.0 else cv2.resize(labels, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
