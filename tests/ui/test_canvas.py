"""The Annotate canvas's messages from the browser: checked before anything is applied."""

from __future__ import annotations

import json

import pytest

from cas_studio.app import canvas


def test_well_formed_actions_pass_in_order():
    sent = [{"kind": "stroke", "action": "merge", "radius": 5, "points": [[1, 2], [30.5, 2]]},
            {"kind": "lasso", "points": [[0, 0], [10, 0], [10, 10]]},
            {"kind": "click", "x": 3, "y": 4, "mode": "select / merge", "negative": False}]
    assert canvas.parse_actions(json.dumps(sent)) == sent
    assert canvas.parse_actions("") == []
    assert [canvas.describe(a) for a in sent] == ["the merge stroke", "the lasso", "the click at (3, 4)"]


@pytest.mark.parametrize("payload, message", [
    ("{not json", "malformed"),
    (json.dumps({"kind": "click"}), "a list"),
    (json.dumps([{"kind": "teleport"}]), "Unknown canvas action 'teleport'"),
    (json.dumps([{"kind": "click", "x": "a", "y": 1, "mode": "select / merge"}]), "two finite numbers"),
    (json.dumps([{"kind": "click", "x": 1, "y": 1, "mode": "explode"}]), "Unknown click mode"),
    (json.dumps([{"kind": "stroke", "action": "smudge", "radius": 5, "points": [[1, 1]]}]), "Unknown brush action"),
    (json.dumps([{"kind": "stroke", "action": "merge", "radius": 1e6, "points": [[1, 1]]}]), "brush radius"),
    (json.dumps([{"kind": "lasso", "points": []}]), "1 to"),
    (json.dumps([{"kind": "lasso", "points": [[1, 1]]}] * (canvas.MAX_ACTIONS + 1)), "at most"),
])
def test_malformed_actions_are_refused_by_name(payload, message):
    with pytest.raises(ValueError, match=message):
        canvas.parse_actions(payload)
