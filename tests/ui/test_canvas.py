"""The Annotate canvas's messages from the browser: checked before anything is applied."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
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
    (json.dumps([{"kind": "click", "x": 1, "y": 1, "mode": "explode"}]), "unknown click tool 'explode'"),
    (json.dumps([{"kind": "stroke", "action": "smudge", "radius": 5, "points": [[1, 1]]}]), "unknown drag tool 'smudge'"),
    (json.dumps([{"kind": "stroke", "action": "merge", "radius": 1e6, "points": [[1, 1]]}]), "brush radius"),
    (json.dumps([{"kind": "lasso", "points": []}]), "1 to"),
    (json.dumps([{"kind": "lasso", "points": [[1, 1]]}] * (canvas.MAX_ACTIONS + 1)), "at most"),
])
def test_malformed_actions_are_refused_by_name(payload, message):
    with pytest.raises(ValueError, match=message):
        canvas.parse_actions(payload)


def test_a_label_map_travels_to_the_canvas_losslessly():
    labels = np.random.default_rng(0).integers(0, 65536, (37, 53)).astype(np.int32)
    labels[0, 0], labels[0, 1] = 0, 65535
    url = canvas.encode_labels(labels)
    head, data = url.split(",", 1)
    assert head == "data:image/png;base64"
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    # What the script reads: red + 256 * green.
    assert (bgr[..., 2].astype(np.int32) + 256 * bgr[..., 1].astype(np.int32) == labels).all()


@pytest.mark.parametrize("labels, message", [
    (np.zeros((4, 4), np.float32), "integer"),
    (np.zeros((4, 4, 2), np.int32), "2-D"),
    (np.full((4, 4), 70_000, np.int32), "0..65535"),
    (np.full((4, 4), -1, np.int32), "0..65535"),
])
def test_a_label_map_that_cannot_be_sent_is_refused_by_name(labels, message):
    with pytest.raises(ValueError, match=message):
        canvas.encode_labels(labels)
