"""The headless annotation session: every transition of the Annotate tab, without a GUI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from cas_studio import annotation as ann
from cas_studio.annotation import oversegmentation, view
from cas_studio.data.project import create_project, open_project, sha256
from cas_studio.io import read_label_map, write_image
from cas_studio.annotation.session import AnnotationError, Session


class DiskSegmenter:
    """A stand-in click model: the object is the union of disks around the positive clicks, minus
    disks around the negative ones (or the previous mask, grown by the same rule)."""

    def __init__(self, radius: int = 12) -> None:
        self.radius, self.shape, self.calls = radius, None, []

    def set_image(self, image):
        self.shape = image.shape[:2]

    def predict(self, clicks, previous=None):
        self.calls.append((list(clicks), previous))
        yy, xx = np.mgrid[: self.shape[0], : self.shape[1]]
        mask = np.zeros(self.shape, bool) if previous is None else np.asarray(previous, bool).copy()
        for x, y, positive in clicks:
            disk = (xx - x) ** 2 + (yy - y) ** 2 <= self.radius ** 2
            mask = mask | disk if positive else mask & ~disk
        return mask


@pytest.fixture
def session(tmp_path):
    image = write_image(tmp_path / "cat.png", data.chelsea()[::2, ::2])
    s = Session(create_project(tmp_path / "proj"))
    assert s.add_images([str(image)]) == []
    s.segmenter = DiskSegmenter()
    s.segmenter.set_image(s.image)
    return s


def on_disk(s: Session) -> np.ndarray:
    return read_label_map(s.project.label_path(s.current()))


def test_refusals_name_the_problem(tmp_path):
    s = Session()
    with pytest.raises(AnnotationError, match="Open or create a project"):
        s.current()
    s = Session(create_project(tmp_path / "empty"))
    with pytest.raises(AnnotationError, match="no images yet"):
        s.go(1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    (message,) = s.add_images([str(bad)])
    assert message.startswith("bad.png: ") and str(tmp_path) not in message  # no server folder shown
    assert message.count("bad.png") == 1  # named once


def test_oversegment_merge_undo_are_saved(session):
    s = session
    with pytest.raises(AnnotationError, match="Over-segment the image"):
        s.labels()
    s.oversegment("felzenszwalb", granularity=0.5)
    assert (on_disk(s) == s.labels()).all() and len(s.proposed()) == len(np.unique(s.labels()))
    a, b = np.unique(s.labels())[:2]
    ya, xa = np.argwhere(s.labels() == a)[0]
    yb, xb = np.argwhere(s.labels() == b)[0]
    s.click_region("merge", xa, ya)
    s.click_region("merge", xb, yb)
    assert b not in s.labels() and (on_disk(s) == s.labels()).all()
    s.undo()
    assert b in s.labels() and b in on_disk(s)
    with pytest.raises(AnnotationError, match="unknown click tool .lasso."):
        s.click_region("lasso", 0, 0)


def test_clicked_object_becomes_one_confirmed_region_and_the_mode_stays(session):
    s = session
    with pytest.raises(AnnotationError, match="positive click"):
        s.click_object(40, 40, positive=False)
    mask = s.click_object(40, 40)
    assert mask[40, 40] and not mask[0, 0]
    mask = s.click_object(50, 40, positive=False)  # a negative click takes its disk away
    assert not mask[40, 50] and mask[40, 30]
    region = s.accept_object()
    labels = on_disk(s)
    assert (labels == region).sum() == mask.sum() and labels[40, 30] == region
    assert s.summary()["confirmed"] == 1 and s.pending.clicks == []
    # The next object starts at once, in the same mode, with a new id.
    s.click_object(100, 80)
    second = s.accept_object()
    assert second != region and on_disk(s)[80, 100] == second and on_disk(s)[40, 30] == region


def test_the_object_tool_clicks_an_image_nobody_annotated_yet(session):
    s = session  # no over-segmentation: the canvas's click-object clicks go through click_region
    assert s.history is None
    s.click_region("object", 40, 40)
    s.click_region("click object", 50, 40, negative=True)  # by label too, as the canvas sends it
    assert s.pending.clicks == [(40, 40, True), (50, 40, False)]
    region = s.accept_object()
    assert on_disk(s)[40, 30] == region


def test_a_click_inside_a_confirmed_region_refines_it(session):
    s = session
    s.click_object(60, 60)
    region = s.accept_object()
    s.click_object(60, 60)  # inside the region: it starts from the region's mask
    assert s.segmenter.calls[-1][1] is not None and s.pending.region == region
    s.click_object(66, 60, positive=False)
    assert s.accept_object() == region
    labels = on_disk(s)
    assert labels[60, 66] == ann.UNLABELLED and labels[60, 50] == region


def test_undo_click_replays_the_remaining_clicks(session):
    s = session
    s.click_object(40, 40)
    first = s.pending.mask.copy()
    s.click_object(90, 40)
    s.undo_click()
    assert s.pending.clicks == [(40, 40, True)] and (s.pending.mask == first).all()
    s.cancel_object()
    with pytest.raises(AnnotationError, match="No object to accept"):
        s.accept_object()


def test_click_outside_the_image_is_refused(session):
    h, w = session.image.shape[:2]
    with pytest.raises(AnnotationError, match=f"outside the {w}x{h} image"):
        session.click_object(w, 3)
    assert session.pending.clicks == []


def test_a_brush_of_the_wrong_size_is_refused(session):
    session.oversegment("felzenszwalb")
    with pytest.raises(AnnotationError, match="The stroke is 3x3"):
        session.brush("merge", np.ones((3, 3), bool))
    with pytest.raises(AnnotationError, match="unknown drag tool .smudge."):
        session.brush("smudge", np.ones(session.labels().shape, bool))


def test_a_new_object_never_takes_pixels_of_a_confirmed_region(session):
    s = session
    s.click_object(60, 60)
    first = s.accept_object()
    assert s.kept_out == 0
    before = on_disk(s) == first
    mask = s.click_object(75, 60)  # its disk overlaps the first object
    second = s.accept_object()
    labels = on_disk(s)
    assert ((labels == first) == before).all() and labels[60, 85] == second
    assert s.kept_out == int((mask & before).sum()) > 0  # what it could not take is counted, to be told


def test_grow_climbs_the_hierarchy_one_node_per_press_and_undo_goes_back(session):
    s = session
    s.oversegment("felzenszwalb", granularity=1.0)
    region = int(s.labels()[75, 110])
    s.click_region("merge", 110, 75)
    with_previews = []
    for _ in range(3):
        add = s.grow_preview()
        assert add.any() and not (add & (s.labels() == region)).any()
        before = (s.labels() == region).sum()
        s.grow()
        with_previews.append(int((s.labels() == region).sum()))
        assert with_previews[-1] == before + add.sum()  # exactly the preview joined
    assert with_previews == sorted(with_previews) and len(set(with_previews)) == 3
    assert (on_disk(s) == region).sum() == with_previews[-1]
    s.undo()
    assert (s.labels() == region).sum() == with_previews[-2]


def test_grow_needs_a_selection_and_a_hierarchy(session):
    s = session
    s.click_object(40, 40)
    s.accept_object()
    with pytest.raises(AnnotationError, match="Select a region"):
        s.grow()
    s.click_region("merge", 40, 40)
    with pytest.raises(AnnotationError, match="Over-segment the image first"):
        s.grow()


def test_lasso_takes_what_lies_inside_splitting_the_regions_it_cuts_and_never_a_confirmed_one(session):
    s = session
    s.oversegment("felzenszwalb", granularity=0.6)
    before = on_disk(s).copy()
    # A confirmed region first: a click-merge of two touching regions near the top-left.
    s.click_region("merge", 5, 5)
    s.click_region("merge", 5, 40)
    confirmed = on_disk(s)[5, 5]
    assert confirmed in s._confirmed_regions()
    outline = [(2, 2), (120, 20), (120, 100), (20, 100)]
    inside = cv2.fillPoly(np.zeros(before.shape, np.uint8), [np.array(outline, np.int32)], 1).astype(bool)
    cut = [r for r in np.unique(before[inside]) if (before[~inside] == r).any()]
    assert cut  # the outline crosses regions
    take = s.lasso_preview(outline)
    mine = on_disk(s) == confirmed
    assert (take == (inside & ~mine)).all()  # everything inside but the confirmed region
    region = s.lasso(outline)
    labels = on_disk(s)
    assert (labels[inside & ~mine] == region).all() and not (labels[~inside] == region).any()
    assert (labels[mine] == confirmed).all()  # a confirmed region is never taken
    # The regions the outline cut keep their outside parts, still proposed.
    for r in cut:
        if r in s.proposed() and (before == r).sum() > 0:
            assert (labels[(before == r) & ~inside & ~mine] == r).all()
    assert region in s._confirmed_regions()
    assert len(set(cut) & set(s.proposed())) > 0
    with pytest.raises(AnnotationError, match="at least 3 points"):
        s.lasso([(1, 1), (5, 5)])
    with pytest.raises(AnnotationError, match="leaves the"):
        s.lasso([(1, 1), (5, 5), (5000, 3)])
    with pytest.raises(AnnotationError, match="only confirmed regions"):
        s.lasso([(30, 30), (60, 30), (60, 60)])  # inside the lasso's own, now confirmed, region


def test_ids_past_16_bits_are_refused_before_anything_is_stored(session):
    s = session
    s.oversegment("felzenszwalb")
    saved = on_disk(s).copy()
    huge = np.arange(s.labels().size, dtype=np.int32).reshape(s.labels().shape) + 60_000
    with pytest.raises(AnnotationError, match="region ids above 65535 cannot be stored"):
        s._start(huge, "felzenszwalb", {})
    with pytest.raises(ValueError, match="cannot be stored"):
        ann.History(huge)
    assert (on_disk(s) == saved).all() and s.labels().max() <= ann.MAX_ID


def test_labels_and_version_are_read_as_one_snapshot(session, monkeypatch):
    """A save by another session between reading the record and its label map cannot be mixed in."""
    s = session
    s.oversegment("felzenszwalb", granularity=0.4)
    other = Session(s.project)
    original = type(s.project)._read_object
    calls = []

    def slow_read(project, digest, published=None):
        labels = original(project, digest, published)
        if not calls:  # another process saves right after this read, unless the lock keeps it out
            calls.append(1)
            import threading

            def save_in_between():
                other.history.push(ann.merge(other.labels(), np.unique(other.labels())[:2].tolist()))
                other.save()
            t = threading.Thread(target=save_in_between)
            t.start()
            t.join(timeout=0.5)
            calls.append(t)
        return labels

    monkeypatch.setattr(type(s.project), "_read_object", slow_read)
    s.load_image()
    calls[1].join()
    # Either the other save came after the snapshot (then this session's version is the old one and
    # its next save is refused), or before it: never old labels with the new version.
    expected = s.project.load_labels(s.current()) if s.version == s.project.version(s.current()) else None
    if expected is not None:
        assert (s.labels() == expected).all()
    else:
        with pytest.raises(AnnotationError, match="saved by another session"):
            s.confirm_image()


def test_confirm_with_background_joins_every_unconfirmed_region(session):
    s = session
    s.oversegment("felzenszwalb", granularity=0.8)
    s.click_object(60, 60)
    obj = s.accept_object()
    background = s.confirm_rest_as_background()
    labels = on_disk(s)
    assert set(np.unique(labels).tolist()) == {obj, background}
    side = s.project.sidecar(s.current())
    assert side["image_confirmed"] and set(side["confirmed"]) == {obj, background}
    with pytest.raises(AnnotationError, match="nothing is left"):
        s.confirm_rest_as_background()
    s.undo()
    assert len(np.unique(s.labels())) > 2


def test_fragments_an_object_cuts_from_proposed_regions_stay_proposed_and_undo_restores_them(session):
    s = session
    s.oversegment("felzenszwalb", granularity=0.7)
    proposed_before = set(s.proposed())
    s.click_object(60, 60)
    obj = s.accept_object()
    assert set(s.project.sidecar(s.current())["confirmed"]) == {obj}  # only the object is the person's
    assert len(s.proposed()) >= len(proposed_before) - 5
    s.undo()
    assert set(s.proposed()) == proposed_before
    assert s.project.sidecar(s.current())["confirmed"] == []


def test_a_stroke_merges_only_what_its_brush_covers(session):
    s = session
    s.oversegment("felzenszwalb")
    before = s.labels().copy()
    s.stroke("merge", [(20, 40), (120, 40)], radius=3)
    after = s.labels()
    band = np.zeros(before.shape, bool)
    band[37:44, 20:121] = True
    touched = np.unique(before[band])
    assert len(touched) >= 2 and len(np.unique(after[40, 20:121])) == 1
    # A region the brush never touched keeps its pixels.
    far = before[before.shape[0] - 5, before.shape[1] - 5]
    assert far not in touched and ((after == after[before.shape[0] - 5, before.shape[1] - 5]) == (before == far)).all()


def test_a_stroke_outside_the_image_or_with_a_bad_radius_changes_nothing(session):
    s = session
    s.oversegment("felzenszwalb")
    before, edits = s.labels().copy(), s.summary()["edits"]
    h, w = before.shape
    with pytest.raises(AnnotationError, match=f"outside the {w}x{h} image"):
        s.stroke("merge", [(w + 50, 10), (w + 90, 10)], radius=5)
    with pytest.raises(AnnotationError, match="brush radius"):
        s.stroke("merge", [(10, 10), (40, 10)], radius=0)
    with pytest.raises(AnnotationError, match="finite"):
        s.stroke("merge", [(float("nan"), 10)], radius=5)
    assert (s.labels() == before).all() and s.summary()["edits"] == edits


def test_moving_the_granularity_to_the_cut_it_has_is_not_an_edit(session):
    s = session
    s.oversegment("felzenszwalb", granularity=0.5)
    edits = s.summary()["edits"]
    s.set_granularity(0.5)
    assert s.summary()["edits"] == edits
    s.set_granularity(0.2)
    assert s.summary()["edits"] == edits + 1


@pytest.mark.parametrize("point", ["object", "record", "publish"])
def test_a_crash_at_every_write_point_of_a_save_reopens_the_last_acknowledged_record(session, monkeypatch, point):
    """Fault injection: a re-over-segmentation's save dies at each of its writes (the label-map
    objects, the record, the published PNG). Reopening shows exactly the last acknowledged record:
    its label map and its confirmed set, and the next edit keeps them confirmed."""
    from cas_studio.data import project as project_module

    s = session
    s.oversegment("felzenszwalb", granularity=0.6)
    a, b = np.unique(s.labels())[:2]
    s.click_region("merge", *np.argwhere(s.labels() == a)[0][::-1])
    s.click_region("merge", *np.argwhere(s.labels() == b)[0][::-1])
    path = s.current()
    acknowledged = (s.project.load_labels(path).copy(), s.project.sidecar(path)["confirmed"])
    assert acknowledged[1] == [int(a)]

    class Killed(BaseException):
        pass

    def die(*_args, **_kwargs):
        raise Killed(point)

    target = {"object": (type(s.project), "_put_object"), "record": (project_module, "_write_json"),
              "publish": (type(s.project), "_publish")}[point]
    monkeypatch.setattr(*target, die)
    with pytest.raises(Killed):
        s.oversegment("slic")
    monkeypatch.undo()
    reopened = open_project(s.project.root, repair=True)
    again = Session(reopened)
    if point == "publish":  # the record was committed: the new state is the acknowledged one
        assert again.version == s.version + 1 and again.method == "slic" and again.proposed()
    else:
        assert np.array_equal(again.labels(), acknowledged[0])
        assert reopened.sidecar(path)["confirmed"] == acknowledged[1]
        assert sorted(set(np.unique(again.labels()).tolist()) - set(again.proposed())) == [int(a)]
        c = again.proposed()[0]
        ys, xs = np.nonzero(again.labels() == c)
        again.click_region("confirm", int(xs[0]), int(ys[0]))
        assert sorted(reopened.sidecar(path)["confirmed"]) == sorted([int(a), int(c)])
    # the published PNG is the record's label map, and no object is left that no record names
    assert sha256(reopened.label_path(path)) == reopened.sidecar(path)["labels"]
    objects = {p.stem for p in (reopened.root / "labels" / "objects").glob("*.png")}
    assert objects == {d for d in (reopened.sidecar(path)["labels"], reopened.sidecar(path)["proposal"]) if d}


def test_a_large_photo_is_over_segmented_at_a_bounded_size_and_shown_downscaled(tmp_path, monkeypatch):
    import cv2

    monkeypatch.setattr(oversegmentation, "WORK_PIXELS", 60_000)  # a 12 MP photo's situation, at test size
    big = cv2.resize(data.astronaut(), (900, 600), interpolation=cv2.INTER_CUBIC)
    s = Session(create_project(tmp_path / "proj"))
    s.add_images([str(write_image(tmp_path / "big.png", big))])
    s.oversegment("felzenszwalb", granularity=1.0)
    labels = s.labels()
    assert labels.shape == (600, 900)  # edits and saves stay at full size
    # At full size the same settings give several times more superpixels.
    full = len(np.unique(ann.oversegment(big, "felzenszwalb", **ann.DEFAULTS["felzenszwalb"])))
    assert len(np.unique(labels)) < full / 3
    # Shown at most 54,000 px; a click on the shown picture lands on the same region at full size.
    picture = view.picture(s, 54_000)
    k = view.display_scale(s, 54_000)
    assert picture.shape[0] * picture.shape[1] <= 54_000 * 1.01 and k == pytest.approx((540_000 / 54_000) ** 0.5)
    x, y = 450, 300
    s.click_region("merge", x, y)
    assert s.selected == [labels[y, x]]
    # The label map the lasso preview reads is the shown picture's size, each pixel its region.
    shown = view.shown_labels(s, 54_000)
    assert shown.shape == picture.shape[:2]
    hs, ws = shown.shape
    centres = labels[((np.arange(hs) + 0.5) * 600 / hs).astype(int)][:, ((np.arange(ws) + 0.5) * 900 / ws).astype(int)]
    assert (shown == centres).mean() > 0.99  # each shown pixel is the region under its centre
    assert set(np.unique(shown)) <= set(np.unique(labels))
    assert view.shown_labels(s) is s.labels()  # full size: the map itself


def test_the_canvas_previews_what_grow_would_add(session):
    s = session
    s.oversegment("felzenszwalb", granularity=1.0)
    labels = s.labels()
    region = int(np.unique(labels)[len(np.unique(labels)) // 2])
    ys, xs = np.nonzero(labels == region)
    s.click_region("merge", int(xs[0]), int(ys[0]))
    add = s.grow_preview()
    plain = ann.overlay(s.image, labels, highlight=s.selected, muted=s.proposed())
    shown = view.picture(s)
    inside = add & ~ann.boundaries(labels)
    assert inside.any() and (shown[inside] != plain[inside]).any(axis=1).all()  # tinted
    assert (shown[~add] == plain[~add]).all()  # nothing else changes
    s.grow()
    assert (s.labels()[add] == region).all()  # and grow takes exactly what was shown


def test_teach_clicks_learns_from_accepted_objects_and_the_project_keeps_its_click_model(session, tmp_path):
    import torch

    from cas_studio.interactive.adapt import PROJECT_WEIGHTS, accepted_objects
    from cas_studio.models.weights import load_model

    s = session
    with pytest.raises(AnnotationError, match="no accepted object to learn from"):
        s.teach_clicks(seconds=1)
    assert not (s.project.root / PROJECT_WEIGHTS).exists()
    s.click_object(60, 60)
    region = s.accept_object()
    objects = accepted_objects(s.project)
    assert len(objects) == 1 and (objects[0][1] == (on_disk(s) == region)).all()
    assert objects[0][0].shape == s.image.shape
    steps = []
    summary = s.teach_clicks(seconds=2, progress=lambda done, total: steps.append(done))
    assert steps and "learned from 1 accepted object in" in summary
    saved = s.project.root / PROJECT_WEIGHTS
    assert saved.is_file()
    assert s.segmenter.model.info.task == "clicks"  # the session now clicks with the taught model
    # A new session on the project (another tab, after a restart) clicks with the project's own model.
    again = Session(s.project)
    again.load_image()
    seg = again._segmenter()
    shipped = load_model("clicks", "cpu")
    taught = seg.model.state_dict()
    assert any(not torch.equal(v.float(), taught[k].float()) for k, v in shipped.state_dict().items()
               if v.dtype.is_floating_point)
    mask = again.click_object(60, 60)
    assert mask.shape == s.image.shape[:2]
