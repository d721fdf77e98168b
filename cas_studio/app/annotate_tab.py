"""Annotate tab: class-free region annotation from an automatic over-segmentation.

Each browser session keeps its own :class:`Session` in a ``gr.State``; every edit goes through a
pure function of :mod:`cas_studio.annotate` and is autosaved atomically into the project.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from .. import annotate as ann
from ..data.project import EditConflict, Project, create_project, export_zip
from ..io import ImageError, read_image
from . import settings
from .models import get_model, model_choices
from .settings import scratch

MODES = ["select / merge", "confirm region", "split", "erase region"]
#: Keyboard shortcuts, shown in the tab and installed by :data:`SHORTCUTS_JS`.
SHORTCUTS = {"Ctrl+Z": "undo", "Ctrl+Y / Ctrl+Shift+Z": "redo", "N / P": "next / previous image",
             "M / C / S / E": "click mode: merge / confirm / split / erase", "Esc": "deselect",
             "Enter": "confirm the whole image"}
# Key -> element id to click, or a mode to pick; typing in a text field is left alone.
SHORTCUTS_JS = """
() => {
  const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
  const mode = (i) => { const inputs = document.querySelectorAll('#click-mode input[type=radio]');
                        if (inputs[i]) inputs[i].click(); };
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' && t.type !== 'radio' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const k = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && k === 'z' && !e.shiftKey) { click('undo'); e.preventDefault(); }
    else if ((e.ctrlKey || e.metaKey) && (k === 'y' || (k === 'z' && e.shiftKey))) { click('redo'); e.preventDefault(); }
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (k === 'n') click('next-image');
    else if (k === 'p') click('prev-image');
    else if (k === 'm') mode(0);
    else if (k === 'c') mode(1);
    else if (k === 's') mode(2);
    else if (k === 'e') mode(3);
    else if (k === 'escape') click('deselect');
    else if (k === 'enter') click('confirm-image');
  });
}
"""


@dataclass
class Session:
    """One user's annotation state: project, current image, label history, selection."""

    project: Project | None = None
    index: int = 0
    history: ann.History | None = None
    image: np.ndarray | None = None
    selected: list[int] = field(default_factory=list)
    method: str = "manual"
    params: dict = field(default_factory=dict)
    proposal: np.ndarray | None = None  # the over-segmentation the annotation started from
    hierarchy: object | None = None  # the image's region hierarchy (rebuilt on demand from method/params)
    by_hand: set[int] = field(default_factory=set)  # proposed regions confirmed as they are
    image_confirmed: bool = False
    version: int = 0  # the saved annotation's version this session's edits build on

    def proposed(self) -> list[int]:
        """Regions nobody has confirmed yet (unchanged since the over-segmentation)."""
        if self.history is None or self.proposal is None or self.image_confirmed:
            return []
        return sorted(set(ann.untouched_regions(self.history.current, self.proposal).tolist()) - self.by_hand)

    def current(self) -> Path:
        """Path of the image being annotated."""
        if self.project is None:
            raise gr.Error("Open or create a project first.")
        images = self.project.images()
        if not images:
            raise gr.Error("The project has no images yet: add some.")
        self.index %= len(images)
        return images[self.index]

    def labels(self) -> np.ndarray:
        """The current label map."""
        if self.history is None:
            raise gr.Error("Over-segment the image (or import a mask) first.")
        return self.history.current


def _view(s: Session):
    """(canvas image, status markdown, brush editor value) for the session's current state."""
    if s.project is None:
        return None, "No project open.", None
    where = f"Project `{settings.label_of(s.project.root)}`. "
    try:
        path = s.current()
    except gr.Error as err:
        return None, where + str(err), None
    if s.image is None:
        s.image = read_image(path)
    if s.history is None:
        return s.image, where + f"**{path.name}** ({s.index + 1} of {len(s.project.images())}), not annotated " \
                                f"yet: over-segment it. {s.project.progress()}.", s.image
    labels = s.history.current
    proposed = s.proposed()
    picture = ann.overlay(s.image, labels, highlight=s.selected, muted=proposed)
    n = int(len(np.unique(labels[labels != ann.UNLABELLED])))
    unl = float((labels == ann.UNLABELLED).mean())
    sel = f" Selected: region {s.selected[0]} (click others to merge them in; Esc to deselect)." if s.selected else ""
    state = ("**image confirmed**" if s.image_confirmed else
             f"**{n - len(proposed)} confirmed**, {len(proposed)} proposed (outlined only; merge, edit or "
             f"confirm them)")
    status = (where + f"**{path.name}** ({s.index + 1} of {len(s.project.images())}): {n} regions, {state}, "
              f"{unl:.0%} unlabelled, {s.history.edits} edits.{sel} {s.project.progress()}.")
    return picture, status, picture


