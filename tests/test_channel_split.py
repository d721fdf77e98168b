"""Channel splitting: dead softmax channels come back as copies of busy ones."""

from __future__ import annotations

import pytest
import torch

from cas_studio.training.channel_split import dead_channels, split_dead_channels
from cas_studio.models.factory import build_model


def _kill(model, channels):
    with torch.no_grad():
        for layer in model.output_layers():
            layer.weight[channels] = 0.0
            if layer.bias is not None:
                layer.bias[channels] = -40.0


@pytest.mark.parametrize("arch", ["efficientnet_lite0_fpn", "lraspp_mobilenet_v3_large"])
def test_split_leaves_the_output_mixture_unchanged_and_revives_the_dead(arch):
    torch.manual_seed(0)
    model = build_model(arch, 4).eval()
    _kill(model, [2, 3])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = torch.softmax(model(x), 1)
    usage = before.mean((0, 2, 3))
    assert dead_channels(usage) == [2, 3]
    pairs = split_dead_channels(model.output_layers(), usage, noise=0.0)
    busiest = int(usage[:2].argmax())
    assert pairs == [(2, busiest), (3, 1 - busiest)]
    with torch.no_grad():
        after = torch.softmax(model(x), 1)
    for dead, source in pairs:  # the two copies share what the source had
        assert torch.allclose(after[:, dead], after[:, source], atol=1e-6)
        assert torch.allclose(after[:, dead] + after[:, source], before[:, source], atol=1e-5)
    assert dead_channels(after.mean((0, 2, 3))) == []


def test_split_copies_optimizer_state_and_adds_noise():
    torch.manual_seed(1)
    model = build_model("efficientnet_lite0_fpn", 3).eval()  # eval: BatchNorm takes a batch of one
    layer = model.output_layers()[0]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(1, 3, 32, 32)).square().mean().backward()
    opt.step()
    usage = torch.tensor([0.6, 0.4, 0.0])
    pairs = split_dead_channels([layer], usage, optimizer=opt, noise=0.05,
                                generator=torch.Generator().manual_seed(0))
    assert pairs == [(2, 0)]
    state = opt.state[layer.weight]
    assert torch.equal(state["exp_avg"][2], state["exp_avg"][0])
    difference = (layer.weight[2] - layer.weight[0]).detach().abs()
    assert 0 < float(difference.max()) < 0.5 * float(layer.weight[0].detach().abs().max())


def test_nothing_to_split_and_bad_input():
    layer = torch.nn.Conv2d(4, 3, 1)
    weight = layer.weight.detach().clone()
    assert split_dead_channels([layer], torch.tensor([0.3, 0.3, 0.4])) == []
    assert torch.equal(layer.weight, weight)
    with pytest.raises(ValueError, match="3 output rows for 4 channels"):
        split_dead_channels([layer], torch.ones(4))
    with pytest.raises(ValueError, match="usage must be"):
        dead_channels(torch.ones(1))
    # each live channel is split at most once per call: 1 live, 3 dead -> one split now
    assert split_dead_channels([layer], torch.tensor([1.0, 0.0, 0.0])) == [(1, 0)]


def test_training_with_split_dead_splits_in_the_first_two_thirds_only(tmp_path, monkeypatch):
    import json

    from cas_studio.training import channel_split
    from cas_studio.training.command import TrainConfig, train

    from .helpers import make_figure_ground
    seen = []

    def one_dead(usage, *, min_share=0.1):  # force a split, and see the usage the trainer passes
        seen.append(usage.clone())
        return [0]

    monkeypatch.setattr(channel_split, "dead_channels", one_dead)
    data = make_figure_ground(tmp_path / "fg", n=8, size=48)
    cfg = TrainConfig(task="regions", train=[str(data)], val=None, out_dir=str(tmp_path / "r"), size=32, batch=4,
                      epochs=3, lr=2e-3, out_channels=4, split_dead=True, arch="lraspp_mobilenet_v3_large")
    train(cfg, show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(isinstance(r["dead_channels"], int) for r in rows)
    # split after epochs 1 and 2 (each with the epoch's 2 batches of usage), never in the last third
    assert len(seen) == 2 and all(u.shape == (4,) and float(u.sum()) == pytest.approx(2.0, rel=1e-4) for u in seen)
