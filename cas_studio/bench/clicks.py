"""A simulated annotator that only does what a hand can do: actions per image to covering 0.90.

On BSDS500 val (human segmentations, class-free) an oracle starts from a method's initial regions
and repeatedly takes the action with the largest covering gain per action against the first human
segmentation, until covering reaches 0.90 or 60 actions. Every action is physical:

* **click-merge** (one action): two adjacent regions join (select one, click the other).
* **stroke** (one action): a brush of radius :data:`BRUSH_RADIUS` px (5 px, under 1% of the
  578 px diagonal of a BSDS image; the app's default brush) drawn along a path that stays inside
  one human region; it merges **only the regions whose pixels the brush touches**. The paths a
  person would draw are offered: per connected piece of the human region eroded by the radius,
  its medial axis (skeleton) and a ring just inside its border. The path's length is counted.
* **granularity** (one action): one slider move to one of 11 cuts of the hierarchy, keeping every
  edited region (:func:`cas_studio.annotation.edits.regranulate`). Like a careful person, the oracle only
  moves to a cut from which merging can still reach the target (its *merge bound*, the covering
  once every region joins the human region it overlaps most, stays at or above the target).
* **click-to-object** (one action per click, plus one to accept): the click model's clicks on one
  human region by the standard NoC protocol (each click lands on one pixel: the first at the
  region's point farthest from its border, each next one at the centre of the larger error), 1 to
  :data:`MAX_OBJECT_CLICKS` clicks; the mask, snapped to the superpixels (a superpixel joins when
  most of it is inside), becomes one region.
* **lasso** (one action): a closed outline a hand traces around one connected piece of a human
  region (at least :data:`MIN_OBJECT` of the image): its outer border simplified to a polygon
  within :data:`LASSO_TOLERANCE` px (a traced outline, not a pixel-exact one; holes are not
  traced). What lies inside the outline becomes one new region, splitting the regions the
  outline cuts, and regions already edited are never taken, as in the app
  (:meth:`cas_studio.annotation.Session.lasso`); the simulation works on superpixels, so a
  superpixel counts as inside when at least :data:`LASSO_COVER` of it is (the app cuts pixel-exact
  along the outline). The outline's length is counted as path drawn.
* **grow** (select + one key press per level): a region of at least :data:`MIN_GROW` of the
  image is selected (one click) and grown 1 to :data:`MAX_GROW` times; each press takes the
  smallest hierarchy node that strictly contains the region (as
  :meth:`cas_studio.annotation.Session.grow`), so k presses cost k + 1 actions.
* **flood fill** (the rule this benchmark used before, *not drawable*): every region of a
  connected run of regions that one human region holds most of joins in one action, however many
  and however far apart. Kept only as the row "upper bound (flood fill, not drawable)".

Per method the table gives the mean actions to covering 0.90 (60 when not reached), the share of
images that reach it, the covering reached, the path length drawn per image (strokes and
lasso outlines), and the ASA
and boundary recall of its superpixels cut to ``--regions`` regions. The last line reads
``best: <method> <N> actions, <P>% reach 0.90`` (drawable methods only).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from skimage.morphology import skeletonize

from .. import annotation as ann
from ..annotation.hierarchy import Hierarchy, build_hierarchy
from ..annotation.tools import BRUSH_RADIUS
from ..inference.grouping import adjacent_pairs, coverage
from ..interactive.clicks import protocol_masks
from ..metrics import achievable_accuracy, boundary_fmeasure

TARGET = 0.90
LIMIT = 60
#: Granularities the oracle may move the slider to (one action each).
LEVELS = tuple(np.linspace(0.0, 1.0, 11))
#: The app's tool each simulated move stands for: (kind, id) in :mod:`cas_studio.annotation.tools`.
#: "granularity" is the slider, "grow" the G key; "flood" is no tool (the upper bound only).
TOOL_OF = {"merge": ("click", "merge"), "stroke": ("drag", "merge"), "lasso": ("drag", "lasso")}
#: Most clicks the click-to-object tool is given on one object before it is accepted.
MAX_OBJECT_CLICKS = 5
#: Human regions smaller than this share of the image are left to merges and strokes.
MIN_OBJECT = 0.005
#: The share of a superpixel inside a lasso outline from which the simulation counts it as taken
#: (it works on superpixels; the app's lasso cuts pixel-exact along the outline).
LASSO_COVER = 0.5
#: How far a traced lasso outline may stray from the region's true border, in pixels.
LASSO_TOLERANCE = 4.0
#: Smallest region (share of the image) a person selects to grow, and the most presses in a row.
MIN_GROW = 0.002
MAX_GROW = 6


@dataclass(frozen=True)
class Method:
    """A way to start: base over-segmentation, whether it has a hierarchy, and the actions offered."""

    name: str
    base: str  # an annotate.METHODS name
    actions: tuple[str, ...]
    hierarchy: bool = False
    guided: bool = False  # hierarchy merges by the regions model's CAS code too
    start: float = 1.0  # initial granularity (1 = the superpixels)
    params: tuple[tuple[str, float], ...] = ()  # base parameters other than annotate.DEFAULTS
    drawable: bool = True  # False: the flood-fill upper bound, no hand can do it


#: The app's Felzenszwalb settings before the hierarchy (the baseline every method is compared with).
OLD_APP = (("scale", 200.0), ("sigma", 0.8), ("min_size", 50.0))


def methods(start: float, *, clicks: bool = True) -> list[Method]:
    """The compared methods; ``start`` is the hierarchy methods' initial granularity."""
    honest = ("merge", "stroke", "granularity")
    tools = (*honest, "grow", "lasso")
    out = [
        Method("felzenszwalb 200, click-merge (the old app)", "felzenszwalb", ("merge",), params=OLD_APP),
        Method(f"hierarchy + click-merge + slider, start {start:g}", "felzenszwalb", ("merge", "granularity"),
               True, False, start),
        Method(f"hierarchy + click-merge + strokes + slider, start {start:g}", "felzenszwalb", honest, True, False,
               start),
        Method(f"model-guided hierarchy + click-merge + strokes + slider, start {start:g}", "felzenszwalb", honest,
               True, True, start),
        Method(f"+ grow, start {start:g}", "felzenszwalb", (*honest, "grow"), True, False, start),
        Method(f"+ grow + lasso, start {start:g}", "felzenszwalb", tools, True, False, start),
    ]
    if clicks:
        out.append(Method(f"+ grow + lasso + click-to-object, start {start:g}", "felzenszwalb",
                          (*tools, "click"), True, False, start))
    out.append(Method("upper bound (flood fill, not drawable)", "felzenszwalb", ("merge", "flood", "granularity"),
                      True, False, start, drawable=False))
    return out


