"""Confirmed means confirmed: what fine-tuning trains on is committed as one record, restored whole
by undo, never written by a reader, and never left behind by a refused save."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from cas_studio import annotation as ann
from cas_studio.annotation.session import Session, SaveConflict
from cas_studio.data.project import create_project, open_project
from cas_studio.io import write_image


@pytest.fixture
def session(tmp_path):
    s = Session(create_project(tmp_path / "proj"))
    s.add_images([str(write_image(tmp_path / "coffee.png", data.coffee()[::4, ::4]))])
    s.oversegment("felzenszwalb", granularity=0.5)
    return s


def confirmed(s: Session) -> list[int]:
    return sorted(s.project.sidecar(s.current())["confirmed"])


def click(s: Session, region: int, mode: str) -> None:
    ys, xs = np.nonzero(s.labels() == region)
    s.click_region(mode, int(xs[0]), int(ys[0]))


def files(root) -> dict:
    return {p.relative_to(root): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def test_undo_of_the_rest_is_background_takes_the_image_confirmation_back(session):
    s = session
    assert confirmed(s) == []
    s.confirm_rest_as_background()
    assert s.image_confirmed and len(confirmed(s)) == 1
    s.undo()
    assert not s.image_confirmed and confirmed(s) == [] and len(s.proposed()) > 10


def test_undo_of_an_over_segmentation_brings_hand_confirmations_back(session):
    s = session
    three = s.proposed()[:3]
    for r in three:
        click(s, r, "confirm")
    assert confirmed(s) == sorted(three)
    s.oversegment("slic")
    s.undo()
    assert confirmed(s) == sorted(three) and s.by_hand == set(three)


def test_undo_of_an_over_segmentation_brings_the_whole_image_confirmation_back(session):
    s = session
    s.confirm_image()
    n = len(np.unique(s.labels()))
    assert len(confirmed(s)) == n
    s.oversegment("slic")
    assert not s.image_confirmed
    s.undo()
    assert s.image_confirmed and len(confirmed(s)) == n
    s.redo()
    assert not s.image_confirmed and confirmed(s) == []


def test_undo_after_grow_leaves_the_region_unconfirmed(session):
    s = session
    region = s.proposed()[0]
    click(s, region, "merge")
    s.grow()
    assert region in confirmed(s)
    s.undo()
    assert region not in confirmed(s) and region in s.proposed()
    click(s, region, "confirm")  # the next confirm click confirms it (it was not silently so)
    assert region in confirmed(s)


def test_confirmed_regions_survive_a_granularity_move_and_a_new_over_segmentation(session):
    s = session
    region = s.proposed()[0]
    click(s, region, "confirm")
    mask = s.labels() == region
    s.set_granularity(0.2)
    assert region in confirmed(s) and np.array_equal(s.labels() == region, mask)
    s.oversegment("slic")
    assert region in confirmed(s) and np.array_equal(s.labels() == region, mask)
    assert len(confirmed(s)) == 1  # the new regions are all proposed


def test_a_refused_save_writes_nothing(session):
    s = session
    other = Session(s.project)
    click(other, other.proposed()[0], "confirm region")  # the other session saves first
    before = files(s.project.root / "labels")
    a, b = s.proposed()[:2]
    click(s, a, "merge")
    with pytest.raises(SaveConflict):
        click(s, b, "merge")
    assert files(s.project.root / "labels") == before  # no proposal, no object, no record
    with pytest.raises(SaveConflict):
        s.oversegment("slic")
    assert files(s.project.root / "labels") == before


def test_a_reader_never_writes(session):
    s = session
    click(s, s.proposed()[0], "confirm region")
    before = files(s.project.root)
    for _ in range(3):
        Session(open_project(s.project.root)).load_image()
        s.project.load_annotation(s.current())
    assert files(s.project.root) == before


def test_a_whole_image_needs_every_pixel_labelled(tmp_path):
    s = Session(create_project(tmp_path / "p"))
    s.add_images([str(write_image(tmp_path / "c.png", data.coffee()[::4, ::4]))])
    s.history = ann.History(np.zeros(s.image.shape[:2], np.int32))
    labels = np.zeros(s.image.shape[:2], np.int32)
    labels[10:40, 10:40] = 1  # one accepted object, the rest unlabelled
    s.history.push(labels)
    s.save()
    assert confirmed(s) == [1]
    assert s.project.progress() == "0 of 1 images confirmed"


def test_the_edit_count_goes_down_on_undo_and_up_on_redo(session):
    s = session
    n = s.history.edits
    a, b = s.proposed()[:2]
    click(s, a, "merge")
    click(s, b, "merge")
    assert s.history.edits == n + 1
    s.undo()
    assert s.history.edits == n and s.project.sidecar(s.current())["edits"] == n
    s.redo()
    assert s.history.edits == n + 1


def test_an_exported_project_opens_with_its_labels_and_confirmations(session, tmp_path):
    import zipfile

    from cas_studio.data.project import export_zip

    s = session
    click(s, s.proposed()[0], "confirm region")
    labels, confirmed_before = s.labels().copy(), confirmed(s)
    with zipfile.ZipFile(export_zip(s.project, tmp_path / "out.zip")) as z:
        z.extractall(tmp_path / "unzipped")
    reopened = open_project(tmp_path / "unzipped", repair=True)
    image = reopened.images()[0]
    assert np.array_equal(reopened.load_labels(image), labels)
    assert sorted(reopened.sidecar(image)["confirmed"]) == confirmed_before
    again = Session(reopened)  # the proposal came along: what was proposed still is
    assert np.array_equal(again.labels(), labels) and sorted(set(np.unique(labels)) - set(again.proposed())) == confirmed_before


def test_a_new_proposal_never_overwrites_a_save_made_since_it_read_the_record(tmp_path, monkeypatch):
    from cas_studio.data.project import EditConflict, Project

    image = write_image(tmp_path / "cat.png", data.chelsea()[::4, ::4])
    project = create_project(tmp_path / "p")
    (path,) = project.add_images([image])
    shape = data.chelsea()[::4, ::4].shape[:2]
    project.save_labels(path, np.ones(shape, np.int32))
    other = open_project(project.root)  # a second session's view of the same project
    save = Project.save_labels

    def someone_saves_first(self, img, labels, **kw):
        if self is project:  # save_proposal has read the record and let go of the lock: the other saves
            save(other, path, np.full(shape, 2, np.int32))
        return save(self, img, labels, **kw)

    monkeypatch.setattr(Project, "save_labels", someone_saves_first)
    with pytest.raises(EditConflict):
        project.save_proposal(path, np.ones(shape, np.int32))
    monkeypatch.undo()
    assert (open_project(project.root).load_labels(path) == 2).all()  # the other session's edit stands