def _load_image(s: Session) -> None:
    path = s.current()
    s.image = read_image(path)
    labels = s.project.load_labels(path)
    s.history = None if labels is None else ann.History(labels)
    meta = s.project.sidecar(path)
    s.method, s.params, s.selected = meta.get("method", "manual"), meta.get("params", {}), []
    s.proposal = s.project.load_proposal(path)
    s.hierarchy = None
    s.by_hand = set(meta.get("by_hand", []))
    s.image_confirmed = bool(meta.get("image_confirmed", False))
    s.version = int(meta.get("version", 0))


def _save(s: Session) -> None:
    try:
        s.project.save_labels(s.current(), s.history.current, method=s.method, params=s.params,
                              edits=s.history.edits, by_hand=sorted(s.by_hand), image_confirmed=s.image_confirmed,
                              expected_version=s.version)
    except EditConflict as err:
        # The other session's edit stays on disk; this one stays in this session (undo still works).
        raise gr.Error(f"Not saved: {err}. Go to another image and back to load it.") from None
    except (OSError, ImageError) as err:
        raise gr.Error(f"Could not save the annotation: {err}") from None
    s.version += 1


def _edit(s: Session, labels: np.ndarray) -> None:
    s.history.push(labels)
    _save(s)  # autosave after every edit


def open_or_create(folder: str, s: Session):
    """Open the project in ``folder``, creating it if the folder is new or empty."""
    if not folder or not folder.strip():
        raise gr.Error("Type a folder for the project.")
    try:
        project = create_project(settings.project_path(folder))
    except (ValueError, OSError) as err:
        raise gr.Error(str(err)) from None
    s = Session(project=project)
    if project.images():
        _load_image(s)
    return (s, *_view(s))


def add_images(files: list[str] | None, s: Session):
    """Copy uploaded images into the project; unreadable files are reported, not added."""
    if s.project is None:
        raise gr.Error("Open or create a project first.")
    if not files:
        raise gr.Error("Choose one or more images to add.")
    bad = []
    for f in files:
        try:
            s.project.add_images([f])
        except (ImageError, OSError, FileNotFoundError) as err:
            bad.append(f"{Path(f).name}: {err}")
    if bad:
        gr.Warning("Not added: " + "; ".join(bad))
    if s.image is None and s.project.images():
        _load_image(s)
    return (s, *_view(s), None)  # None empties the upload box: added files are not added twice


def navigate(step: int, s: Session):
    """Go to the previous (-1) or next (+1) image."""
    if s.project is None or not s.project.images():
        raise gr.Error("The project has no images yet.")
    s.index = (s.index + step) % len(s.project.images())
    _load_image(s)
    return (s, *_view(s))


#: (method, parameter) of every slider, in the order the tab passes them.
SLIDERS = [(method, name) for method in ann.METHODS for name in ann.DEFAULTS[method]]


def _hierarchy(s: Session, method: str, params: dict, model_name: str | None, guided: bool):
    model = get_model(model_name) if (method == "model" or guided) and model_name else None
    if (method == "model" or guided) and model is None:
        raise gr.Error("Choose a regions model for this.")
    return ann.build_regions(s.image, method, model=model, guided=guided and model is not None, **params)


def run_oversegment(method: str, model_name: str | None, guided: bool, granularity: float, s: Session,
                    *values: float):
    """Replace the current labels with a cut of a new region hierarchy (undoable); its regions
    start as proposed. ``values`` are the sliders of :data:`SLIDERS`."""
    s.current()
    if s.image is None:
        _load_image(s)
    if method not in ann.DEFAULTS:
        raise gr.Error(f"Unknown over-segmentation method {method!r}.")
    chosen = dict(zip(SLIDERS, values))
    params = {name: chosen.get((method, name), default) for name, default in ann.DEFAULTS[method].items()}
    model_name = (model_name or "regions") if (method == "model" or guided) else None
    try:
        hierarchy = _hierarchy(s, method, params, model_name, bool(guided))
    except (ValueError, FileNotFoundError) as err:
        raise gr.Error(str(err)) from None
    labels = hierarchy.cut(hierarchy.regions_at(float(granularity)))
    recorded = {**params, **({"model": model_name} if model_name else {}), **({"guided": True} if guided else {})}
    _start(s, labels, method, recorded)
    s.hierarchy = hierarchy
    return (s, *_view(s))


