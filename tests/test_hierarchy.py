"""The region hierarchy: nested cuts, the granularity scale, regranulating that keeps edits."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from cas_studio import annotation as ann
from cas_studio.inference.grouping import boundary_merge_sequence
from cas_studio.annotation.hierarchy import build_hierarchy
from cas_studio.metrics import achievable_accuracy


@pytest.fixture(scope="module")
def coffee_hierarchy():
    image = data.coffee()[::2, ::2]
    return image, ann.build_regions(image, "felzenszwalb")


def test_cuts_are_nested_and_have_the_asked_count(coffee_hierarchy):
    _, h = coffee_hierarchy
    assert h.finest > 500 and h.coarsest == 1
    fine, coarse = h.cut(300), h.cut(40)
    assert len(np.unique(fine)) == 300 and len(np.unique(coarse)) == 40 and fine.min() == 1
    # Nested: every fine region lies inside one coarse region.
    pairs = np.unique(np.stack([fine.ravel(), coarse.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1]
    assert h.regions_at(0.0) == h.coarsest and h.regions_at(1.0) == h.finest
    assert h.regions_at(h.granularity_of(120)) == pytest.approx(120, rel=0.05)


def test_boundary_merging_follows_edges_not_sizes():
    """Two flat halves split into a grid of superpixels: all merges inside a half come first."""
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = 200
    grid = (np.arange(40)[:, None] // 10) * 4 + np.arange(40)[None, :] // 10
    h = build_hierarchy(image, grid)
    two = h.cut(2)
    assert len(np.unique(two[:, :20])) == 1 and len(np.unique(two[:, 20:])) == 1 and two[0, 0] != two[0, 39]
    merges = boundary_merge_sequence(grid, np.abs(np.diff(image[..., 0].astype(float), axis=1, append=0)))
    assert merges.shape == (15, 3)  # 16 superpixels, one connected image: 15 merges to one region
    assert merges[-1, 2] == merges[:, 2].max() > 0  # the merge across the edge comes last


def test_size_prior_keeps_asa_high_on_a_real_photo(coffee_hierarchy):
    """Without the small-first prior, large regions leak across weak boundaries early."""
    image, h = coffee_hierarchy
    from cas_studio.annotation.hierarchy import edge_strength
    from cas_studio.annotation.hierarchy import Hierarchy

    gt = ann.oversegment(image, "watershed", regions=40)  # a stand-in reference segmentation
    plain = Hierarchy(h.superpixels, boundary_merge_sequence(h.superpixels, edge_strength(image), size_power=0.0))
    assert achievable_accuracy(h.cut(60), gt) > achievable_accuracy(plain.cut(60), gt)


def test_regranulate_keeps_edits_and_confirmed_regions(coffee_hierarchy):
    _, h = coffee_hierarchy
    labels = h.cut(200)
    proposal = labels.copy()
    a, b = np.unique(labels)[:2]
    edited = ann.merge(labels, [int(a), int(b)])  # a person's edit: confirmed
    edited = ann.erase(edited, edited == np.unique(labels)[5])  # and an erased region
    erased = edited == 0
    coarse, new_proposal = ann.regranulate(edited, proposal, h.cut(30))
    assert (coarse[edited == a] == coarse[edited == a][0]).all()  # the merged region is kept whole...
    assert (coarse == coarse[edited == a][0]).sum() == (edited == a).sum()  # ...and nothing joined it
    assert (coarse[erased] == 0).all()
    assert len(np.unique(coarse)) < len(np.unique(edited))
    assert set(ann.untouched_regions(coarse, new_proposal)) == set(np.unique(coarse[new_proposal > 0]))
    # Back to a fine cut: still the edit is kept.
    fine, _ = ann.regranulate(coarse, new_proposal, h.cut(300))
    assert (fine[edited == a] == fine[edited == a][0]).all()


def test_the_superpixel_simulation_matches_the_pixel_rule(coffee_hierarchy):
    """bench annotate --clicks re-implements regranulate on superpixels; both must agree."""
    from cas_studio.bench.clicks import _regranulate

    _, h = coffee_hierarchy
    assign = h.assignment(150)
    labels = assign[h.superpixels] + 1
    merged_assign = np.where(np.isin(assign, [0, 1, 2]), 0, assign)
    new_assign, _ = _regranulate(merged_assign, assign, h.assignment(25))
    pixel, _ = ann.regranulate(merged_assign[h.superpixels] + 1, labels, h.cut(25))
    by_sp = new_assign[h.superpixels]
    pairs = np.unique(np.stack([by_sp.ravel(), pixel.ravel()]), axis=1)
    assert pairs.shape[1] == len(np.unique(by_sp)) == len(np.unique(pixel))  # the same partition


def test_salient_object_start(monkeypatch):
    from cas_studio.inference import infer

    image = np.zeros((20, 30, 3), np.uint8)
    sal = np.zeros((20, 30), np.float32)
    sal[5:15, 10:20] = 0.9
    monkeypatch.setattr(infer, "predict_saliency", lambda model, im, **k: sal)
    labels = ann.salient_object(image, model=None)
    assert set(np.unique(labels)) == {1, 2} and (labels == 2).sum() == 100


def test_ancestor_is_the_smallest_node_strictly_containing_the_members():
    image = data.coffee()[::4, ::4]
    h = build_hierarchy(image, ann.oversegment(image, "felzenszwalb", scale=25, sigma=0.5, min_size=5))
    node = h.ancestor([0])
    assert node is not None and 0 in node and len(node) >= 2
    # It is superpixel 0's region in the finest cut where that region is more than superpixel 0
    # (found by bisection: the region only grows as the cut coarsens).
    lo, hi = h.coarsest, h.finest
    while hi - lo > 1:
        mid = (lo + hi) // 2
        a = h.assignment(mid)
        lo, hi = (mid, hi) if (a == a[0]).sum() > 1 else (lo, mid)
    a = h.assignment(lo)
    assert set(np.flatnonzero(a == a[0]).tolist()) == set(node.tolist())
    bigger = h.ancestor(node)
    assert bigger is None or (set(node) < set(bigger.tolist()))
    assert h.ancestor(np.arange(h.finest)) is None


def _ancestor_by_replay(h, members):
    """The reference: replay the merges with a union-find until one set holds every member and more."""
    members = np.unique(members)
    parent, inside, size = np.arange(h.finest), np.zeros(h.finest, int), np.ones(h.finest, int)
    inside[members] = 1

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b, _ in h.merges:
        ra, rb = root(int(a)), root(int(b))
        if ra == rb:
            continue
        parent[rb] = ra
        inside[ra] += inside[rb]
        size[ra] += size[rb]
        if inside[ra] == members.size and size[ra] > members.size:
            return np.flatnonzero([root(i) == ra for i in range(h.finest)])
    return None


def test_the_merge_trees_ancestor_is_the_replayed_one():
    from skimage import data

    from cas_studio import annotation as ann

    image = data.astronaut()[::4, ::4]
    h = build_hierarchy(image, ann.oversegment(image, "felzenszwalb", **ann.DEFAULTS["felzenszwalb"]))
    rng = np.random.default_rng(0)
    for _ in range(15):
        a = h.assignment(int(rng.integers(h.coarsest, h.finest)))
        members = np.unique(np.r_[np.flatnonzero(a == rng.integers(a.max() + 1)), rng.integers(h.finest, size=1)])
        expected, node = _ancestor_by_replay(h, members), h.ancestor(members)
        assert (expected is None) == (node is None)
        if node is not None:
            assert np.array_equal(node, expected)
