"""Fine-tuning benchmarks.

Default: wall time of fine-tuning a shipped model on 10 annotated 256x256 images for 20 epochs
(target 2 minutes on a 2-core CPU), also relative to one epoch of the same run so machines of
different speed compare.

``--frames``: the round on a real domain shift. A project holds 10 frames of 3 ``davis`` sequences
(chosen by a fixed seed), their masks imported as confirmed regions as the Annotate tab imports
them; ``saliency`` is fine-tuned on them through the Fine-tune tab's path (``make_config`` and the
``Trainer``); base and fine-tuned are then scored, as they run in the app, on every frame of the
other ``davis`` sequences. This is repeated for ``--splits`` choices of the 3 sequences and judged on
the mean gain. Only this throwaway copy trains on ``davis`` frames.

``--realistic``: the human-in-the-loop round on real photos. A project of 6 BSDS500 val images is
over-segmented with the app's defaults; an oracle merges the superpixels of the 2-3 largest human
regions of each image (each superpixel goes to the human region holding most of it) and so
confirms only those; the rest stay proposed. ``regions`` is fine-tuned on 5 images with proposed
regions ignored and, separately, as one "rest" region; each run is scored on the held-out image
(by the run itself) and on the 100 BSDS500 val images, against the base model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ..data.synthetic import make_annotated_project
from ..training.finetune import FinetuneOptions, estimate, kept_weights, make_config, record_run
from ..training.runs import Run
from ..inference.tasks import get_task
from ..training.trainer import EpochEvent, Trainer, Verdict
from ..models.weights import available_weights, resolve_device

TARGET_S = 120.0


def photo_project(root: Path) -> object:
    """A project of four of scikit-image's photos (coffee, astronaut, chelsea, rocket) at full size,
    each annotated by a coarse Felzenszwalb cut saved as confirmed regions: the Fine-tune tab's
    default run on photos, as a newcomer makes it."""
    from skimage import data

    from .. import annotation as ann
    from ..data.project import create_project
    from ..io import write_image

    project = create_project(root)
    for name in ("coffee", "astronaut", "chelsea", "rocket"):
        image = getattr(data, name)()
        (path,) = project.add_images([write_image(root.parent / f"{name}.png", image)])
        project.save_labels(path, ann.oversegment(image, "felzenszwalb", scale=800).astype(np.int32) + 1,
                            proposal=None)
    return project


def _speed(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="cas-bench-ft-"))
    n = args.images
    while n - max(1, round(0.2 * n)) < args.images:  # enough images that `images` are left to train on
        n += 1
    if args.photos:
        project = photo_project(work / "project")
        options = FinetuneOptions(base=args.base, epochs=args.epochs)
    else:
        project = make_annotated_project(work / "project", n=n, size=256)
        options = FinetuneOptions(base=args.base, epochs=args.epochs, size=256, batch=4)
    # The app's estimate for the same run, checked against the run itself (target: within 2x).
    t0 = time.perf_counter()
    guess = estimate(project.root, options)
    guess_cost = time.perf_counter() - t0
    cfg = make_config(project.root, options, work / "run")
    epoch_times: list[float] = []
    t0 = time.perf_counter()

    def on_epoch(event: EpochEvent) -> None:
        if event.epoch > 0:
            epoch_times.append(time.perf_counter())

    Trainer(cfg, on_epoch=on_epoch, show_progress=False).fit()
    total = time.perf_counter() - t0
    first_epoch = epoch_times[0] - t0 if epoch_times else total
    what = "4 photos, the default options," if args.photos else f"{args.images} images 256x256"
    print(f"finetune {cfg.init} {what} x {cfg.epochs} epochs: {total:.1f} s, "
          f"{total / TARGET_S:.2f} of target, {total / first_epoch:.1f}x one epoch; estimate {guess.seconds:.1f} s, "
          f"{guess.seconds / total:.2f}x the run, computed in {guess_cost:.1f} s")
    return 0


def oracle_project(root: Path, items: list, *, regions: int = 3) -> object:
    """A project of ``items`` over-segmented with the app's defaults (its method, and its hierarchy
    cut at the default granularity), with the superpixels of the ``regions`` largest human regions
    of each image merged (and so confirmed); returns it."""
    from .. import annotation as ann
    from ..data import read_target
    from ..data.project import create_project
    from ..io import read_image

    project = create_project(root)
    for it in items:
        (path,) = project.add_images([it.image])
        image = read_image(path)
        hierarchy = ann.build_regions(image, ann.DEFAULT_METHOD)
        proposal = hierarchy.cut(hierarchy.regions_at(ann.DEFAULT_GRANULARITY))
        project.save_proposal(path, proposal)
        human = read_target(it, annotation=0, shape=image.shape[:2])
        # Each superpixel goes to the human region that holds most of it.
        pairs, counts = np.unique(np.stack([proposal.ravel(), human.ravel()]), axis=1, return_counts=True)
        order = np.lexsort((-counts, pairs[0]))
        first = np.unique(pairs[0][order], return_index=True)[1]
        owner = dict(zip(pairs[0][order][first].tolist(), pairs[1][order][first].tolist()))
        ids, sizes = np.unique(human, return_counts=True)
        labels = proposal.copy()
        for h in ids[np.argsort(-sizes)][:regions]:
            members = [sp for sp, o in owner.items() if o == h]
            if len(members) > 1:
                labels = ann.merge(labels, members)
        project.save_labels(path, labels, method=ann.DEFAULT_METHOD, params=dict(ann.DEFAULTS[ann.DEFAULT_METHOD]),
                            edits=regions)
    return project


def _realistic(args: argparse.Namespace) -> int:
    from .. import annotation as ann
    from ..data import resolve
    from ..inference.scoring import evaluate_regions
    from ..inference.infer import predict_regions
    from ..models.weights import load_model

    val = resolve("bsds500:val")
    chosen = val[:: max(1, len(val) // 6)][:6]
    device = resolve_device("auto")
    work = Path(tempfile.mkdtemp(prefix="cas-bench-ft-real-"))
    project = oracle_project(work / "project", chosen)
    confirmed = [len(project.sidecar(p)["confirmed"]) for p in project.images()]
    proposed = [project.sidecar(p)["regions"] - c for p, c in zip(project.images(), confirmed)]
    print(f"project: 6 BSDS500 val images, {np.mean(confirmed):.1f} confirmed and {np.mean(proposed):.0f} proposed "
          f"regions per image ({ann.DEFAULT_METHOD} hierarchy at granularity {ann.DEFAULT_GRANULARITY:g}, the app's "
          f"defaults); device {device.type}")

    def full_val(weights: str | Path) -> float:
        model = load_model(weights, device=device)
        segment = lambda it, im: predict_regions(model, im)  # noqa: E731
        return evaluate_regions(segment, val[: args.val_images], progress=False)["covering"]

    base_val = full_val(args.base)
    print(f"base {args.base}: BSDS500 val ({args.val_images} images) covering {base_val:.3f}")
    for mode in ("ignore", "rest"):
        options = FinetuneOptions(base=args.base, epochs=args.epochs, size=320, batch=4, proposed=mode, device="auto")
        cfg = make_config(project.root, options, work / f"run-{mode}")
        t0 = time.perf_counter()
        trainer = Trainer(cfg, show_progress=False)
        trainer.fit()
        record_run(Run(cfg.out_dir))  # made here, as the app records its own runs
        outcome = trainer.outcome()
        kept = kept_weights(cfg.out_dir)
        after_val = full_val(kept) if kept is not None else base_val
        print(f"proposed={mode}: {outcome.summary()}; BSDS500 val covering {base_val:.3f} -> {after_val:.3f} "
              f"({'fine-tuned' if kept is not None else 'base kept'}); {time.perf_counter() - t0:.0f} s")
    return 0


def _frames_split(args: argparse.Namespace, seed: int, by_sequence: dict[str, list], base_predict) -> dict:
    """One split of ``_frames``: fine-tune on 10 frames of 3 sequences, score the rest; returns scores.
    ``base_predict`` is the base model's predictor, shared by all splits."""
    from ..data.project import create_project
    from ..inference.evaluate import model_predictor
    from ..inference.scoring import evaluate_saliency

    sequences = sorted(by_sequence)
    chosen = list(np.random.default_rng(seed).choice(sequences, 3, replace=False))
    per = {seq: by_sequence[seq] for seq in chosen}
    picked = [per[seq][k] for k in range(max(map(len, per.values()))) for seq in chosen if k < len(per[seq])][:10]
    held = [it for seq in sequences if seq not in chosen for it in by_sequence[seq]]
    work = Path(tempfile.mkdtemp(prefix="cas-bench-ft-frames-"))
    project = create_project(work / "project")
    for it in picked:  # what a person makes by importing each frame's mask in the Annotate tab
        (path,) = project.add_images([it.image])
        project.import_labels(path, it.target, binary=True)
    t0 = time.perf_counter()
    options = FinetuneOptions(base=args.base, task="saliency", epochs=args.epochs, size=args.size, lr=args.lr,
                              device="auto")
    cfg = make_config(project.root, options, work / "run")
    trainer = Trainer(cfg, show_progress=False)
    trainer.fit()
    record_run(Run(cfg.out_dir))  # made here, as the app records its own runs
    kept = kept_weights(cfg.out_dir)  # what the app then offers: None keeps the base
    train_s = time.perf_counter() - t0
    base_scores = evaluate_saliency(base_predict, held, progress=False)
    scores = {"base": base_scores,
              "fine-tuned": base_scores if kept is None else
              evaluate_saliency(model_predictor(str(kept), "saliency", held), held, progress=False)}
    print(f"split {seed}: fine-tuned on {len(picked)} frames of {', '.join(chosen)} ({len(project.split()[0])} "
          f"training, {args.epochs} epochs at {args.size}, {cfg.crop} crops, {train_s:.0f} s on {trainer.device.type}); "
          f"the run: {trainer.outcome().summary()}{'; base kept' if kept is None else ''}; "
          f"scored on {len(held)} frames of the other {len(sequences) - 3} sequences")
    for name, m in scores.items():
        print(f"  {name}: adaptive F-beta {m['adp_fbeta']:.3f}, max F-beta {m['max_fbeta']:.3f}, MAE {m['mae']:.3f}, "
              f"S-measure {m['smeasure']:.3f}")
    return scores