def _start(s: Session, labels: np.ndarray, method: str, params: dict) -> None:
    """Make ``labels`` the new proposal and current state (undoable), and save both."""
    if s.history is None:
        s.history = ann.History(labels)
        s.history.edits = 1
    else:
        s.history.push(labels)
    s.method, s.params, s.selected = method, params, []
    s.proposal, s.by_hand, s.image_confirmed, s.hierarchy = labels, set(), False, None
    try:
        s.project.save_proposal(s.current(), labels)
    except OSError as err:
        raise gr.Error(f"Could not save the proposal: {err}") from None
    _save(s)


def set_granularity(granularity: float, s: Session):
    """Re-cut the proposed regions at another granularity; edited and confirmed regions stay."""
    labels = s.labels()
    if s.proposal is None or s.method not in ann.DEFAULTS:
        raise gr.Error("Over-segment the image first: the granularity works on its hierarchy.")
    if s.hierarchy is None:  # rebuilt from what the sidecar recorded
        params = {k: v for k, v in s.params.items() if k in ann.DEFAULTS[s.method]}
        try:
            s.hierarchy = _hierarchy(s, s.method, params, s.params.get("model"), bool(s.params.get("guided")))
        except (ValueError, FileNotFoundError) as err:
            raise gr.Error(str(err)) from None
    cut = s.hierarchy.cut(s.hierarchy.regions_at(float(granularity)))
    try:
        labels, proposal = ann.regranulate(labels, s.proposal, cut)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    s.history.push(labels)
    s.proposal, s.selected = proposal, []
    try:
        s.project.save_proposal(s.current(), proposal)
    except OSError as err:
        raise gr.Error(f"Could not save the proposal: {err}") from None
    _save(s)
    return (s, *_view(s))


def one_click_salient(model_name: str | None, s: Session):
    """Propose background and salient object from the saliency model, to accept or correct."""
    s.current()
    if s.image is None:
        _load_image(s)
    name = model_name if model_name and get_model(model_name).info.task == "saliency" else "saliency"
    try:
        labels = ann.salient_object(s.image, get_model(name))
    except (ValueError, FileNotFoundError) as err:
        raise gr.Error(str(err)) from None
    _start(s, labels, "salient", {"model": name})
    return (s, *_view(s))


def click(mode: str, parts: float, s: Session, evt: gr.SelectData):
    """A click on the canvas: select / merge, split, or erase the clicked region."""
    labels = s.labels()
    x, y = int(evt.index[0]), int(evt.index[1])
    try:
        region = ann.region_at(labels, x, y)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    if mode == "split":
        if region == ann.UNLABELLED:
            raise gr.Error("That pixel is unlabelled; paint it into a region first.")
        try:
            pieces = ann.split(labels, s.image, region, parts=int(parts))
        except ValueError as err:  # refused before the history changes
            raise gr.Error(str(err)) from None
        _edit(s, pieces)
        s.selected = []
    elif mode == "confirm region":
        if region == ann.UNLABELLED:
            raise gr.Error("That pixel is unlabelled; paint it into a region first.")
        if region in s.proposed():
            s.by_hand.add(region)
        elif region in s.by_hand:
            s.by_hand.discard(region)  # a second click takes a hand confirmation back
        _save(s)
    elif mode == "erase region":
        _edit(s, ann.erase(labels, labels == region))
        s.selected = []
    elif region == ann.UNLABELLED:
        gr.Info("Unlabelled pixels cannot be selected; use the brush to paint them.")
    elif not s.selected or s.selected[0] not in labels:
        s.selected = [region]
    elif s.selected[0] == region:
        # Clicking the selected region again keeps it: deselecting is its own action (Esc), so a
        # stray double click never silently drops a merge.
        gr.Info(f"Region {region} is already selected; click another region to merge it in, or Esc to deselect.")
    else:
        _edit(s, ann.merge(labels, [s.selected[0], region]))
    return (s, *_view(s))


def deselect(s: Session):
    """Clear the selection."""
    s.selected = []
    return (s, *_view(s))


def confirm_image(s: Session):
    """Confirm every region of the image as it is (or take that back)."""
    s.labels()
    s.image_confirmed = not s.image_confirmed
    _save(s)
    return (s, *_view(s))


