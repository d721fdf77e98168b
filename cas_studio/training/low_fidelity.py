"""The paper's low-fidelity experiment: CE, CACE and CAS trained on clean and on flipped region labels.

One model per (loss, p): same architecture, data, schedule and seed; only the loss and the
probability ``p`` that an image's region ids are swapped (:func:`~cas_studio.data.region_label_noise`)
change. Each model is scored at its last epoch (no checkpoint picked on the validation set) with the
paper's saliency-channel rule and adaptive F-beta / MAE on the validation set. The paper's claim:
CE collapses at p = 0.5 (F-beta and MAE both near 0.5) while CAS holds.

``cas-studio low-fidelity --out DIR`` runs it; runs already finished in DIR are reused and
interrupted ones resume, so the command can be re-run after a stop.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..io import atomic_path
from ..models.factory import ARCHITECTURES, DEFAULT_ARCH
from .runs import Run, RunState, state_of
from .command import TrainConfig, train

#: The scores reported per run, as (metrics key, column title, higher is better).
COLUMNS = (("adp_fbeta", "adaptive F-beta", True), ("mae", "MAE", False),
           ("max_fbeta", "max F-beta", True), ("smeasure", "S-measure", True))


@dataclass
class Setup:
    """What every run of the experiment shares, and the grid of losses and noise levels."""

    losses: tuple[str, ...] = ("ce", "cace", "cas")
    noise: tuple[float, ...] = (0.0, 0.5)
    train: list[str] = field(default_factory=lambda: ["sod:train", "horses", "davis"])
    val: str = "sod:val"
    arch: str = DEFAULT_ARCH
    size: int = 128
    epochs: int = 12
    batch: int = 8
    lr: float = 2e-3
    backbone_lr: float | None = None
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    val_limit: int | None = None

    def __post_init__(self) -> None:
        if not self.losses or not self.noise:
            raise ValueError("the experiment needs at least one loss and one noise level")
        bad = [p for p in self.noise if not 0.0 <= p <= 1.0]
        if bad:
            raise ValueError(f"flip probabilities must lie in [0, 1], got {bad}")
        if len(set(self.noise)) != len(self.noise) or len(set(self.losses)) != len(self.losses):
            raise ValueError("each loss and each noise level may appear only once (one run folder each)")

    def configs(self, out: str | Path) -> list[TrainConfig]:
        """One training config per (loss, p), each in its own folder ``out/<loss>_p<p>``."""
        return [TrainConfig(task="saliency", train=list(self.train), val=self.val, arch=self.arch, loss=loss,
                            out_channels=2, size=self.size, batch=self.batch, epochs=self.epochs, lr=self.lr,
                            backbone_lr=self.backbone_lr, workers=self.workers, label_noise=p, seed=self.seed,
                            device=self.device, val_limit=self.val_limit,
                            out_dir=str(Path(out) / f"{loss}_p{p:g}"))
                for p in self.noise for loss in self.losses]


def run(setup: Setup, out: str | Path, *, recipe: str = "", show_progress: bool = True) -> list[dict]:
    """Train (or reuse, or resume) every run of ``setup`` under ``out``; return one result per run.

    Returns
    -------
    list of dict
        ``{"loss", "p", "run", <every COLUMNS key>, "curve": [adaptive F-beta per epoch]}`` in the order
        of :meth:`Setup.configs`, scored at the last epoch.
    """
    if not setup.val:
        raise ValueError("the experiment needs a validation set (val)")
    results = []
    for cfg in setup.configs(out):
        folder = Run(cfg.out_dir)
        rows = folder.rows()
        done = state_of(folder.status()) is RunState.FINISHED and len(rows) == cfg.epochs
        if not done:
            train(cfg, resume=folder.state_path.is_file(), recipe=recipe, show_progress=show_progress)
            rows = folder.rows()
        status = folder.status()
        if state_of(status) is not RunState.FINISHED:
            raise RuntimeError(f"{cfg.out_dir}: run did not finish ({status['message']})")
        last = rows[-1]
        results.append({"loss": cfg.loss, "p": cfg.label_noise, "run": cfg.out_dir,
                        **{k: float(last[k]) for k, _, _ in COLUMNS},
                        "curve": [float(r["adp_fbeta"]) for r in rows]})
    return results


def table(results: list[dict]) -> str:
    """The results as a markdown table, one row per (loss, p)."""
    head = "| loss | p | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (2 + len(COLUMNS))]
    for r in results:
        lines.append(f"| {r['loss'].upper()} | {r['p']:g} | " + " | ".join(f"{r[k]:.3f}" for k, _, _ in COLUMNS) + " |")
    return "\n".join(lines)


def figure(results: list[dict], path: str | Path) -> Path:
    """Bars of adaptive F-beta and MAE per loss (clean vs flipped), and F-beta per epoch; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    losses = list(dict.fromkeys(r["loss"] for r in results))
    noise = list(dict.fromkeys(r["p"] for r in results))
    by = {(r["loss"], r["p"]): r for r in results}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    width = 0.8 / len(noise)
    x = np.arange(len(losses))
    for ax, (key, title) in zip(axes[:2], (("adp_fbeta", "adaptive F-beta (higher is better)"),
                                           ("mae", "MAE (lower is better)"))):
        for j, p in enumerate(noise):
            values = [by[(loss, p)][key] if (loss, p) in by else np.nan for loss in losses]
            bars = ax.bar(x + (j - (len(noise) - 1) / 2) * width, values, width, label=f"p = {p:g}")
            ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_xticks(x, [loss.upper() for loss in losses])
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(fontsize=8)
    for r in results:
        axes[2].plot(range(1, len(r["curve"]) + 1), r["curve"], marker="o", ms=3,
                     ls="-" if r["p"] == 0 else "--", label=f"{r['loss'].upper()} p={r['p']:g}")
    axes[2].set_xlabel("epoch")
    axes[2].set_title("adaptive F-beta on validation, per epoch")
    axes[2].set_ylim(0, 1)
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    """The ``cas-studio low-fidelity`` command line."""
    d = Setup()
    p = argparse.ArgumentParser(prog="cas-studio low-fidelity", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the runs, results.json, results.md and figure")
    p.add_argument("--losses", nargs="+", default=list(d.losses), choices=["ce", "cace", "cas"])
    p.add_argument("--noise", nargs="+", type=float, default=list(d.noise), help="flip probabilities p")
    p.add_argument("--data", action="append", dest="train", metavar="SOURCE", help="training set; repeatable")
    p.add_argument("--val", default=d.val)
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default=d.arch)
    for name in ("size", "epochs", "batch", "seed", "workers"):
        p.add_argument(f"--{name}", type=int, default=getattr(d, name))
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--backbone-lr", type=float, default=None, help="peak learning rate of the encoder (default --lr)")
    p.add_argument("--device", default=d.device)
    p.add_argument("--val-limit", type=int, default=None)
    p.add_argument("--figure", default=None, help="also save the figure here (e.g. docs/figures/low_fidelity.png)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio low-fidelity``."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    recipe = "cas-studio low-fidelity " + shlex.join(argv)
    out = Path(args.out)
    try:
        setup = Setup(losses=tuple(args.losses), noise=tuple(args.noise), train=args.train or Setup().train,
                      val=args.val, arch=args.arch, size=args.size, epochs=args.epochs, batch=args.batch,
                      lr=args.lr, backbone_lr=args.backbone_lr, seed=args.seed, device=args.device,
                      workers=args.workers, val_limit=args.val_limit)
        results = run(setup, out, recipe=recipe, show_progress=not args.quiet)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps({"command": recipe, "results": results}, indent=2))
    md = table(results)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(f"`{recipe}`\n\n{md}\n")
    figure(results, out / "low_fidelity.png")
    if args.figure:
        figure(results, args.figure)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
