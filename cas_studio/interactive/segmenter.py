"""``ClickSegmenter``: a click gives a whole object, more clicks refine it.

The network (``efficientnet_lite1_fpn_clicks``) takes the image plus three maps: disks at the
positive clicks, disks at the negative clicks and the previous mask, and returns a 2-channel
object / background code. After the first click the segmenter *zooms in* (RITM, FocalClick): it
crops around the current object and the clicks, with a margin, and runs again at the network's
resolution, so a small object or a thin part gets the network's full input.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..io import to_rgb8
from ..inference.tasks import get_task
from ..models.weights import info_of, load_model
from .clicks import DISK_RADIUS, Click, check_clicks
from .network import network_input, object_logit

#: Margin added around the object and the clicks when zooming in, as a fraction of the box side.
ZOOM_MARGIN = 0.4
#: A zoom box smaller than this fraction of the image's longer side is grown to it.
ZOOM_MIN = 0.2
#: No zoom when the box already covers this much of the image's area.
ZOOM_SKIP = 0.7


def zoom_box(mask: np.ndarray, clicks: Sequence[Click], shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The crop ``(top, left, bottom, right)`` around ``mask`` and ``clicks``, or ``None`` for no zoom.

    The box holds the mask's pixels and every click, grown by :data:`ZOOM_MARGIN` of its side, at
    least :data:`ZOOM_MIN` of the image's longer side, clipped to the image; ``None`` when it would
    cover :data:`ZOOM_SKIP` of the image or more.
    """
    height, width = shape
    ys, xs = np.nonzero(mask)
    xs = np.concatenate([xs, [c[0] for c in clicks]])
    ys = np.concatenate([ys, [c[1] for c in clicks]])
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    min_side = ZOOM_MIN * max(height, width)
    bh = max((y1 - y0) * (1 + 2 * ZOOM_MARGIN), min_side)
    bw = max((x1 - x0) * (1 + 2 * ZOOM_MARGIN), min_side)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    top, bottom = int(max(0, cy - bh / 2)), int(min(height, np.ceil(cy + bh / 2)))
    left, right = int(max(0, cx - bw / 2)), int(min(width, np.ceil(cx + bw / 2)))
    if (bottom - top) * (right - left) >= ZOOM_SKIP * height * width:
        return None
    return top, left, bottom, right


