"""The app's API through gradio_client: /segment for each task and an annotation round trip."""

from __future__ import annotations

import re

import zipfile

import numpy as np
import pytest
from gradio_client import Client, handle_file
from skimage import data

from cas_studio.io import read_label_map, write_image

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    return write_image(tmp_path_factory.mktemp("img") / "coffee.png", data.coffee()[::3, ::3])


@pytest.mark.parametrize("task", ["saliency", "regions", "texture"])
def test_segment_endpoint(client, image_file, task):
    result, overlay, channels, cutout, summary, _ = client.predict(handle_file(str(image_file)), task, task,
                                                                   api_name="/segment")
    assert task in summary and re.search(r"in \d+ ms on the server \(the network \d+ ms of it\)", summary), summary
    assert len(channels) == {"saliency": 2, "regions": 8, "texture": 4}[task]
    assert (cutout is not None) == (task == "saliency")
    if task == "saliency":
        from cas_studio.io import read_image

        cut = read_image(cutout)  # an RGBA PNG, read as RGB
        assert cut.shape[:2] == data.coffee()[::3, ::3].shape[:2]


def test_segment_refuses_a_non_image(client, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = client.predict(handle_file(str(bad)), "saliency", "saliency", api_name="/segment")
    summary = next(o for o in out if isinstance(o, str) and "segmented" in o)
    assert "Not segmented:** notes.png: not a readable image" in summary and "/tmp" not in summary


def test_the_threshold_is_one_control_shown_in_the_summary(app_url, image_file):
    import re

    client = Client(app_url, verbose=False)  # its own session: the saliency map is kept per session
    *_, summary, shown = client.predict(handle_file(str(image_file)), "saliency", "saliency", 0.5, True,
                                        api_name="/segment")
    auto = float(re.search(r"threshold ([0-9.]+) \(automatic", summary).group(1))
    assert shown == pytest.approx(auto, abs=1e-3) and auto <= 0.5
    fg_auto = float(re.search(r"foreground ([0-9.]+)%", summary).group(1))
    # Set by hand: typed or dragged, the mask, the summary and the checkbox follow.
    _, _, summary, still_auto = client.predict(handle_file(str(image_file)), 0.9, api_name="/threshold")
    assert "threshold 0.900 (set by hand" in summary and still_auto is False
    assert float(re.search(r"foreground ([0-9.]+)%", summary).group(1)) < fg_auto
    # Segment again keeps the hand-set threshold.
    *_, summary, shown = client.predict(handle_file(str(image_file)), "saliency", "saliency", 0.9, False,
                                        api_name="/segment")
    assert "threshold 0.900 (set by hand" in summary and shown == pytest.approx(0.9)


def test_adaptive_threshold_is_capped_at_the_decision_boundary():
    import numpy as np

    from cas_studio.inference.infer import adaptive_threshold, binarize

    large = np.full((10, 10), 0.9)
    large[:2] = 0.05  # an object over 80% of the image: 2 x mean = 1.47
    assert adaptive_threshold(large) == 0.5 and binarize(large).mean() == pytest.approx(0.8)
    small = np.zeros((10, 10))
    small[:2] = 0.9
    assert adaptive_threshold(small) == pytest.approx(0.36)


def test_annotation_round_trip(app_url, image_file, tmp_path):
    client = Client(app_url, verbose=False)  # its own session: its own project state
    folder = tmp_path / "proj"
    _, status = client.predict(str(folder), api_name="/open_project")
    assert "No project" not in status and folder.name in status
    _, status, _ = client.predict([handle_file(str(image_file))], api_name="/add_images")
    assert "coffee.png" in status and "0 of 1 images confirmed" in status
    # method, model, guided, granularity, then the sliders: watershed (regions, compactness), slic
    # (regions, compactness), felzenszwalb (scale, sigma, min_size), model (min_size)
    _, status = client.predict("slic", "regions", False, 1.0, 300, 0, 100, 10, 25, 0.5, 5, 64,
                                  api_name="/oversegment")
    assert "0 confirmed" in status and "0 of 1 images confirmed" in status  # proposals until a person confirms
    _, status = client.predict(api_name="/confirm_image")
    assert "image confirmed" in status and "1 of 1 images confirmed" in status
    labels = read_label_map(folder / "labels" / "coffee.png.png")
    assert labels.shape == data.coffee()[::3, ::3].shape[:2] and len(np.unique(labels)) > 20
    archive = client.predict(api_name="/export")
    with zipfile.ZipFile(archive) as z:
        assert {"project.json", "images/coffee.png", "labels/coffee.png.png", "labels/coffee.png.json"} <= set(z.namelist())


def test_finetune_start_progress_finish_then_selectable(app_url, live_app, tmp_path):
    import time

    from ..helpers import make_project

    project = make_project(tmp_path / "ftproj", n=3, size=48)
    client = Client(app_url, verbose=False)
    message = client.predict(str(project.root), "regions", "regions", 2, 1e-3, 0.5, 64, 2, False,
                             api_name="/finetune_start")
    assert "Started run" in message
    # A refused second start is said in the message line, not left as an error badge.
    again = client.predict(str(project.root), "regions", "regions", 2, 1e-3, 0.5, 64, 2, False, api_name="/finetune_start")
    assert again.startswith("**Not started:**") and "already in progress" in again
    seen, deadline = [], time.time() + 180
    while time.time() < deadline:
        text, *_ = client.predict(str(project.root), api_name="/finetune_status")
        seen.append(text)
        if "**finished**" in text:
            break
        time.sleep(0.5)
    assert "**finished**" in seen[-1], seen[-3:]
    run_name = seen[-1].split("(")[1].split(")")[0]
    candidate = live_app.cas_context.run_label(project.root, run_name)
    # The run ends in one plain sentence; only a run that beat its base is offered as a model.
    verdicts = ("improved held-out covering", "no clear change", "did not beat the base model")
    assert sum(v in seen[-1] for v in verdicts) == 1, seen[-1]
    if "did not beat the base model" not in seen[-1]:
        model = candidate
    else:
        model = "regions"  # the base stays selected
        with pytest.raises(Exception, match="not in the list of choices"):
            client.predict(handle_file(str(project.images()[0])), "regions", candidate, api_name="/segment")
    *_, summary, _ = client.predict(handle_file(str(project.images()[0])), "regions", model, api_name="/segment")
    assert model in summary
    # the kept model pre-annotates in the Annotate tab
    client.predict(str(project.root), api_name="/open_project")
    _, status = client.predict("model", model, False, 1.0, 300, 0, 300, 10, 25, 0.5, 5, 20, api_name="/oversegment")
    assert "regions" in status and "edits" in status
    assert project.sidecar(project.images()[0])["params"]["model"] == model
    before, after = client.predict(str(project.root), api_name="/before_after")
    from cas_studio.io import read_image

    assert read_image(before).shape == read_image(after).shape == (48, 48, 3)
