"""Video frames and propagation: one annotated frame labels the whole sequence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cas_studio.io import read_label_map, write_image
from cas_studio.video import Frames, PropagateOptions, PropagationError, Propagator, propagate
from cas_studio.video.command import main as propagate_main

# The shipped saliency model by path: a browser test's stand-in weights never take its place.
SALIENCY = str(Path(__file__).resolve().parents[1] / "weights" / "saliency.safetensors")
FAST = PropagateOptions(model=SALIENCY, steps=40, seconds=120, size=96, lr=1e-3)


def _scene(n: int = 5, h: int = 72, w: int = 96, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of three coloured, moving shapes on a noisy background, and their label maps with
    deliberately odd ids (0 background, 7, 42, 300)."""
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for t in range(n):
        img = (rng.normal(110, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
        lab = np.zeros((h, w), np.int32)
        x = 8 + 3 * t
        img[10:34, x:x + 24] = (220, 40, 40); lab[10:34, x:x + 24] = 7
        cv2.circle(img, (70 - 2 * t, 48), 14, (40, 200, 60), -1)
        cv2.circle(lab, (70 - 2 * t, 48), 14, 42, -1)
        img[50:66, 10 + t:40 + t] = (30, 60, 230); lab[50:66, 10 + t:40 + t] = 300
        frames.append(img)
        labels.append(lab)
    return frames, labels


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.slow
def test_multi_region_ids_are_kept_on_every_frame():
    frames, truth = _scene()
    out = dict(propagate(frames, {0: truth[0]}, options=FAST))
    assert sorted(out) == list(range(len(frames)))
    assert np.array_equal(out[0], truth[0])  # the annotated frame comes out as it went in
    for i in range(1, len(frames)):
        assert set(np.unique(out[i])) == {0, 7, 42, 300}
        for rid in (7, 42, 300):
            assert _iou(out[i] == rid, truth[i] == rid) > 0.6, (i, rid)


@pytest.mark.slow
def test_binary_mask_values_come_back_and_ignore_is_not_a_region():
    frames, truth = _scene(n=3)
    mask = np.where(truth[0] == 42, 255, 0)
    part = mask.copy()
    part[:, :20] = 9  # unannotated strip
    out = dict(propagate(frames, {0: part}, options=FAST, ignore=9))
    assert np.array_equal(out[0], part)
    for i in (1, 2):
        assert set(np.unique(out[i])) <= {0, 255}
        assert _iou(out[i] == 255, truth[i] == 42) > 0.6


def test_errors_name_the_problem():
    frames, truth = _scene(n=2, h=40, w=48)
    with pytest.raises(PropagationError, match="no annotated frame"):
        list(propagate(frames, {}, options=FAST))
    with pytest.raises(PropagationError, match="at least two regions"):
        list(propagate(frames, {0: np.zeros((40, 48), np.uint8)}, options=FAST))  # an empty mask
    with pytest.raises(PropagationError, match="at least two regions"):
        list(propagate(frames, {0: np.full((40, 48), 5)}, options=FAST))
    with pytest.raises(PropagationError, match="40x20 but the frame is 48x40"):
        list(propagate(frames, {0: np.zeros((20, 40), np.int32) + np.eye(20, 40, dtype=np.int32)}, options=FAST))
    with pytest.raises(PropagationError, match="integer region ids, got float32"):
        list(propagate(frames, {0: truth[0].astype(np.float32)}, options=FAST))
    with pytest.raises(PropagationError, match=r"frame\(s\) \[5\] but there are 2 frames"):
        list(propagate(frames, {5: truth[0]}, options=FAST))
    other = [frames[0], cv2.resize(frames[1], (64, 40))]
    with pytest.raises(PropagationError, match="must share one size"):
        list(propagate(other, {0: truth[0]}, options=FAST))


def test_stop_request_ends_before_any_frame_and_progress_reports():
    frames, truth = _scene(n=2, h=40, w=48)
    events = []
    out = list(propagate(frames, {0: truth[0]}, options=FAST, progress=events.append,
                         should_stop=lambda: len(events) >= 2))
    assert out == []
    assert [e.stage for e in events] == ["fine-tune", "fine-tune"]
    assert events[-1].done == 2 and events[-1].total == FAST.steps and events[-1].eta_s is not None


def test_time_budget_bounds_the_fine_tune():
    frames, truth = _scene(n=1, h=40, w=48)
    prop = Propagator.fit({0: (frames[0], truth[0])},
                          options=PropagateOptions(model=SALIENCY, steps=10_000, seconds=0.5, size=48))
    assert 1 <= prop.steps < 10_000


def test_frames_folder_natural_order_and_duplicate_names(tmp_path):
    for name in ("f10.png", "f9.png", "f1.png"):
        write_image(tmp_path / name, np.zeros((40, 40, 3), np.uint8))
    assert Frames.open(tmp_path).names == ["f1", "f9", "f10"]
    write_image(tmp_path / "f9.jpg", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="share a name"):
        Frames.open(tmp_path)
    with pytest.raises(ValueError, match="not a folder of frames or a video"):
        Frames.open(tmp_path / "f1.png")


def _write_video(path, frames) -> None:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(np.ascontiguousarray(f[..., ::-1]))
    vw.release()


def test_video_frames_read_lazily_by_index(tmp_path):
    frames, _ = _scene(n=4)
    _write_video(tmp_path / "clip.avi", frames)
    video = Frames.open(tmp_path / "clip.avi")
    assert len(video) == 4 and video.names[:2] == ["00000", "00001"]
    assert video.index_of("2") == 2 and video.index_of("00003") == 3 and video.index_of("x") is None
    decoded = list(video)
    assert len(decoded) == 4 and decoded[0].shape == frames[0].shape
    assert np.abs(video[2].astype(int) - decoded[2].astype(int)).max() == 0
    assert np.abs(decoded[2].astype(int) - frames[2].astype(int)).mean() < 12  # lossy codec, same picture
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot open this video|no frames"):
        Frames.open(tmp_path / "bad.mp4")


@pytest.mark.slow
def test_cli_folder_and_video_write_one_png_per_frame_with_the_annotation_values(tmp_path, capsys):
    frames, truth = _scene(n=3)
    (tmp_path / "frames").mkdir(); (tmp_path / "masks").mkdir()
    for i, f in enumerate(frames):
        write_image(tmp_path / "frames" / f"shot_{i:03d}.jpg", f)
    write_image(tmp_path / "masks" / "shot_000.png", np.where(truth[0] == 42, 255, 0).astype(np.uint8))
    args = ["--out", str(tmp_path / "out"), "--steps", "30", "--size", "96", "--seconds", "120", "--model", SALIENCY]
    assert propagate_main([str(tmp_path / "frames"), "--masks", str(tmp_path / "masks"), *args]) == 0
    assert "wrote 3 label maps" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["shot_000.png", "shot_001.png", "shot_002.png"]
    for i in (1, 2):
        got = cv2.imread(str(tmp_path / "out" / f"shot_{i:03d}.png"), cv2.IMREAD_UNCHANGED)
        assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 255}
        assert _iou(got == 255, truth[i] == 42) > 0.6

    _write_video(tmp_path / "clip.avi", frames)
    (tmp_path / "ids").mkdir()
    from cas_studio.io import write_label_map
    write_label_map(tmp_path / "ids" / "0.png", truth[0])
    assert propagate_main([str(tmp_path / "clip.avi"), "--masks", str(tmp_path / "ids"),
                           "--out", str(tmp_path / "vout"), "--steps", "30", "--size", "96", "--model", SALIENCY]) == 0
    assert sorted(p.name for p in (tmp_path / "vout").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert np.array_equal(read_label_map(tmp_path / "vout" / "00000.png"), truth[0])  # 16-bit ids kept
    assert set(np.unique(read_label_map(tmp_path / "vout" / "00002.png"))) <= {0, 7, 42, 300}


def test_cli_refuses_bad_annotations_clearly(tmp_path, capsys):
    frames, truth = _scene(n=2, h=40, w=48)
    (tmp_path / "frames").mkdir(); (tmp_path / "masks").mkdir()
    for i, f in enumerate(frames):
        write_image(tmp_path / "frames" / f"a{i}.png", f)
    assert propagate_main([str(tmp_path / "frames"), "--masks", str(tmp_path / "masks"), "--out", str(tmp_path / "o")]) == 2
    assert "no annotated frame" in capsys.readouterr().err
    write_image(tmp_path / "masks" / "zzz.png", np.zeros((40, 48), np.uint8))
    assert propagate_main([str(tmp_path / "frames"), "--masks", str(tmp_path / "masks"), "--out", str(tmp_path / "o")]) == 2
    assert "zzz.png: matches no frame" in capsys.readouterr().err
    (tmp_path / "masks" / "zzz.png").rename(tmp_path / "masks" / "a0.png")
    assert propagate_main([str(tmp_path / "frames"), "--masks", str(tmp_path / "masks"), "--out", str(tmp_path / "o")]) == 2
    assert "at least two regions" in capsys.readouterr().err


@pytest.mark.slow
def test_session_video_annotate_one_frame_propagate_and_nothing_confirmed_is_overwritten(tmp_path):
    from cas_studio.annotation.session import AnnotationError, Session
    from cas_studio.data.project import create_project

    frames, truth = _scene(n=4)
    _write_video(tmp_path / "clip.avi", frames)
    s = Session(create_project(tmp_path / "p"))
    write_image(tmp_path / "lone.png", frames[0])
    s.add_images([tmp_path / "lone.png"])
    with pytest.raises(AnnotationError, match="works on a video"):
        s.propagate(options=FAST)
    assert s.add_video(tmp_path / "clip.avi") == 4
    assert s.sequence() == ("clip.avi", 1, 4)
    with pytest.raises(AnnotationError, match="no frame has a confirmed region"):
        s.propagate(options=FAST)
    write_image(tmp_path / "mask.png", np.where(truth[0] == 42, 255, 0).astype(np.uint8))
    s.import_mask(tmp_path / "mask.png", binary=True)  # frame 1: confirmed as a whole
    project = s.project
    first = project.images()[1]
    before = (project.version(first), project.load_labels(first).copy())
    assert "learned from 1 confirmed frame, filled 3" in s.propagate(options=FAST)
    assert (project.version(first), ) == before[:1] and np.array_equal(project.load_labels(first), before[1])
    frames_in_project = project.sequences()["clip.avi"]
    for k in (1, 2, 3):
        labels = project.load_labels(frames_in_project[k])
        assert set(np.unique(labels)) == {1, 2}  # background 1, object 2: the import's ids
        assert project.confirmed_ids(frames_in_project[k]).size == 0  # proposed, not confirmed
        assert _iou(labels == 2, truth[k] == 42) > 0.5
    s.go_to_frame(4)  # a click-to-object click on a propagated object refines that region
    ys, xs = np.nonzero(s.labels() == 2)
    s.click_object(int(np.median(xs)), int(np.median(ys)))
    assert s.pending.region == 2
    assert s.accept_object() == 2 and 2 in project.confirmed_ids(frames_in_project[3])
    s.go_to_frame(3)
    assert s.sequence() == ("clip.avi", 3, 4) and s.summary()["proposed"] == 2
    s.confirm_image()
    third = (project.version(frames_in_project[2]), project.load_labels(frames_in_project[2]).copy())
    assert "learned from 3 confirmed frames, filled 1" in s.propagate(options=FAST)
    assert project.version(frames_in_project[2]) == third[0]
    assert np.array_equal(project.load_labels(frames_in_project[2]), third[1])


def test_coco_export_names_each_frame_of_a_video(tmp_path):
    from cas_studio.data.coco import coco_dataset
    from cas_studio.data.project import create_project
    from cas_studio.video.in_project import add_video

    frames, truth = _scene(n=3, h=40, w=48)
    _write_video(tmp_path / "clip.avi", frames)
    project = create_project(tmp_path / "p")
    added = add_video(project, tmp_path / "clip.avi", every=2)
    assert [p.name for p in added] == ["clip_00000.png", "clip_00002.png"]
    project.save_labels(added[1], np.where(truth[2] > 0, 2, 1))
    coco = coco_dataset(project)
    assert coco["videos"] == [{"id": 1, "name": "clip.avi"}]
    assert [(im["file_name"], im["video_id"], im["frame_id"]) for im in coco["images"]] == [("images/clip_00002.png", 1, 1)]


def test_zoom_augmentation_keeps_the_object_in_view_and_aligned():
    from cas_studio.video.propagation import _augment

    h, w = 96, 128
    target = np.zeros((h, w), np.int64)
    target[8:20, 100:116] = 255  # a small object near a corner
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 2] = 200
    image[target == 255] = (200, 0, 0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        im, t = _augment(image, target, rng, zoom=(3.0, 3.0))
        obj = t == 255
        # Zoomed in 3x on the object: it stays in view, and larger than it was.
        assert obj.sum() > 2 * (target == 255).sum()
        inner = cv2.erode(obj.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert (im[inner][:, 0].astype(int) > im[inner][:, 2].astype(int)).all()  # red under the object's label
    _, t = _augment(image, target, rng, zoom=(1.0, 1.0))
    assert abs((t == 255).sum() - (target == 255).sum()) < 0.3 * (target == 255).sum()
