"""The headless annotation session: one person annotating one project, image by image.

:class:`Session` owns the state and every transition the Annotate tab offers (open,
navigate, over-segment, granularity, merge, split, confirm, brush, undo, import, click-to-object)
and autosaves each edit atomically into the project. It knows nothing about a GUI: a refused
action raises :class:`AnnotationError` with a message for the person, which the app shows as it
is, and benchmarks and notebooks drive the same class.

Example:
    >>> import tempfile, numpy as np
    >>> from skimage import data
    >>> from cas_studio.io import write_image
    >>> from cas_studio.data.project import create_project
    >>> root = tempfile.mkdtemp()
    >>> write_image(f"{root}/coffee.png", data.coffee()[::4, ::4])  # doctest: +ELLIPSIS
    PosixPath(...)
    >>> s = Session(create_project(f"{root}/p"))
    >>> _ = s.add_images([f"{root}/coffee.png"])
    >>> s.oversegment("felzenszwalb", granularity=0.3)
    >>> a, b = s.labels()[10, 10], s.labels()[60, 100]
    >>> s.click_region("merge", 10, 10); s.click_region("merge", 100, 60)
    >>> int(s.labels()[10, 10]) == int(s.labels()[60, 100]) or a == b
    True
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants
from . import edits, history
from .tools import MAX_BRUSH_RADIUS, get_tool
from .oversegmentation import DEFAULTS, DEFAULT_GRANULARITY, DEFAULT_METHOD, build_regions, salient_object
from ..data.confirmation import proposed_regions
from ..data.project import EditConflict, Project
from ..io import ImageError, read_image

if TYPE_CHECKING:  # the video layer imports torch; the session loads it only when a video is used
    from ..video import Progress, PropagateOptions



class AnnotationError(Exception):
    """An action that cannot be done now; the message says why, for the person annotating."""


class SaveConflict(AnnotationError):
    """Another session saved this image first; this session's edit is kept in its history only."""


#: Loads a model by name (shipped or fine-tuned); the app passes its cache.
ModelLoader = Callable[[str], object]


def _without_paths(err: Exception, *paths: str | os.PathLike) -> str:
    """``err``'s message with the given server paths shortened to file names (the person sees their
    file's name, never a server folder)."""
    text = str(err)
    for p in paths:
        text = text.replace(os.fspath(p), Path(p).name)
    return text


def _default_loader(name: str):
    from ..models.weights import load_model

    return load_model(name)


@dataclass
class PendingObject:
    """Click-to-object in progress: the clicks so far, the mask they give, the region refined."""

    clicks: list[tuple[int, int, bool]] = field(default_factory=list)
    mask: np.ndarray | None = None
    region: int | None = None  # an existing region being refined, else a new one


