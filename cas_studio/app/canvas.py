"""The Annotate tab's main canvas: clicks, brush strokes and lasso outlines drawn in the browser.

The picture stays a plain ``gr.Image``; a small script (:func:`canvas_js`) draws strokes, the lasso
and the brush cursor on an overlay in the browser as the hand moves (no server round trip per mouse
move), zooms (wheel) and pans (right or middle drag, or the "pan" tool), and sends the server only
the finished action as a few numbers in image pixels. While a lasso is drawn, what it would take is
tinted before release: the script asks once per picture for the shown label map with the confirmed
pixels marked (:func:`encode_labels`) and tints, as the hand moves, the pixels inside the outline
that are not confirmed (the session's rule). Actions drawn while the server is busy queue
in the browser and are sent in order, so none is dropped; each one the session refuses is named in a
warning, and the canvas still shows the current labels.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import cv2
import numpy as np

from ..annotation.tools import MAX_BRUSH_RADIUS, get_tool, tools

#: The drag that moves the picture instead of editing it (the canvas's own, not a session tool).
PAN = "pan"


def drag_tools() -> dict[str, dict[str, str]]:
    """What a drag on the canvas does, by the label the tab shows: the registered drag tools (their
    id and how the canvas draws them), then panning."""
    return {**{t.label: {"id": t.id, "draws": t.draws} for t in tools("drag")}, PAN: {"id": PAN, "draws": PAN}}
#: Most actions and points one message may carry (a browser sends a few; more is not a person).
MAX_ACTIONS = 64
MAX_POINTS = 20_000


def parse_actions(payload: str | None) -> list[dict]:
    """Decode and check the browser's queued canvas actions.

    Parameters
    ----------
    payload : JSON list of actions, each ``{"kind": "click", "x", "y", "mode", "negative"}``,
        ``{"kind": "stroke", "action", "points": [[x, y], ...], "radius"}`` or
        ``{"kind": "lasso", "points": [[x, y], ...]}``, coordinates in image pixels.

    Returns
    -------
    The actions, in the order drawn.

    Raises
    ------
    ValueError
        Naming what is malformed; nothing has been applied.
    """
    try:
        actions = json.loads(payload or "[]")
    except json.JSONDecodeError as err:
        raise ValueError(f"The canvas sent malformed data ({err.msg}).") from None
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise ValueError(f"The canvas sends a list of at most {MAX_ACTIONS} actions.")
    for a in actions:
        kind = a.get("kind") if isinstance(a, dict) else None
        if kind == "click":
            _check_point((a.get("x"), a.get("y")))
            get_tool("click", a.get("mode"))  # ValueError naming the click tools
        elif kind in ("stroke", "lasso"):
            pts = a.get("points")
            if not isinstance(pts, list) or not 1 <= len(pts) <= MAX_POINTS:
                raise ValueError(f"A {kind} needs 1 to {MAX_POINTS} points.")
            for p in pts:
                _check_point(p)
            if kind == "stroke":
                if get_tool("drag", a.get("action")).draws != "stroke":
                    raise ValueError(f"{a.get('action')!r} is not a brush.")
                r = a.get("radius")
                if not isinstance(r, (int, float)) or not 0.5 <= r <= MAX_BRUSH_RADIUS:
                    raise ValueError(f"The brush radius must be between 0.5 and {MAX_BRUSH_RADIUS} px.")
        else:
            raise ValueError(f"Unknown canvas action {kind!r}.")
    return actions


def encode_labels(labels: np.ndarray, *, locked: np.ndarray | None = None) -> str:
    """A label map as a PNG data URL the canvas script decodes: id = red + 256 * green, and blue
    255 on ``locked`` pixels (those a lasso may not take: confirmed regions).

    Parameters
    ----------
    labels : (H, W) integer region ids, 0 to 65535 (``annotate.MAX_ID``).
    locked : optional (H, W) bool, the pixels no tool may take.

    Returns
    -------
    ``"data:image/png;base64,..."``, lossless; ids above 65535 raise ``ValueError``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"a label map is a 2-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 0xFFFF):
        raise ValueError(f"region ids must lie in 0..65535 to be sent, got {labels.min()}..{labels.max()}")
    ids = labels.astype(np.uint32)
    bgr = np.zeros(labels.shape + (3,), np.uint8)
    bgr[..., 2] = ids & 0xFF
    bgr[..., 1] = ids >> 8
    if locked is not None:
        bgr[..., 0] = np.where(np.asarray(locked, bool), 255, 0)
    # Level 1: the map is sent once per picture and fast matters more than a few kB.
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("could not encode the label map as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _check_point(p) -> None:
    if (not isinstance(p, (list, tuple)) or len(p) != 2
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in p)):
        raise ValueError(f"A canvas point is two finite numbers, not {p!r}.")


def describe(action: dict) -> str:
    """A few words naming an action for a message ("the merge stroke", "the click at (12, 40)")."""
    if action["kind"] == "click":
        return f"the click at ({int(action['x'])}, {int(action['y'])})"
    if action["kind"] == "lasso":
        return "the lasso"
    return f"the {get_tool('drag', action['action']).label}"


# Installed once per page (Blocks.load). Pixel mapping allows for the image's letterboxing
# (object-fit) and the zoom transform, like bench.browser.click_pixel.
def script(name: str) -> str:
    """A script of this folder as Gradio's ``js=`` takes it: one function expression, so the
    file's leading comment lines are left out."""
    lines = Path(__file__).with_name(name).read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def canvas_js() -> str:
    """The canvas script with the drag tools registered now (plug-ins included)."""
    return script("canvas.js").replace("%TOOLS%", json.dumps(drag_tools()))