def _table(assign: np.ndarray, counts: np.ndarray, n_regions: int) -> np.ndarray:
    """(regions x ground-truth regions) pixel counts of a superpixel assignment."""
    member = sparse.csr_matrix((np.ones(len(assign)), (assign, np.arange(len(assign)))), shape=(n_regions, len(assign)))
    return np.asarray(member @ counts)


def _covering(t: np.ndarray) -> float:
    """Covering of the ground truth from a (regions x ground-truth regions) pixel-count table."""
    rows, cols = t.sum(1), t.sum(0)
    iou = t / np.maximum(rows[:, None] + cols[None, :] - t, 1)
    return float((cols * iou.max(0)).sum() / cols.sum())


def _bound(t: np.ndarray) -> float:
    """The merge bound: covering once every region joins the ground-truth region it overlaps most."""
    merged = np.zeros((t.shape[1], t.shape[1]))
    np.add.at(merged, t.argmax(1), t)
    return _covering(merged)


def _untouched(assign: np.ndarray, proposal: np.ndarray) -> np.ndarray:
    """Per superpixel: whether its region is exactly one proposal region's (unedited, proposed)."""
    pairs = np.unique(np.stack([assign, proposal]), axis=1)
    per_region = np.bincount(pairs[0], minlength=assign.max() + 1)
    size_r = np.bincount(assign, minlength=assign.max() + 1)
    size_p = np.bincount(proposal[proposal >= 0], minlength=max(proposal.max() + 1, 1))
    return (per_region[assign] == 1) & (proposal >= 0) & (size_r[assign] == size_p[np.maximum(proposal, 0)])