def _frames(args: argparse.Namespace) -> int:
    from ..data import resolve
    from ..inference.evaluate import model_predictor
    from ..metrics import to_uint8

    by_sequence: dict[str, list] = {}
    for it in resolve("davis"):  # frames are named SEQUENCE_NNNNN
        by_sequence.setdefault(it.image.stem.rsplit("_", 1)[0], []).append(it)
    t0 = time.perf_counter()
    # Every split scores the base on most of the same frames: each frame's base map is computed once.
    predict = model_predictor(args.base, "saliency", [it for items in by_sequence.values() for it in items])
    maps: dict[str, np.ndarray] = {}

    def base_predict(it, image: np.ndarray) -> np.ndarray:
        key = str(it.image)
        if key not in maps:  # the levels the metrics round every map to: exact, a quarter the memory
            maps[key] = to_uint8(predict(it, image))
        return maps[key]

    # One split's gain swings by several hundredths with which 3 sequences are annotated (and with
    # the run's own noise), so the verdict is the mean over several splits.
    splits = [_frames_split(args, args.seed + k, by_sequence, base_predict) for k in range(args.splits)]
    gains = [s["fine-tuned"]["adp_fbeta"] - s["base"]["adp_fbeta"] for s in splits]
    max_gains = [s["fine-tuned"]["max_fbeta"] - s["base"]["max_fbeta"] for s in splits]
    gain = float(np.mean(gains))
    verdict = (Verdict.IMPROVED if gain >= 0.03 else Verdict.NO_CLEAR_CHANGE if gain > -0.03 else Verdict.NOT_IMPROVED)
    print(f"frames verdict: {verdict}: adaptive F-beta {gain:+.3f} on the held-out sequences, the mean of "
          f"{len(splits)} splits ({', '.join(f'{g:+.3f}' for g in gains)}; target +0.03), better on "
          f"{sum(g > 0 for g in gains)} of {len(splits)}; max F-beta {np.mean(max_gains):+.3f}; "
          f"{time.perf_counter() - t0:.0f} s in all (target 300 s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the fine-tuning benchmark."""
    p = argparse.ArgumentParser(prog="cas-studio bench finetune", description=__doc__.splitlines()[0])
    p.add_argument("--base", default=None,
                   help="the model to fine-tune (a shipped name or a path; default regions, saliency with --frames)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: 20, or with --frames the app's saliency fine-tune (the task registry's)")
    p.add_argument("--images", type=int, default=10, help="training images of the speed benchmark")
    p.add_argument("--realistic", action="store_true", help="the BSDS500 human-in-the-loop round (see above)")
    p.add_argument("--photos", action="store_true",
                   help="the speed run on a project of 4 full-size photos with the Fine-tune tab's default options")
    p.add_argument("--frames", action="store_true", help="the davis round: fine-tune on 10 frames, score the other sequences")
    p.add_argument("--lr", type=float, default=None,
                   help="--frames: the fine-tune's learning rate (default: the Fine-tune tab's for saliency)")
    p.add_argument("--seed", type=int, default=0, help="--frames: the first split (which 3 sequences are annotated)")
    p.add_argument("--splits", type=int, default=8, help="--frames: splits run, seeds --seed, --seed + 1, ...")
    p.add_argument("--size", type=int, default=None,
                   help="--frames: the fine-tune's input size (default: the Fine-tune tab's for the base)")
    p.add_argument("--val-images", type=int, default=100, help="BSDS500 val images scored in --realistic")
    args = p.parse_args(argv)
    args.base = args.base or ("saliency" if args.frames else "regions")
    if args.frames:  # what the Fine-tune tab starts a saliency run with
        lr, epochs = get_task("saliency").finetune
        args.lr = lr if args.lr is None else args.lr
        args.epochs = epochs if args.epochs is None else args.epochs
        args.size = FinetuneOptions.size if args.size is None else args.size
    if args.splits < 1:
        print(f"error: --splits must be at least 1, got {args.splits}")
        return 2
    args.epochs = 20 if args.epochs is None else args.epochs
    if args.base not in available_weights() and not Path(args.base).is_file():
        print(f"error: no model {args.base!r} to fine-tune; available: {available_weights() or 'none'}")
        return 2
    try:
        if args.frames:
            return _frames(args)
        return _realistic(args) if args.realistic else _speed(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}")
        return 2
