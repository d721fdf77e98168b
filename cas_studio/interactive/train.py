"""``cas-studio train-clicks``: train the click-to-object model with iterative click simulation.

Each batch starts from simulated first clicks (the object's farthest-from-border point or a random
interior point, sometimes with extra positive and negative clicks), then the model itself is run
0..``--max-iters`` times without gradient, each time adding the next click where its own
prediction is most wrong (the NoC protocol) and feeding its prediction back as the previous-mask
input (RITM's iterative training). The last pass trains: binary cross-entropy weighted up on the
previous prediction's errors (so later clicks are listened to) plus a soft IoU.

The run checkpoints to ``--out`` every ``--ckpt-every`` iterations (atomically) and ``--resume``
continues from there with the same samples and schedule. The result is
``<out>/clicks.safetensors``, loadable by :class:`cas_studio.interactive.ClickSegmenter`.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from ..data.sources import resolve
from ..io import atomic_path
from ..models.weights import WeightsInfo, load_model, resolve_device, save_weights
from ..losses import cas_loss
from ..models.factory import build_model
from .clicks import farthest_from_border, iou, next_click, protocol_masks
from .data import ObjectDataset
from .network import ARCH, network_input, object_logit

#: DUTS-TR images kept out of training to validate on (the last ones by name).
HELD_OUT = 100


def first_clicks(mask: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, bool]]:
    """Simulated opening clicks on ``mask``: one positive, sometimes more of each sign."""
    x, y, _ = farthest_from_border(mask)
    ys, xs = np.nonzero(mask)
    if rng.random() < 0.5:
        jx, jy = x + int(rng.integers(-3, 4)), y + int(rng.integers(-3, 4))
        if 0 <= jy < mask.shape[0] and 0 <= jx < mask.shape[1] and mask[jy, jx]:
            x, y = jx, jy
    else:
        k = int(rng.integers(len(ys)))
        x, y = int(xs[k]), int(ys[k])
    clicks = [(x, y, True)]
    if rng.random() < 0.3:
        for k in rng.integers(len(ys), size=int(rng.integers(1, 3))):
            clicks.append((int(xs[k]), int(ys[k]), True))
    if rng.random() < 0.5:
        ny, nx = np.nonzero(~mask)
        if ny.size:
            for k in rng.integers(len(ny), size=int(rng.integers(1, 4))):
                clicks.append((int(nx[k]), int(ny[k]), False))
    return clicks


def loss_fn(logit: torch.Tensor, target: torch.Tensor, prev: torch.Tensor, *, logits: torch.Tensor | None = None,
            cas: float = 0.0) -> torch.Tensor:
    """BCE weighted 3x on the previous prediction's errors, plus soft IoU; ``target`` float 0/1.

    ``cas`` > 0 adds that weight of the CAS loss (alpha 0.5) on the 2-channel code ``logits``
    (B, 2, H, W), object and background as two regions: the CAS twin. BCE keeps channel 1 the
    object, which CAS alone (free to swap channels) would not.
    """
    weight = 1 + 2 * ((prev[:, 0] > 0.5).float() != target).float()
    bce = F.binary_cross_entropy_with_logits(logit, target, weight=weight, reduction="sum") / weight.sum()
    p = torch.sigmoid(logit)
    inter = (p * target).flatten(1).sum(1)
    union = (p + target - p * target).flatten(1).sum(1)
    loss = bce + (1 - inter / union.clamp_min(1e-6)).mean()
    if cas:
        if logits is None:
            raise ValueError("the CAS term needs the 2-channel logits")
        loss = loss + cas * cas_loss(logits.float(), target.long(), alpha=0.5)
    return loss


def optimizer(model: torch.nn.Module, lr: float) -> torch.optim.AdamW:
    """AdamW over the click network: the encoder at ``lr / 3``, the decoder at ``lr``, the click
    inputs at ``4 lr`` (new, so they learn fastest); each group's ``initial_lr`` is its rate."""
    enc = [p for n, p in model.named_parameters() if n.startswith("net.encoder.")]
    extra = [p for n, p in model.named_parameters() if n.startswith("net.extra.")]
    dec = [p for n, p in model.named_parameters() if not n.startswith(("net.encoder.", "net.extra."))]
    groups = [{"params": ps, "lr": rate, "initial_lr": rate} for ps, rate in ((enc, lr / 3), (dec, lr), (extra, lr * 4))]
    return torch.optim.AdamW(groups, weight_decay=1e-4)


