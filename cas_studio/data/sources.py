"""Where training samples come from: folder layouts and the named sets of ``../shared/data``.

A *source* resolves to a list of :class:`Item` (an image path and how to read its region map).
Supported layouts, by path:

* figure-ground folders: ``images/`` + ``masks/`` with matching stems (jpg/png/bmp);
* DUTS-style ``<NAME>-Image/`` + ``<NAME>-Mask/`` folders;
* the Weizmann horses layout ``rgb/`` + ``figure_ground/`` (JPEG masks thresholded at 127,
  resized to their images);
* label-map folders: ``images/`` + ``labels/`` holding 8/16-bit PNG region ids;
* annotation projects written by the app (``project.json`` + ``images/`` + ``labels/``, where 0 means
  unlabelled), see :mod:`cas_studio.data.project`;
* BSDS500: ``images/<split>/*.jpg`` + ``groundTruth/<split>/*.mat``.

* the Outex texture suite: ``mosaics/*.png`` + one shared ``gt.png``.

Named sets under ``$CAS_DATA`` (default ``../shared/data`` beside the checkout): ``sod``,
``sod:train``, ``sod:val`` (split by the BSDS500 ids), ``horses``, ``davis``, ``bsds500:train``,
``bsds500:val``, ``outex``, ``duts_tr`` (4,500 DUTS-TR images, the paper's saliency training set) and
``duts_te_val`` (300 DUTS-TE images, for validation only). Training can also use ``mosaics`` and ``outex-mosaics`` (texture
mosaics composed on the fly, see :mod:`cas_studio.data.mosaics`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import IMAGE_SUFFIXES, ImageError, read_label_map
from .items import IGNORE, TARGET_KINDS, Item
from .project import annotation_target, is_project, open_project

__all__ = ["IGNORE", "NAMED", "TARGET_KINDS", "Item", "bsds_items", "bsds_segmentations", "data_root", "folder_items",
           "outex_items", "read_target", "resolve"]

def data_root() -> Path:
    """``$CAS_DATA`` or ``../shared/data`` relative to the repository root."""
    if os.environ.get("CAS_DATA"):
        return Path(os.environ["CAS_DATA"])
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def read_target(item: Item, *, annotation: int | None = None, rng: np.random.Generator | None = None,
                shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read an item's region map as HxW int32 (resized nearest to ``shape`` if given).

    For BSDS .mat files one human segmentation is used: ``annotation`` if given, else one drawn
    with ``rng`` (so each epoch may see a different annotator), else the first.
    """
    import cv2

    if item.kind == "bsds_mat":
        segs = bsds_segmentations(item.target)
        if annotation is None:
            annotation = int(rng.integers(len(segs))) if rng is not None else 0
        labels = segs[annotation % len(segs)]
    else:
        labels = read_label_map(item.target)
        if item.kind == "mask":
            labels = (labels > 0).astype(np.int32)
        elif item.kind == "jpeg_mask":
            labels = (labels > 127).astype(np.int32)
        elif item.kind in ("annotation", "annotation_rest"):
            labels = annotation_target(item.target, labels, rest=item.kind == "annotation_rest")
    if shape is not None and labels.shape != tuple(shape):
        if item.kind == "jpeg_mask":  # horses: masks are stored at another resolution
            labels = cv2.resize(labels.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
            labels = labels.astype(np.int32)
        else:
            raise ImageError(f"{item.target}: region map is {labels.shape[1]}x{labels.shape[0]} but its "
                             f"image {item.image.name} is {shape[1]}x{shape[0]}")
    return labels


def bsds_segmentations(path: str | os.PathLike) -> list[np.ndarray]:
    """All human segmentations (HxW int32 region ids) in a BSDS500 ground-truth .mat file."""
    from scipy.io import loadmat

    try:
        cells = loadmat(str(path))["groundTruth"]
        return [np.asarray(c["Segmentation"][0, 0], dtype=np.int32) for c in cells.ravel()]
    except (KeyError, ValueError, TypeError, OSError) as err:
        raise ImageError(f"{path}: not a BSDS500 groundTruth .mat file ({err})") from err


def _by_stem(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes and p.is_file()}


def _pair(images: Path, targets: Path, kind: str, target_suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Item]:
    imgs, tgts = _by_stem(images), _by_stem(targets, target_suffixes)
    items = [Item(imgs[s], tgts[s], kind) for s in sorted(imgs) if s in tgts]
    if not items:
        raise ValueError(f"no image/target pairs with matching names in {images} and {targets}")
    return items


def folder_items(root: str | os.PathLike) -> list[Item]:
    """Items of a folder in any supported layout (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if is_project(root):
        return open_project(root).items()
    if (root / "mosaics").is_dir() and (root / "gt.png").is_file():
        return outex_items(root)
    if (root / "groundTruth").is_dir() and (root / "images").is_dir():
        return [it for split in ("train", "val", "test") if (root / "images" / split).is_dir()
                for it in bsds_items(root, split)]
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return _pair(root / "images", root / "labels", "label_map", (".png",))
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return _pair(root / "images", root / "masks", "mask")
    if (root / "rgb").is_dir() and (root / "figure_ground").is_dir():
        return _pair(root / "rgb", root / "figure_ground", "jpeg_mask")
    duts = sorted(p for p in root.iterdir() if p.is_dir() and p.name.endswith("-Image"))
    items = []
    for img_dir in duts:
        mask_dir = root / (img_dir.name[: -len("-Image")] + "-Mask")
        if mask_dir.is_dir():
            items += _pair(img_dir, mask_dir, "mask")
    if items:
        return items
    raise ValueError(f"{root}: unknown dataset layout; expected images/+masks/, images/+labels/, "
                     f"rgb/+figure_ground/, <NAME>-Image/+<NAME>-Mask/ or BSDS500 images/+groundTruth/")


def bsds_items(root: str | os.PathLike, split: str) -> list[Item]:
    """BSDS500 images of ``split`` with their .mat ground truth."""
    root = Path(root)
    return _pair(root / "images" / split, root / "groundTruth" / split, "bsds_mat", (".mat",))


def bsds_ids(split: str, root: Path | None = None) -> set[str]:
    """Image ids of a BSDS500 split (the SOD images share these ids)."""
    folder = (root or data_root()) / "bsds500" / "images" / split
    return {p.stem for p in folder.glob("*.jpg")}


NAMED = ("sod", "sod:train", "sod:val", "horses", "davis", "bsds500:train", "bsds500:val", "outex",
         "outex-layouts", "duts_tr", "duts_te_val")


def cache_root() -> Path:
    """Where generated data sets are kept: ``$CAS_CACHE``, else ``~/.cache/cas-studio`` (never the
    shared data folder, which is read-only here)."""
    return Path(os.environ.get("CAS_CACHE") or Path.home() / ".cache" / "cas-studio")


def outex_layout_items() -> list[Item]:
    """``outex-layouts``: 50 Outex mosaics in new random layouts (2-5 regions), composed once from
    the textures of mosaics 040-049 only, for validating texture models where the suite's one
    shared layout cannot be learnt."""
    from .mosaics import VAL_MOSAICS, layout_set, outex_textures

    textures = outex_textures(data_root() / "outex", mosaics=VAL_MOSAICS)
    folder = layout_set(cache_root() / "outex-layouts-v1", textures)
    return _pair(folder / "images", folder / "labels", "label_map", (".png",))


def outex_items(root: str | os.PathLike) -> list[Item]:
    """The Outex mosaics as given, all sharing the one ground truth ``gt.png``."""
    root = Path(root)
    files = sorted((root / "mosaics").glob("*.png"))
    if not files or not (root / "gt.png").is_file():
        raise ValueError(f"{root}: expected mosaics/*.png and gt.png (the Outex layout)")
    return [Item(f, root / "gt.png", "label_map") for f in files]


def resolve(source: str | os.PathLike) -> list[Item]:
    """Items of a named set (see :data:`NAMED`) or of a folder path.

    ``PROJECT@train`` and ``PROJECT@holdout`` split an annotation project's confirmed images (see
    :meth:`~cas_studio.data.project.Project.split`); ``PROJECT@train+rest`` trains with the regions
    nobody confirmed as one "rest" region instead of ignoring them.
    """
    text = os.fspath(source)
    base, at, part = text.rpartition("@")
    if at and part in ("train", "holdout", "train+rest") and is_project(base):
        train, holdout = open_project(base).split(rest=part == "train+rest")
        return holdout if part == "holdout" else train
    name, _, split = text.partition(":")
    root = data_root()
    if text in NAMED:
        if name == "bsds500":
            return bsds_items(root / "bsds500", split)
        if name == "outex":
            return outex_items(root / "outex")
        if name == "outex-layouts":
            return outex_layout_items()
        items = folder_items(root / name)
        if name == "sod" and split:
            keep = bsds_ids(split, root)
            items = [it for it in items if it.image.stem in keep]
        return items
    if ":" in text and not Path(text).exists() and name in {n.partition(":")[0] for n in NAMED}:
        raise ValueError(f"unknown split in {text!r}; named sets are {NAMED}")
    return folder_items(text)
