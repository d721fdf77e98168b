"""Clicks: their checks, their encoding as input maps, and the standard NoC click protocol.

A click is ``(x, y, positive)`` in image pixels (column, row), as a person gives it: one click
lands on one pixel. Positive clicks say "this pixel is in the object", negative ones "it is not".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np

#: One click: column, row (image pixels) and whether it is positive.
Click = tuple[int, int, bool]

#: Radius of a click's disk at the network's input resolution, in pixels (RITM uses 5).
DISK_RADIUS = 5


def check_clicks(clicks: Sequence[Click], shape: tuple[int, int]) -> list[Click]:
    """``clicks`` as a list of ``(int x, int y, bool positive)``; ``ValueError`` naming a bad one.

    Parameters
    ----------
    clicks : sequence of (x, y, positive)
    shape : (height, width) of the image the clicks were given on

    Returns
    -------
    list of (int, int, bool): the clicks, checked to lie inside the image.
    """
    if len(clicks) == 0:
        raise ValueError("no clicks: give at least one (x, y, positive) click")
    height, width = shape
    out = []
    for i, click in enumerate(clicks):
        if len(click) != 3:
            raise ValueError(f"click {i} is {click!r}; expected (x, y, positive)")
        x, y, positive = click
        if not (float(x).is_integer() and float(y).is_integer()):
            raise ValueError(f"click {i} at ({x}, {y}): coordinates must be whole pixels")
        x, y = int(x), int(y)
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f"click {i} at (x={x}, y={y}) is outside the {width}x{height} image")
        out.append((x, y, bool(positive)))
    return out


def click_maps(clicks: Sequence[tuple[float, float, bool]], shape: tuple[int, int], *,
               radius: float = DISK_RADIUS) -> np.ndarray:
    """Disks of ``radius`` around the positive and the negative clicks.

    Parameters
    ----------
    clicks : (x, y, positive) in the coordinates of ``shape`` (may be fractional)
    shape : (height, width) of the maps

    Returns
    -------
    (2, height, width) float32: channel 0 is 1 inside a positive click's disk, channel 1 inside
    a negative one's, 0 elsewhere.
    """
    maps = np.zeros((2, *shape), np.float32)
    for x, y, positive in clicks:
        cv2.circle(maps[0 if positive else 1], (int(round(x)), int(round(y))), int(round(radius)), 1.0, -1)
    return maps


def farthest_from_border(mask: np.ndarray) -> tuple[int, int, float]:
    """The pixel of ``mask`` farthest from its border (the image's edge counts as border).

    Returns
    -------
    (x, y, distance): the pixel and its distance to the nearest pixel outside the mask; distance
    0 when the mask is empty.
    """
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y), float(dist[y, x])


def next_click(prediction: np.ndarray, target: np.ndarray) -> Click | None:
    """The standard NoC protocol's next click (Xu et al. 2016; RITM's evaluation).

    The click goes to the point farthest from the border of the larger error region: inside the
    false negatives it is positive, inside the false positives negative. For the first click
    (an empty ``prediction``) that is the object's interior point farthest from its border.

    Parameters
    ----------
    prediction, target : HxW bool masks

    Returns
    -------
    (x, y, positive), or ``None`` when the prediction has no error.
    """
    fn = target & ~prediction
    fp = prediction & ~target
    fx, fy, fd = farthest_from_border(fn)
    px, py, pd = farthest_from_border(fp)
    if max(fd, pd) == 0:
        return None
    return (fx, fy, True) if fd >= pd else (px, py, False)


def protocol_masks(predictor: Callable[[list[Click]], np.ndarray], target: np.ndarray, max_clicks: int, *,
                   stop_iou: float = 1.0, start: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """The prediction after each click of the NoC protocol (:func:`next_click`) on ``target``.

    ``predictor`` gets the clicks so far (a new list each time) and returns a bool mask. ``start``
    is the mask a person corrects (e.g. a propagated region; default: nothing yet), so the first
    click goes to its larger error. Stops after ``max_clicks`` clicks, when the prediction is
    exact, or once its IoU reaches ``stop_iou``.
    """
    pred = np.zeros_like(target, bool) if start is None else np.asarray(start, bool)
    clicks: list[Click] = []
    for _ in range(max_clicks):
        click = next_click(pred, target)
        if click is None:
            return
        clicks.append(click)
        pred = predictor(list(clicks))
        yield pred
        if stop_iou < 1.0 and iou(pred, target) >= stop_iou:
            return


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