def simulate_clicks(model: torch.nn.Module, images: torch.Tensor, masks: np.ndarray, rng: np.random.Generator,
                    max_rounds: int, device: torch.device) -> tuple[list[list], torch.Tensor]:
    """Simulated first clicks on each of ``masks`` (B, H, W bool), then 0..``max_rounds`` rounds of
    the model's own prediction (no gradient) with the next click at its largest error, as the NoC
    protocol clicks; returns the clicks and the (B, 1, H, W) previous probability to feed back."""
    clicks = [first_clicks(m, rng) for m in masks]
    prev = torch.zeros(len(masks), 1, *masks.shape[1:])
    for _ in range(int(rng.integers(0, max_rounds + 1))):
        with torch.no_grad():
            prob = torch.sigmoid(object_logit(model, network_input(images, clicks, prev).to(device))).cpu()
        for b, pred in enumerate(prob.numpy() > 0.5):
            c = next_click(pred, masks[b])
            if c is not None:
                clicks[b].append(c)
        prev = prob[:, None]
    return clicks, prev


def batch_loss(model: torch.nn.Module, images: torch.Tensor, masks: np.ndarray, clicks: list[list],
               prev: torch.Tensor, device: torch.device, *, cas: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The training pass on one batch: (:func:`loss_fn`, the (B, H, W) object logit)."""
    logits = model(network_input(images, clicks, prev).to(device).contiguous(memory_format=torch.channels_last))
    logit = (logits[:, 1] - logits[:, 0]).float()  # as object_logit
    target = torch.from_numpy(np.ascontiguousarray(masks)).float().to(device)
    return loss_fn(logit, target, prev.to(device), logits=logits, cas=cas), logit


@torch.no_grad()
def validate(model: torch.nn.Module, samples: list[tuple[np.ndarray, np.ndarray]], device: torch.device,
             clicks_at: tuple[int, ...] = (1, 3, 5)) -> dict[str, float]:
    """Mean IoU after 1, 3, 5 clicks of the NoC protocol (no zoom) on fixed samples."""
    model.eval()
    ious = {k: [] for k in clicks_at}
    for image, mask in samples:
        img, state = torch.from_numpy(image)[None], {"prev": torch.zeros(1, 1, *mask.shape)}

        def predict(clicks: list) -> np.ndarray:
            prob = torch.sigmoid(object_logit(model, network_input(img, [clicks], state["prev"]).to(device)))
            state["prev"] = prob[:, None].cpu()  # fed back, as the segmenter does
            return prob[0].cpu().numpy() > 0.5

        preds = list(protocol_masks(predict, mask, max(clicks_at)))
        for k in clicks_at:  # an exact prediction stays exact
            ious[k].append(iou(preds[min(k, len(preds)) - 1], mask) if preds else 1.0)
    model.train()
    return {f"iou@{k}": float(np.mean(v)) for k, v in ious.items()}


def init_model(init: str, device: torch.device) -> torch.nn.Module:
    """The click network from ``init``: a click model as it is, or a Lite1 FPN with click inputs at zero."""
    source = load_model(init, "cpu")
    if source.arch == ARCH:  # continue a click model (a longer schedule, a fine-tune)
        model = build_model(ARCH, 2)
        model.load_state_dict(source.state_dict())
        return model.to(device)
    if source.arch != "efficientnet_lite1_fpn":
        raise ValueError(f"{init}: a {source.arch} model; the click model starts from an efficientnet_lite1_fpn")
    model = build_model(ARCH, 2)
    state = source.state_dict()
    if getattr(source.info, "saliency_channel", 1) == 0:  # make channel 1 mean "object"
        for key in ("net.head.1.weight", "net.head.1.bias"):
            state[key] = state[key].flip(0)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("net.extra.") for k in missing):
        raise ValueError(f"{init}: does not fit {ARCH}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(device)


def plot_log(out: Path) -> Path:
    """Draw ``<out>/curves.png`` from ``<out>/log.jsonl``: training loss and IoU, validation IoU after 1/3/5 clicks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    recs = list({r["iter"]: r for r in recs}.values())  # a resumed run logs some iterations twice: keep the last
    it = np.array([r["iter"] for r in recs])
    k = min(10, len(recs))
    smooth = lambda v: np.convolve(v, np.ones(k) / k, mode="valid")  # noqa: E731
    it = it[k - 1:]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.plot(it, smooth(np.array([r["loss"] for r in recs])), label="loss (10-log mean)")
    a.set_xlabel("iteration"), a.set_ylabel("BCE + soft IoU"), a.legend()
    b.plot(it, smooth(np.array([r["train_iou"] for r in recs])), color="gray", label="train IoU, last pass (mean)")
    val = [r for r in recs if "iou@1" in r]
    for k in (1, 3, 5):
        b.plot([r["iter"] for r in val], [r[f"iou@{k}"] for r in val], marker="o", label=f"held-out IoU, {k} click(s)")
    b.set_xlabel("iteration"), b.set_ylabel("IoU"), b.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out / "curves.png"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``cas-studio train-clicks``."""
    p = argparse.ArgumentParser(prog="cas-studio train-clicks", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, clicks.safetensors")
    p.add_argument("--init", default="saliency", help="Lite1-FPN or click-model weights to start from (default: saliency)")
    p.add_argument("--iters", type=int, default=4000, help="training iterations (batches)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=320, help="training crop side")
    p.add_argument("--infer-size", type=int, default=384, help="input long side recorded for inference")
    p.add_argument("--max-iters", type=int, default=4, help="most simulated correction clicks per batch")
    p.add_argument("--lr", type=float, default=5e-4, help="decoder learning rate (encoder: lr / 3, click conv: 4 lr)")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.add_argument("--cas", type=float, default=0.0,
                   help="weight of the CAS loss on the 2-channel code beside BCE + soft IoU (the CAS twin; 0: off)")
    return p


def _sources(seed: int) -> tuple[dict, list]:
    duts = sorted(resolve("duts_tr"), key=lambda it: it.image.name)
    sources = {"duts": duts[:-HELD_OUT], "bsds": resolve("bsds500:train"), "horses": resolve("horses")}
    val_ds = ObjectDataset({"duts": duts[-HELD_OUT:]}, size=320, seed=seed + 1000, odds={"duts": 1.0})
    return sources, [val_ds[i] for i in range(HELD_OUT)]


def main(argv: list[str] | None = None) -> int:
    """Train; returns 0 when the weights file is written."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = init_model(args.init, device).train()
    opt = optimizer(model, args.lr)
    base = [g["initial_lr"] for g in opt.param_groups]
    start, best = 0, -1.0
    ckpt = out / "checkpoint.pt"
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, best = int(state["iter"]), float(state["best"])
        print(f"resumed at iteration {start}", flush=True)
    sources, val = _sources(args.seed)
    dataset = ObjectDataset(sources, size=args.size, seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch, sampler=range(start * args.batch, args.iters * args.batch),
                        num_workers=1, persistent_workers=True, prefetch_factor=4)
    info = WeightsInfo(arch=ARCH, out_channels=2, task="clicks", input_size=args.infer_size,
                       training_data="DUTS-TR (4,400; the last 100 by name held out), BSDS500 train regions, "
                                     "Weizmann horses, composites of DUTS-TR objects",
                       recipe="cas-studio train-clicks " + shlex.join(sys.argv[1:] if argv is None else argv))
    log = open(out / "log.jsonl", "a")
    tic = time.time()
    for it, (images, masks) in enumerate(loader, start=start):
        rng = np.random.default_rng((args.seed, 7, it))
        frac = it / max(1, args.iters)
        scale = min(1.0, (it + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * scale
        masks_np = masks.numpy()
        clicks, prev = simulate_clicks(model, images, masks_np, rng, args.max_iters, device)
        loss, logit = batch_loss(model, images, masks_np, clicks, prev, device, cas=args.cas)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = it + 1
        if done % 10 == 0:
            with torch.no_grad():
                train_iou = np.mean([iou(p, m) for p, m in zip(logit.detach().cpu().numpy() > 0, masks_np)])
            rec = {"iter": done, "loss": round(float(loss), 4), "train_iou": round(float(train_iou), 4),
                   "clicks": round(float(np.mean([len(c) for c in clicks])), 2),
                   "s_per_iter": round((time.time() - tic) / 10, 3)}
            tic = time.time()
            if done % args.val_every == 0 or done == args.iters:
                rec.update(validate(model, val, device))
                if rec["iou@5"] > best:
                    best = rec["iou@5"]
                    save_weights(model, out / "best.safetensors", info, half=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if "iou@5" in rec:
                plot_log(out)
            print(json.dumps(rec), flush=True)
        if done % args.ckpt_every == 0 or done == args.iters:
            with atomic_path(ckpt) as tmp:
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iter": done,
                            "best": best}, tmp)
    save_weights(model, out / "clicks.safetensors", info, half=True)
    print(f"wrote {out / 'clicks.safetensors'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
