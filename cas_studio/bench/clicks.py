"""A simulated annotator: how many actions each way of starting needs to reach covering 0.90.

On BSDS500 val (human segmentations, class-free) an oracle starts from a method's initial regions
and repeatedly makes the one action that raises covering against the first human segmentation the
most, until covering reaches 0.90 or 60 actions. An action is one of:

* **merge**: two adjacent regions become one (select, then click);
* **stroke**: paint-to-merge, one stroke across a connected run of regions that the same human
  region holds most of;
* **granularity**: move the hierarchy slider to another cut; edited regions are kept
  (:func:`cas_studio.annotate.regranulate`). Like a careful person, the oracle only moves to a cut
  from which merging can still reach the target (its *merge bound*, the covering once every region
  joins the human region it overlaps most, stays at or above the target): a greedy jump to a coarse
  cut would otherwise win one step and leave regions straddling object boundaries for good.

Methods differ in their initial regions and the actions they offer. Per method the table gives the
mean number of actions, the covering reached, the share of images that reached 0.90, and the
achievable segmentation accuracy (ASA) and boundary recall of its superpixels cut to the same
number of regions (``--regions``, default 100) for all methods.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .. import annotate as ann
from ..grouping import adjacent_pairs
from ..hierarchy import Hierarchy, build_hierarchy
from ..metrics import achievable_accuracy, boundary_fmeasure

TARGET = 0.90
LIMIT = 60
#: Granularities the oracle may move the slider to (one action each).
LEVELS = tuple(np.linspace(0.0, 1.0, 11))


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


#: The app's Felzenszwalb settings before the hierarchy (the baseline every method is compared with).
OLD_APP = (("scale", 200.0), ("sigma", 0.8), ("min_size", 50.0))


def methods(start: float) -> list[Method]:
    """The compared methods; ``start`` is the hierarchy methods' initial granularity."""
    every = ("merge", "stroke", "granularity")
    return [
        Method("felzenszwalb 200, click-merge (the old app)", "felzenszwalb", ("merge",), params=OLD_APP),
        Method(f"fine felzenszwalb hierarchy, + paint + slider, start {start:g} (the app)", "felzenszwalb", every,
               True, False, start),
        Method("fine felzenszwalb hierarchy, + paint + slider, start 0.8", "felzenszwalb", every, True, False, 0.8),
        Method(f"model-guided hierarchy (regions), + paint + slider, start {start:g}", "felzenszwalb", every,
               True, True, start),
    ]


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


