"""Annotation tools: what a click or a drag on the picture does, one :class:`Tool` per tool.

The registry is the one owner of a tool's identity (``id``), the words a person reads (``label``),
its keyboard shortcut (``key``), what the canvas draws while it is used (``draws``) and what it
does (``apply``). :class:`~cas_studio.annotation.session.Session` dispatches clicks and drags
through it; the Annotate tab builds its radio buttons, its shortcuts and their help from it; the
simulated annotator names the tools it stands for. Adding a tool is one :func:`register` call.

Example:
    >>> [t.id for t in tools("click")]
    ['merge', 'confirm', 'split', 'erase', 'object']
    >>> get_tool("click", "select / merge").id   # by id or by label
    'merge'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..constants import UNLABELLED
from . import edits

if TYPE_CHECKING:
    from .session import Session

#: The kinds of tool: a click on one pixel, or a drag (a brush stroke or a lasso outline).
KINDS = ("click", "drag")
#: How the canvas draws a drag tool: a brush of a radius, or a closed outline.
DRAWS = ("stroke", "lasso")
#: Default brush radius in image pixels (10 px across: the simulated annotator's brush too).
BRUSH_RADIUS = 5
#: Largest brush radius a stroke may have, in pixels.
MAX_BRUSH_RADIUS = 1000


@dataclass(frozen=True)
class Tool:
    """One annotation tool.

    Attributes:
        id: the name code uses (``session.click_region("merge", x, y)``); unique within its kind.
        label: the words the Annotate tab shows; also accepted wherever ``id`` is.
        kind: ``"click"`` or ``"drag"``.
        apply: what it does. A click tool: ``apply(session, region, x, y, *, negative, parts)``
            with ``region`` the id under the pixel, returning a note for the person or None. A drag
            tool drawn as a ``"stroke"``: ``apply(session, labels, mask)`` with ``mask`` the HxW
            pixels the brush covered; drawn as a ``"lasso"``: ``apply(session, outline)`` with the
            (x, y) points of the closed outline.
        key: the keyboard shortcut (one letter, case-insensitive), or ``""`` for none.
        help: one line for the shortcut list and the tab.
        draws: drag tools: ``"stroke"`` or ``"lasso"`` (how the canvas shows it being drawn).
        needs_region: a click tool that refuses an unlabelled pixel.
        collects_clicks: a click tool whose clicks gather into one pending object (Shift makes a
            click negative; Enter accepts, Esc drops, Backspace takes the last click back).
    """

    id: str
    label: str
    kind: str
    apply: Callable[..., str | None]
    key: str = ""
    help: str = ""
    draws: str = ""
    needs_region: bool = False
    collects_clicks: bool = False


_REGISTRY: dict[str, dict[str, Tool]] = {kind: {} for kind in KINDS}


def register(tool: Tool) -> Tool:
    """Add ``tool`` to the registry (in display order); ``ValueError`` on a clash or a bad field."""
    if tool.kind not in KINDS:
        raise ValueError(f"a tool's kind is one of {KINDS}, not {tool.kind!r}")
    if tool.kind == "drag" and tool.draws not in DRAWS:
        raise ValueError(f"a drag tool draws one of {DRAWS}, not {tool.draws!r}")
    if len(tool.key) > 1:
        raise ValueError(f"a tool's key is one character, not {tool.key!r}")
    for other in (t for kind in KINDS for t in _REGISTRY[kind].values()):
        if tool.key and other.key.lower() == tool.key.lower() and other.id != tool.id:
            raise ValueError(f"key {tool.key!r} already belongs to the {other.label!r} tool")
    known = _REGISTRY[tool.kind]
    for other in known.values():
        if other.id != tool.id and tool.label in (other.id, other.label):
            raise ValueError(f"label {tool.label!r} already names the {other.id!r} tool")
    known[tool.id] = tool
    return tool


def unregister(kind: str, tool_id: str) -> None:
    """Remove a tool (a plug-in's or a test's); unknown ids are ignored."""
    _REGISTRY[kind].pop(tool_id, None)


def tools(kind: str) -> tuple[Tool, ...]:
    """The registered tools of ``kind``, in display order."""
    if kind not in KINDS:
        raise ValueError(f"a tool's kind is one of {KINDS}, not {kind!r}")
    return tuple(_REGISTRY[kind].values())


def get_tool(kind: str, name: str) -> Tool:
    """The ``kind`` tool whose id or label is ``name``; ``ValueError`` naming the choices otherwise."""
    for tool in tools(kind):
        if name in (tool.id, tool.label):
            return tool
    raise ValueError(f"unknown {kind} tool {name!r}; choose one of {[t.id for t in tools(kind)]}")


# -- click tools ---------------------------------------------------------------------------------
def _select_or_merge(s: Session, region: int, x: int, y: int, **_: object) -> str | None:
    if region == UNLABELLED:
        return "Unlabelled pixels cannot be selected; use the brush to paint them."
    labels = s.labels()
    if not s.selected or s.selected[0] not in labels:
        s.selected = [region]
    elif s.selected[0] == region:
        # Clicking the selected region again keeps it: deselecting is its own action (Esc), so a
        # stray double click never silently drops a merge.
        return f"Region {region} is already selected; click another region to merge it in, or Esc to deselect."
    else:
        s.apply_edit(edits.merge(labels, [s.selected[0], region]))
    return None


def _confirm(s: Session, region: int, x: int, y: int, **_: object) -> None:
    s.toggle_confirmed(region)


def _split(s: Session, region: int, x: int, y: int, *, parts: int = 2, **_: object) -> None:
    s.apply_edit(edits.split(s.labels(), s.image, region, parts=int(parts)))
    s.selected = []


def _erase_region(s: Session, region: int, x: int, y: int, **_: object) -> None:
    labels = s.labels()
    s.apply_edit(edits.erase(labels, labels == region))
    s.selected = []


def _object(s: Session, region: int, x: int, y: int, *, negative: bool = False, **_: object) -> None:
    s.click_object(x, y, positive=not negative)


# -- drag tools ----------------------------------------------------------------------------------
def _merge_stroke(s: Session, labels: np.ndarray, mask: np.ndarray) -> None:
    merged = edits.merge_under(labels, mask)
    if (merged == labels).all():
        raise ValueError("The stroke touches fewer than two regions; draw across the regions to merge.")
    s.apply_edit(merged)


def _grow_brush(s: Session, labels: np.ndarray, mask: np.ndarray) -> None:
    if not s.selected:
        raise ValueError("Select a region (click it in select mode) to grow it.")
    s.claim(labels, mask, s.selected[0])


def _new_region(s: Session, labels: np.ndarray, mask: np.ndarray) -> None:
    s.claim(labels, mask)


def _erase_brush(s: Session, labels: np.ndarray, mask: np.ndarray) -> None:
    s.apply_edit(edits.erase(labels, mask))


def _lasso(s: Session, outline: list[tuple[int, int]]) -> None:
    s.lasso(outline)


for _tool in (
    Tool("merge", "select / merge", "click", _select_or_merge, "M",
         "click a region, then others to merge them into it"),
    Tool("confirm", "confirm region", "click", _confirm, "C",
         "a proposed region becomes the person's; a second click takes it back", needs_region=True),
    Tool("split", "split", "click", _split, "S", "split the region by colour", needs_region=True),
    Tool("erase", "erase region", "click", _erase_region, "E", "the region becomes unlabelled"),
    Tool("object", "click object", "click", _object, "O",
         "a click gives a whole object, more clicks fix it (Shift: negative)", collects_clicks=True),
    Tool("merge", "merge stroke", "drag", _merge_stroke, help="merge every region the stroke touches",
         draws="stroke"),
    Tool("lasso", "lasso", "drag", _lasso, help="take what lies inside the outline as one region, splitting the "
                                               "regions it cuts",
         draws="lasso"),
    Tool("new", "paint a new region", "drag", _new_region, help="paint a new region", draws="stroke"),
    Tool("grow", "paint into the selected region", "drag", _grow_brush,
         help="paint into the selected region", draws="stroke"),
    Tool("erase", "erase (unlabelled)", "drag", _erase_brush, help="paint pixels unlabelled", draws="stroke"),
):
    register(_tool)
