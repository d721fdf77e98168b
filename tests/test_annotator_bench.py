"""The honest simulated annotator (``cas-studio bench annotate --clicks``): every action a hand can do."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from cas_studio.bench import clicks as sim
from cas_studio.inference.grouping import adjacent_pairs


def grid_superpixels(shape=(60, 90), cell=6) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy // cell) * (shape[1] // cell) + xx // cell


def two_regions(shape=(60, 90)) -> np.ndarray:
    gt = np.zeros(shape, np.int64)
    gt[:, 48:] = 1
    return gt


def counts_of(sp: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return sparse.coo_matrix((np.ones(gt.size), (sp.ravel(), gt.ravel())), shape=(sp.max() + 1, gt.max() + 1)).toarray()


def test_a_stroke_stays_inside_its_human_region_and_touches_only_what_it_covers():
    gt = two_regions()
    paths = sim.stroke_paths(gt, radius=3)
    assert paths
    for footprint, length in paths:
        assert len(np.unique(gt[footprint])) == 1  # never crosses into another human region
        assert length > 0 and footprint.mean() < 0.6  # a brush path, not a flood of the region
    sp = grid_superpixels()
    touched = np.unique(sp[paths[0][0]])
    assert 2 <= len(touched) < len(np.unique(sp[gt == gt[paths[0][0]][0]]))


def test_pair_scores_equal_the_direct_covering():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 50, (30, 4)).astype(float)
    rows, cols = t.sum(1), t.sum(0)
    iou_t = t / np.maximum(rows[:, None] + cols[None, :] - t, 1)
    edges = np.array([[0, 1], [2, 7], [5, 29], [3, 4]])
    for (a, b), score in zip(edges, sim._pair_scores(t, iou_t, edges)):
        merged = t[[a, b]].sum(0)
        new = merged / (rows[[a, b]].sum() + cols - merged)
        others = np.ones(30, bool)
        others[[a, b]] = False
        expected = (cols * np.maximum(iou_t[others].max(0), new)).sum() / cols.sum()
        assert np.isclose(score, expected)


def test_honest_strokes_need_more_actions_than_the_flood_fill_bound():
    gt = two_regions()
    sp = grid_superpixels()
    counts, pairs, start = counts_of(sp, gt), adjacent_pairs(sp), np.arange(sp.max() + 1)
    tools = sim.Tools(strokes=[(np.unique(sp[f]), n) for f, n in sim.stroke_paths(gt, radius=3)])
    flood, cov_flood, _ = sim.simulate(counts, pairs, start, kinds=("merge", "flood"))
    honest, cov_honest, drawn = sim.simulate(counts, pairs, start, kinds=("merge", "stroke"), tools=tools)
    assert cov_flood >= sim.TARGET and flood <= 2
    assert honest > flood and drawn > 0


def test_click_to_object_costs_its_clicks_and_the_accept():
    gt = two_regions()
    sp = grid_superpixels()
    counts, pairs, start = counts_of(sp, gt), adjacent_pairs(sp), np.arange(sp.max() + 1)
    objects = [[sim.snap(gt == g, sp, sp.max() + 1)] for g in (0, 1)]  # one click gives each region exactly
    trace: list = []
    actions, cov, _ = sim.simulate(counts, pairs, start, kinds=("merge", "click"), tools=sim.Tools(objects=objects),
                                   trace=trace)
    assert cov == 1.0 and actions == 4 and [k for k, _, _ in trace] == ["object", "object"]


def test_snap_takes_superpixels_mostly_inside():
    sp = grid_superpixels()
    mask = np.zeros(sp.shape, bool)
    mask[:, :40] = True  # cells 0..5 whole, cell 6 (36..41) two thirds inside
    chosen = sim.snap(mask, sp, sp.max() + 1)
    assert set(np.unique(sp[:, :42]).tolist()) == set(chosen.tolist())


def test_a_lasso_outline_is_traced_within_its_tolerance_and_merges_regions_half_inside():
    gt = two_regions()  # columns 0..47 and 48..89
    outlines = sim.lasso_outlines(gt, tolerance=2.0)
    assert len(outlines) == 2
    inside, length = outlines[1]
    assert abs(int(inside.sum()) - 60 * 42) <= 0.05 * 60 * 42  # the traced outline holds the region
    assert 2 * (59 + 41) - 8 <= length <= 2 * (59 + 41) + 8  # its perimeter, counted as path drawn
    sp = grid_superpixels()
    counts, pairs, start = counts_of(sp, gt), adjacent_pairs(sp), np.arange(sp.max() + 1)
    tools = sim.Tools(lassos=[(np.bincount(sp.ravel(), weights=i.ravel(), minlength=sp.max() + 1), n)
                              for i, n in outlines])
    trace: list = []
    actions, cov, drawn = sim.simulate(counts, pairs, start, kinds=("merge", "lasso"), tools=tools, trace=trace)
    assert cov == 1.0 and [k for k, _, _ in trace] == ["lasso", "lasso"] and drawn >= 2 * length - 16
    # One lasso per human region: far fewer actions than merging the grid's cells pair by pair.
    merges, _, _ = sim.simulate(counts, pairs, start, kinds=("merge",))
    assert actions == 2 < merges


def test_grow_costs_the_select_click_and_each_press():
    from cas_studio.annotation.hierarchy import Hierarchy

    # Four superpixels in a row; the hierarchy joins 0+1 and 2+3, then everything.
    sp = np.repeat(np.repeat(np.arange(4)[None, :], 10, 0), 10, 1)
    gt = (sp >= 2).astype(np.int64)
    h = Hierarchy(sp.astype(np.int32), np.array([[0, 1, 0.1], [2, 3, 0.2], [0, 2, 0.9]]))
    counts, pairs, start = counts_of(sp, gt), adjacent_pairs(sp), np.arange(4)
    trace: list = []
    actions, cov, _ = sim.simulate(counts, pairs, start, kinds=("grow",), hierarchy=h, trace=trace)
    assert cov == 1.0 and actions == 4 and [k for k, _, _ in trace] == ["grow", "grow"]