def _regranulate(assign: np.ndarray, proposal: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cas_studio.annotation.edits.regranulate` on superpixel assignments (-1 in ``proposal``: none).

    A region is untouched when its superpixels are exactly one proposal region's; those take the
    new cut's regions, the rest stay.
    """
    n = len(assign)
    free = _untouched(assign, proposal)
    out = assign.copy()
    base = assign[~free].max() + 1 if (~free).any() else 0
    _, inverse = np.unique(cut[free], return_inverse=True)
    out[free] = base + inverse
    new_proposal = np.full(n, -1, np.int64)
    new_proposal[free] = out[free]
    _, out = np.unique(out, return_inverse=True)  # compact ids
    new_proposal[free] = out[free]
    return out, new_proposal


@dataclass
class Tools:
    """What the physical tools can do on one image, in superpixels.

    ``strokes``: (superpixels the brush touches, path length in px) per drawable path;
    ``objects``: per human region, the superpixels of the click model's mask after 1, 2, ... clicks;
    ``lassos``: (pixels of each superpixel inside the outline, outline length in px) per outline.
    """

    strokes: list[tuple[np.ndarray, float]] = field(default_factory=list)
    objects: list[list[np.ndarray]] = field(default_factory=list)
    lassos: list[tuple[np.ndarray, float]] = field(default_factory=list)


def lasso_outlines(gt: np.ndarray, *, tolerance: float = LASSO_TOLERANCE,
                   min_share: float = MIN_OBJECT) -> list[tuple[np.ndarray, float]]:
    """The outlines a person would trace: (filled outline mask, outline length) per piece.

    One per connected piece of each human region covering at least ``min_share`` of the image:
    its outer border simplified to a polygon within ``tolerance`` px, filled (holes included, as a
    drawn lasso cannot leave them out).
    """
    out = []
    for g in np.unique(gt):
        contours, _ = cv2.findContours((gt == g).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        for c in contours:
            if cv2.contourArea(c) < min_share * gt.size:
                continue
            poly = cv2.approxPolyDP(c, tolerance, True)
            if len(poly) < 3:
                continue
            inside = np.zeros(gt.shape, np.uint8)
            cv2.fillPoly(inside, [poly], 1)
            out.append((inside.astype(bool), float(cv2.arcLength(poly, True))))
    return out


def stroke_paths(gt: np.ndarray, *, radius: int = BRUSH_RADIUS) -> list[tuple[np.ndarray, float]]:
    """The strokes a person would draw inside each human region: (brush footprint mask, path length).

    Per connected piece of each region eroded by ``radius`` (so the brush stays inside it): its
    medial axis and a ring just inside its border, each with the brush's footprint around it.
    """
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    out = []
    for g in np.unique(gt):
        inner = cv2.erode((gt == g).astype(np.uint8), disk, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        n, pieces = cv2.connectedComponents(inner, connectivity=8)
        for k in range(1, n):
            piece = (pieces == k).astype(np.uint8)
            ring = piece & ~cv2.erode(piece, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
            for path in (skeletonize(piece.astype(bool)).astype(np.uint8), ring):
                if path.sum() >= 2:
                    out.append((cv2.dilate(path, disk).astype(bool), float(path.sum())))
    return out


def snap(mask: np.ndarray, superpixels: np.ndarray, n: int) -> np.ndarray:
    """Superpixels that ``mask`` covers for more than half of their pixels."""
    return np.flatnonzero(coverage(mask, superpixels, n) > 0.5)


def object_masks(predictor: Callable[[list], np.ndarray], target: np.ndarray,
                 max_clicks: int = MAX_OBJECT_CLICKS) -> list[np.ndarray]:
    """The click model's masks after 1..max_clicks clicks of the NoC protocol on ``target``."""
    return list(protocol_masks(predictor, target, max_clicks, stop_iou=0.95))


def _pair_scores(t: np.ndarray, iou_t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Covering after merging each pair of ``edges``, all at once.

    A human region's best match after a merge is the merged region or the best region outside the
    pair: the first of its top three regions that is not one of the two.
    """
    rows, cols = t.sum(1), t.sum(0)
    a, b = edges[:, 0], edges[:, 1]
    merged = t[a] + t[b]
    new = merged / ((rows[a] + rows[b])[:, None] + cols[None, :] - merged)
    k = min(3, len(iou_t))
    top = np.argsort(-iou_t, axis=0)[:k]  # (k, C) region ids, best first
    columns = np.arange(t.shape[1])
    excl = np.zeros_like(new)
    done = np.zeros(new.shape, bool)
    for j in range(k):
        ok = ~done & (top[j][None, :] != a[:, None]) & (top[j][None, :] != b[:, None])
        excl = np.where(ok, iou_t[top[j], columns][None, :], excl)
        done |= ok
    return (cols[None, :] * np.maximum(excl, new)).sum(1) / cols.sum()


def simulate(counts: np.ndarray, pairs: np.ndarray, assign: np.ndarray, *, kinds: tuple[str, ...],
             hierarchy: Hierarchy | None = None, tools: Tools | None = None, target: float = TARGET,
             limit: int = LIMIT, trace: list | None = None) -> tuple[int, float, float]:
    """Run the oracle; (actions taken, covering reached, stroke path length drawn).

    Every state is a union of superpixels, so the simulation works on superpixels: ``counts`` is
    (superpixels x ground-truth regions) pixel counts, ``pairs`` the adjacent superpixel pairs and
    ``assign`` the initial region (0..R-1) of each superpixel. Covering is exact, in pixels. Each
    step takes the candidate with the largest covering gain per action it costs; ``trace``, if
    given, receives (kind, covering after, actions so far) per step.
    """
    tools = tools or Tools()
    proposal = assign.copy()
    actions, drawn = 0, 0.0
    used_objects: set[int] = set()
    levels = [hierarchy.assignment(hierarchy.regions_at(g)) for g in LEVELS] if hierarchy is not None else []
    while True:
        n_regions = assign.max() + 1
        t = _table(assign, counts, n_regions)
        current = _covering(t)
        if current >= target or actions >= limit:
            return actions, current, drawn
        rows, cols = t.sum(1), t.sum(0)
        iou_t = t / np.maximum(rows[:, None] + cols[None, :] - t, 1)
        ra, rb = assign[pairs[:, 0]], assign[pairs[:, 1]]
        owner = t.argmax(1)
        # Joining regions that different human regions hold most of never helps: not offered.
        keep = (ra != rb) & (owner[ra] == owner[rb])
        edges = np.unique(np.sort(np.stack([ra[keep], rb[keep]], 1), axis=1), axis=0) if keep.any() \
            else np.zeros((0, 2), np.int64)
        # Each candidate is scored by its covering gain per action it costs.
        best, choice = 1e-9, None
        if "merge" in kinds and len(edges):
            scores = _pair_scores(t, iou_t, edges)
            k = int(np.argmax(scores))
            if scores[k] - current > best:
                best, choice = scores[k] - current, ("merge", edges[k], 1, 0.0)
        groups: list[tuple[np.ndarray, float, str]] = []
        if "flood" in kinds and len(edges):
            graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_regions, n_regions))
            n, comp = connected_components(graph, directed=False)
            sizes = np.bincount(comp, minlength=n)
            groups += [(np.flatnonzero(comp == c), 0.0, "flood") for c in np.flatnonzero(sizes >= 3)]
        if "stroke" in kinds:
            for sps, length in tools.strokes:
                group = np.unique(assign[sps])
                if len(group) >= 2:
                    groups.append((group, length, "stroke"))
        if "lasso" in kinds and tools.lassos:
            free = _untouched(assign, proposal)
            area = counts.sum(1)  # pixels per superpixel
            for inside, length in tools.lassos:
                take = free & (inside >= LASSO_COVER * np.maximum(area, 1))
                if not take.any():
                    continue
                new_assign = assign.copy()
                new_assign[take] = n_regions
                gain = _covering(_table(new_assign, counts, n_regions + 1)) - current
                if gain > best:
                    best, choice = gain, ("lasso", new_assign, 1, length)
        for group, length, label in groups:
            others = np.ones(n_regions, bool)
            others[group] = False
            merged = t[group].sum(0)
            new = merged / (rows[group].sum() + cols - merged)
            score = float((cols * np.maximum(iou_t[others].max(0) if others.any() else 0.0, new)).sum() / cols.sum())
            if score - current > best:
                best, choice = score - current, (label, group, 1, length)
        if "grow" in kinds and hierarchy is not None:
            for r in np.flatnonzero(rows >= MIN_GROW * cols.sum()):  # rows: pixels per region
                members = np.flatnonzero(assign == r)
                for presses in range(1, MAX_GROW + 1):
                    members = hierarchy.ancestor(members)
                    if members is None:
                        break
                    new_assign = assign.copy()
                    new_assign[members] = r
                    gain = (_covering(_table(new_assign, counts, n_regions)) - current) / (presses + 1)  # the select click and the presses
                    if gain > best:
                        best, choice = gain, ("grow", new_assign, presses + 1, 0.0)
        if "click" in kinds:
            for g, masks in enumerate(tools.objects):
                if g in used_objects:
                    continue
                for k, sps in enumerate(masks):
                    if not len(sps):
                        continue
                    new_assign = assign.copy()
                    new_assign[sps] = n_regions
                    gain = (_covering(_table(new_assign, counts, n_regions + 1)) - current) / (k + 2)  # k + 1 clicks and the accept
                    if gain > best:
                        best, choice = gain, ("object", (g, new_assign), k + 2, 0.0)
        if "granularity" in kinds:
            for cut in levels:
                new_assign, new_proposal = _regranulate(assign, proposal, cut)
                tt = _table(new_assign, counts, new_assign.max() + 1)
                score = _covering(tt)
                if score - current > best and _bound(tt) >= min(target, _bound(t)):
                    best, choice = score - current, ("granularity", (new_assign, new_proposal), 1, 0.0)
        if choice is None:
            return actions, current, drawn  # no action helps any more
        kind, what, cost, length = choice
        if kind in ("merge", "stroke", "flood"):
            assign = np.where(np.isin(assign, what), what[0], assign)
        elif kind == "object":
            used_objects.add(what[0])
            assign = what[1]
        elif kind in ("grow", "lasso"):
            assign = what
        else:
            assign, proposal = what
        _, assign = np.unique(assign, return_inverse=True)
        actions += cost
        drawn += length
        if trace is not None:
            trace.append((kind, round(current + best * cost, 4), actions))


def _boundary_recall(seg: np.ndarray, gt: np.ndarray) -> float:
    return boundary_fmeasure(seg, [gt])["boundary_recall"]


def run(items: list, method_list: list[Method], *, regions: int = 100, model=None, clicker=None,
        progress: Callable[[str], None] | None = None) -> list[dict]:
    """Simulate every method on every item; one row of means per method.

    ``model`` is the regions model (for guided hierarchies), ``clicker`` a
    :class:`~cas_studio.interactive.ClickSegmenter` (for click-to-object).
    """
    from ..data import read_target
    from ..inference.infer import predict_probabilities
    from ..io import read_image

    rows = {m.name: {"actions": [], "covering": [], "reached": [], "initial": [], "asa": [], "recall": [],
                     "drawn": [], "seconds": []} for m in method_list}
    for n, it in enumerate(items):
        image = read_image(it.image)
        gt = read_target(it, annotation=0, shape=image.shape[:2])
        bases = {(m.base, m.params): ann.oversegment(image, m.base, **{**ann.DEFAULTS[m.base], **dict(m.params)})
                 for m in method_list}
        probs = predict_probabilities(model, image) if model is not None and any(m.guided for m in method_list) else None
        paths = stroke_paths(gt) if any("stroke" in m.actions for m in method_list) else []
        outlines = lasso_outlines(gt) if any("lasso" in m.actions for m in method_list) else []
        masks: list[list[np.ndarray]] = []
        if clicker is not None and any("click" in m.actions for m in method_list):
            clicker.set_image(image)
            masks = [object_masks(clicker.predict, gt == g) for g in np.unique(gt) if (gt == g).mean() >= MIN_OBJECT]
        _, gi = np.unique(gt.ravel(), return_inverse=True)
        built: dict[tuple, tuple] = {}  # methods that share base and guidance share everything below
        for m in method_list:
            t0 = time.perf_counter()
            key = (m.base, m.params, m.guided)
            if key not in built:
                h = build_hierarchy(image, bases[(m.base, m.params)], probs=probs if m.guided else None)
                fixed, sp = h.cut(regions), h.superpixels
                counts = sparse.coo_matrix((np.ones(gi.size), (sp.ravel(), gi)), shape=(h.finest, gi.max() + 1)).toarray()
                every = Tools(strokes=[(np.unique(sp[foot]), length) for foot, length in paths],
                              objects=[[snap(mk, sp, h.finest) for mk in ms] for ms in masks],
                              lassos=[(np.bincount(sp.ravel(), weights=inside.ravel(), minlength=h.finest), length)
                                      for inside, length in outlines])
                built[key] = (h, achievable_accuracy(fixed, gt), _boundary_recall(fixed, gt), counts,
                              adjacent_pairs(sp), every)
            h, asa, recall, counts, pairs, every = built[key]
            row = rows[m.name]
            row["asa"].append(asa)
            row["recall"].append(recall)
            tools = Tools(strokes=every.strokes if "stroke" in m.actions else [],
                          objects=every.objects if "click" in m.actions else [],
                          lassos=every.lassos if "lasso" in m.actions else [])
            start = h.assignment(h.regions_at(m.start)) if m.hierarchy else np.arange(h.finest)
            row["initial"].append(int(start.max()) + 1)
            actions, cov, drawn = simulate(counts, pairs, start, kinds=m.actions,
                                           hierarchy=h if m.hierarchy else None, tools=tools)
            # An image that never reaches the target within the budget counts as the full budget.
            reached = cov >= TARGET and actions <= LIMIT
            row["actions"].append(actions if reached else LIMIT)
            row["covering"].append(cov)
            row["reached"].append(reached)
            row["drawn"].append(drawn)
            row["seconds"].append(time.perf_counter() - t0)
        if progress:
            progress(f"{n + 1}/{len(items)} {it.image.name}: " + ", ".join(
                f"{rows[m.name]['actions'][-1]}" for m in method_list))
    return [{"method": name, "drawable": m.drawable, **{k: float(np.mean(v)) for k, v in rows[name].items()}}
            for name, m in zip(rows, method_list)]


def table(results: list[dict], *, regions: int) -> str:
    """The results as a markdown table."""
    lines = [f"| method | initial regions | ASA @{regions} | boundary recall @{regions} | actions to 0.90 ({LIMIT} = "
             f"not reached) | reached 0.90 | covering reached | path drawn (px) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['method']} | {r['initial']:.0f} | {r['asa']:.3f} | {r['recall']:.3f} | {r['actions']:.1f} | "
                     f"{r['reached']:.0%} | {r['covering']:.3f} | {r['drawn']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the simulated-annotator table (``cas-studio bench annotate --clicks``)."""
    p = argparse.ArgumentParser(prog="cas-studio bench annotate --clicks", description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100, help="first N BSDS500 val images")
    p.add_argument("--regions", type=int, default=100, help="region count at which ASA and boundary recall compare")
    p.add_argument("--start", type=float, default=ann.DEFAULT_GRANULARITY,
                   help="initial granularity of the hierarchy methods (0 coarsest .. 1 the superpixels)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    from ..data import resolve
    from ..models.weights import load_model

    try:
        items = resolve("bsds500:val")[: args.images]
    except (ValueError, FileNotFoundError) as err:
        print(f"error: BSDS500 val is needed ({err})")
        return 2
    try:
        model = load_model("regions", device="cpu")
    except (FileNotFoundError, ValueError):
        model = None
    try:
        from ..interactive import ClickSegmenter

        clicker = ClickSegmenter("clicks", "cpu")
    except (FileNotFoundError, ValueError):
        clicker = None
    chosen = [m for m in methods(args.start, clicks=clicker is not None) if model is not None or not m.guided]
    t0 = time.perf_counter()
    results = run(items, chosen, regions=args.regions, model=model, clicker=clicker,
                  progress=None if args.quiet else print)
    print(f"simulated annotator on {len(items)} BSDS500 val images (first human segmentation), target covering "
          f"{TARGET}, at most {LIMIT} actions, hierarchy start {args.start:g}, brush radius {BRUSH_RADIUS} px; "
          f"{time.perf_counter() - t0:.0f} s")
    print(table(results, regions=args.regions))
    best = min((r for r in results if r["drawable"]), key=lambda r: (r["actions"], -r["covering"]))
    print(f"best: {best['method']} {best['actions']:.1f} actions, {best['reached']:.0%} reach 0.90")
    return 0
