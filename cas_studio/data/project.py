"""The annotation project: the one place that defines its folder format.

::

    <project>/
      project.json            {"format": "cas-studio-project/2", "created": ..., "images": [names...],
                              "sequences": {name: [frame image names in order]} (videos; optional)}
      images/<name>           the images, copied in (any readable format)
      labels/<name>.json      the annotation's record (the commit point): the label map and proposal
                              it names (``labels``, ``proposal``: SHA-256 of objects), which regions
                              a person confirmed (``confirmed``, ``by_hand``, ``image_confirmed``),
                              a ``version`` that every save increments, method, parameters, edits
      labels/objects/<sha>.png  immutable 16-bit label maps (0 = unlabelled, 1..N regions) that
                              records name: label maps and proposals
      labels/<name>.png       the record's label map, published for other tools (a hard link to
                              its object; keyed by the image's full file name)
      .lock                   held while project.json or an annotation is being changed
      runs/                   fine-tuning runs (see cas_studio.training.command)

Several sessions and processes may work on one project: changes happen under the project's
lock file, new images are created exclusively, and a save names the version it was based on, so
one session never silently overwrites another's edit (:class:`EditConflict`). A save writes its
objects, then replaces the record in one atomic rename (the commit), then publishes the PNG: a
crash at any point leaves the last committed record whole, and repair on open removes what a
crashed save left and re-publishes the PNG. Annotations of the earlier layout (PNG + sidecar +
``.proposal.png``) and version-1 projects (labels keyed by file stem) are migrated on open.

There are no class names anywhere: a region is just an id. A region is *confirmed* when a person
made or changed it (it differs from every region of the proposal), confirmed it by hand, or
confirmed the whole image; the rest are *proposed* and fine-tuning leaves them out by default.
A label map without a proposal (imported, or painted from scratch) is confirmed as a whole, and so
is a sidecar from before confirmation existed. Every file is written atomically
(temporary file, then rename), so a crash or two concurrent saves never leave a corrupt file.
``cas-studio train --data <project>`` (and a zip made by :func:`export_zip`, once unpacked) reads
this layout directly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from .confirmation import confirmed_regions, untouched_regions
from ..constants import UNLABELLED
from ..io import IMAGE_SUFFIXES, ImageError, atomic_path, read_image, read_label_map
from .items import IGNORE, Item

FORMAT = "cas-studio-project/2"
OLD_FORMATS = ("cas-studio-project/1",)
#: The annotation record's layout (``labels/<name>.json`` naming content-addressed label maps).
RECORD = 3
#: Folder of ``labels/`` holding the immutable label maps that records name.
OBJECTS = "objects"
#: ``save_labels(proposal=KEEP)``: keep the saved proposal.
KEEP = object()
#: Share of the confirmed images held out for validation in fine-tuning (at least one when there
#: are two or more).
HOLDOUT_FRACTION = 0.2


def annotation_target(label_path: str | os.PathLike, labels: np.ndarray, *, rest: bool = False) -> np.ndarray:
    """A project label map as a training target: unlabelled -> IGNORE, proposed regions -> IGNORE
    (or, with ``rest=True``, one extra "rest" region)."""
    meta = _read_sidecar(Path(label_path).with_suffix(".json"))
    out = np.where(labels == UNLABELLED, IGNORE, labels).astype(np.int32)
    confirmed = meta.get("confirmed")
    if confirmed is None:  # imported, painted, or written before confirmation existed
        return out
    proposed = (out != IGNORE) & ~np.isin(out, np.asarray(confirmed, np.int64))
    out[proposed] = int(labels.max()) + 1 if rest else IGNORE
    return out


def _read_sidecar(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@functools.lru_cache(maxsize=256)
def _image_facts(path: str, mtime_ns: int, size: int) -> tuple[tuple[int, int], str]:
    """(height, width) and SHA-256 of an image file, remembered per (path, mtime, size): saving an
    edit then decodes and hashes nothing."""
    return read_image(path).shape[:2], sha256(path)


def image_facts(path: str | os.PathLike) -> tuple[tuple[int, int], str]:
    """(height, width) and SHA-256 of an image, decoded and hashed once per version of the file."""
    st = os.stat(path)
    return _image_facts(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def _version(path: str | os.PathLike) -> tuple[str, int, int, int]:
    """A file's identity per version: (resolved path, mtime, size, inode). Every atomic write makes
    a new file, so a rewrite within one mtime tick is still told apart."""
    st = os.stat(path)
    return str(Path(path).resolve()), st.st_mtime_ns, st.st_size, st.st_ino


@functools.lru_cache(maxsize=64)
def _cached_sha256(path: str, mtime_ns: int, size: int, inode: int) -> str:
    return sha256(path)


def file_sha256(path: str | os.PathLike) -> str:
    """:func:`sha256` of a file, computed once per version of it (polled files cost a stat)."""
    return _cached_sha256(*_version(path))


@functools.lru_cache(maxsize=8)
def _label_facts(path: str, mtime_ns: int, size: int, inode: int) -> tuple[np.ndarray, str]:
    """A label map (read-only) and its file's SHA-256, per version of the file (:func:`_version`)."""
    labels = read_label_map(path)
    labels.setflags(write=False)
    return labels, sha256(path)