class ClickSegmenter:
    """Click-to-object segmentation with a shipped or trained click model.

    Args:
        weights: a weights name (``clicks``), a path to a click model's ``.safetensors``, or a
            click model already loaded with :func:`cas_studio.models.weights.load_model`.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        input_size: the network's input long side (default: what the weights record).
        zoom: zoom in around the object after the first click.

    Example:
        >>> import numpy as np
        >>> seg = ClickSegmenter()
        >>> image = np.zeros((120, 160, 3), np.uint8); image[30:90, 40:120] = 255
        >>> seg.set_image(image)
        >>> mask = seg.predict([(80, 60, True)])
        >>> mask.shape, mask.dtype
        ((120, 160), dtype('bool'))
    """

    def __init__(self, weights: str | os.PathLike | torch.nn.Module = "clicks", device: str | torch.device = "auto", *,
                 input_size: int | None = None, zoom: bool = True) -> None:
        # A loaded model may be shared by several segmenters (one per app session).
        self.model = weights if isinstance(weights, torch.nn.Module) else load_model(weights, device)
        info = info_of(self.model)  # a module passed in need not be a SegmentationNet
        if not get_task(info.task).click_maps or getattr(self.model, "extra_inputs", 0) != 3:
            raise ValueError(f"{weights}: a {info.task} model, not a click model (its metadata task must be "
                             "'clicks', with click maps as 3 extra inputs)")
        self.device = next(self.model.parameters()).device
        self.input_size = int(input_size or info.input_size)
        self.zoom = zoom
        self._mean, self._std = info.mean, info.std
        self._image: np.ndarray | None = None
        self._last: tuple[list[Click], np.ndarray] | None = None

    def set_image(self, image: np.ndarray) -> None:
        """Take a new image (HxWx3 RGB, HxW gray or HxWx4); forget the previous image's clicks."""
        self._image = to_rgb8(np.asarray(image), source="image")
        self._last = None
        # The pinned disk is as large as the network's click disk at full view (at least 1 px).
        self._pin_radius = max(1, round(DISK_RADIUS * max(self._image.shape[:2]) / self.input_size / 2))

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the current image."""
        if self._image is None:
            raise RuntimeError("no image set: call set_image(image) first")
        return self._image.shape[:2]

    def predict_probability(self, clicks: Sequence[Click], previous: np.ndarray | None = None) -> np.ndarray:
        """The object's probability map (HxW float32 in [0, 1]) given ``clicks``; see :meth:`predict`."""
        shape = self.shape
        clicks = check_clicks(clicks, shape)
        if previous is not None:
            previous = np.asarray(previous)
            if previous.shape != shape:
                raise ValueError(f"previous mask is {previous.shape[1]}x{previous.shape[0]} but the image is "
                                 f"{shape[1]}x{shape[0]}")
            prev = previous.astype(np.float32)
        elif self._last is not None and clicks[:len(self._last[0])] == self._last[0] and len(clicks) > len(self._last[0]):
            prev = self._last[1]  # the same object, one more click: feed back what the person saw
        else:
            prev = np.zeros(shape, np.float32)
        shown = prev > 0.5
        box = zoom_box(shown, clicks, shape) if self.zoom and shown.any() else None
        top, left, bottom, right = box or (0, 0, *shape)
        prob = self._run(clicks, prev, (top, left, bottom, right))
        out = prev.copy() if box is not None else np.zeros(shape, np.float32)
        out[top:bottom, left:right] = prob
        # A click is a hard constraint where it lands: a person who clicks a pixel negative expects
        # that pixel out of the object, whatever the network made of the click.
        for x, y, positive in clicks:
            cv2.circle(out, (x, y), self._pin_radius, 1.0 if positive else 0.0, -1)
        self._last = (clicks, out)
        return out

    def predict(self, clicks: Sequence[Click], previous: np.ndarray | None = None) -> np.ndarray:
        """The object mask given ``clicks``.

        Parameters
        ----------
        clicks : list of (x, y, positive) in image pixels; at least one
        previous : optional HxW mask (bool or probability) of the object so far, to refine an
            existing region. Without it, the segmenter's own last mask is used when ``clicks``
            extends the clicks of its last call on this image (a person adding a click).

        Returns
        -------
        HxW bool mask at the image's size, True on the object.
        """
        return self.predict_probability(clicks, previous) > 0.5

    @torch.inference_mode()
    def _run(self, clicks: list[Click], prev: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The network on the crop ``box`` at the input size; probability at the crop's size."""
        top, left, bottom, right = box
        ch, cw = bottom - top, right - left
        scale = self.input_size / max(ch, cw)
        h, w = max(1, round(ch * scale)), max(1, round(cw * scale))
        crop = np.ascontiguousarray(self._image[top:bottom, left:right])
        image = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        local = [((x - left + 0.5) * w / cw - 0.5, (y - top + 0.5) * h / ch - 0.5, p) for x, y, p in clicks
                 if top <= y < bottom and left <= x < right]
        prev_small = cv2.resize(np.ascontiguousarray(prev[top:bottom, left:right]), (w, h), interpolation=cv2.INTER_LINEAR)
        x = network_input(torch.from_numpy(image)[None], [local], torch.from_numpy(prev_small)[None, None],
                          mean=self._mean, std=self._std)
        prob = torch.sigmoid(object_logit(self.model, x.to(self.device)))[0].cpu().numpy()
        return cv2.resize(prob, (cw, ch), interpolation=cv2.INTER_LINEAR)
