"""Tests of the CAS loss family against plain-loop definitions and the loss's properties."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cas_studio.losses import (
    CACELoss, CASLoss, CELoss, DiscriminativeLoss, cace_loss, cas_bounds, cas_loss, cas_terms, ce_loss,
    discriminative_loss,
)
from cas_studio.losses.reference import cas_loss_reference, cas_terms_reference


def random_case(b, m, h, w, k, *, seed=0, ids=None, ignore_frac=0.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, m, h, w, generator=gen, dtype=torch.float64)
    t = torch.randint(0, k, (b, h, w), generator=gen)
    if ids is not None:
        t = torch.as_tensor(ids)[t]
    if ignore_frac:
        t[torch.rand(b, h, w, generator=gen) < ignore_frac] = -1
    return x, t


@pytest.mark.parametrize("k", [1, 2, 5, 40])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_cas_equals_loop(k, alpha):
    x, t = random_case(3, 4, 17, 13, k, seed=k)
    got = cas_loss(x, t, alpha=alpha, reduction="none")
    torch.testing.assert_close(got, cas_loss_reference(x, t, alpha=alpha))


def test_cas_equals_loop_with_ignored_empty_and_noncontiguous_ids():
    x, t = random_case(4, 3, 20, 20, 2, ids=[7, 300], ignore_frac=0.3, seed=1)
    t[2] = -1  # an image with no labelled pixel
    t[3, :10] = 65535
    got = cas_terms(x, t)
    ref_u, ref_d = cas_terms_reference(x, t)
    torch.testing.assert_close(got.uniformer, ref_u)
    torch.testing.assert_close(got.discriminator, ref_d)
    assert got.num_regions.tolist() == [2, 2, 0, 3]
    assert float(cas_loss(x, t, reduction="none")[2]) == 0.0


def test_ignore_index_can_be_a_region_id():
    x, t = random_case(2, 3, 10, 10, 4, seed=2)
    dropped = t.clone()
    dropped[t == 3] = -1
    torch.testing.assert_close(cas_loss(x, t, ignore_index=3), cas_loss(x, dropped))


def test_probabilities_input():
    x, t = random_case(2, 3, 9, 9, 3, seed=3)
    torch.testing.assert_close(cas_loss(torch.softmax(x, 1), t, from_logits=False), cas_loss(x, t))


def test_invariant_to_renaming_ids():
    x, t = random_case(2, 5, 16, 16, 6, seed=4)
    perm = torch.tensor([300, 2, 65535, 9, 0, 41])
    torch.testing.assert_close(cas_loss(x, perm[t]), cas_loss(x, t))


def test_every_region_weighs_the_same_whatever_its_size():
    """With constant regions the loss depends on the region means only, not on their sizes."""
    means = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], dtype=torch.float64)
    small = torch.zeros(1, 16, 16, dtype=torch.long)
    small[0, :2, :2], small[0, 8:, :] = 1, 2
    large = torch.zeros(1, 16, 16, dtype=torch.long)
    large[0, :, :13], large[0, :1, 15] = 1, 2
    values = []
    for t in (small, large):
        probs = means[t].permute(0, 3, 1, 2)
        values.append(cas_loss(probs, t, from_logits=False))
    torch.testing.assert_close(values[0], values[1])
    expected = -0.5 * sum(((means[i] - means[j]) ** 2).sum() for i, j in itertools.permutations(range(3), 2))
    torch.testing.assert_close(values[0], expected)


def test_one_region_has_zero_discriminator():
    x = torch.randn(2, 3, 8, 8)
    terms = cas_terms(x, torch.full((2, 8, 8), 5))
    assert torch.equal(terms.discriminator, torch.zeros(2))
    assert (terms.uniformer > 0).all()


def test_reductions_and_module_equal_function():
    x, t = random_case(3, 3, 8, 8, 3, seed=5)
    per_image = cas_loss(x, t, reduction="none")
    assert per_image.shape == (3,)
    torch.testing.assert_close(cas_loss(x, t, reduction="sum"), per_image.sum())
    torch.testing.assert_close(cas_loss(x, t), per_image.mean())
    torch.testing.assert_close(CASLoss(alpha=0.2)(x, t), cas_loss(x, t, alpha=0.2))
    torch.testing.assert_close(CELoss()(x, t), ce_loss(x, t))
    torch.testing.assert_close(CACELoss()(x, t), cace_loss(x, t))
    torch.testing.assert_close(DiscriminativeLoss(delta_d=1.0)(x, t), discriminative_loss(x, t, delta_d=1.0))


def test_gradcheck_float64():
    x, t = random_case(2, 3, 5, 4, 3, seed=6, ignore_frac=0.2)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: cas_loss(a, t, alpha=0.4), (x,))
    assert torch.autograd.gradcheck(lambda a: cace_loss(a, t), (x,))
    assert torch.autograd.gradcheck(lambda a: discriminative_loss(a, t, delta_v=0.1, delta_d=3.0), (x,))


def test_gradient_matches_loop_gradient():
    x, t = random_case(2, 4, 9, 9, 5, seed=7)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    cas_loss(a, t, reduction="sum").backward()
    cas_loss_reference(b, t).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_close_to_float32(dtype):
    x, t = random_case(2, 4, 32, 32, 6, seed=8)
    low = x.to(dtype)
    got = cas_loss(low, t, reduction="none")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, cas_loss(low.float(), t, reduction="none"))
    tol = 2e-2 if dtype == torch.bfloat16 else 2e-3
    torch.testing.assert_close(got.double(), cas_loss(x, t, reduction="none"), atol=tol, rtol=tol)
    grad_input = low.clone().requires_grad_(True)
    cas_loss(grad_input, t).backward()
    assert grad_input.grad.dtype == dtype and torch.isfinite(grad_input.grad.float()).all()


def test_float32_close_to_float64_on_large_regions():
    x, t = random_case(2, 8, 256, 256, 3, seed=9)
    torch.testing.assert_close(cas_loss(x.float(), t, reduction="none").double(), cas_loss(x, t, reduction="none"),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("from_logits", [True, False])
def test_two_channels_equal_loop_values_and_gradients(from_logits):
    # Two channels from logits take the one-map (sigmoid) kernel; probabilities the general one.
    x, t = random_case(3, 2, 12, 10, 3, ids=[4, 9, 200], ignore_frac=0.2, seed=21)
    t[2] = -1
    if not from_logits:
        x = torch.rand_like(x)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    got = cas_loss(a, t, alpha=0.3, from_logits=from_logits, reduction="none")
    ref = cas_loss_reference(b, t, alpha=0.3, from_logits=from_logits)
    torch.testing.assert_close(got, ref)
    got.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(a.grad, b.grad)
    assert float(a.grad[2].abs().max()) == 0.0  # an image with no labelled pixel gets no gradient
    small = t[:2, :5, :4]
    assert torch.autograd.gradcheck(lambda v: cas_loss(v, small, alpha=0.6, from_logits=from_logits),
                                    (x[:2, :, :5, :4].clone().requires_grad_(True),))


def test_region_sums_by_lanes_equal_the_sorted_accumulation():
    from cas_studio.losses._regions import RegionBins, region_bins

    _, t = random_case(3, 2, 16, 24, 5, ignore_frac=0.1, seed=22)
    bins = region_bins(t, -1, name="test")
    assert bins.lanes is not None  # CPU: the 8-lane scatter
    sorted_path = RegionBins(bins.key, bins.bins)  # without lanes: the deterministic index_put used on CUDA
    values = torch.rand(3, 4, t[0].numel(), dtype=torch.float64)
    torch.testing.assert_close(bins.sum(values), sorted_path.sum(values))
    counts = bins.count(torch.float64)[:, 0]
    torch.testing.assert_close(counts, sorted_path.count(torch.float64)[:, 0])
    assert counts[:, :-1].sum().item() == int((t >= 0).sum()) and counts[:, -1].sum().item() == int((t < 0).sum())


def test_channels_last_input_gives_the_same_loss_and_gradient():
    x, t = random_case(2, 4, 9, 11, 4, seed=23)
    a = x.clone().requires_grad_(True)
    b = x.clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    cas_loss(a, t).backward()
    cas_loss(b, t).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_deterministic():
    x, t = random_case(2, 4, 64, 64, 10, seed=10)
    x = x.float().requires_grad_(True)
    cas_loss(x, t).backward()
    g1, v1 = x.grad.clone(), cas_loss(x, t)
    x.grad = None
    cas_loss(x, t).backward()
    assert torch.equal(v1, cas_loss(x, t)) and torch.equal(g1, x.grad)


def test_huge_id_range_uses_sparse_path():
    x, t = random_case(300, 2, 6, 6, 3, ids=[0, 40000, 65535], seed=11)
    torch.testing.assert_close(cas_loss(x, t, reduction="none"), cas_loss(x, t % 7, reduction="none"))


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 9), m=st.integers(2, 6), alpha=st.floats(0, 1), seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 3.0, 30.0]),
)
def test_cas_within_its_bounds(k, m, alpha, seed, scale):
    x, t = random_case(1, m, 6, 6, k, seed=seed)
    present = len(torch.unique(t))
    lo, hi = cas_bounds(present, m, alpha=alpha)
    value = float(cas_loss(x * scale, t, alpha=alpha))
    assert lo - 1e-9 <= value <= hi + 1e-9


@pytest.mark.parametrize("n,m", [(2, 2), (3, 2), (5, 3), (4, 8)])
def test_bounds_are_attained(n, m):
    """Lower bound: constant regions on spread-out vertices; upper: mass split over all vertices."""
    lo, hi = cas_bounds(n, m, alpha=0.3)
    vertex = torch.eye(m, dtype=torch.float64)
    t = torch.arange(n).repeat_interleave(m).reshape(1, 1, n * m)
    lowest = vertex[torch.arange(n) % m][t].permute(0, 3, 1, 2)
    torch.testing.assert_close(float(cas_loss(lowest, t, alpha=0.3, from_logits=False)), lo)
    highest = vertex[torch.arange(n * m) % m].reshape(1, 1, n * m, m).permute(0, 3, 1, 2)
    torch.testing.assert_close(float(cas_loss(highest, t, alpha=0.3, from_logits=False)), hi)


# ---- baselines -------------------------------------------------------------------------------

def test_ce_matches_torch_and_is_not_invariant():
    x, t = random_case(2, 3, 8, 8, 3, seed=12)
    torch.testing.assert_close(ce_loss(x, t), F.cross_entropy(x, t))
    assert not torch.allclose(ce_loss(x, (t + 1) % 3), ce_loss(x, t))


def test_ce_ignore_is_per_image_mean():
    x, t = random_case(2, 2, 8, 8, 2, seed=13, ignore_frac=0.5)
    expected = torch.stack([F.cross_entropy(x[i:i + 1], t[i:i + 1], ignore_index=-1) for i in range(2)])
    torch.testing.assert_close(ce_loss(x, t, reduction="none"), expected)


def test_ce_overflow_ignore_leaves_out_ids_without_a_channel():
    x, t = random_case(2, 3, 8, 8, 3, seed=15)
    wide = t.clone()
    wide[:, :3] = torch.tensor([3, 40, 7])[torch.arange(8) % 3]  # ids with no channel among M=3
    with pytest.raises(ValueError, match="overflow='ignore'"):
        ce_loss(x, wide)
    expected = ce_loss(x, torch.where(wide >= 3, -1, wide), reduction="none")
    torch.testing.assert_close(ce_loss(x, wide, overflow="ignore", reduction="none"), expected)
    # the left-out pixels change the loss: the mean runs over the other 5 rows only
    assert not torch.allclose(expected, ce_loss(x, t, reduction="none"))
    with pytest.raises(ValueError, match="overflow must be one of"):
        ce_loss(x, t, overflow="clip")
    with pytest.raises(ValueError, match="class labels"):  # a negative id is still an error
        ce_loss(x, torch.full_like(t, -2), overflow="ignore")


def test_cace_is_min_over_permutations():
    x, t = random_case(3, 4, 10, 10, 3, ids=[5, 9, 2], seed=14, ignore_frac=0.1)
    logp = torch.log_softmax(x, 1)
    expected = []
    for b in range(3):
        ids = [int(i) for i in torch.unique(t[b]) if i >= 0]
        best = min(
            -sum(float(logp[b, c][t[b] == i].sum()) for i, c in zip(ids, perm))
            for perm in itertools.permutations(range(4), len(ids))
        ) / int((t[b] >= 0).sum())
        expected.append(best)
    torch.testing.assert_close(cace_loss(x, t, reduction="none"), torch.tensor(expected, dtype=torch.float64))


def test_cace_binary_is_min_of_two_labelings_and_invariant():
    x, t = random_case(2, 2, 8, 8, 2, seed=15)
    two = torch.minimum(ce_loss(x, t, reduction="none"), ce_loss(x, 1 - t, reduction="none"))
    torch.testing.assert_close(cace_loss(x, t, reduction="none"), two)
    torch.testing.assert_close(cace_loss(x, 1 - t), cace_loss(x, t))


def test_discriminative_matches_loop():
    x, t = random_case(2, 3, 9, 9, 4, seed=16, ignore_frac=0.1)
    dv, dd = 0.3, 1.2
    expected = []
    for b in range(2):
        ids = [int(i) for i in torch.unique(t[b]) if i >= 0]
        mus = [x[b][:, t[b] == i].mean(1) for i in ids]
        var = sum(torch.relu((x[b][:, t[b] == i] - mu[:, None]).norm(dim=0) - dv).pow(2).mean()
                  for i, mu in zip(ids, mus)) / len(ids)
        dist = sum(torch.relu(2 * dd - (a - c).norm()).pow(2) for a, c in itertools.permutations(mus, 2))
        dist = dist / (len(ids) * (len(ids) - 1))
        reg = sum(mu.norm() for mu in mus) / len(ids)
        expected.append(var + dist + 0.001 * reg)
    torch.testing.assert_close(discriminative_loss(x, t, delta_v=dv, delta_d=dd, reduction="none"),
                               torch.stack(expected))


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [cas_loss, ce_loss, cace_loss, discriminative_loss])
@pytest.mark.parametrize("make,message", [
    (lambda: (torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long)), "shape mismatch"),
    (lambda: (torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4)), "integer"),
    (lambda: (torch.full((1, 2, 4, 4), float("nan")), torch.zeros(1, 4, 4, dtype=torch.long)), "NaN"),
    (lambda: (torch.full((1, 2, 4, 4), float("inf")), torch.zeros(1, 4, 4, dtype=torch.long)), "inf"),
    (lambda: (torch.randn(1, 1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long)), "M=1"),
    (lambda: (torch.randn(2, 4, 4), torch.zeros(2, 4, dtype=torch.long)), "(B, M, H, W)"),
    (lambda: (torch.randn(1, 2, 4, 4), torch.full((1, 4, 4), 70000)), "70000"),
    (lambda: (torch.randn(1, 2, 4, 4), torch.full((1, 4, 4), -3)), "-3"),
])
def test_bad_input_names_the_problem(fn, make, message):
    x, t = make()
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        fn(x, t)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        cas_loss(torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        CASLoss(alpha=alpha)


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        cas_loss(torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), reduction="avg")


def test_ce_label_out_of_range_and_cace_too_many_regions():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="class labels"):
        ce_loss(x, torch.full((1, 4, 4), 2))
    with pytest.raises(ValueError, match="3 regions but only M=2"):
        cace_loss(x, torch.arange(16).reshape(1, 4, 4) % 3)


def test_uint8_and_bool_targets():
    x, t = random_case(2, 2, 8, 8, 2, seed=17)
    torch.testing.assert_close(cas_loss(x, t.to(torch.uint8)), cas_loss(x, t))
    torch.testing.assert_close(cas_loss(x, t.bool()), cas_loss(x, t))
    assert np.isfinite(float(cas_loss(x, t.to(torch.int16))))


def test_channel_balance_is_zero_at_the_cas_optimum_and_penalises_shared_channels():
    from cas_studio.losses import ChannelBalanceLoss, channel_balance_loss

    target = torch.zeros(2, 6, 6, dtype=torch.long)
    target[:, :, 2:] = 1
    target[:, :, 4:] = 2  # three regions of 12 pixels each
    optimum = F.one_hot(target, 8).permute(0, 3, 1, 2).double() * 40 - 20
    assert channel_balance_loss(optimum, target).item() == pytest.approx(0, abs=1e-9)
    renamed = channel_balance_loss(optimum, target * 1000 + 7)  # any numbering of the regions
    assert renamed.item() == pytest.approx(0, abs=1e-9)
    shared = optimum.clone()
    shared[:, :, :, 4:] = optimum[:, :, :, :1]  # region 2 reuses region 0's channel
    usage = torch.tensor([2 / 3, 1 / 3])
    expected = np.log(3) + (usage * usage.log()).sum().item()
    assert channel_balance_loss(shared, target).item() == pytest.approx(expected, abs=1e-6)
    # With more regions than channels the goal is capped at log M, reached by uniform usage.
    many = torch.arange(16).reshape(1, 4, 4)
    assert channel_balance_loss(torch.zeros(1, 2, 4, 4), many).item() == pytest.approx(0, abs=1e-6)
    x, t = torch.randn(3, 4, 6, 6), torch.randint(0, 3, (3, 6, 6))
    assert torch.equal(ChannelBalanceLoss(reduction="none")(x, t), channel_balance_loss(x, t, reduction="none"))


def test_channel_balance_ignores_unlabelled_pixels_and_empty_images():
    from cas_studio.losses import channel_balance_loss

    x = torch.randn(2, 3, 4, 4)
    t = torch.randint(0, 2, (2, 4, 4))
    t[1] = -1
    per_image = channel_balance_loss(x, t, reduction="none")
    assert per_image[1].item() == 0
    noisy = x.clone()
    t[0, 0] = -1
    noisy[0, :, 0, 0] = 100.0  # an ignored pixel may hold anything
    assert channel_balance_loss(noisy, t, reduction="none")[0].item() == pytest.approx(
        channel_balance_loss(x, t, reduction="none")[0].item(), abs=1e-6)


def test_channel_balance_gradcheck_and_revives_a_fading_channel():
    from cas_studio.losses import channel_balance_loss

    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    t = torch.arange(16).reshape(1, 4, 4).expand(2, 4, 4) % 3
    assert torch.autograd.gradcheck(lambda z: channel_balance_loss(z, t), (x,))
    z = torch.zeros(1, 3, 4, 4, requires_grad=True)
    with torch.no_grad():
        z[:, 2] = -4.0  # channel 2 is fading
    channel_balance_loss(z, t[:1]).backward()
    assert (z.grad[:, 2] < 0).all()  # descending the loss raises the fading channel's logit


def test_channel_balance_batch_scope_penalises_channels_shared_across_images():
    from cas_studio.losses import ChannelBalanceLoss, channel_balance_loss

    t = torch.tensor([[[0, 0, 1, 1]]]).expand(2, 1, 4)  # two images, two equal regions each
    onehot = lambda chans: torch.stack([torch.nn.functional.one_hot(torch.tensor(c), 4).T.reshape(4, 1, 4) * 40.0 - 20
                                        for c in chans])
    same = onehot([[0, 0, 1, 1], [0, 0, 1, 1]])  # both images use channels 0 and 1
    spread = onehot([[0, 0, 1, 1], [2, 2, 3, 3]])  # four regions, four channels
    assert channel_balance_loss(same, t).item() == pytest.approx(0, abs=1e-6)  # each image alone is fine
    assert channel_balance_loss(same, t, scope="batch").item() == pytest.approx(math.log(4) - math.log(2), abs=1e-5)
    assert channel_balance_loss(spread, t, scope="batch").item() == pytest.approx(0, abs=1e-6)
    assert channel_balance_loss(same, t * 5 + 3, scope="batch").item() == pytest.approx(
        channel_balance_loss(same, t, scope="batch").item())  # any numbering
    per_image = channel_balance_loss(same, t, scope="batch", reduction="none")
    assert per_image.shape == (2,) and torch.allclose(per_image, per_image[0])
    assert torch.equal(ChannelBalanceLoss(scope="batch")(same, t), channel_balance_loss(same, t, scope="batch"))
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    tt = torch.arange(16).reshape(1, 4, 4).expand(2, 4, 4) % 3
    assert torch.autograd.gradcheck(lambda z: channel_balance_loss(z, tt, scope="batch"), (x,))
    with pytest.raises(ValueError, match="scope"):
        channel_balance_loss(same, t, scope="epoch")


@pytest.mark.parametrize("bad, message", [(torch.zeros(2, 3, 4), "(B, M, H, W)"),
                                          (torch.zeros(1, 2, 2, 2, dtype=torch.long), "floating-point")])
def test_channel_balance_bad_input(bad, message):
    from cas_studio.losses import channel_balance_loss

    with pytest.raises(ValueError, match=re.escape(message)):
        channel_balance_loss(bad, torch.zeros(1, 2, 2, dtype=torch.long))


# ---- averaged form (average=True) ------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 5, 40])
def test_average_divides_by_regions_and_pairs(k):
    x, t = random_case(2, 3, 8, 8, k, seed=k)
    terms = cas_terms(x, t)
    n = terms.num_regions.double()
    expected = 0.3 * terms.uniformer / n - 0.7 * terms.discriminator / (n * (n - 1)).clamp_min(1)
    torch.testing.assert_close(cas_loss(x, t, alpha=0.3, average=True, reduction="none"), expected)


@pytest.mark.parametrize("n,m", [(2, 2), (3, 2), (5, 3), (4, 8), (40, 8)])
def test_average_bounds_are_attained_and_do_not_grow_with_n(n, m):
    lo, hi = cas_bounds(n, m, alpha=0.3, average=True)
    assert -0.7 * 2 - 1e-12 <= lo and hi <= 0.3 * (1 - 1 / m) + 1e-12
    vertex = torch.eye(m, dtype=torch.float64)
    t = torch.arange(n).repeat_interleave(m).reshape(1, 1, n * m)
    lowest = vertex[torch.arange(n) % m][t].permute(0, 3, 1, 2)
    torch.testing.assert_close(float(cas_loss(lowest, t, alpha=0.3, average=True, from_logits=False)), lo)
    highest = vertex[torch.arange(n * m) % m].reshape(1, 1, n * m, m).permute(0, 3, 1, 2)
    torch.testing.assert_close(float(cas_loss(highest, t, alpha=0.3, average=True, from_logits=False)), hi)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 30), m=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_average_within_bounds_and_invariant_to_renaming(k, m, seed):
    x, t = random_case(1, m, 8, 8, k, seed=seed)
    value = float(cas_loss(x * 5, t, average=True))
    lo, hi = cas_bounds(len(torch.unique(t)), m, average=True)
    assert lo - 1e-9 <= value <= hi + 1e-9
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(seed)) * 7 + 3
    assert float(cas_loss(x * 5, perm[t], average=True)) == pytest.approx(value, abs=1e-12)


def test_average_module_equals_function_and_gradcheck():
    x, t = random_case(2, 3, 5, 5, 4, seed=1)
    torch.testing.assert_close(CASLoss(alpha=0.4, average=True)(x, t), cas_loss(x, t, alpha=0.4, average=True))
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: cas_loss(v, t, average=True), (x,))


def test_average_keeps_an_image_of_many_regions_from_dominating():
    """Summed, the discriminator of 100 regions dwarfs that of 2; averaged they are comparable."""
    few = torch.zeros(1, 10, 10, dtype=torch.long)
    few[:, :, 5:] = 1
    many = torch.arange(100).reshape(1, 10, 10)
    x = torch.randn(1, 4, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    summed = abs(float(cas_loss(x, many))) / abs(float(cas_loss(x, few)))
    averaged = abs(float(cas_loss(x, many, average=True))) / abs(float(cas_loss(x, few, average=True)))
    assert summed > 100 and averaged < 10


def _cross_image_loop(x: torch.Tensor, t: torch.Tensor, ignore_index: int = -1) -> torch.Tensor:
    """Minus the mean ||m_i - m_j||^2 over ordered pairs of regions of different images, by loops."""
    s = torch.softmax(x, 1)
    means, owner = [], []
    for b in range(t.shape[0]):
        for r in t[b].unique():
            if int(r) != ignore_index:
                means.append(s[b][:, t[b] == r].mean(1))
                owner.append(b)
    pairs = [((means[i] - means[j]) ** 2).sum() for i in range(len(means)) for j in range(len(means))
             if owner[i] != owner[j]]
    return -torch.stack(pairs).mean()


def test_cross_image_equals_loop_and_is_invariant_to_numbering():
    from cas_studio.losses import CrossImageLoss, cross_image_loss
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 9, 9, generator=g, dtype=torch.float64)
    t = torch.randint(0, 4, (3, 9, 9), generator=g)
    t[1, :3] = -1  # ignored pixels
    value = cross_image_loss(x, t)
    assert value.item() == pytest.approx(_cross_image_loop(x, t).item(), rel=1e-10)
    renamed = torch.where(t >= 0, t * 31 + torch.arange(3).view(3, 1, 1) * 1000, t)
    assert cross_image_loss(x, renamed).item() == pytest.approx(value.item(), rel=1e-10)
    assert torch.equal(CrossImageLoss()(x, t), value)
    assert torch.autograd.gradcheck(lambda z: cross_image_loss(z, t), (x.clone().requires_grad_(),))


def test_cross_image_rewards_spread_codes_and_not_blur():
    from cas_studio.losses import cross_image_loss
    t = torch.zeros(4, 4, 4, dtype=torch.long)
    t[:, :, 2:] = 1  # two regions per image
    # every image puts its two regions on channels 0 and 1 (fine for CAS within each image)
    same = torch.full((4, 4, 4, 4), -20.0)
    same[:, 0, :, :2] = same[:, 1, :, 2:] = 20.0
    spread = torch.full((4, 4, 4, 4), -20.0)  # image b: channels b and b+1 mod 4
    for b in range(4):
        spread[b, b % 4, :, :2] = spread[b, (b + 1) % 4, :, 2:] = 20.0
    blurred = torch.zeros(4, 4, 4, 4)  # every pixel uniform: the cheap way to balance usage
    assert cross_image_loss(spread, t).item() < cross_image_loss(same, t).item()
    assert cross_image_loss(blurred, t).item() == pytest.approx(0, abs=1e-9)
    assert cross_image_loss(same, t).item() < 0  # half the cross pairs are on different vertices
    assert cross_image_loss(same[:1], t[:1]).item() == 0  # one image: no cross-image pair


def test_cross_image_weight_reaches_the_training_loss():
    from cas_studio.losses import cross_image_loss
    from cas_studio.training.config import TrainConfig
    from cas_studio.training.trainer import loss_function
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 3, 6, 6, generator=g), torch.randint(0, 3, (2, 6, 6), generator=g)
    base = loss_function(TrainConfig(task="texture", out_channels=3))(x, t)
    with_x = loss_function(TrainConfig(task="texture", out_channels=3, cross_image=2.0))(x, t)
    assert with_x.item() == pytest.approx(base.item() + 2.0 * cross_image_loss(x, t).item(), rel=1e-6)
    with pytest.raises(ValueError, match="cross_image must be >= 0"):
        TrainConfig(cross_image=-1)


def test_make_loss_refuses_an_option_no_loss_takes():
    from cas_studio.losses import make_loss

    assert type(make_loss("ce", alpha=0.3)).__name__ == "CELoss"  # another loss's option: left out
    with pytest.raises(ValueError, match=r"unknown loss option\(s\) \['alhpa'\]"):
        make_loss("cas", alhpa=0.3)


def test_region_counts_stay_exact_past_float32_integers():
    from cas_studio.losses._regions import RegionBins, region_bins

    target = torch.zeros(1, 4097, 4097, dtype=torch.int64)  # 16.8 M pixels, one region: above 2^24
    target[0, 0, 0] = 1
    bins = region_bins(target, -1, name="test")
    # The 8-lane CPU scatter, and the one-accumulator path CUDA takes, which float32 alone would stop at 2^24.
    for path in (bins, RegionBins(bins.key, bins.bins)):
        counts = path.count(torch.float32)[0, 0]
        assert counts.dtype == torch.float32 and counts[:2].tolist() == [4097 * 4097 - 1, 1]
