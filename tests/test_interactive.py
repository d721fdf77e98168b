"""Click-to-object: click checks and maps, the NoC protocol, the click network, ClickSegmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cas_studio.bench.noc import grabcut_method, noc, run_protocol
from cas_studio.interactive import ClickSegmenter, check_clicks, click_maps, iou, next_click
from cas_studio.interactive.segmenter import zoom_box
from cas_studio.interactive.train import first_clicks, init_model, loss_fn
from cas_studio.models.factory import build_model
from cas_studio.models.weights import WeightsInfo, available_weights, save_weights


def rectangle(shape=(60, 80), box=(10, 20, 40, 60)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[box[0]:box[2], box[1]:box[3]] = True
    return mask


def test_check_clicks_refuses_bad_clicks_with_a_message():
    assert check_clicks([(3.0, 4, 1)], (10, 10)) == [(3, 4, True)]
    with pytest.raises(ValueError, match="no clicks"):
        check_clicks([], (10, 10))
    with pytest.raises(ValueError, match=r"outside the 10x8 image"):
        check_clicks([(10, 2, True)], (8, 10))
    with pytest.raises(ValueError, match="expected \\(x, y, positive\\)"):
        check_clicks([(1, 2)], (8, 10))
    with pytest.raises(ValueError, match="whole pixels"):
        check_clicks([(1.5, 2, True)], (8, 10))


def test_click_maps_put_disks_in_the_channel_of_their_sign():
    maps = click_maps([(10, 5, True), (30, 20, False)], (40, 50), radius=3)
    assert maps.shape == (2, 40, 50) and maps.dtype == np.float32
    assert maps[0, 5, 10] == 1 and maps[1, 5, 10] == 0
    assert maps[1, 20, 30] == 1 and maps[0, 20, 30] == 0
    assert maps[0].sum() == pytest.approx(np.pi * 9, rel=0.3)  # a disk, not a point


def test_next_click_follows_the_noc_protocol():
    target = rectangle()
    first = next_click(np.zeros_like(target), target)
    assert first[2] is True and target[first[1], first[0]]
    assert first[1] in (24, 25) and 34 <= first[0] <= 45  # the middle band: 15 px from the border
    # A prediction that spills to the right: the larger error is a false positive -> negative click.
    spill = rectangle(box=(10, 20, 40, 78))
    x, y, positive = next_click(spill, target)
    assert not positive and x >= 60 and 10 <= y < 40
    assert next_click(target.copy(), target) is None


def test_noc_counts_clicks_to_the_threshold():
    assert noc([0.5, 0.86, 0.95], 0.85) == 2
    assert noc([0.5, 0.86, 0.95], 0.90) == 3
    assert noc([0.5, 0.6], 0.90, max_clicks=20) == 20


def test_run_protocol_with_a_perfect_method_needs_one_click():
    target = rectangle()
    ious, seconds = run_protocol(lambda clicks: target.copy(), target, max_clicks=5)
    assert ious == [1.0] * 5 and seconds >= 0


def test_grabcut_baseline_finds_a_contrasted_object():
    rng = np.random.default_rng(0)
    image = (rng.random((60, 80, 3)) * 40).astype(np.uint8)
    target = rectangle()
    image[target] = (200, 60, 60) + (rng.random((target.sum(), 3)) * 30).astype(np.uint8)
    ious, _ = run_protocol(grabcut_method(image), target, max_clicks=5)
    assert max(ious) > 0.8


def test_click_network_starts_as_the_image_network():
    torch.manual_seed(0)
    base = build_model("efficientnet_lite1_fpn", 2).eval()
    clicks = build_model("efficientnet_lite1_fpn_clicks", 2).eval()
    missing, unexpected = clicks.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("net.extra.") for k in missing)
    x = torch.randn(1, 3, 64, 64)
    maps = torch.rand(1, 3, 64, 64)
    assert clicks.extra_inputs == 3 and base.extra_inputs == 0
    assert torch.allclose(clicks(torch.cat([x, maps], 1)), base(x), atol=1e-5)
    with pytest.raises(ValueError, match="expected 6 input channels"):
        clicks(x)


def test_init_model_makes_channel_1_the_object(tmp_path):
    torch.manual_seed(0)
    base = build_model("efficientnet_lite1_fpn", 2).eval()
    info = WeightsInfo(arch="efficientnet_lite1_fpn", out_channels=2, task="saliency", saliency_channel=0)
    save_weights(base, tmp_path / "sal.safetensors", info)
    model = init_model(str(tmp_path / "sal.safetensors"), torch.device("cpu")).eval()
    x = torch.randn(1, 3, 64, 64)
    out = model(torch.cat([x, torch.zeros(1, 3, 64, 64)], 1))
    assert torch.allclose(out.flip(1), base(x), atol=1e-5)


def test_loss_weights_the_previous_errors_and_has_gradients():
    target = torch.from_numpy(rectangle()).float()[None]
    logit = torch.zeros(1, *target.shape[1:], requires_grad=True)
    right = loss_fn(logit, target, target[:, None])
    wrong = loss_fn(logit, target, 1 - target[:, None])
    assert torch.isfinite(right) and torch.isclose(right, wrong)  # logit 0 is equally wrong everywhere
    right.backward()
    assert logit.grad is not None and logit.grad[0, 25, 40] < 0 < logit.grad[0, 0, 0]


def test_first_clicks_start_positive_inside_the_object():
    target = rectangle()
    for seed in range(20):
        clicks = first_clicks(target, np.random.default_rng(seed))
        x, y, positive = clicks[0]
        assert positive and target[y, x]
        assert all(target[cy, cx] == p for cx, cy, p in clicks)


def test_zoom_box_holds_object_and_clicks_and_skips_large_objects():
    mask = rectangle((200, 300), (90, 140, 110, 160))
    top, left, bottom, right = zoom_box(mask, [(150, 100, True), (200, 100, False)], (200, 300))
    assert top <= 90 and bottom >= 110 and left <= 140 and right > 200
    assert zoom_box(np.ones((200, 300), bool), [(5, 5, True)], (200, 300)) is None


@pytest.fixture(scope="module")
def random_click_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "clicks.safetensors"
    info = WeightsInfo(arch="efficientnet_lite1_fpn_clicks", out_channels=2, task="clicks", input_size=96)
    save_weights(build_model(info.arch, 2), path, info, half=True)
    return path


def test_click_segmenter_returns_a_mask_at_the_image_size(random_click_weights):
    seg = ClickSegmenter(random_click_weights, "cpu")
    with pytest.raises(RuntimeError, match="no image set"):
        seg.predict([(1, 1, True)])
    seg.set_image(np.zeros((70, 130, 3), np.uint8))
    mask = seg.predict([(10, 20, True)])
    assert mask.shape == (70, 130) and mask.dtype == bool
    with pytest.raises(ValueError, match="outside the 130x70 image"):
        seg.predict([(130, 5, True)])
    with pytest.raises(ValueError, match="no clicks"):
        seg.predict([])
    with pytest.raises(ValueError, match="previous mask is 10x10"):
        seg.predict([(1, 1, True)], previous=np.zeros((10, 10), bool))


def test_click_segmenter_refuses_a_model_of_another_task(tmp_path):
    info = WeightsInfo(arch="efficientnet_lite0_fpn", out_channels=2, task="saliency", saliency_channel=1)
    save_weights(build_model(info.arch, 2), tmp_path / "s.safetensors", info)
    with pytest.raises(ValueError, match="not a click model"):
        ClickSegmenter(tmp_path / "s.safetensors", "cpu")


@pytest.mark.skipif("clicks" not in available_weights(), reason="no shipped clicks weights")
def test_shipped_click_model_segments_a_clicked_object():
    from skimage import data

    image = data.coffee()  # a cup on a table: click the cup
    seg = ClickSegmenter("clicks", "cpu")
    seg.set_image(image)
    mask = seg.predict([(300, 200, True)])
    assert mask[200, 300] and 0.05 < mask.mean() < 0.7
    # A negative click on a part of the object takes that part away.
    ys, xs = np.nonzero(mask)
    far = int(np.argmax((xs - 300) ** 2 + (ys - 200) ** 2))
    refined = seg.predict([(300, 200, True), (int(xs[far]), int(ys[far]), False)])
    assert not refined[ys[far], xs[far]] and iou(refined, mask) > 0.3


def test_the_cas_twin_adds_the_cas_loss_on_the_code_and_keeps_gradients():
    torch.manual_seed(0)
    target = (torch.rand(2, 16, 16) > 0.5).float()
    logits = torch.randn(2, 2, 16, 16, requires_grad=True)
    logit = logits[:, 1] - logits[:, 0]
    plain = loss_fn(logit, target, target[:, None])
    twin = loss_fn(logit, target, target[:, None], logits=logits, cas=1.0)
    assert not torch.isclose(plain, twin)
    twin.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # A code that separates object from background lowers the CAS term: the twin prefers it.
    sharp = torch.stack([-8 * (2 * target - 1), 8 * (2 * target - 1)], 1)
    gain = loss_fn(sharp[:, 1] - sharp[:, 0], target, target[:, None], logits=sharp, cas=1.0) - \
        loss_fn(sharp[:, 1] - sharp[:, 0], target, target[:, None])
    assert gain < 0
    with pytest.raises(ValueError, match="needs the 2-channel logits"):
        loss_fn(logit, target, target[:, None], cas=1.0)


def test_adapting_to_an_accepted_object_learns_it_and_leaves_the_source_model_alone():
    import cv2

    from cas_studio.interactive.adapt import AdaptError, AdaptOptions, adapt_click_model
    from cas_studio.interactive.clicks import farthest_from_border, iou
    from cas_studio.models.weights import load_model

    rng = np.random.default_rng(0)
    # A low-contrast blob on a like texture: the shipped model mostly misses it from one click.
    image = rng.normal(120, 25, (120, 160, 3)).clip(0, 255).astype(np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    cv2.ellipse(mask, (80, 60), (45, 25), 20, 0, 360, 1, -1)
    mask = mask.astype(bool)
    image[mask] = (image[mask].astype(int) + (25, -10, 10)).clip(0, 255).astype(np.uint8)
    base = load_model("clicks", "cpu")
    before_state = {k: v.clone() for k, v in base.state_dict().items()}
    x, y, _ = farthest_from_border(mask)

    def one_click(model) -> float:
        seg = ClickSegmenter(model, "cpu")
        seg.set_image(image)
        return iou(seg.predict([(x, y, True)]), mask)

    steps = []
    tuned = adapt_click_model([(image, mask)], weights=base,
                              options=AdaptOptions(steps=30, size=96, batch=2, lr=3e-4, device="cpu"),
                              progress=lambda done, total: steps.append(done))
    assert steps == list(range(1, 31))
    assert one_click(tuned) > one_click(base) + 0.08
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before_state.items())  # a copy was tuned
    stopped = adapt_click_model([(image, mask)], weights=base, options=AdaptOptions(steps=30, size=64),
                                should_stop=lambda: True)
    assert all(torch.equal(v, stopped.state_dict()[k]) for k, v in before_state.items())
    with pytest.raises(AdaptError, match="no accepted object"):
        adapt_click_model([])
    with pytest.raises(AdaptError, match="object 0: the mask is empty"):
        adapt_click_model([(image, np.zeros_like(mask))])
    with pytest.raises(AdaptError, match=r"object 0: the mask is \(60, 80\) but the image is \(120, 160\)"):
        adapt_click_model([(image, mask[::2, ::2])])
    with pytest.raises(AdaptError, match="HxWx3 uint8"):
        adapt_click_model([(image.astype(np.float32), mask)])
