"""Annotations are never lost or crossed; hostile and accidental inputs are refused early."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from skimage import data

from cas_studio import annotation as ann
from cas_studio.data.project import EditConflict, create_project, open_project, sha256
from cas_studio.io import ImageError, read_image, read_label_map, write_image, write_label_map

from .helpers import in_threads


def test_same_stem_images_keep_their_own_labels(tmp_path):
    project = create_project(tmp_path / "p")
    a = write_image(tmp_path / "a.png", data.coffee()[::8, ::8])
    b = write_image(tmp_path / "a.jpg", data.chelsea()[::8, ::8])
    pa, pb = project.add_images([a, b])
    la = np.ones(read_image(pa).shape[:2], np.int32)
    lb = np.full(read_image(pb).shape[:2], 2, np.int32)
    project.save_labels(pa, la)
    project.save_labels(pb, lb)
    assert project.label_path(pa) != project.label_path(pb)
    assert (project.load_labels(pa) == 1).all() and (project.load_labels(pb) == 2).all()


def test_version_1_projects_are_migrated_without_losing_a_label(tmp_path):
    root = tmp_path / "old"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    write_image(root / "images" / "a.png", data.coffee()[::8, ::8])
    write_image(root / "images" / "a.jpg", data.chelsea()[::8, ::8])
    write_image(root / "images" / "b.png", data.rocket()[::8, ::8])
    shape_jpg = read_image(root / "images" / "a.jpg").shape[:2]
    write_label_map(root / "labels" / "a.png", np.full(shape_jpg, 3))  # the last save was a.jpg's
    (root / "labels" / "a.json").write_text(json.dumps({"image": "a.jpg", "method": "manual"}))
    shape_b = read_image(root / "images" / "b.png").shape[:2]
    write_label_map(root / "labels" / "b.png", np.full(shape_b, 5))  # unique stem, no sidecar
    (root / "project.json").write_text(json.dumps({"format": "cas-studio-project/1", "images": ["a.png", "a.jpg", "b.png"]}))
    with pytest.raises(ValueError, match="older project format"):
        open_project(root)  # reading never migrates
    assert json.loads((root / "project.json").read_text())["format"] == "cas-studio-project/1"
    project = open_project(root, repair=True)
    assert json.loads((root / "project.json").read_text())["format"] == "cas-studio-project/2"
    assert (project.load_labels("a.jpg") == 3).all() and project.load_labels("a.png") is None
    assert (project.load_labels("b.png") == 5).all()
    assert project.sidecar("a.jpg")["method"] == "manual" and project.sidecar("b.png")["recovered"] is True


def test_unsafe_names_in_project_json_are_refused(tmp_path):
    project = create_project(tmp_path / "p")
    meta = json.loads(project.manifest.read_text())
    for bad in ("../x.png", "/etc/passwd", "sub/a.png", ".."):
        project.manifest.write_text(json.dumps({**meta, "images": [bad]}))
        with pytest.raises(ValueError, match="unsafe image name"):
            open_project(project.root)


def test_concurrent_uploads_from_threads_lose_nothing(tmp_path):
    project = create_project(tmp_path / "p")
    src = write_image(tmp_path / "same.png", data.coffee()[::16, ::16])
    results = in_threads(lambda: project.add_images([src]), 12)
    assert not [r for r in results if isinstance(r, Exception)]
    names = [p.name for p in project.images()]
    assert len(names) == 12 == len(set(names)) == len(list((project.root / "images").glob("*.png")))


def _upload_many(root: str, src: str, n: int) -> None:
    from cas_studio.data.project import open_project

    project = open_project(root)
    for _ in range(n):
        project.add_images([src])


def test_concurrent_uploads_from_two_processes_lose_nothing(tmp_path):
    project = create_project(tmp_path / "p")
    src = write_image(tmp_path / "same.png", data.coffee()[::16, ::16])
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_upload_many, args=(str(project.root), str(src), 6)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    names = [p.name for p in project.images()]
    assert len(names) == 12 == len(set(names))


def test_opening_a_project_waits_for_writes_in_flight_and_keeps_their_files(tmp_path):
    import threading

    project = create_project(tmp_path / "p")
    in_flight = project.root / "images" / ".x.png.incoming.abc123.tmp"
    opened = threading.Event()
    with project.lock():  # another session is mid-upload: its temporary file exists
        in_flight.write_bytes(b"half an upload")
        opener = threading.Thread(target=lambda: (open_project(project.root, repair=True), opened.set()))
        opener.start()
        assert not opened.wait(1.0)  # open (and its repair) waits for the lock
        assert in_flight.read_bytes() == b"half an upload"
    opener.join(30)
    assert opened.is_set()
    assert not in_flight.exists()  # once no write holds the lock, a leftover is a crash's and goes


def test_two_sessions_editing_one_image_never_overwrite_silently(tmp_path):
    project = create_project(tmp_path / "p")
    (image,) = project.add_images([write_image(tmp_path / "c.png", data.coffee()[::8, ::8])])
    shape = read_image(image).shape[:2]
    project.save_labels(image, np.ones(shape, np.int32))
    version = project.version(image)
    # Session B saves first, based on the version both read.
    project.save_labels(image, np.full(shape, 2), expected_version=version)
    with pytest.raises(EditConflict, match="saved by another session"):
        project.save_labels(image, np.full(shape, 3), expected_version=version)  # session A, stale
    assert (project.load_labels(image) == 2).all() and project.version(image) == version + 1


_SAVER = """
import sys, numpy as np
from cas_studio.data.project import open_project
project = open_project(sys.argv[1])
image = project.images()[0]
shape = project.load_labels(image).shape
i = 0
while True:
    i += 1
    labels = (np.arange(shape[0] * shape[1]).reshape(shape) // (1 + i % 97)) % 60000 + 1
    project.save_labels(image, labels, method=f"save {i}")
    print(i, flush=True)
"""


def test_kill_9_during_saves_leaves_consistent_pairs(tmp_path):
    project = create_project(tmp_path / "p")
    (image,) = project.add_images([write_image(tmp_path / "c.png", data.coffee()[::2, ::2])])
    project.save_labels(image, np.ones(read_image(image).shape[:2], np.int32))
    rng = np.random.default_rng(0)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(project.root)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # at least one save done
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reopened = open_project(project.root, repair=True)  # repairs a half-written pair
        labels = reopened.load_labels(image)  # never a corrupt file
        meta = reopened.sidecar(image)
        assert meta["labels_sha256"] == sha256(reopened.label_path(image))
        assert meta["regions"] == len(np.unique(labels[labels > 0]))
        assert not list((project.root / "labels").glob(".*.tmp"))


def test_a_bomb_in_disguise_is_refused_before_decoding(tmp_path):
    """A 49 MP Radiance HDR (3 MB) named .png: refused by its leading bytes, memory untouched."""
    import cv2

    ok, buf = cv2.imencode(".hdr", np.full((7000, 7000, 3), 0.5, np.float32))
    bomb = tmp_path / "photo.png"
    bomb.write_bytes(buf.tobytes())
    probe = ("import resource, sys\nfrom cas_studio.io import read_image, ImageError\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "try:\n    read_image(sys.argv[1])\nexcept ImageError as err:\n    print('refused', err)\n"
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    out = subprocess.run([sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("refused") and "not a PNG, JPEG" in lines[0], out.stdout + out.stderr
    assert int(lines[-1]) < 50_000  # KiB of extra peak memory: nothing was decoded


def test_a_huge_png_header_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)  # 3.6 gigapixels, RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    (tmp_path / "big.png").write_bytes(png)
    with pytest.raises(ImageError, match="limit"):
        read_image(tmp_path / "big.png")


def test_palette_label_maps_are_read_as_their_indices(tmp_path):
    from PIL import Image

    index = np.zeros((6, 8), np.uint8)
    index[:, 4:] = 1
    index[0, 0] = 21
    im = Image.fromarray(index, mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0] + [200, 200, 200] * 254)
    im.save(tmp_path / "voc.png")
    labels = read_label_map(tmp_path / "voc.png")
    assert labels.dtype == np.int32 and labels[0, 0] == 21 and set(np.unique(labels)) == {0, 1, 21}


def test_undo_history_is_bounded_in_bytes():
    rng = np.random.default_rng(0)
    history = ann.History(np.zeros((512, 512), np.int32), max_bytes=2 << 20)
    for _ in range(30):  # incompressible states: about 0.5 MB each
        history.push(rng.integers(1, 60000, (512, 512)))
    assert history.nbytes <= 2 << 20 and history.can_undo
    smooth = ann.History(np.ones((2000, 2000), np.int32))  # a 4 MP label map of a few regions
    for k in range(30):
        smooth.push(np.full((2000, 2000), k + 2))
    assert smooth.nbytes < 2 << 20 and len(smooth._undo) == 30  # all 30 kept, in well under 2 MB
    before = smooth.current.copy()
    assert (smooth.undo() == 30).all() and (smooth.redo() == before).all()
    with pytest.raises(ValueError, match="above 65535"):
        smooth.push(np.full((2, 2), 70000))


def test_opening_a_project_to_read_writes_nothing(tmp_path):
    project = create_project(tmp_path / "p")
    (image,) = project.add_images([write_image(tmp_path / "c.png", data.coffee()[::8, ::8])])
    shape = read_image(image).shape[:2]
    project.save_labels(image, np.ones(shape, np.int32))
    sidecar = project.label_path(image).with_suffix(".json")
    # A crash between the commit and the publication: the record names the new label map, the
    # published PNG is still the previous one.
    project.save_labels(image, np.full(shape, 2, np.int32))
    write_label_map(project.label_path(image), np.ones(shape, np.int32))
    before = (sidecar.read_text(), project.label_path(image).read_bytes())
    reader = open_project(project.root)  # a reader (training, fine-tuning) leaves it as it is
    assert (reader.load_labels(image) == 2).all()  # and reads the committed record
    assert (sidecar.read_text(), project.label_path(image).read_bytes()) == before
    open_project(project.root, repair=True)  # the editor repairs it
    assert json.loads(sidecar.read_text())["labels_sha256"] == sha256(project.label_path(image))
    assert (read_label_map(project.label_path(image)) == 2).all()
