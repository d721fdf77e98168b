"""The annotation tool registry: a new tool is one registration, and every face picks it up."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import data

from cas_studio.annotation import tools as registry
from cas_studio.annotation.session import AnnotationError, Session
from cas_studio.data.project import create_project
from cas_studio.io import read_label_map, write_image

from .helpers import modules_comparing


@pytest.fixture
def session(tmp_path):
    image = write_image(tmp_path / "cat.png", data.chelsea()[::4, ::4])
    s = Session(create_project(tmp_path / "proj"))
    assert s.add_images([str(image)]) == []
    s.oversegment("felzenszwalb", granularity=1.0)
    return s


def _isolate(s: Session, region: int, x: int, y: int, **_: object) -> str:
    """Toy click tool: every other region becomes unlabelled."""
    labels = s.labels()
    s.apply_edit(np.where(labels == region, labels, 0).astype(np.int32))
    return f"kept region {region}"


def _halve(s: Session, labels: np.ndarray, mask: np.ndarray) -> None:
    """Toy brush: what the brush covers joins the region with the smallest id."""
    s.apply_edit(np.where(mask, labels.min(initial=0) or 1, labels).astype(np.int32))


@pytest.fixture
def toy_tools():
    click = registry.register(registry.Tool("isolate", "keep only this region", "click", _isolate, "I",
                                            "every other region becomes unlabelled", needs_region=True))
    drag = registry.register(registry.Tool("smallest", "paint into region 1", "drag", _halve,
                                           help="paint into the first region", draws="stroke"))
    yield click, drag
    registry.unregister("click", "isolate")
    registry.unregister("drag", "smallest")


def test_a_toy_click_tool_works_through_the_session_by_id_and_label(session, toy_tools):
    labels = session.labels()
    ys, xs = np.nonzero(labels == labels[20, 30])
    note = session.click_region("isolate", int(xs[0]), int(ys[0]))
    kept = int(labels[20, 30])
    assert note == f"kept region {kept}"
    after = session.labels()
    assert set(np.unique(after)) == {0, kept}
    assert (read_label_map(session.project.label_path(session.current())) == after).all()  # autosaved
    session.undo()
    assert (session.labels() == labels).all()
    session.click_region("keep only this region", int(xs[0]), int(ys[0]))  # the label works too
    assert set(np.unique(session.labels())) == {0, kept}
    with pytest.raises(AnnotationError, match="unlabelled"):  # needs_region, enforced by the session
        session.click_region("isolate", 0, 0)


def test_a_toy_brush_works_through_the_session(session, toy_tools):
    labels = session.labels()
    session.stroke("smallest", [(2, 2), (30, 2)], radius=2)
    after = session.labels()
    assert (after[:4, 3:29] == 1).all() and (after[20:] == labels[20:]).all()


def test_the_app_and_canvas_are_built_from_the_registry(toy_tools):
    from cas_studio.app import annotate_tab, canvas

    assert "keep only this region" in annotate_tab.click_modes()
    assert "I" in next(k for k in annotate_tab.shortcuts() if "/" in k and "M" in k)
    assert '"i": "keep only this region"' in annotate_tab.shortcuts_js()
    assert canvas.drag_tools()["paint into region 1"] == {"id": "smallest", "draws": "stroke"}
    assert '"paint into region 1": {"id": "smallest", "draws": "stroke"}' in canvas.canvas_js()
    sent = json.dumps([{"kind": "click", "x": 1, "y": 2, "mode": "keep only this region"},
                       {"kind": "stroke", "action": "smallest", "radius": 3, "points": [[1, 1]]}])
    assert [a["kind"] for a in canvas.parse_actions(sent)] == ["click", "stroke"]
    with pytest.raises(ValueError, match="not a brush"):
        canvas.parse_actions(json.dumps([{"kind": "stroke", "action": "lasso", "radius": 3, "points": [[1, 1]]}]))


def test_registration_refuses_clashes_and_bad_fields():
    with pytest.raises(ValueError, match="key 'm' already belongs to the 'select / merge' tool"):
        registry.register(registry.Tool("other", "other", "click", _isolate, "m"))
    with pytest.raises(ValueError, match="label 'split' already names"):
        registry.register(registry.Tool("cut", "split", "click", _isolate))
    with pytest.raises(ValueError, match="kind is one of"):
        registry.register(registry.Tool("x", "x", "hover", _isolate))
    with pytest.raises(ValueError, match="drag tool draws one of"):
        registry.register(registry.Tool("x", "x", "drag", _halve))
    with pytest.raises(ValueError, match="unknown click tool 'nope'; choose one of"):
        registry.get_tool("click", "nope")
    assert [t.id for t in registry.tools("click")] == ["merge", "confirm", "split", "erase", "object"]


def test_the_simulated_annotator_stands_for_registered_tools():
    from cas_studio.bench import clicks

    for move, (kind, tool_id) in clicks.TOOL_OF.items():
        assert registry.get_tool(kind, tool_id).id == tool_id, move
    assert set(clicks.TOOL_OF) <= {"merge", "stroke", "lasso", "granularity", "grow", "flood"}


def test_no_module_compares_a_tool_label_with_a_string_literal():
    # "lasso" is also a drawing kind of the canvas protocol (registry.DRAWS), compared as such.
    labels = {t.label for kind in registry.KINDS for t in registry.tools(kind)} - set(registry.DRAWS)
    assert modules_comparing(labels) == {}
