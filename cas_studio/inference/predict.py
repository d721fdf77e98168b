"""``cas-studio predict``: saliency maps or label maps for image files and folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..io import IMAGE_SUFFIXES, ImageError, list_images, read_image
from .outputs import output_of
from .tasks import trainable_tasks

# torch loads only once the arguments are parsed: ``cas-studio predict --help`` stays instant.


def gather_inputs(inputs: list[str]) -> list[Path]:
    """Image files named directly or found in folders (not recursive); errors name the bad input."""
    files = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            files += list_images(path)
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(f"{path}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            files.append(path)
        else:
            raise FileNotFoundError(f"input not found: {path}")
    return files


def output_stems(files: list[Path], extras: tuple[str, ...] = ("", "_mask", "_cutout")) -> dict[Path, str]:
    """Each input's output stem, so that no two outputs of one run share a name: the file's stem,
    or, where two inputs would write the same file (``a.png`` and ``a.jpg``; ``a_mask.jpg`` and
    ``a``'s mask), the stem plus its extension (``a_jpg``), then a number if that still clashes."""
    def clashes(stem_of: dict[Path, str]) -> set[Path]:
        names: dict[str, list[Path]] = {}
        for f in files:
            for extra in extras:
                names.setdefault(f"{stem_of[f]}{extra}".lower(), []).append(f)
        return {f for group in names.values() if len(group) > 1 for f in group}

    stems = {f: f.stem for f in files}
    for f in clashes(stems):
        stems[f] = f"{f.stem}_{f.suffix.lstrip('.').lower()}"
    for k, f in enumerate(sorted(clashes(stems)), start=1):
        stems[f] = f"{stems[f]}_{k}"
    return stems


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cas-studio predict``."""
    p = argparse.ArgumentParser(prog="cas-studio predict", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("--weights", required=True, help="shipped name (saliency, regions, texture) or .safetensors path")
    p.add_argument("--task", choices=trainable_tasks(), required=True)
    p.add_argument("--out", required=True, help="output folder: NAME.png per input NAME.*")
    p.add_argument("--size", type=int, default=None, help="network input size (default: the model's)")
    p.add_argument("--min-size", type=int, default=None, help="regions: smallest region kept, in pixels (default: the task's, 64)")
    p.add_argument("--batch", type=int, default=8, help="images per network call (same-shape images are batched)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="saliency: average each image with its mirror image (default: the model's; "
                        "--no-flip: one network pass instead of two, about 0.6x the time: cas-studio bench infer)")
    offered: dict[str, str] = {}  # --mask, --cutout: the extra files output kinds can write
    for task in trainable_tasks():
        kind = output_of(task)
        for extra, text in kind.extras.items():
            offered.setdefault(extra, f"{kind.id}: also write NAME_{extra}.png, {text}")
    for extra, text in offered.items():
        p.add_argument(f"--{extra}", action="store_true", help=text)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    kind = output_of(args.task)
    extras = [extra for extra in offered if getattr(args, extra)]
    refused = [extra for extra in extras if extra not in kind.extras]
    if refused:
        wanted = " and ".join(f"--{extra}" for extra in refused)
        print(f"error: {wanted} need a saliency task (one whose output kind writes them), not {args.task}", file=sys.stderr)
        return 2
    from ..models.weights import load_model
    from .infer import inference_options

    try:
        files = gather_inputs(args.inputs)
        model = load_model(args.weights)
        inference_options(model, flip=args.flip)  # refuses --flip for a region model before any work
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    stems = output_stems(files, ("",) + tuple(f"_{extra}" for extra in extras))
    renamed = sum(stems[f] != f.stem for f in files)
    if renamed:
        print(f"{renamed} inputs would write the same output name as another: their outputs keep the source "
              "extension in the name (e.g. a_jpg.png)")
    failed = 0
    bar = tqdm(total=len(files), desc="predict", unit="img")
    for start in range(0, len(files), args.batch):
        chunk, images = [], []
        for f in files[start:start + args.batch]:
            try:
                images.append(read_image(f))
                chunk.append(f)
            except ImageError as err:
                tqdm.write(f"skipped: {err}")
                failed += 1
        # Regions: the decoder the weights record (superpixel merging, clustering), as in the app and eval.
        outputs = kind.predict_many(model, images, size=args.size, batch=args.batch, flip=args.flip,
                                    min_size=args.min_size)
        for f, image, output in zip(chunk, images, outputs):
            kind.write(out / stems[f], output, image, extras=extras)
        bar.update(len(files[start:start + args.batch]))
    bar.close()
    print(f"wrote {len(files) - failed} predictions to {out}" + (f"; {failed} inputs skipped" if failed else ""))
    return 1 if failed else 0