@dataclass
class Session:
    """One person's annotation state: project, current image, label history, selection."""

    project: Project | None = None
    load_model: ModelLoader = _default_loader
    index: int = 0
    history: history.History | None = None
    image: np.ndarray | None = None
    selected: list[int] = field(default_factory=list)
    method: str = "manual"
    params: dict = field(default_factory=dict)
    proposal: np.ndarray | None = None  # the over-segmentation the annotation started from
    hierarchy: object | None = None  # the image's region hierarchy (rebuilt on demand from method/params)
    by_hand: set[int] = field(default_factory=set)  # proposed regions confirmed as they are
    _proposed_memo: tuple | None = field(default=None, init=False, repr=False, compare=False)
    image_confirmed: bool = False
    version: int = 0  # the saved annotation's version this session's edits build on
    pending: PendingObject = field(default_factory=PendingObject)
    #: Pixels of the last accepted object that were another confirmed region's, and stayed theirs.
    kept_out: int = 0
    segmenter: object | None = None  # the ClickSegmenter, set to the current image on first use

    def __post_init__(self) -> None:
        if self.project is not None and self.project.images():
            self.load_image()

    # -- reading the state ----------------------------------------------------------------------
    def proposed(self) -> list[int]:
        """Regions nobody has confirmed yet (unchanged since the over-segmentation)."""
        if self.history is None or self.proposal is None or self.image_confirmed:
            return []
        # Asked several times per redraw (overlay, free pixels, status), at a pass over the image
        # each: kept until the label map, the proposal or the hand confirmations change. The memo
        # holds the arrays themselves, so a freed array's id can never match by accident.
        current, hand, memo = self.history.current, frozenset(self.by_hand), self._proposed_memo
        if memo is None or memo[0] is not current or memo[1] is not self.proposal or memo[2] != hand:
            ids = proposed_regions(current, self.proposal, by_hand=hand).tolist()
            memo = self._proposed_memo = (current, self.proposal, hand, ids)
        return list(memo[3])

    def current(self) -> Path:
        """Path of the image being annotated."""
        if self.project is None:
            raise AnnotationError("Open or create a project first.")
        images = self.project.images()
        if not images:
            raise AnnotationError("The project has no images yet: add some.")
        self.index %= len(images)
        return images[self.index]

    def labels(self) -> np.ndarray:
        """The current label map."""
        if self.history is None:
            raise AnnotationError("Over-segment the image (or import a mask, or click an object) first.")
        return self.history.current

    def summary(self) -> dict:
        """Counts for a status line: regions, confirmed, proposed, unlabelled share, edits."""
        labels = self.labels()
        proposed = self.proposed()
        n = int(len(np.unique(labels[labels != constants.UNLABELLED])))
        return {"regions": n, "confirmed": n - len(proposed), "proposed": len(proposed),
                "unlabelled": float((labels == constants.UNLABELLED).mean()), "edits": self.history.edits,
                "image_confirmed": self.image_confirmed}

    # -- loading and saving -----------------------------------------------------------------------
    def load_image(self) -> None:
        """(Re)load the current image and its saved annotation from the project."""
        path = self.current()
        try:
            self.image = read_image(path)
        except (ImageError, OSError) as err:
            raise AnnotationError(f"Could not read {path.name}: {_without_paths(err, path)}") from None
        try:
            labels, meta, self.proposal = self.project.load_annotation(path)
        except (ImageError, OSError, ValueError) as err:
            raise AnnotationError(f"Could not read the annotation of {path.name}: "
                                  f"{_without_paths(err, self.project.label_path(path), path)}") from None
        # An annotation that has only a proposal so far (none of its own labels) opens at it.
        self.history = None if labels is None else history.History(labels, aux=self.proposal)
        self.method, self.params, self.selected = meta.get("method", "manual"), meta.get("params", {}), []
        self.hierarchy = None
        self.by_hand = set(meta.get("by_hand", []))
        self.image_confirmed = bool(meta.get("image_confirmed", False))
        self.version = int(meta.get("version", 0))
        self.pending = PendingObject()
        if self.segmenter is not None:
            self.segmenter.set_image(self.image)

    def _confirmation(self) -> tuple[frozenset, bool]:
        """What the person confirmed beside the label map: kept with each undo state."""
        return frozenset(self.by_hand), self.image_confirmed

    def _push(self, labels: np.ndarray, aux: np.ndarray | None = None) -> None:
        """Make ``labels`` (and proposal ``aux``) current; undo brings back the state before it, its
        confirmations included."""
        self.history.push(labels, aux=aux, note=self._confirmation())

    def save(self) -> None:
        """Commit the label map, proposal and confirmations as one record; refused when another
        session saved first (then nothing is written)."""
        try:
            self.project.save_labels(self.current(), self.history.current, proposal=self.proposal,
                                     method=self.method, params=self.params,
                                     edits=self.history.edits, by_hand=sorted(self.by_hand),
                                     image_confirmed=self.image_confirmed, expected_version=self.version)
        except EditConflict as err:
            # The other session's edit stays on disk; this one stays in this session (undo still works).
            raise SaveConflict(f"Not saved: {err}. Go to another image and back to load it.") from None
        except (OSError, ImageError) as err:
            raise AnnotationError(f"Could not save the annotation: {err}") from None
        self.version += 1

    def claim(self, labels: np.ndarray, mask: np.ndarray, region: int | None = None) -> None:
        """Paint ``mask`` into ``region`` (a new one when None) as one edit, keeping what is left of
        the proposed regions it cuts *proposed*: the proposal takes the same paint (undone with the
        edit), so a fragment nobody confirmed is never counted as confirmed. The painted region is
        the person's (``by_hand``)."""
        region = int(labels.max()) + 1 if region is None else int(region)
        out = edits.paint(labels, mask, region)
        if self.proposal is None:
            self.apply_edit(out)
            return
        self.apply_edit(out, edits.paint(self.proposal, mask, region), hand=region)

    def apply_edit(self, labels: np.ndarray, proposal: np.ndarray | None = None, *, hand: int | None = None,
              image_confirmed: bool | None = None) -> None:
        """One undoable edit: new labels (and proposal), then a region confirmed by hand or the
        image's confirmation set, all committed as one record."""
        try:
            self._push(labels, proposal)
        except ValueError as err:
            raise AnnotationError(str(err)) from None
        if proposal is not None:
            self.proposal = proposal
        if hand is not None:
            self.by_hand.add(int(hand))
        if image_confirmed is not None:
            self.image_confirmed = bool(image_confirmed)
        self.save()  # autosave after every edit

    def _start(self, labels: np.ndarray, method: str, params: dict, *, proposal: np.ndarray | None = None,
               by_hand: set[int] | None = None) -> None:
        """Make ``labels`` the current state and ``proposal`` (default: ``labels``) the proposal
        (undoable), and save both."""
        proposal = labels if proposal is None else proposal
        try:  # History refuses ids a 16-bit label map cannot hold, before anything changes
            if self.history is None:
                self.history = history.History(labels, aux=proposal)
                self.history.edits = 1
            else:
                self._push(labels, proposal)
        except ValueError as err:
            raise AnnotationError(f"The over-segmentation has {int(labels.max())} regions: {err}; choose a coarser "
                                  "setting.") from None
        self.method, self.params, self.selected = method, params, []
        self.proposal, self.by_hand, self.image_confirmed, self.hierarchy = proposal, set(by_hand or ()), False, None
        self.pending = PendingObject()
        self.save()

    # -- project and navigation ------------------------------------------------------------------
    def add_images(self, files: Sequence[str | os.PathLike]) -> list[str]:
        """Copy images into the project; returns "name: why" for each file not added."""
        if self.project is None:
            raise AnnotationError("Open or create a project first.")
        if not files:
            raise AnnotationError("Choose one or more images to add.")
        bad = []
        for f in files:
            try:
                self.project.add_images([f])
            except (ImageError, OSError, FileNotFoundError, ValueError) as err:
                said = _without_paths(err, f)  # most messages start with the file's name already
                bad.append(said if said.startswith(Path(f).name) else f"{Path(f).name}: {said}")
        if self.image is None and self.project.images():
            self.load_image()
        return bad

    def go(self, step: int) -> None:
        """Go to the previous (-1) or next (+1) image."""
        if self.project is None or not self.project.images():
            raise AnnotationError("The project has no images yet.")
        self.index = (self.index + step) % len(self.project.images())
        self.load_image()

    # -- starting points --------------------------------------------------------------------------
    def _hierarchy(self, method: str, params: dict, model_name: str | None, guided: bool):
        needs_model = method == "model" or guided
        if needs_model and not model_name:
            raise AnnotationError("Choose a regions model for this.")
        try:
            model = self.load_model(model_name) if needs_model else None
            return build_regions(self.image, method, model=model, guided=guided, **params)
        except (ValueError, FileNotFoundError) as err:
            raise AnnotationError(str(err)) from None

    def oversegment(self, method: str = DEFAULT_METHOD, params: dict | None = None, *,
                    model_name: str | None = None, guided: bool = False,
                    granularity: float = DEFAULT_GRANULARITY) -> None:
        """Over-segment the image anew (undoable): a cut of a new region hierarchy, its regions proposed.

        Regions the person confirmed (edited, accepted or confirmed by hand) stay as they are and the
        new regions fill the rest; a confirmed whole image starts over.
        """
        self.current()
        if self.image is None:
            self.load_image()
        if method not in DEFAULTS:
            raise AnnotationError(f"Unknown over-segmentation method {method!r}; choose one of {list(DEFAULTS)}.")
        params = {name: (params or {}).get(name, default) for name, default in DEFAULTS[method].items()}
        model_name = (model_name or "regions") if (method == "model" or guided) else None
        hierarchy = self._hierarchy(method, params, model_name, guided)
        labels = hierarchy.cut(hierarchy.regions_at(float(granularity)))
        recorded = {**params, **({"model": model_name} if model_name else {}), **({"guided": True} if guided else {})}
        keep = self._confirmed_regions() if self.history is not None and not self.image_confirmed else []
        if keep:
            try:
                labels, proposal = edits.recut(self.history.current, labels, keep)
            except ValueError as err:
                raise AnnotationError(str(err)) from None
            self._start(labels, method, recorded, proposal=proposal, by_hand=self.by_hand & set(keep))
        else:
            self._start(labels, method, recorded)
        self.hierarchy = hierarchy

    def _confirmed_regions(self) -> list[int]:
        """Region ids the person confirmed (every labelled region that is not proposed)."""
        labels = self.labels()
        ids = np.unique(labels[labels != constants.UNLABELLED])
        return sorted(set(ids.tolist()) - set(self.proposed()))

    def set_granularity(self, granularity: float) -> None:
        """Re-cut the proposed regions at another granularity; edited and confirmed regions stay."""
        labels = self.labels()
        if self.proposal is None or self.method not in DEFAULTS:
            raise AnnotationError("Over-segment the image first: the granularity works on its hierarchy.")
        self._ensure_hierarchy()
        cut = self.hierarchy.cut(self.hierarchy.regions_at(float(granularity)))
        try:
            new, proposal = edits.regranulate(labels, self.proposal, cut, keep=sorted(self.by_hand))
        except ValueError as err:
            raise AnnotationError(str(err)) from None
        if np.array_equal(new, labels) and np.array_equal(proposal, self.proposal):
            return  # the cut it already has: not an edit
        self._push(new, proposal)
        self.selected = []
        self.proposal = proposal
        self.save()

    def salient(self, model_name: str = "saliency") -> None:
        """Propose background and salient object from a saliency model, to accept or correct."""
        self.current()
        try:
            model = self.load_model(model_name)
            labels = salient_object(self.image, model)
        except (ValueError, FileNotFoundError) as err:
            raise AnnotationError(str(err)) from None
        self._start(labels, "salient", {"model": model_name})

    # -- edits ------------------------------------------------------------------------------------
    def click_region(self, tool: str, x: int, y: int, *, parts: int = 2, negative: bool = False) -> str | None:
        """A click at pixel (x, y) with the click ``tool`` (an id or label of
        :func:`~cas_studio.annotation.tools.tools` ``("click")``); returns a note for the person, if any.

        ``parts`` is what a split makes; ``negative`` marks a click-object click as "not the object".
        """
        try:
            chosen = get_tool("click", tool)
        except ValueError as err:
            raise AnnotationError(str(err)) from None
        if chosen.collects_clicks:  # an object is clicked on the image itself, annotated or not
            region = constants.UNLABELLED
        else:
            try:
                region = edits.region_at(self.labels(), int(x), int(y))
            except ValueError as err:
                raise AnnotationError(str(err)) from None
        if chosen.needs_region and region == constants.UNLABELLED:
            raise AnnotationError("That pixel is unlabelled; paint it into a region first.")
        try:
            return chosen.apply(self, region, int(x), int(y), negative=bool(negative), parts=int(parts))
        except ValueError as err:  # refused before the history changes
            raise AnnotationError(str(err)) from None

    def toggle_confirmed(self, region: int) -> None:
        """Confirm a proposed ``region`` by hand, or take a hand confirmation back; saved at once."""
        if region in self.proposed():
            self.by_hand.add(region)
        elif region in self.by_hand:
            self.by_hand.discard(region)
        self.save()

    def deselect(self) -> None:
        """Clear the selection."""
        self.selected = []

    def confirm_image(self) -> None:
        """Confirm every region of the image as it is (or take that back)."""
        self.labels()
        self.image_confirmed = not self.image_confirmed
        self.save()

    def confirm_rest_as_background(self) -> int:
        """Join every region nobody confirmed into one background region, and confirm the image.

        Confirming the whole image as it is would keep dozens of proposed fragments of one
        background as separate regions, which fine-tuning would learn to tell apart. Returns the
        background's id (undoable like any edit).
        """
        labels = self.labels()
        rest = self.proposed() + [constants.UNLABELLED] * bool((labels == constants.UNLABELLED).any())
        if not rest:
            raise AnnotationError("Every region is confirmed already; nothing is left for a background.")
        background = int(labels.max()) + 1
        try:
            labels = edits.paint(labels, np.isin(labels, rest), background)
        except ValueError as err:
            raise AnnotationError(str(err)) from None
        self.apply_edit(labels, image_confirmed=True)
        return background

    def brush(self, tool: str, mask: np.ndarray) -> None:
        """Apply the brush ``tool`` (a drag tool drawn as a stroke, by id or label) to ``mask`` (HxW bool)."""
        labels = self.labels()
        try:
            chosen = get_tool("drag", tool)
        except ValueError as err:
            raise AnnotationError(str(err)) from None
        if chosen.draws != "stroke":
            raise AnnotationError(f"The {chosen.label} tool is not a brush.")
        mask = np.asarray(mask, bool)
        if mask.shape != labels.shape:
            raise AnnotationError(f"The stroke is {mask.shape[1]}x{mask.shape[0]} but the image is "
                                  f"{labels.shape[1]}x{labels.shape[0]}.")
        if not mask.any():
            raise AnnotationError("Draw on the brush canvas first.")
        try:
            chosen.apply(self, labels, mask)
        except ValueError as err:
            raise AnnotationError(str(err)) from None

    def stroke(self, tool: str, points: Sequence[tuple[float, float]], *, radius: float) -> None:
        """A stroke of the brush ``tool`` along ``points`` ((x, y) pixels) with a brush of ``radius``
        px: :meth:`brush` applied to what the brush covers (the parts outside the image are clipped)."""
        labels = self.labels()
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if len(pts) == 0 or not np.isfinite(pts).all():
            raise AnnotationError("A stroke needs at least one point with finite coordinates.")
        if not 0.5 <= radius <= MAX_BRUSH_RADIUS:
            raise AnnotationError(f"The brush radius must be between 0.5 and {MAX_BRUSH_RADIUS} px, not {radius:g}.")
        h, w = labels.shape
        r = radius
        if (pts[:, 0] < -r).all() or (pts[:, 0] >= w + r).all() or (pts[:, 1] < -r).all() or (pts[:, 1] >= h + r).all():
            raise AnnotationError(f"The stroke lies outside the {w}x{h} image.")
        # Coordinates are clamped far outside, where cv2's int32 drawing would overflow.
        line = np.clip(np.round(pts), -4 * max(h, w), 4 * max(h, w)).astype(np.int64)
        self.brush(tool, edits.stroke_mask((h, w), line.tolist(), max(1, int(round(r)))))

    def takeable(self, labels: np.ndarray, region: int | None = None) -> np.ndarray:
        """Pixels a tool may take: unlabelled, proposed, or of ``region`` itself."""
        # A lookup table over every possible id: one gather instead of np.isin's sort. Ids past
        # MAX_ID (never made here) clip to the last entry, which is never free.
        lut = np.zeros(constants.MAX_ID + 2, bool)
        lut[constants.UNLABELLED] = True
        lut[np.asarray(self.proposed(), np.int64)] = True
        if region is not None:
            lut[region] = True
        lut[-1] = False
        return np.take(lut, labels, mode="clip")

    def grow_preview(self) -> np.ndarray:
        """The pixels :meth:`grow` would add to the selected region (HxW bool)."""
        labels = self.labels()
        if not self.selected or self.selected[0] not in labels:
            raise AnnotationError("Select a region (click it in select mode) to grow it.")
        if self.proposal is None or self.method not in DEFAULTS:
            raise AnnotationError("Over-segment the image first: grow climbs its region hierarchy.")
        self._ensure_hierarchy()
        region = self.selected[0]
        tree = self.hierarchy
        sp = tree.superpixels
        mask = labels == region
        # Drawn on every redraw while a region is selected: per-superpixel counts of the region's
        # own pixels and lookup tables, no pass that sorts.
        share = np.bincount(sp[mask], minlength=tree.finest) / np.maximum(tree.areas, 1)
        members = np.flatnonzero(share > 0.5)
        if members.size == 0:  # a painted sliver: start from the superpixels it touches most
            members = np.array([int(np.argmax(share))])
        node = tree.ancestor(members)
        if node is None:
            raise AnnotationError(f"Region {region} already holds its whole part of the image; nothing to grow into.")
        in_node = np.zeros(tree.finest, bool)
        in_node[node] = True
        return np.take(in_node, sp) & ~mask & self.takeable(labels)

    def grow_preview_if_ready(self) -> np.ndarray | None:
        """:meth:`grow_preview` when the hierarchy is at hand (never rebuilt just to draw), else None."""
        if not self.selected or self.hierarchy is None or self.history is None:
            return None
        try:
            add = self.grow_preview()
        except AnnotationError:
            return None
        return add if add.any() else None

    def grow(self) -> None:
        """Merge the selected region with its next ancestor in the region hierarchy (one action;
        repeated presses climb). Confirmed regions of others are never taken."""
        add = self.grow_preview()
        if not add.any():
            raise AnnotationError("The next larger region is all confirmed regions; nothing to grow into.")
        self.claim(self.labels(), add, self.selected[0])

    def lasso_preview(self, outline: Sequence[tuple[int, int]]) -> np.ndarray:
        """The pixels :meth:`lasso` takes (HxW bool): those inside the closed ``outline`` ((x, y)
        points) that are unlabelled or proposed; confirmed regions are never taken."""
        labels = self.labels()
        pts = np.asarray(outline, np.int64).reshape(-1, 2)
        if len(pts) < 3:
            raise AnnotationError("Draw a closed outline around what to take (at least 3 points).")
        h, w = labels.shape
        if (pts[:, 0] < 0).any() or (pts[:, 1] < 0).any() or (pts[:, 0] >= w).any() or (pts[:, 1] >= h).any():
            raise AnnotationError(f"The outline leaves the {w}x{h} image.")
        return edits.inside_outline(labels.shape, pts) & self.takeable(labels)

    def lasso(self, outline: Sequence[tuple[int, int]]) -> int:
        """Make what lies inside the closed ``outline`` one new confirmed region (one action) and
        return its id: the regions the outline cuts are split along it, their outside parts kept as
        they were (proposed ones stay proposed); confirmed regions are never taken."""
        take = self.lasso_preview(outline)
        if not take.any():
            raise AnnotationError("The outline holds only confirmed regions; nothing to take. Draw around "
                                  "unconfirmed ones.")
        labels = self.labels()
        region = int(labels.max()) + 1
        self.claim(labels, take, region)
        return region

    def _ensure_hierarchy(self) -> None:
        if self.hierarchy is None:  # rebuilt from what the sidecar recorded
            params = {k: v for k, v in self.params.items() if k in DEFAULTS[self.method]}
            self.hierarchy = self._hierarchy(self.method, params, self.params.get("model"),
                                             bool(self.params.get("guided")))

    def undo(self) -> None:
        """Undo one edit (the result is saved)."""
        self._step("undo")

    def redo(self) -> None:
        """Redo one undone edit (the result is saved)."""
        self._step("redo")

    def _step(self, which: str) -> None:
        if self.history is None:
            raise AnnotationError(f"Nothing to {which}.")
        before = (self.history.current, self.history.aux)
        (self.history.undo if which == "undo" else self.history.redo)(note=self._confirmation())
        if self.history.current is before[0]:
            return  # nothing to undo or redo: no edit, no save
        self.selected = []
        self.pending = PendingObject()
        self.proposal = self.history.aux
        if self.history.note is not None:  # the state's confirmations come back with its labels
            hand, self.image_confirmed = self.history.note
            self.by_hand = set(hand)
        self.save()

    def import_mask(self, file: str | os.PathLike, *, binary: bool = True) -> None:
        """Use an existing mask or label map for the current image (confirmed as a whole)."""
        try:
            self.project.import_labels(self.current(), file, binary=binary)
        except (ImageError, ValueError, OSError) as err:
            raise AnnotationError(str(err)) from None
        self.load_image()

    # -- videos -----------------------------------------------------------------------------------
    def add_video(self, file: str | os.PathLike, *, every: int = 1) -> int:
        """Add a video's frames (every ``every``-th) as an ordered sequence; goes to its first frame;
        returns how many frames were added."""
        if self.project is None:
            raise AnnotationError("Open or create a project first.")
        from ..video.in_project import add_video  # torch-free until a video is used

        try:
            added = add_video(self.project, file, every=every)
        except (ImageError, ValueError, OSError) as err:
            raise AnnotationError(f"Could not add {Path(file).name}: {_without_paths(err, file)}") from None
        self.index = [p.name for p in self.project.images()].index(added[0].name)
        self.load_image()
        return len(added)

    def sequence(self) -> tuple[str, int, int] | None:
        """(sequence name, frame number 1.., frames) of the current image, or None for a lone image."""
        if self.project is None or not self.project.images():
            return None
        found = self.project.sequence_of(self.current())
        if found is None:
            return None
        name, frames = found
        return name, [f.name for f in frames].index(self.current().name) + 1, len(frames)

    def go_to_frame(self, number: int) -> None:
        """Go to frame ``number`` (1-based) of the current image's sequence."""
        found = self.project.sequence_of(self.current()) if self.project is not None else None
        if found is None:
            raise AnnotationError("This image is not a frame of a video.")
        frames = found[1]
        target = frames[min(max(int(number), 1), len(frames)) - 1].name
        self.index = [p.name for p in self.project.images()].index(target)
        self.load_image()

    def propagate(self, *, options: PropagateOptions | None = None,
                  progress: Callable[[Progress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> str:
        """Fill every unconfirmed frame of the current video from its confirmed frames (a fine-tune
        within ``options.seconds``); confirmed frames are never written. Returns a one-line report."""
        found = self.project.sequence_of(self.current()) if self.project is not None else None
        if found is None:
            raise AnnotationError("Propagate works on a video: add one (its frames become a sequence), annotate "
                                  "and confirm a frame, then propagate.")
        from ..video import PropagateOptions, PropagationError
        from ..video.in_project import propagate_sequence

        try:
            report = propagate_sequence(self.project, found[0], options=options or PropagateOptions(),
                                        progress=progress, should_stop=should_stop)
        except (PropagationError, ImageError, OSError) as err:
            raise AnnotationError(str(err)) from None
        self.load_image()
        return report.summary()

    # -- click-to-object --------------------------------------------------------------------------
    def _segmenter(self):
        if self.segmenter is None:
            from ..interactive import ClickSegmenter
            from ..interactive.adapt import PROJECT_WEIGHTS

            # A project whose objects taught the click model (teach_clicks) keeps using its own.
            own = self.project.root / PROJECT_WEIGHTS if self.project is not None else None
            try:
                self.segmenter = ClickSegmenter(str(own) if own is not None and own.is_file() else self.load_model("clicks"))
            except (ValueError, FileNotFoundError) as err:
                raise AnnotationError(f"Click-to-object needs the click model: {err}") from None
            self.segmenter.set_image(self.image)
        return self.segmenter

    def teach_clicks(self, *, seconds: float = 60.0, progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> str:
        """Fine-tune the click model on this project's accepted objects (within ``seconds``) and use
        it for click-to-object in this project from now on; returns a one-line report."""
        if self.project is None:
            raise AnnotationError("Open a project first: the click model learns from its accepted objects.")
        from ..interactive import ClickSegmenter
        from ..interactive.adapt import AdaptError, AdaptOptions, teach_project

        start = time.perf_counter()
        try:
            model, n = teach_project(self.project, weights=self.load_model("clicks"),
                                     options=AdaptOptions(seconds=seconds), progress=progress, should_stop=should_stop)
        except (AdaptError, ImageError, OSError) as err:
            raise AnnotationError(f"The click model cannot learn from this project: {err}") from None
        self.segmenter = ClickSegmenter(model)
        if self.image is not None:
            self.segmenter.set_image(self.image)
        return (f"the click model learned from {n} accepted object{'s' * (n != 1)} in "
                f"{time.perf_counter() - start:.0f} s; click-to-object uses it in this project from now on")

    def click_object(self, x: int, y: int, positive: bool = True) -> np.ndarray:
        """Add a click to the object in progress and return its mask (HxW bool), not yet saved.

        The first positive click inside an existing confirmed region (or a region propagation
        proposed) refines that region; anywhere else it starts a new object.
        :meth:`accept_object` makes it a confirmed region.
        """
        self.current()
        if self.image is None:
            self.load_image()
        seg = self._segmenter()
        h, w = self.image.shape[:2]
        if not (0 <= int(x) < w and 0 <= int(y) < h):
            raise AnnotationError(f"The click at ({x}, {y}) is outside the {w}x{h} image.")
        if not self.pending.clicks and not positive:
            raise AnnotationError("Start an object with a positive click on it.")
        previous = None
        if not self.pending.clicks and self.history is not None:
            region = int(self.history.current[int(y), int(x)])
            # A propagated frame's regions are the model's guess of the annotated objects: a click
            # on one refines it, as a click on a confirmed region does.
            refinable = region not in self.proposed() or self.method == "propagate"
            if region != constants.UNLABELLED and refinable:
                self.pending.region = region
                previous = self.history.current == region
        self.pending.clicks.append((int(x), int(y), bool(positive)))
        try:
            self.pending.mask = seg.predict(self.pending.clicks, previous=previous)
        except ValueError as err:
            self.pending.clicks.pop()
            raise AnnotationError(str(err)) from None
        return self.pending.mask

    def undo_click(self) -> None:
        """Take back the last click of the object in progress."""
        clicks = self.pending.clicks[:-1]
        region = self.pending.region
        self.pending = PendingObject()
        if clicks:
            # Replaying keeps the mask exactly what these clicks give (the model feeds back its own masks).
            previous = self.history.current == region if region is not None else None
            self.pending.region = region
            for i in range(1, len(clicks) + 1):
                self.pending.mask = self._segmenter().predict(clicks[:i], previous=previous if i == 1 else None)
            self.pending.clicks = clicks

    def cancel_object(self) -> None:
        """Drop the object in progress."""
        self.pending = PendingObject()

    def accept_object(self) -> int:
        """Make the object in progress one confirmed region (saved); returns its id.

        The object takes unlabelled and proposed pixels only, never another confirmed region's (how
        many of its pixels stayed theirs is :attr:`kept_out`, for the person to be told); pixels of
        a refined region that the new mask leaves out become unlabelled. The click mode stays ready
        for the next object.
        """
        if self.pending.mask is None or not self.pending.mask.any():
            raise AnnotationError("No object to accept: click on an object first.")
        if self.history is None:
            self.history = history.History(np.zeros(self.image.shape[:2], np.int32))
            self.method = "clicks"
        labels = self.history.current
        region = self.pending.region
        # Regions the person confirmed stay theirs: a new object fills only unlabelled and proposed
        # pixels (and its own region's, when it refines one).
        mask = self.pending.mask & self.takeable(labels, region)
        self.kept_out = int(self.pending.mask.sum() - mask.sum())
        if not mask.any():
            raise AnnotationError("The object lies entirely on confirmed regions; click inside one of them to "
                                  "refine it instead.")
        try:
            if region is not None:
                labels = edits.erase(labels, (labels == region) & ~mask)
            else:
                region = int(labels.max()) + 1
            self.pending = PendingObject()
            self.claim(labels, mask, region)
        except ValueError as err:
            raise AnnotationError(str(err)) from None
        return region
