"""Evaluation on a dataset, and ``cas-studio eval``: a model, a predictions folder or a baseline.

Saliency: adaptive / max / mean F-beta, MAE, S-measure, E-measure, weighted F (pysodmetrics), with
the saliency channel chosen by the paper's rule on the evaluated set when the weights record none.
Regions and texture: covering, PRI and VI against every human segmentation (BSDS) or the given
ground truth.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..data import Item, resolve
from ..io import atomic_path, read_image
from .decoders import DECODERS, DEFAULT_DECODER, default_decoder, get_decoder
from .outputs import output_of
from .scoring import Predictor, ground_truths
from .tasks import trainable_tasks


def worst_examples(predict: Predictor, task: str, scores: list[tuple[Item, float]], path: str | Path, *,
                   n: int = 4) -> Path:
    """Save a figure of the ``n`` worst-scored images: image, ground truth, prediction, score.

    Worst means the highest MAE for saliency and the lowest covering for regions / texture (the
    task's output kind says which, and how to show its outputs).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not scores:
        raise ValueError("no scored images to show")
    kind = output_of(task)
    worst = sorted(scores, key=lambda s: s[1] if kind.lower_is_worse else -s[1])[:n]
    fig, axes = plt.subplots(len(worst), 3, figsize=(9, 2.6 * len(worst)), squeeze=False)
    for row, (it, score) in zip(axes, worst):
        image = read_image(it.image)
        pred = predict(it, image)
        gt = ground_truths(it, image.shape[:2])[0]
        shown, label = kind.panels(gt, pred), f"{kind.score_name} {score:.3f}"
        row[0].imshow(image)
        row[0].set_title(it.image.stem, fontsize=8)
        for ax, (img, cmap) in zip(row[1:], shown):
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1) if cmap else ax.imshow(img)
        row[1].set_title("ground truth", fontsize=8)
        row[2].set_title(f"prediction ({label})", fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path


def model_predictor(weights: str, task: str, items: list[Item], *, size: int | None = None,
                    decoder: dict | None = None, flip: bool | None = None,
                    temperature: float | None = None) -> Predictor:
    """A predictor from weights (see the task's output kind: ``Output.predictor``); a saliency model
    without a recorded channel gets the paper's rule on ``items``.

    ``decoder`` overrides how a region model's output becomes regions, ``flip`` and ``temperature``
    a saliency model's test-time options (default: what the weights record).
    """
    from ..models.weights import load_model

    return output_of(task).predictor(load_model(weights), items, size=size, decoder=decoder, flip=flip,
                                     temperature=temperature)


def folder_predictor(folder: str | Path, task: str, items: list[Item]) -> Predictor:
    """Predictions saved as PNGs named like the images (saliency 8-bit, labels 8/16-bit)."""
    folder = Path(folder)
    lookup = {f.stem: f for f in folder.glob("*.png")}
    missing = [it.image.stem for it in items if it.image.stem not in lookup]
    if missing:
        raise ValueError(f"{folder}: no prediction for {len(missing)} of {len(items)} images, e.g. {missing[:3]}")
    kind = output_of(task)

    def predict(it: Item, image: np.ndarray) -> np.ndarray:
        pred = kind.read(lookup[it.image.stem], image.shape[:2])
        if pred.shape != image.shape[:2]:
            raise ValueError(f"{lookup[it.image.stem]}: prediction is {pred.shape} but the image is {image.shape[:2]}")
        return pred

    return predict


def baseline_predictor(method: str, task: str, *, scale: float = 500, min_size: int = 200) -> Predictor:
    """A classical baseline as a predictor (``ValueError`` naming the tasks it belongs to otherwise)."""
    kind = output_of(task)
    if method not in kind.methods:
        owners = [name for name in trainable_tasks() if method in output_of(name).methods]
        what = f"a {output_of(owners[0]).id} method; use --task {' or '.join(owners)}" if owners else "no baseline"
        raise ValueError(f"{method} is {what}")
    return kind.baseline(method, scale=scale, min_size=min_size)


def _table(name: str, metrics: dict) -> str:
    keys = [k for k, v in metrics.items() if np.isscalar(v)]
    head = "| method | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys) + "\n"
    cells = [f"{metrics[k]:.4f}" if isinstance(metrics[k], float) else str(metrics[k]) for k in keys]
    return head + f"| {name} | " + " | ".join(cells) + " |"


def _plot_pr(metrics: dict, name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(metrics["recall"], metrics["precision"], label=name)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def decoder_from_args(args: argparse.Namespace) -> dict | None:
    """The decoder spec that ``--decoder`` and its options ask for; None leaves the model's own.

    ``--decoder D`` starts from D's defaults; options without ``--decoder`` change the decoder the
    weights record (``--merge-min-area 0`` on the shipped ``regions``). Options that belong to
    another decoder than the one in use are refused rather than ignored.

    Raises:
        ValueError: an option of a decoder that is not the one in use.
    """
    # argparse stores --merge-min-area as merge_min_area.
    given = {method: {k: getattr(args, f"{method}_{k}") for k in get_decoder(method).options} for method in DECODERS}
    given = {method: {k: v for k, v in opts.items() if v is not None} for method, opts in given.items()}
    asked = [kind for kind, opts in given.items() if opts]
    if args.decoder:
        method, base = args.decoder, default_decoder(args.decoder)
    elif asked:
        from ..models.weights import read_info

        base = read_info(args.weights).decoder or {}
        method = base.get("method", DEFAULT_DECODER)
    else:
        return None
    wrong = [kind for kind in asked if kind != method]
    if wrong:
        flags = ", ".join(map(get_decoder(wrong[0]).flag, given[wrong[0]]))
        raise ValueError(f"{flags}: option(s) of the {wrong[0]} decoder, but the decoder in use is {method!r}; "
                         f"add --decoder {wrong[0]} to use it")
    return {**base, **given.get(method, {})}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio eval``."""
    p = argparse.ArgumentParser(prog="cas-studio eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=trainable_tasks(), required=True)
    p.add_argument("--data", required=True, help="ground truth: a named set (sod:val, bsds500:val, outex) or folder")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--weights", help="a model: shipped name or .safetensors path")
    what.add_argument("--pred", help="a folder of predictions named like the images (PNG)")
    what.add_argument("--method", choices=sorted({m for t in trainable_tasks() for m in output_of(t).methods}),
                      help="a classical baseline")
    p.add_argument("--size", type=int, default=None, help="network input size (default: the model's)")
    p.add_argument("--decoder", choices=DECODERS, default=None,
                   help="regions: arg-max + components, superpixels merged by CAS code, or the encoder's "
                        "features clustered (texture) (default: the model's)")
    for method in DECODERS:  # --merge-threshold, ...: the settings each decoder lets a command line change
        decoder = get_decoder(method)
        for setting, text in decoder.options.items():
            p.add_argument(decoder.flag(setting), type=float, default=None, help=f"--decoder {method}: {text}")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="saliency: average the logits of each image and its mirror image (default: the model's)")
    p.add_argument("--temperature", type=float, default=None,
                   help="saliency: softmax temperature (default: the model's)")
    p.add_argument("--scale", type=float, default=500, help="felzenszwalb scale")
    p.add_argument("--min-size", type=int, default=200, help="felzenszwalb min_size")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N images only")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.add_argument("--pr-curve", help="saliency: plot the precision-recall curve to this PNG")
    p.add_argument("--worst", metavar="PNG", help="save the worst-scored images with their predictions to this PNG")
    p.add_argument("--worst-n", type=int, default=4, help="how many worst images --worst shows")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        items = resolve(args.data)[: args.limit]
        if not items:
            raise ValueError(f"{args.data}: no images to evaluate")
        if args.weights:
            decoder = decoder_from_args(args)
            name, predict = args.weights, model_predictor(args.weights, args.task, items, size=args.size,
                                                          decoder=decoder, flip=args.flip,
                                                          temperature=args.temperature)
        elif args.pred:
            name, predict = args.pred, folder_predictor(args.pred, args.task, items)
        else:
            name = args.method
            predict = baseline_predictor(args.method, args.task, scale=args.scale, min_size=args.min_size)
        scores: list[tuple[Item, float]] = []
        metrics = output_of(args.task).evaluate(predict, items, scores=scores)
        if args.worst:
            worst_examples(predict, args.task, scores, args.worst, n=args.worst_n)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(items)} images of {args.data}\n")
    print(_table(name, metrics))
    scalars = {k: v for k, v in metrics.items() if np.isscalar(v)}
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"method": name, "data": args.data, "images": len(items), **scalars}, indent=2))
    if args.pr_curve and "precision" in metrics:
        _plot_pr(metrics, name, Path(args.pr_curve))
    return 0