def brush(action: str, editor: dict | None, s: Session):
    """Apply the strokes drawn in the brush editor: merge every region under them, a new region,
    grow the selected one, or erase."""
    labels = s.labels()
    layers = (editor or {}).get("layers") or []
    mask = np.zeros(labels.shape, bool)
    for layer in layers:
        if layer is None:
            continue
        arr = np.asarray(layer)
        if arr.shape[:2] != labels.shape:
            import cv2

            arr = cv2.resize(arr, (labels.shape[1], labels.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask |= (arr[..., 3] > 0) if arr.ndim == 3 and arr.shape[2] == 4 else (arr.reshape(*arr.shape[:2], -1).max(-1) > 0)
    if not mask.any():
        raise gr.Error("Draw on the brush canvas first.")
    if action == "merge":
        merged = ann.merge_under(labels, mask)
        if (merged == labels).all():
            raise gr.Error("The stroke touches fewer than two regions; draw across the regions to merge.")
        _edit(s, merged)
    elif action == "grow":
        if not s.selected:
            raise gr.Error("Select a region (click it in select mode) to grow it.")
        _edit(s, ann.paint(labels, mask, s.selected[0]))
    elif action == "new":
        _edit(s, ann.paint(labels, mask))
    else:
        _edit(s, ann.erase(labels, mask))
    return (s, *_view(s))


def undo_redo(which: str, s: Session):
    """Undo or redo one edit (the result is saved)."""
    if s.history is None:
        raise gr.Error("Nothing to undo.")
    (s.history.undo if which == "undo" else s.history.redo)()
    s.selected = []
    _save(s)
    return (s, *_view(s))


def import_mask(file: str | None, binary: bool, s: Session):
    """Use an existing mask or label map for the current image."""
    if not file:
        raise gr.Error("Choose a mask or label-map file to import.")
    try:
        s.project.import_labels(s.current(), file, binary=binary)
    except (ImageError, ValueError, OSError) as err:
        raise gr.Error(str(err)) from None
    _load_image(s)  # an imported map is confirmed as a whole
    return (s, *_view(s))


def export(s: Session):
    """Zip the project's annotations (the format `cas-studio train --data` reads, once unpacked)."""
    if s.project is None:
        raise gr.Error("Open or create a project first.")
    out = scratch("export-") / f"{s.project.root.name}-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    try:
        return str(export_zip(s.project, out))
    except (ValueError, OSError) as err:
        raise gr.Error(str(err)) from None


def build(default_folder: str) -> dict:
    """Lay out the tab inside the current Blocks; return its components by name."""
    state = gr.State(Session(), time_to_live=settings.SESSION_TTL_S)
    with gr.Row():
        folder = gr.Textbox(default_folder, label="Project folder (created if new)", scale=4, elem_id="project-folder")
        open_btn = gr.Button("Open / create", scale=1, elem_id="project-open")
    with gr.Row():
        with gr.Column(scale=1):
            uploads = gr.File(file_count="multiple", file_types=["image"], label="Add images", elem_id="add-files")
            add_btn = gr.Button("Add to project", elem_id="add-images")
            with gr.Row():
                prev_btn = gr.Button("< Previous (P)", elem_id="prev-image")
                next_btn = gr.Button("Next > (N)", elem_id="next-image")
            method = gr.Radio(list(ann.METHODS), value=ann.DEFAULT_METHOD, label="Over-segmentation", elem_id="method")
            # One slider per (method, parameter), built from the library's defaults; only the
            # chosen method's sliders show.
            sliders, groups = [], {}
            for m in ann.METHODS:
                with gr.Group(visible=m == ann.DEFAULT_METHOD) as groups[m]:
                    for name, default in ann.DEFAULTS[m].items():
                        lo, hi, step, what = ann.PARAM_RANGES[name]
                        sliders.append(gr.Slider(lo, hi, value=default, step=step, label=f"{name} ({m})", info=what,
                                                 elem_id=f"param-{m}-{name}"))
            model_name = gr.Dropdown(model_choices(), value="regions" if "regions" in model_choices() else None,
                                     label="model (for the 'model' method: shipped or fine-tuned)", elem_id="annotate-model")
            guided = gr.Checkbox(False, label="let the regions model guide the hierarchy", elem_id="guided")
            seg_btn = gr.Button("Over-segment", variant="primary", elem_id="oversegment")
            with gr.Row():
                salient_btn = gr.Button("One click: salient object", elem_id="one-click-salient")
                regions_btn = gr.Button("One click: regions (model-guided)", elem_id="one-click-regions")
        with gr.Column(scale=3):
            status = gr.Markdown("No project open.", elem_id="annotate-status")
            mode = gr.Radio(MODES, value=MODES[0], label="Click does", elem_id="click-mode",
                            info="select / merge: click a region, then others to merge them into it. Proposed "
                                 "regions are outlined only; merged, edited or confirmed ones are coloured.")
            with gr.Row():
                parts = gr.Slider(2, 8, value=2, step=1, label="split into")
                deselect_btn = gr.Button("Deselect (Esc)", elem_id="deselect")
                confirm_btn = gr.Button("Confirm whole image (Enter)", elem_id="confirm-image")
            granularity = gr.Slider(0, 1, value=ann.DEFAULT_GRANULARITY, step=0.01, elem_id="granularity",
                                    label="granularity (coarser <-> finer)",
                                    info="re-cuts the proposed regions; your edits and confirmed regions stay")
            # The full width of the column (Gradio maps a click to a pixel only when the image fills
            # its box); the brush editor below zooms and pans.
            canvas = gr.Image(label="Regions (click to edit)", interactive=False, format="png", elem_id="canvas")
            with gr.Row():
                undo_btn = gr.Button("Undo", elem_id="undo")
                redo_btn = gr.Button("Redo", elem_id="redo")
                export_btn = gr.Button("Export zip")
            exported = gr.File(label="Exported project")
            gr.Markdown("Shortcuts: " + "; ".join(f"**{k}** {v}" for k, v in SHORTCUTS.items()),
                        elem_id="shortcuts")
            with gr.Accordion("Brush: paint-to-merge, new region, grow, erase", open=False):
                editor = gr.ImageEditor(type="numpy", label="Draw strokes (zoom and pan in the toolbar), then apply",
                                        format="png", elem_id="brush-editor", height="70vh",
                                        sources=[], transforms=[], layers=False,
                                        brush=gr.Brush(colors=["#ffe600"], default_size=12))
                with gr.Row():
                    merge_btn = gr.Button("Merge the regions under the stroke", elem_id="paint-merge")
                    new_btn = gr.Button("Paint a new region")
                    grow_btn = gr.Button("Grow the selected region")
                    erase_btn = gr.Button("Erase (mark unlabelled)")
            with gr.Accordion("Import an existing mask or label map", open=False):
                mask_file = gr.File(label="Mask / label map (PNG)", file_types=["image"])
                binary = gr.Checkbox(label="binary mask (foreground / background)", value=True)
                import_btn = gr.Button("Import for this image")
    views = [state, canvas, status, editor]
    edit = dict(concurrency_id="edits", concurrency_limit=4, api_name=False)
    # A few actions are API endpoints too (the session's state persists across a client's calls).
    api = dict(concurrency_id="edits", concurrency_limit=4)
    open_btn.click(open_or_create, [folder, state], views, api_name="open_project", **api)
    add_btn.click(add_images, [uploads, state], [*views, uploads], api_name="add_images", **api)
    prev_btn.click(lambda s: navigate(-1, s), state, views, **edit)
    next_btn.click(lambda s: navigate(1, s), state, views, **edit)
    seg_btn.click(run_oversegment, [method, model_name, guided, granularity, state, *sliders], views,
                  concurrency_id="inference", concurrency_limit=1, api_name="oversegment")
    granularity.release(set_granularity, [granularity, state], views, api_name="granularity", **api)
    regions_btn.click(lambda name, g, s: run_oversegment(ann.DEFAULT_METHOD, name, True, g, s),
                      [model_name, granularity, state], views, concurrency_id="inference", concurrency_limit=1,
                      api_name="one_click_regions")
    salient_btn.click(one_click_salient, [model_name, state], views, concurrency_id="inference", concurrency_limit=1,
                      api_name="one_click_salient")
    method.change(lambda m: [gr.update(visible=k == m) for k in ann.METHODS], method, list(groups.values()),
                  api_name=False, show_progress="hidden")
    deselect_btn.click(deselect, state, views, **edit)
    confirm_btn.click(confirm_image, state, views, api_name="confirm_image", **api)
    merge_btn.click(lambda e, s: brush("merge", e, s), [editor, state], views, **edit)
    canvas.select(click, [mode, parts, state], views, **edit)
    undo_btn.click(lambda s: undo_redo("undo", s), state, views, api_name="undo", **api)
    redo_btn.click(lambda s: undo_redo("redo", s), state, views, **edit)
    new_btn.click(lambda e, s: brush("new", e, s), [editor, state], views, **edit)
    grow_btn.click(lambda e, s: brush("grow", e, s), [editor, state], views, **edit)
    erase_btn.click(lambda e, s: brush("erase", e, s), [editor, state], views, **edit)
    import_btn.click(import_mask, [mask_file, binary, state], views, **edit)
    export_btn.click(export, state, exported, api_name="export", **api)
    return {"state": state, "folder": folder, "model": model_name, "sliders": dict(zip(SLIDERS, sliders)),
            "method": method, "granularity": granularity}