def _regranulate(assign: np.ndarray, proposal: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cas_studio.annotate.regranulate` on superpixel assignments (-1 in ``proposal``: none).

    A region is untouched when its superpixels are exactly one proposal region's; those take the
    new cut's regions, the rest stay.
    """
    n = len(assign)
    pairs = np.unique(np.stack([assign, proposal]), axis=1)
    per_region = np.bincount(pairs[0], minlength=assign.max() + 1)
    size_r = np.bincount(assign, minlength=assign.max() + 1)
    size_p = np.bincount(proposal[proposal >= 0], minlength=max(proposal.max() + 1, 1))
    single = per_region[assign] == 1
    whole = (proposal >= 0) & (size_r[assign] == size_p[np.maximum(proposal, 0)])
    free = single & whole
    out = assign.copy()
    base = assign[~free].max() + 1 if (~free).any() else 0
    _, inverse = np.unique(cut[free], return_inverse=True)
    out[free] = base + inverse
    new_proposal = np.full(n, -1, np.int64)
    new_proposal[free] = out[free]
    _, out = np.unique(out, return_inverse=True)  # compact ids
    new_proposal[free] = out[free]
    return out, new_proposal


def simulate(counts: np.ndarray, pairs: np.ndarray, assign: np.ndarray, *, kinds: tuple[str, ...],
             hierarchy: Hierarchy | None = None, target: float = TARGET, limit: int = LIMIT) -> tuple[int, float]:
    """Run the oracle; (actions taken, covering reached).

    Every state is a union of superpixels, so the simulation works on superpixels: ``counts`` is
    (superpixels x ground-truth regions) pixel counts, ``pairs`` the adjacent superpixel pairs and
    ``assign`` the initial region (0..R-1) of each superpixel. Covering is exact, in pixels.
    """
    proposal = assign.copy()
    actions = 0
    levels = [hierarchy.assignment(hierarchy.regions_at(g)) for g in LEVELS] if hierarchy is not None else []
    while True:
        n_regions = assign.max() + 1
        t = np.zeros((n_regions, counts.shape[1]))
        np.add.at(t, assign, counts)
        current = _covering(t)
        if current >= target or actions >= limit:
            return actions, current
        rows, cols = t.sum(1), t.sum(0)
        iou = t / np.maximum(rows[:, None] + cols[None, :] - t, 1)
        owner = t.argmax(1)
        ra, rb = assign[pairs[:, 0]], assign[pairs[:, 1]]
        keep = (ra != rb) & (owner[ra] == owner[rb])
        ra, rb = ra[keep], rb[keep]
        edges = np.unique(np.sort(np.stack([ra, rb], 1), axis=1), axis=0) if len(ra) else np.zeros((0, 2), np.int64)
        candidates: list[np.ndarray] = []
        if "merge" in kinds:
            candidates += list(edges)
        if "stroke" in kinds and len(edges):
            graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_regions, n_regions))
            n, comp = connected_components(graph, directed=False)
            sizes = np.bincount(comp, minlength=n)
            candidates += [np.flatnonzero(comp == c) for c in np.flatnonzero(sizes >= 3)]  # 2 regions: a merge
        best, choice = current + 1e-9, None
        for group in candidates:
            others = np.ones(n_regions, bool)
            others[group] = False
            merged = t[group].sum(0)
            new = merged / (rows[group].sum() + cols - merged)
            score = float((cols * np.maximum(iou[others].max(0) if others.any() else 0.0, new)).sum() / cols.sum())
            if score > best:
                best, choice = score, ("merge", group)
        if "granularity" in kinds:
            for cut in levels:
                new_assign, new_proposal = _regranulate(assign, proposal, cut)
                tt = np.zeros((new_assign.max() + 1, counts.shape[1]))
                np.add.at(tt, new_assign, counts)
                score = _covering(tt)
                if score > best and _bound(tt) >= min(target, _bound(t)):
                    best, choice = score, ("granularity", (new_assign, new_proposal))
        if choice is None:
            return actions, current  # no single action helps any more
        kind, what = choice
        if kind == "merge":
            assign = np.where(np.isin(assign, what), what[0], assign)
            _, assign = np.unique(assign, return_inverse=True)
        else:
            assign, proposal = what
        actions += 1


def _boundary_recall(seg: np.ndarray, gt: np.ndarray) -> float:
    return boundary_fmeasure(seg, [gt])["boundary_recall"]


def run(items: list, method_list: list[Method], *, regions: int = 100, model=None,
        progress: Callable[[str], None] | None = None) -> list[dict]:
    """Simulate every method on every item; one row of means per method."""
    from ..data import read_target
    from ..infer import predict_probabilities
    from ..io import read_image

    rows = {m.name: {"actions": [], "covering": [], "reached": [], "initial": [], "asa": [], "recall": [],
                     "seconds": []} for m in method_list}
    for n, it in enumerate(items):
        image = read_image(it.image)
        gt = read_target(it, annotation=0, shape=image.shape[:2])
        bases = {(m.base, m.params): ann.oversegment(image, m.base, **{**ann.DEFAULTS[m.base], **dict(m.params)})
                 for m in method_list}
        probs = predict_probabilities(model, image) if model is not None and any(m.guided for m in method_list) else None
        for m in method_list:
            t0 = time.perf_counter()
            h = build_hierarchy(image, bases[(m.base, m.params)], probs=probs if m.guided else None)
            fixed = h.cut(regions)
            row = rows[m.name]
            row["asa"].append(achievable_accuracy(fixed, gt))
            row["recall"].append(_boundary_recall(fixed, gt))
            _, gi = np.unique(gt.ravel(), return_inverse=True)
            counts = sparse.coo_matrix((np.ones(gi.size), (h.superpixels.ravel(), gi)),
                                       shape=(h.finest, gi.max() + 1)).toarray()
            pairs = adjacent_pairs(h.superpixels)
            start = h.assignment(h.regions_at(m.start)) if m.hierarchy else np.arange(h.finest)
            row["initial"].append(int(start.max()) + 1)
            actions, cov = simulate(counts, pairs, start, kinds=m.actions, hierarchy=h if m.hierarchy else None)
            # An image that never reaches the target counts as the full budget of actions.
            row["actions"].append(actions if cov >= TARGET else LIMIT)
            row["covering"].append(cov)
            row["reached"].append(cov >= TARGET)
            row["seconds"].append(time.perf_counter() - t0)
        if progress:
            progress(f"{n + 1}/{len(items)} {it.image.name}: " + ", ".join(
                f"{rows[m.name]['actions'][-1]}" for m in method_list))
    return [{"method": name, **{k: float(np.mean(v)) for k, v in r.items()}} for name, r in rows.items()]


def table(results: list[dict], *, regions: int) -> str:
    """The results as a markdown table."""
    lines = [f"| method | initial regions | ASA @{regions} | boundary recall @{regions} | actions to 0.90 ({LIMIT} = not reached) | "
             f"covering reached | reached 0.90 |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['method']} | {r['initial']:.0f} | {r['asa']:.3f} | {r['recall']:.3f} | {r['actions']:.1f} | "
                     f"{r['covering']:.3f} | {r['reached']:.0%} |")
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
    from ..weights import load_model

    try:
        items = resolve("bsds500:val")[: args.images]
    except (ValueError, FileNotFoundError) as err:
        print(f"error: BSDS500 val is needed ({err})")
        return 2
    try:
        model = load_model("regions", device="cpu")
    except (FileNotFoundError, ValueError):
        model = None
    chosen = [m for m in methods(args.start) if model is not None or not m.guided]
    t0 = time.perf_counter()
    results = run(items, chosen, regions=args.regions, model=model, progress=None if args.quiet else print)
    print(f"simulated annotator on {len(items)} BSDS500 val images (first human segmentation), target covering "
          f"{TARGET}, at most {LIMIT} actions, hierarchy start {args.start:g}; {time.perf_counter() - t0:.0f} s")
    print(table(results, regions=args.regions))
    base = results[0]["actions"]
    best = min(results, key=lambda r: (r["actions"], -r["covering"]))
    print(f"best: {best['method']}: {best['actions']:.1f} actions, {base / max(best['actions'], 1e-9):.1f}x fewer "
          f"than {results[0]['method']}")
    return 0
