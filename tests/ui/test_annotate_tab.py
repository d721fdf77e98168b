"""The Annotate tab's handlers, called directly: predictable selection, confirmation, granularity,
and a clear message when another session saved first."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
from skimage import data

from cas_studio.app import annotate_tab as tab
from cas_studio.annotation import view
from cas_studio.app.context import AppContext
from cas_studio.io import write_image


@pytest.fixture
def ctx(tmp_path):
    return AppContext(tmp_path)


@pytest.fixture
def session(ctx, tmp_path):
    s, *_ = tab.open_or_create(ctx, "proj", tab._new_session(ctx))
    s, *_ = tab.add_images(ctx, [str(write_image(tmp_path / "cat.png", data.chelsea()[::4, ::4]))], s)
    defaults = [tab.ann.DEFAULTS[m][n] for m, n in tab.SLIDERS]
    s, *_ = tab.run_oversegment(ctx, "felzenszwalb", None, False, 0.5, s, *defaults)
    return s


def click_at(s, region: int, mode: str = tab.click_modes()[0]):
    ctx = AppContext(s.project.root.parent)
    """A click on the canvas, as the browser's canvas script sends it."""
    ys, xs = np.nonzero(s.history.current == region)
    action = {"kind": "click", "x": int(xs[0]), "y": int(ys[0]), "mode": mode, "negative": False}
    return tab.canvas_actions(ctx, json.dumps([action]), 2, s)


def test_selection_is_predictable(session):
    s = session
    a, b, c = np.unique(s.history.current)[:3]
    s, *_ = click_at(s, a)
    assert s.selected == [a]
    s, *_ = click_at(s, a)  # clicking the selected region again keeps it selected
    assert s.selected == [a]
    s, *_ = click_at(s, b)
    s, *_ = click_at(s, c)  # later clicks keep merging into the selected region
    assert s.selected == [a] and not np.isin([b, c], s.history.current).any()
    s, *_ = tab.deselect(AppContext(s.project.root.parent), s)
    assert s.selected == []


def test_merged_regions_are_confirmed_and_survive_a_new_granularity(session):
    s = session
    a, b = np.unique(s.history.current)[:2]
    assert a in s.proposed() and b in s.proposed()
    s, *_ = click_at(s, a)
    s, *_ = click_at(s, b)
    assert a not in s.proposed()
    merged = s.history.current == a
    s, *_ = tab.set_granularity(AppContext(s.project.root.parent), 0.2, s)
    assert (s.history.current[merged] == s.history.current[merged][0]).all()
    assert (s.history.current == s.history.current[merged][0]).sum() == merged.sum()
    c = s.proposed()[0]
    s, *_ = click_at(s, c, "confirm region")
    assert c not in s.proposed() and c in s.project.sidecar(s.current())["confirmed"]


def test_an_edit_after_another_session_saved_is_refused_with_a_message(session):
    s = session
    other = tab._new_session(AppContext(s.project.root.parent), s.project)
    ids = np.unique(other.history.current)
    other.history.push(tab.ann.merge(other.history.current, ids[:2].tolist()))
    other.save()  # the other session saves first
    ys, xs = np.nonzero(s.history.current == ids[2])
    with pytest.raises(gr.Error, match="saved by another session"):
        click_at(s, ids[2], "erase region")
    assert (s.project.load_labels(s.current()) == other.history.current).all()


def test_clicks_and_strokes_on_a_downscaled_canvas_land_at_full_size(ctx, session, monkeypatch):
    s = session
    h, w = s.image.shape[:2]
    monkeypatch.setattr(tab, "DISPLAY_PIXELS", h * w // 4)  # the canvas shows half the width and height
    picture, _ = tab._view(ctx, s)
    assert abs(picture.shape[0] - h / 2) <= 1 and abs(picture.shape[1] - w / 2) <= 1
    target = int(np.unique(s.history.current)[5])
    ys, xs = np.nonzero(s.history.current == target)
    shown = {"kind": "click", "x": int(xs[0]) // 2, "y": int(ys[0]) // 2, "mode": tab.click_modes()[0], "negative": False}
    s, *_ = tab.canvas_actions(ctx, json.dumps([shown]), 2, s)
    picked = s.selected[0]
    # The shown pixel covers a 2x2 block of the image: the click lands inside it.
    x0, y0 = 2 * shown["x"], 2 * shown["y"]
    assert picked in np.unique(s.history.current[y0:y0 + 2, x0:x0 + 2])
    stroke = {"kind": "stroke", "action": "merge", "radius": 2, "points": [[5, h // 4], [w // 2 - 5, h // 4]]}
    s, *_ = tab.canvas_actions(ctx, json.dumps([stroke]), 2, s)
    row = s.history.current[h // 2, 12:w - 12]  # the stroke across the shown picture spans the image
    assert len(np.unique(row)) == 1


def test_the_lasso_preview_gets_the_shown_label_map_with_confirmed_pixels_marked_or_nothing(ctx, session):
    import base64

    import cv2

    def decoded(answer: str) -> tuple[np.ndarray, np.ndarray]:
        bgr = cv2.imdecode(np.frombuffer(base64.b64decode(answer.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        return bgr[..., 2].astype(np.int32) + 256 * bgr[..., 1].astype(np.int32), bgr[..., 0] == 255

    gen, url = tab.canvas_labels(7, session).split("|", 1)
    assert gen == "7" and url.startswith("data:image/png;base64,")
    ids, locked = decoded(url)
    shown = view.shown_labels(session, tab.DISPLAY_PIXELS)
    assert (ids == shown).all() and not locked.any()  # all proposed: a lasso may take any pixel
    labels = session.labels()
    ys, xs = np.nonzero(labels[:, :-1] != labels[:, 1:])  # two touching regions, merged by two clicks
    session.click_region("merge", int(xs[0]), int(ys[0]))
    session.click_region("merge", int(xs[0]) + 1, int(ys[0]))
    ids, locked = decoded(tab.canvas_labels(8, session).split("|", 1)[1])
    confirmed = np.isin(ids, session._confirmed_regions())
    assert confirmed.any() and (locked == confirmed).all()  # the confirmed region is marked, nothing else
    # No labels yet, or no project: an empty answer, never an error toast for a background fetch.
    assert tab.canvas_labels(3, tab._new_session(ctx)) == "3|"
    session.project.label_path(session.current()).unlink()
    session.image = None
    session.current().unlink()  # the image vanished from disk under the session
    assert tab.canvas_labels(4, session) == "4|"


def test_teach_clicks_refuses_a_project_with_no_accepted_object_by_saying_so(ctx, session):
    with pytest.raises(gr.Error, match="no accepted object to learn from"):
        tab.teach_clicks(ctx, session)


def test_segment_channels_are_each_scaled_to_their_range_and_the_winning_ones_lead():
    from cas_studio.app.segment_tab import channel_views

    probs = np.full((3, 20, 30), 0.01, np.float32)
    probs[2, :, :20] = 0.98  # channel 2 wins two thirds of the pixels
    probs[1, :, 20:] = 0.03  # channel 1 barely varies: near black on a 0-1 scale
    probs[0, :, 20:] = 0.96
    views = channel_views(probs)
    assert [v[1].split(":")[0] for v in views] == ["channel 2", "channel 0", "channel 1"]
    assert views[0][1] == "channel 2: wins 67% of pixels, 0.01-0.98"
    faint = views[2][0]
    assert faint.max() - faint.min() > 150  # its own 0.01-0.03 range spans the colour map