def proposal_facts(path: str | os.PathLike) -> tuple[np.ndarray, str] | None:
    """A proposal file's label map (read-only) and SHA-256, decoded once per version of the file:
    every save compares against it, and at 4 MP decoding it took a tenth of an edit's time."""
    try:
        return _label_facts(*_version(path))
    except FileNotFoundError:
        return None


class EditConflict(RuntimeError):
    """The annotation changed on disk (another session saved) since this edit's version was read."""


def _check_name(name: object, root: Path) -> str:
    """A project image name must be a plain file name: no folders, no '..', nothing absolute."""
    if not isinstance(name, str) or not name or name != Path(name).name or name in (".", "..") or "\\" in name:
        raise ValueError(f"{root}/project.json lists an unsafe image name {name!r}; names must be plain file names")
    return name


def _region_ids(labels: np.ndarray) -> np.ndarray:
    """The region ids present in a label map, ascending, without the unlabelled 0."""
    ids = np.flatnonzero(np.bincount(np.asarray(labels).ravel().astype(np.int64)))
    return ids[ids != UNLABELLED]


def _write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2))


@dataclass(frozen=True)
class Project:
    """An annotation project folder (see the module docstring)."""

    root: Path

    @property
    def manifest(self) -> Path:
        """Path of ``project.json``."""
        return self.root / "project.json"

    def lock(self) -> FileLock:
        """The project's lock (one file, so other processes are excluded too)."""
        return FileLock(str(self.root / ".lock"), timeout=30)

    def _meta(self) -> dict:
        return json.loads(self.manifest.read_text())

    def images(self) -> list[Path]:
        """Image files in project order."""
        names = [_check_name(n, self.root) for n in self._meta().get("images", [])]
        return [self.root / "images" / n for n in names if (self.root / "images" / n).is_file()]

    def label_path(self, image: Path | str) -> Path:
        """Where the label map of ``image`` lives (keyed by its full file name)."""
        return self.root / "labels" / f"{Path(image).name}.png"

    def load_labels(self, image: Path | str) -> np.ndarray | None:
        """The saved label map of ``image`` (int32, 0 = unlabelled), or None if not annotated yet."""
        return self.load_annotation(image)[0]

    def proposal_path(self, image: Path | str) -> Path:
        """Where a project of an earlier layout kept ``image``'s proposal (migrated on repair)."""
        return self.root / "labels" / f"{Path(image).name}.proposal.png"

    def object_path(self, digest: str) -> Path:
        """The immutable, content-addressed label map called ``digest`` (its PNG's SHA-256)."""
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise ValueError(f"{self.root.name}: a record names an invalid label-map object {digest!r}")
        return self.root / "labels" / OBJECTS / f"{digest}.png"

    def _put_object(self, labels: np.ndarray) -> str:
        """Store a label map as an object (written once, atomically); return its name."""
        import cv2

        ok, buf = cv2.imencode(".png", np.ascontiguousarray(labels, np.uint16))
        if not ok:
            raise ImageError("could not encode the label map")
        data = buf.tobytes()
        digest = hashlib.sha256(data).hexdigest()
        path = self.object_path(digest)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        return digest

    def _read_object(self, digest: str | None, published: Path | None = None) -> np.ndarray | None:
        """An object's label map; a project unpacked from an export has only the published PNG,
        used when its hash is the object's."""
        if digest is None:
            return None
        path = self.object_path(digest)
        if not path.is_file() and published is not None and published.is_file() and file_sha256(published) == digest:
            path = published
        if not path.is_file():
            if published is None:  # a proposal an export left out: the record's lists still say what is confirmed
                return None
            raise ImageError(f"the label map {digest[:12]}... that the record names is missing (not a complete "
                             "project folder)")
        labels, _ = _label_facts(*_version(path))
        return labels.copy()

    def save_proposal(self, image: Path | str, labels: np.ndarray) -> Path:
        """Commit a new record with ``labels`` as the proposal (the automatic over-segmentation
        the annotation starts from), the label map and confirmations as they are."""
        with self.lock():
            current, side, _ = self._snapshot(image)
            if current is None:
                return self._commit(image, None, np.asarray(labels), side, {})
        # The record read above is the one this save builds on: a session that saved in between is
        # an EditConflict, never overwritten with the stale label map.
        return self.save_labels(image, current, proposal=np.asarray(labels), method=side.get("method", "manual"),
                                params=side.get("params"), edits=int(side.get("edits", 0)),
                                by_hand=side.get("by_hand", ()), image_confirmed=bool(side.get("image_confirmed")),
                                expected_version=int(side.get("version", 0)))

    def load_proposal(self, image: Path | str) -> np.ndarray | None:
        """The proposal of ``image`` (None when the annotation did not start from one)."""
        return self.load_annotation(image)[2]

    def sidecar(self, image: Path | str) -> dict:
        """The JSON record of ``image``'s annotation ({} if none)."""
        return _read_sidecar(self.label_path(image).with_suffix(".json"))

    def load_annotation(self, image: Path | str) -> tuple[np.ndarray | None, dict, np.ndarray | None]:
        """(label map, record, proposal) of ``image``: one snapshot, the record and the objects it names.

        Reading never writes. The record is replaced in one atomic step by every save, and the
        label maps it names never change, so the three always belong together.
        """
        with self.lock():  # repair, the only other writer, removes objects no record names
            return self._snapshot(image)

    def _snapshot(self, image: Path | str) -> tuple[np.ndarray | None, dict, np.ndarray | None]:
        side = self.sidecar(image)
        published = self.label_path(image)
        if side.get("record") == RECORD:
            labels = self._read_object(side.get("labels"), published)
            proposal = self._read_object(side.get("proposal"))
            return labels, side, proposal
        # An earlier layout (read only; repair migrates it): the PNG, its sidecar, the proposal file.
        labels = read_label_map(published) if published.is_file() else None
        facts = proposal_facts(self.proposal_path(image))
        if facts is None:
            return labels, side, None
        if labels is not None and side.get("proposal_sha256", facts[1]) != facts[1]:
            confirmed = np.asarray(side.get("confirmed", []), np.int64)
            return labels, side, np.where(np.isin(labels, confirmed), 0, labels).astype(np.int32)
        return labels, side, facts[0].copy()

    def annotated(self) -> list[Path]:
        """Images that have a saved label map (confirmed or not)."""
        return [p for p in self.images() if self.label_path(p).is_file()]

    def confirmed(self) -> list[Path]:
        """Images with at least one confirmed region: the ones fine-tuning learns from."""
        out = []
        for p in self.annotated():
            ids = self.sidecar(p).get("confirmed")
            if ids is None or len(ids) > 0:
                out.append(p)
        return out

    def complete(self) -> list[Path]:
        """Images confirmed as a whole: the person confirmed the image, or every region in it with no
        pixel left unlabelled (one accepted object on an otherwise empty image is not a whole image)."""
        out = []
        for p in self.annotated():
            side = self.sidecar(p)
            count = side.get("regions")  # how many regions the label map has (absent in old records)
            every = count is not None and len(side.get("confirmed", [])) >= count
            if side.get("image_confirmed") or (every and not side.get("unlabelled", 0)):
                out.append(p)
        return out

    def progress(self) -> str:
        """e.g. ``"12 of 40 images confirmed"`` (whole images, not images with some confirmed region)."""
        return f"{len(self.complete())} of {len(self.images())} images confirmed"

    def items(self, *, rest: bool = False) -> list[Item]:
        """Training items: the confirmed images (see :func:`annotation_target` for ``rest``)."""
        kind = "annotation_rest" if rest else "annotation"
        items = [Item(p, self.label_path(p), kind) for p in self.confirmed() if p.suffix.lower() in IMAGE_SUFFIXES]
        if not items:
            raise ValueError(f"{self.root}: no confirmed annotations in this project yet")
        return items

    def split(self, *, rest: bool = False, holdout_fraction: float = HOLDOUT_FRACTION) -> tuple[list[Item], list[Item]]:
        """(train, holdout) items: the last ``holdout_fraction`` of the confirmed images (at least one
        when there are two or more) are held out for validation; one image is all training."""
        items = self.items(rest=rest)
        if len(items) < 2:
            return items, []
        k = max(1, round(holdout_fraction * len(items)))
        return items[:-k], items[-k:]

    def sequences(self) -> dict[str, list[Path]]:
        """Ordered frame sequences (a video, a folder of frames): ``{name: image paths in order}``."""
        names = {n for n in self._meta().get("images", [])}
        return {seq: [self.root / "images" / _check_name(n, self.root) for n in frames if n in names]
                for seq, frames in self._meta().get("sequences", {}).items()}

    def sequence_of(self, image: Path | str) -> tuple[str, list[Path]] | None:
        """(name, frames) of the sequence holding ``image``, or None when it is a lone image."""
        name = Path(image).name
        for seq, frames in self.sequences().items():
            if any(f.name == name for f in frames):
                return seq, frames
        return None

    def add_sequence(self, name: str, paths: list[str | os.PathLike]) -> list[Path]:
        """Add frames (in order) as images and record them as one sequence called ``name``
        (a name already used gets a numeric suffix); returns the frames' project paths."""
        added = self.add_images(paths)
        with self.lock():
            meta = self._meta()
            seqs = meta.setdefault("sequences", {})
            key, k = name, 1
            while key in seqs:
                key, k = f"{name}_{k}", k + 1
            seqs[key] = [p.name for p in added]
            _write_json(self.manifest, meta)
        return added

    def confirmed_ids(self, image: Path | str) -> np.ndarray | None:
        """The confirmed region ids of ``image``'s saved annotation (None: not annotated)."""
        if not self.label_path(image).is_file():
            return None
        ids = self.sidecar(image).get("confirmed")
        return _region_ids(self.load_labels(image)) if ids is None else np.asarray(ids, np.int64)

    def add_images(self, paths: list[str | os.PathLike]) -> list[Path]:
        """Copy images into the project (each checked readable first); return the new paths.

        A name already in the project gets a numeric suffix instead of overwriting; under the
        project lock, with each file created exclusively, so concurrent uploads never collide.
        """
        added = []
        for src in paths:
            src = Path(src)
            read_image(src)  # refuse unreadable files before copying anything
            with self.lock():
                meta = self._meta()
                taken = set(meta["images"])
                name, k = src.name, 1
                while name in taken or (self.root / "images" / name).exists():
                    name, k = f"{src.stem}_{k}{src.suffix}", k + 1
                dest = self.root / "images" / name
                incoming = self.root / "images" / f".{name}.incoming"
                with atomic_path(incoming) as tmp:
                    shutil.copyfile(src, tmp)
                try:
                    os.link(incoming, dest)  # exclusive: fails rather than replace an existing file
                finally:
                    incoming.unlink(missing_ok=True)
                meta["images"].append(name)
                _write_json(self.manifest, meta)
            added.append(dest)
        return added

    def save_labels(self, image: Path | str, labels: np.ndarray, *, proposal: np.ndarray | None | object = KEEP,
                    method: str = "manual", params: dict | None = None, edits: int = 0, by_hand: Sequence[int] = (),
                    image_confirmed: bool = False, expected_version: int | None = None) -> Path:
        """Commit ``image``'s annotation as one record: label map (0 = unlabelled), proposal,
        confirmed regions and version, in one atomic step after the version check.

        The record's ``confirmed`` lists the confirmed regions: every region when
        ``image_confirmed`` or when there is no proposal, else the regions that differ from the
        proposal plus ``by_hand`` (regions a person confirmed as they are). ``proposal`` is the
        over-segmentation the annotation started from (``KEEP``: the saved one; None: none).

        ``expected_version`` is the record ``version`` this edit started from; when the saved
        version is another (a second session saved meanwhile) nothing at all is written and
        :class:`EditConflict` is raised. The ``version`` goes up by one per save.
        """
        image = self.root / "images" / Path(image).name
        labels = np.asarray(labels)
        shape, _ = image_facts(image)
        if labels.shape != shape:
            raise ImageError(f"label map is {labels.shape[1]}x{labels.shape[0]} but {image.name} is "
                             f"{shape[1]}x{shape[0]}")
        with self.lock():
            _, current, saved_proposal = self._snapshot(image)
            version = int(current.get("version", 0))
            if expected_version is not None and expected_version != version:
                raise EditConflict(f"{image.name} was saved by another session (version {version}, this edit "
                                   f"started from {expected_version}); reload the image to see it")
            proposal = saved_proposal if proposal is KEEP else proposal
            return self._commit(image, labels, proposal, current, {
                "method": method, "params": params or {}, "edits": int(edits),
                "by_hand": sorted(int(i) for i in by_hand), "image_confirmed": bool(image_confirmed)})

    def _commit(self, image: Path | str, labels: np.ndarray | None, proposal: np.ndarray | None,
                current: dict, fields: dict) -> Path:
        """Under the lock: write the objects, then replace the record (the commit), then publish the
        label map at ``labels/<name>.png`` for other tools."""
        image = self.root / "images" / Path(image).name
        _, digest = image_facts(image)
        record = {key: current[key] for key in ("method", "params", "edits", "by_hand", "image_confirmed")
                  if key in current}
        record.update(fields)
        by_hand = np.asarray(record.get("by_hand", []), np.int64)
        payload = {"record": RECORD, "labels": None, "proposal": None, "confirmed": [], "regions": 0}
        if proposal is not None:
            proposal = np.asarray(proposal)
            if proposal.shape != image_facts(image)[0]:
                raise ImageError(f"proposal is {proposal.shape[1]}x{proposal.shape[0]} but {image.name} is not")
            payload["proposal"] = self._put_object(proposal)
        if labels is not None:
            ids = _region_ids(labels)
            confirmed = confirmed_regions(labels, proposal, by_hand=by_hand.tolist(),
                                          image_confirmed=bool(record.get("image_confirmed")))
            payload.update(labels=self._put_object(labels), confirmed=[int(i) for i in confirmed],
                           regions=int(len(ids)), unlabelled=round(float((labels == UNLABELLED).mean()), 6))
        payload["labels_sha256"] = payload["labels"]
        payload.update(record)
        payload.update({"version": int(current.get("version", 0)) + 1, "image": image.name, "image_sha256": digest,
                        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        path = self.label_path(image)
        _write_json(path.with_suffix(".json"), payload)  # the commit: one atomic rename
        if payload["labels"] is not None:
            self._publish(path, payload["labels"])
        return path

    def _publish(self, path: Path, digest: str) -> None:
        """Make ``labels/<name>.png`` the object ``digest`` (a hard link where the disk allows, else a
        copy), atomically; readers of the project use the record, other tools this file."""
        if path.is_file() and file_sha256(path) == digest:
            return
        source = self.object_path(digest)
        with atomic_path(path) as tmp:
            tmp.unlink(missing_ok=True)
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)

    def version(self, image: Path | str) -> int:
        """The saved annotation's version (0 when none)."""
        return int(self.sidecar(image).get("version", 0))

    def repair(self) -> list[str]:
        """Bring every annotation back to its last committed record; returns what was done.

        Removes temporary files and label-map objects that no record names (a save that crashed,
        or was refused, before its commit), re-publishes ``labels/<name>.png`` where a crash came
        between the commit and the publication, and migrates annotations of the earlier layout
        (PNG + sidecar + proposal file) into records.
        """
        # Under the lock: every write holds it, so a temporary file seen here is a crash's leftover
        # and never another process's upload or save in flight.
        with self.lock():
            return self._repair()

    def _repair(self) -> list[str]:
        repaired = []
        objects = self.root / "labels" / OBJECTS
        for folder in (self.root / "labels", objects, self.root / "images", self.root):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                repaired.append(f"removed {tmp.name}")
            for tmp in folder.glob(".*.incoming"):
                tmp.unlink(missing_ok=True)
        named = set()
        for image in self.images():
            path = self.label_path(image)
            side = self.sidecar(image)
            if side.get("record") != RECORD:
                if path.is_file():
                    repaired.append(self._migrate(image))
                    side = self.sidecar(image)
                else:
                    continue
            named.update(d for d in (side.get("labels"), side.get("proposal")) if d)
            if side.get("labels") and self.object_path(side["labels"]).is_file():
                if not path.is_file() or file_sha256(path) != side["labels"]:
                    self._publish(path, side["labels"])
                    repaired.append(f"re-published the label map of {image.name}")
        if objects.is_dir():
            for obj in objects.glob("*.png"):
                if obj.stem not in named:
                    obj.unlink(missing_ok=True)
        return repaired

    def _migrate(self, image: Path) -> str:
        """An annotation of the earlier layout as a record (a crash between its label map and its
        sidecar keeps the label map, and confirms only regions that still exist unchanged)."""
        path = self.label_path(image)
        side = self.sidecar(image)
        try:
            labels = read_label_map(path)
            _, _, proposal = self._snapshot(image)
        except (ImageError, OSError) as err:  # left for whoever uses it to name
            return f"cannot migrate {image.name}: {err}"
        if not side or side.get("labels_sha256") not in (None, sha256(path)):
            # The label map is newer than its sidecar: its confirmations are unknown, so only what
            # the proposal cannot explain counts as confirmed (untouched regions stay proposed).
            side = {**side, "by_hand": [], "image_confirmed": False, "recovered": True}
        fields = {k: side[k] for k in ("method", "params", "edits", "image_confirmed") if k in side}
        confirmed = side.get("confirmed")
        if proposal is None and confirmed is not None and len(confirmed) < len(_region_ids(labels)):
            # An earlier sidecar listed confirmations without a proposal file: keep exactly its list.
            proposal = np.where(np.isin(labels, np.asarray(confirmed, np.int64)), 0, labels).astype(np.int32)
        by_hand = set(side.get("by_hand", []))
        if confirmed is not None and proposal is not None:
            by_hand |= set(np.intersect1d(np.asarray(confirmed, np.int64), untouched_regions(labels, proposal)).tolist())
        fields["by_hand"] = sorted(int(i) for i in by_hand)
        if side.get("recovered"):
            fields["recovered"] = True
        self._commit(image, labels, proposal, side, fields)
        self.proposal_path(image).unlink(missing_ok=True)
        return f"migrated the annotation of {image.name} to a record"

    def import_labels(self, image: Path | str, source: str | os.PathLike, *, binary: bool = False) -> Path:
        """Import an existing mask or label map for ``image``.

        A label map's ids are shifted by one so that its region 0 stays a region (our 0 means
        unlabelled); ``binary=True`` reads any nonzero pixel as foreground (2) and the rest as
        background (1).
        """
        labels = read_label_map(source)
        labels = np.where(labels > 0, 2, 1) if binary else labels + 1
        if labels.max() > 65535:
            raise ImageError(f"{source}: too many regions to import (ids above 65534)")
        return self.save_labels(image, labels, method=f"import:{Path(source).name}", image_confirmed=True)


def create_project(root: str | os.PathLike) -> Project:
    """Create an empty project folder (or open it for editing, repaired, if it already is one)."""
    root = Path(root)
    if (root / "project.json").is_file():
        return open_project(root, repair=True)
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root}: folder exists and is not empty; choose a new folder for a project")
    for sub in ("images", "labels", "runs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write_json(root / "project.json", {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                        "images": []})
    return Project(root)


def open_project(root: str | os.PathLike, *, repair: bool = False) -> Project:
    """Open an existing project folder; ``ValueError`` if it is not one.

    Opening reads only. With ``repair=True`` (the Annotate tab, before editing) a version-1
    project is migrated (labels keyed by full file name) and label maps whose sidecar does not
    match are repaired (see :meth:`Project.repair`); a version-1 project opened without it is
    refused with a message saying so.
    """
    root = Path(root)
    try:
        meta = json.loads((root / "project.json").read_text())
    except FileNotFoundError:
        raise ValueError(f"{root}: not an annotation project (no project.json)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{root}/project.json is corrupt: {err}") from err
    if meta.get("format") not in (FORMAT, *OLD_FORMATS):
        raise ValueError(f"{root}: unknown project format {meta.get('format')!r}")
    for name in meta.get("images", []):
        _check_name(name, root)
    project = Project(root)
    if meta.get("format") != FORMAT:
        if not repair:
            raise ValueError(f"{root.name}: an older project format ({meta.get('format')}); open it in the app (or "
                             "open_project(root, repair=True)) once to migrate it")
        _migrate_stem_labels(project)
    if repair:
        project.repair()
    return project


def _migrate_stem_labels(project: Project) -> None:
    """Version 1 kept labels/<stem>.png; move each to labels/<name>.png. When two images share a
    stem, the sidecar's ``image`` names the one the labels belong to; nothing is deleted."""
    with project.lock():
        meta = project._meta()
        if meta.get("format") == FORMAT:
            return  # another process migrated it meanwhile
        names = meta.get("images", [])
        stems: dict[str, list[str]] = {}
        for name in names:
            stems.setdefault(Path(name).stem, []).append(name)
        labels = project.root / "labels"
        for stem, owners in stems.items():
            old = labels / f"{stem}.png"
            if not old.is_file():
                continue
            side = _read_sidecar(old.with_suffix(".json"))
            owner = side.get("image") if side.get("image") in owners else (owners[0] if len(owners) == 1 else None)
            if owner is None:
                continue  # ambiguous and unnamed: left where it is, for a person to sort out
            moves = [(old, project.label_path(owner)), (old.with_suffix(".json"), project.label_path(owner).with_suffix(".json")),
                     (labels / f"{stem}.proposal.png", project.proposal_path(owner))]
            for src, dst in moves:
                if src.is_file() and not dst.exists():
                    os.replace(src, dst)
        meta["format"] = FORMAT
        _write_json(project.manifest, meta)


def confine(root: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """``folder`` (relative: inside ``root``) as an absolute path, refused with ``ValueError`` when
    it lies outside ``root`` once symbolic links are followed."""
    base = Path(root).expanduser().resolve()
    text = os.fspath(folder).strip()
    if not text:
        raise ValueError("type a project folder")
    path = Path(text).expanduser()
    resolved = (path if path.is_absolute() else base / path).resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(f"{text}: projects must be inside the projects folder {base.name}/ (see --projects-dir)")
    return resolved


def is_project(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds a ``project.json``."""
    return (Path(root) / "project.json").is_file()


def _inside(project: Project, path: Path) -> bool:
    """Whether ``path`` is a plain file of the project: no link, nothing that resolves outside it."""
    return not path.is_symlink() and path.resolve().is_relative_to(project.root.resolve())


def export_zip(project: Project, dest: str | os.PathLike) -> Path:
    """Zip the annotated images, their label maps and sidecars, the manifest and a COCO file
    (``annotations.coco.json``, see :mod:`cas_studio.data.coco`), atomically.

    Files that are symbolic links, or resolve outside the project, are refused: a link placed in a
    project must not export another file's bytes.
    """
    from .coco import coco_dataset

    done = project.annotated()
    if not done:
        raise ValueError(f"{project.root.name}: nothing to export, no image is annotated yet")
    files = [(img, f"images/{img.name}") for img in done]
    for img in done:
        label = project.label_path(img)
        files.append((label, f"labels/{label.name}"))
        if label.with_suffix(".json").is_file():
            files.append((label.with_suffix(".json"), f"labels/{label.stem}.json"))
            side = project.sidecar(img)
            for digest in {side.get("labels"), side.get("proposal")} - {None}:  # the record's label maps
                obj = project.object_path(digest)
                if obj.is_file():
                    files.append((obj, f"labels/{OBJECTS}/{obj.name}"))
    files.append((project.manifest, "project.json"))  # checked like the rest; written from its parsed copy
    outside = [arc for path, arc in files if not _inside(project, path)]
    if outside:
        raise ValueError(f"{project.root.name}: not exported, these are links or lie outside the project: "
                         f"{', '.join(outside)}")
    meta = json.loads(project.manifest.read_text())
    meta["images"] = [p.name for p in done]
    with atomic_path(dest) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("project.json", json.dumps(meta, indent=2))
            z.writestr("annotations.coco.json", json.dumps(coco_dataset(project)))
            for path, arc in files:
                if arc != "project.json":
                    z.write(path, arc)
    return Path(dest)
