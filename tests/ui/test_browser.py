"""A real browser (Debian's Chromium, driven by Playwright) segments, over-segments, merges by clicking, saves."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from cas_studio.bench.browser import CHROMIUM, FLAGS, client_point
from cas_studio.bench.browser import click_pixel as click_image_pixel
from cas_studio.bench.browser import drag_pixels
from cas_studio.io import read_label_map, write_image

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(60_000)
        page.goto(app_url)
        yield page
        browser.close()


def fill_and_settle(page, elem_id: str, text: str) -> None:
    """Type into a Gradio textbox and leave it, so the app has the value before the next click."""
    from playwright.sync_api import expect

    box = page.locator(f"{elem_id} textarea, {elem_id} input").first
    box.fill(text)
    expect(box).to_have_value(text)
    box.press("Tab")
    page.wait_for_timeout(300)


def new_project_with(page, folder: Path, image_file: Path):
    """In the Annotate tab: open a new project at ``folder``, add ``image_file``; the status locator."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Annotate").click()
    fill_and_settle(page, "#project-folder", str(folder))
    page.locator("#project-open").click()
    status = page.locator("#annotate-status")
    expect(status).to_contain_text(folder.name)
    expect(status).to_contain_text("no images yet")
    page.locator("#add-files input[type=file]").set_input_files(str(image_file))
    page.locator("#add-images").click()
    expect(status).to_contain_text("not annotated yet")
    return status


def inner_point(labels: np.ndarray, region: int) -> tuple[int, int]:
    """The pixel of ``region`` farthest from its boundary, as (x, y)."""
    dist = ndimage.distance_transform_edt(labels == region)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def test_segment_then_annotate_and_merge(page, tmp_path):
    from playwright.sync_api import expect

    image_file = write_image(tmp_path / "coffee.png", data.coffee()[::2, ::2])
    page.locator("#segment-image input[type=file]").set_input_files(str(image_file))
    page.locator("#segment-run").click()
    expect(page.locator("#segment-summary")).to_contain_text("saliency with")

    folder = tmp_path / "project"
    status = new_project_with(page, folder, image_file)
    page.locator("#oversegment").click()
    expect(status).to_contain_text("0 of 1 images confirmed")  # proposals only, until someone edits or confirms
    expect(status).to_contain_text("1 edits")

    labels = read_label_map(folder / "labels" / "coffee.png.png")
    ids, sizes = np.unique(labels, return_counts=True)
    a, b = ids[np.argsort(sizes)[-2:]]
    (xa, ya), (xb, yb) = inner_point(labels, a), inner_point(labels, b)
    n_before = len(ids)

    canvas = "#canvas img"
    expect(page.locator(canvas)).to_be_visible()
    click_image_pixel(page, canvas, xa, ya)
    expect(status).to_contain_text(f"Selected: region {a}")
    click_image_pixel(page, canvas, xb, yb)
    expect(status).to_contain_text("2 edits")
    expect(status).to_contain_text("0 of 1 images confirmed")  # one region is the person's, not the image

    saved = read_label_map(folder / "labels" / "coffee.png.png")
    assert saved[ya, xa] == saved[yb, xb] == a
    assert len(np.unique(saved)) == n_before - 1
    page.screenshot(path=str(tmp_path / "annotate.png"))


def test_a_refused_segment_shows_why_without_error_badges_and_the_next_run_clears_it(page, tmp_path):
    from playwright.sync_api import expect

    def choose(name: str) -> None:
        dropdown = page.locator("#segment-model input").first
        dropdown.click()
        dropdown.fill(name)
        page.get_by_role("option", name=name, exact=True).click()

    page.get_by_role("tab", name="Segment").click()
    image_file = write_image(tmp_path / "rocket.png", data.rocket()[::2, ::2])
    page.locator("#segment-image input[type=file]").set_input_files(str(image_file))
    summary = page.locator("#segment-summary")
    choose("regions")  # a regions model for the saliency task: refused
    page.locator("#segment-run").click()
    expect(summary).to_contain_text("Not segmented: regions is a regions model")
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("Error", exact=True)).to_have_count(0)  # no output is left in an error state
    choose("saliency")
    page.locator("#segment-run").click()
    expect(summary).to_contain_text("saliency with")
    expect(summary).not_to_contain_text("Not segmented")


def test_a_non_image_upload_is_refused_by_name_and_leaves_no_error_badge_or_old_result(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Segment").click()
    good = write_image(tmp_path / "rocket.png", data.rocket()[::2, ::2])
    page.locator("#segment-image input[type=file]").set_input_files(str(good))
    page.locator("#segment-run").click()
    summary = page.locator("#segment-summary")
    expect(summary).to_contain_text("saliency with")
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    page.locator("#segment-image button[aria-label='Remove Image']").first.click()
    page.locator("#segment-image input[type=file]").set_input_files(str(bad))
    page.locator("#segment-run").click()
    expect(summary).to_contain_text("Not segmented: notes.png")
    expect(summary).not_to_contain_text("saliency with")  # the previous image's result is gone
    expect(summary).not_to_contain_text("/tmp")  # no server-side folder
    expect(page.get_by_role("tabpanel").get_by_text("Error", exact=True)).to_have_count(0)
    expect(page.locator("#segment-threshold")).to_be_visible()


def test_the_segment_tab_shows_a_threshold_only_for_a_task_thresholded_into_a_mask(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Segment").click()
    threshold = page.locator("#segment-threshold")
    expect(threshold).to_be_visible()
    page.get_by_role("tabpanel").get_by_label("regions", exact=True).check()  # the Task radio
    expect(threshold).to_be_hidden()
    expect(page.locator("#segment-auto")).to_be_hidden()
    page.get_by_role("tabpanel").get_by_label("saliency", exact=True).check()
    expect(threshold).to_be_visible()


def test_a_reload_reopens_the_project_this_browser_had_open(page, tmp_path):
    from playwright.sync_api import expect

    image_file = write_image(tmp_path / "cat.png", data.chelsea()[::4, ::4])
    folder = tmp_path / "remembered-project"
    new_project_with(page, folder, image_file)
    page.reload()  # the same browser (its local storage), a fresh page and session
    page.get_by_role("tab", name="Annotate").click()
    status = page.locator("#annotate-status")
    expect(status).to_contain_text("remembered-project")
    expect(status).to_contain_text("cat.png (1 of 1)")
    expect(page.locator("#project-folder textarea, #project-folder input").first).to_have_value(str(folder))


def test_finetune_start_progress_completion(page, tmp_path):
    from playwright.sync_api import expect

    from ..helpers import make_project

    project = make_project(tmp_path / "ftproj", n=3, size=48)
    page.get_by_role("tab", name="Fine-tune").click()
    fill_and_settle(page, "#ft-project", str(project.root))
    page.locator("#ft-start").click()
    expect(page.locator("#ft-message")).to_contain_text("Started run")
    expect(page.locator("#ft-status")).to_contain_text("running")
    expect(page.locator("#ft-status")).to_contain_text("finished", timeout=180_000)
    expect(page.locator("#ft-pct")).to_have_text("100%")


def test_a_fine_cut_opens_as_a_picture_a_person_can_read(page, tmp_path):
    """Over-segmented at the finest cut (hundreds of proposed superpixels), the canvas in the browser
    still shows the photo: outlines faint, proposed regions uncoloured, not a mesh."""
    import io

    import cv2
    from PIL import Image
    from playwright.sync_api import expect

    from cas_studio.annotation import render

    image = data.coffee()
    image_file = write_image(tmp_path / "coffee.png", image)
    folder = tmp_path / "readable-project"
    status = new_project_with(page, folder, image_file)
    page.locator("#oversegment").click()
    expect(status).to_contain_text("1 edits")
    labels = read_label_map(folder / "labels" / "coffee.png.png")
    assert len(np.unique(labels)) > render.FAINT_ABOVE
    canvas = page.locator("#canvas img")
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    seen = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(np.float32)
    size = seen.shape[1::-1]
    photo = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    # The photo with every outline in full ink, scaled the same way: the mesh it must not be.
    mesh = image.copy()
    edge = render.boundaries(labels)
    mesh[edge] = np.where(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[edge][:, None] < 128, 255, 0)
    mesh = cv2.resize(mesh, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    shown, meshed = np.abs(seen - photo).mean(), np.abs(mesh - photo).mean()
    assert shown < 0.5 * meshed, (shown, meshed)


def test_editor_granularity_paint_to_merge_and_keyboard(page, tmp_path):
    """End to end in the Annotate tab: over-segment, coarsen with the slider, merge with one brush
    stroke drawn on the main canvas, undo / redo / confirm with the keyboard; then the label map and
    sidecar on disk."""
    import json

    from playwright.sync_api import expect

    image_file = write_image(tmp_path / "chelsea.png", data.chelsea()[::2, ::2])
    folder = tmp_path / "editor-project"
    status = new_project_with(page, folder, image_file)
    page.locator("#oversegment").click()
    expect(status).to_contain_text("1 edits")
    label_path = folder / "labels" / "chelsea.png.png"
    fine = len(np.unique(read_label_map(label_path)))

    # The granularity slider: a click on its track at 30% re-cuts the proposals, coarser.
    track = page.locator("#granularity input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + box["height"] / 2)
    expect(status).to_contain_text("2 edits")
    coarse = read_label_map(label_path)
    assert 2 <= len(np.unique(coarse)) < fine

    # Paint-to-merge: one stroke across the middle of the picture merges every region it crosses.
    h, w = coarse.shape
    drag_pixels(page, "#canvas img", [(0.3 * w, h / 2), (0.5 * w, h / 2), (0.7 * w, h / 2)], steps=10)
    expect(status).to_contain_text("3 edits")
    merged = read_label_map(label_path)
    assert len(np.unique(merged)) < len(np.unique(coarse))
    row = merged[h // 2, int(0.3 * w):int(0.7 * w)]
    assert len(np.unique(row)) == 1  # the stroke's row is one region now
    assert "1 confirmed" in status.inner_text()  # the merged region is the person's

    # Keyboard: Ctrl+Z undoes the merge, Ctrl+Y redoes it, Enter confirms the whole image.
    page.locator("#shortcuts").click()  # focus off any text field
    page.keyboard.press("Control+z")  # the count is of the edits shown: an undo takes one off
    expect(status).to_contain_text("2 edits")
    assert len(np.unique(read_label_map(label_path))) == len(np.unique(coarse))
    page.keyboard.press("Control+y")
    expect(status).to_contain_text("3 edits")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("image confirmed")
    assert (read_label_map(label_path) == merged).all()
    sidecar = json.loads(label_path.with_suffix(".json").read_text())
    assert sidecar["image_confirmed"] is True and len(sidecar["confirmed"]) == len(np.unique(merged))
    page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)


def test_human_in_the_loop_round(page, live_app, tmp_path):
    """Annotate and confirm an image, fine-tune on the project the Annotate tab has open, read the
    run's one-sentence outcome, and pre-annotate the next image with the model that was kept."""
    import json

    from playwright.sync_api import expect

    from ..helpers import make_project

    project = make_project(tmp_path / "round", n=5, size=64)
    last = project.images()[-1]
    for path in (project.label_path(last), project.label_path(last).with_suffix(".json")):
        path.unlink()  # the last image is still to annotate
    page.get_by_role("tab", name="Annotate").click()
    fill_and_settle(page, "#project-folder", str(project.root))
    page.locator("#project-open").click()
    status = page.locator("#annotate-status")
    expect(status).to_contain_text("4 of 5 images confirmed")
    page.locator("#prev-image").click()  # the last image
    expect(status).to_contain_text(last.name)
    page.locator("#oversegment").click()
    expect(status).to_contain_text("proposed")
    page.locator("#confirm-image").click()
    expect(status).to_contain_text("5 of 5 images confirmed")

    # Fine-tune: the project open in Annotate is already the one in the Fine-tune tab.
    page.get_by_role("tab", name="Fine-tune").click()
    expect(page.locator("#ft-project textarea, #ft-project input").first).to_have_value(str(project.root))
    page.locator("#ft-estimate").click()
    expect(page.locator("#ft-message")).to_contain_text("4 training images, 1 held out", timeout=90_000)
    page.locator("#ft-start").click()
    expect(page.locator("#ft-message")).to_contain_text("Started run")
    ft_status = page.locator("#ft-status")
    expect(ft_status).to_contain_text("finished", timeout=240_000)
    text = ft_status.inner_text()
    verdicts = ("improved held-out covering", "no clear change", "did not beat the base model")
    assert sum(v in text for v in verdicts) == 1, text
    improved = "did not beat the base model" not in text  # the run's weights are kept
    run = sorted(p for p in (project.root / "runs").iterdir() if p.is_dir())[-1]
    kept = live_app.cas_context.run_label(project.root, run.name) if improved else "regions"

    # Pre-annotate the first image with the kept model.
    page.get_by_role("tab", name="Annotate").click()
    page.locator("#next-image").click()
    first = project.images()[0]
    expect(status).to_contain_text(first.name)
    page.locator("#method").get_by_text("model").click()
    dropdown = page.locator("#annotate-model input").first
    dropdown.click()
    dropdown.fill(kept)
    page.get_by_role("option", name=kept).click()
    page.locator("#oversegment").click()
    expect(status).to_contain_text("1 edits")
    sidecar = json.loads(project.label_path(first).with_suffix(".json").read_text())
    assert sidecar["method"] == "model" and sidecar["params"]["model"] == kept


def test_click_object_mode_annotates_objects_one_after_another(page, tmp_path):
    """Click mode: a positive click gives the cup, a negative click takes a part away, Enter makes it
    a confirmed region, and the next object is clicked without leaving the mode; then the label map."""
    from playwright.sync_api import expect

    from cas_studio.models.weights import weights_dirs

    if not any((d / "clicks.safetensors").is_file() for d in weights_dirs()):
        pytest.skip("no clicks weights (weights/clicks.safetensors)")
    image_file = write_image(tmp_path / "cup.png", data.coffee()[::2, ::2])  # 300x200, a cup in the middle
    folder = tmp_path / "click-project"
    status = new_project_with(page, folder, image_file)
    page.locator("#click-mode").get_by_text("click object", exact=True).click()
    canvas = "#canvas img"
    expect(page.locator(canvas)).to_be_visible()
    t0 = time.perf_counter()
    click_image_pixel(page, canvas, 150, 100)
    expect(status).to_contain_text("Object in progress: 1 positive, 0 negative clicks")
    # The click's round trip as a person waits for it (printed with -s; a benchmark figure, not a test).
    print(f"click-object round trip in Chromium, first click (loads the model): "
          f"{1000 * (time.perf_counter() - t0):.0f} ms")
    page.locator("#click-sign").get_by_text("negative (not object)", exact=True).click()
    t0 = time.perf_counter()
    click_image_pixel(page, canvas, 150, 190)  # the table below the cup, in case the mask spilled there
    expect(status).to_contain_text("1 positive, 1 negative clicks")
    print(f"second click (model loaded): {1000 * (time.perf_counter() - t0):.0f} ms")
    page.locator("#shortcuts").click()  # focus off any field, as a person's next key press would be
    page.keyboard.press("Enter")  # accept: one confirmed region
    expect(status).to_contain_text("1 confirmed, 0 proposed")
    label_path = folder / "labels" / "cup.png.png"
    labels = read_label_map(label_path)
    cup = labels[100, 150]
    assert cup != 0 and labels[190, 150] != cup
    assert 0.02 < (labels == cup).mean() < 0.8
    # Still in click mode, positive again: the next object (the saucer's left edge / the table).
    expect(page.locator("#click-sign input[type=radio]").first).to_be_checked()
    click_image_pixel(page, canvas, 20, 20)
    expect(status).to_contain_text("Object in progress: 1 positive")
    page.locator("#accept-object").click()
    expect(status).to_contain_text("2 confirmed, 0 proposed")
    labels = read_label_map(label_path)
    assert labels[100, 150] == cup and labels[20, 20] not in (0, cup)
    page.screenshot(path=str(tmp_path / "clicks.png"), full_page=True)


def test_browser_benchmark_times_each_click():
    """`cas-studio bench browser` on a small photo prints one time per click. It runs in its own
    process: the app it starts must not share this test session's app settings."""
    import re
    import subprocess
    import sys

    from cas_studio.models.weights import weights_dirs

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    if not any((d / "clicks.safetensors").is_file() for d in weights_dirs()):
        pytest.skip("no clicks weights (weights/clicks.safetensors)")
    out = subprocess.run([sys.executable, "-m", "cas_studio.cli", "bench", "browser", "--megapixels", "0.1",
                          "--clicks", "3"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"first click \(loads the model\) (\d+) ms; then median (\d+) ms \((\d+), (\d+)\)", out.stdout)
    assert m and all(int(v) > 0 for v in m.groups()), out.stdout


def test_lasso_grow_and_a_refused_stroke_on_the_main_canvas(page, tmp_path):
    """A grow and a lasso on the main canvas change the label map on disk; a refused action is named
    in a warning, changes nothing, and the canvas takes the next action; strokes drawn faster than
    the server answers are all applied, in order."""
    from playwright.sync_api import expect

    image_file = write_image(tmp_path / "coffee.png", data.coffee()[::2, ::2])
    folder = tmp_path / "lasso-project"
    status = new_project_with(page, folder, image_file)
    page.locator("#method").get_by_text("felzenszwalb", exact=True).click()  # the page is shared
    page.locator("#oversegment").click()
    expect(status).to_contain_text("1 edits")
    label_path = folder / "labels" / "coffee.png.png"
    before = read_label_map(label_path)
    h, w = before.shape
    canvas = "#canvas img"
    page.locator("#click-mode").get_by_text("select / merge", exact=True).click()  # the page is shared

    # Painting into the selected region with nothing selected: refused by name, nothing changes.
    page.locator("#drag-tool label", has_text="paint into the selected region").click()
    drag_pixels(page, canvas, [(0.1 * w, 0.1 * h), (0.3 * w, 0.1 * h)])
    expect(page.locator(".toast-body").last).to_contain_text("Not applied: the paint into the selected region")
    assert (read_label_map(label_path) == before).all()
    assert "1 edits" in status.inner_text()
    # No new picture answers a refused stroke: its outline still leaves the canvas.
    page.wait_for_function("() => window.casCanvas.pending.length === 0", timeout=5000)

    # Grow: select a superpixel with a click (the mode is select / merge), then G: its parent node.
    x, y = int(0.8 * w), int(0.5 * h)
    click_image_pixel(page, canvas, x, y)
    expect(status).to_contain_text("Selected")
    page.locator("#shortcuts").click()
    page.keyboard.press("g")
    expect(status).to_contain_text("2 edits")
    grown = read_label_map(label_path)
    assert (grown == grown[y, x]).sum() > (before == before[y, x]).sum()

    # Lasso: a closed outline around the middle; what lies inside becomes one region.
    page.keyboard.press("Escape")
    page.locator("#drag-tool label", has_text="lasso").click()
    cx, cy, r = w / 2, h / 2, min(h, w) / 4
    ring = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 24)]
    drag_pixels(page, canvas, ring)
    expect(status).to_contain_text("3 edits")
    # A lasso inside that new, confirmed region takes nothing: refused by name, its dashed outline goes.
    drag_pixels(page, canvas, [(cx - 5, cy - 5), (cx + 5, cy - 5), (cx, cy + 5), (cx - 5, cy - 5)])
    expect(page.locator(".toast-body").last).to_contain_text("lasso")
    page.wait_for_function("() => window.casCanvas.pending.length === 0", timeout=5000)
    assert "3 edits" in status.inner_text()
    lassoed = read_label_map(label_path)
    assert len(np.unique(lassoed)) < len(np.unique(grown))
    centre = lassoed[int(cy), int(cx)]
    # What lies inside is one region now (but what the grow confirmed, if it reached in).
    assert (lassoed[int(cy - r / 2):int(cy + r / 2), int(cx - r / 2):int(cx + r / 2)] == centre).mean() > 0.8

    # Three merge strokes drawn back to back, before the canvas has redrawn: all three apply.
    page.locator("#drag-tool label", has_text="merge stroke").click()
    for y in (0.1, 0.15, 0.9):
        drag_pixels(page, canvas, [(0.05 * w, y * h), (0.35 * w, y * h)], steps=2)
    expect(status).to_contain_text("6 edits")
    final = read_label_map(label_path)
    for y in (0.1, 0.9):
        assert len(np.unique(final[int(y * h), int(0.06 * w):int(0.34 * w)])) == 1


def test_lasso_tints_what_it_will_take_before_release_and_splits_the_regions_it_cuts(page, tmp_path):
    """While the lasso is drawn, the canvas tints what lies inside it, before anything is sent; on
    release exactly that becomes one region, and the regions it cut keep their outside parts."""
    from playwright.sync_api import expect

    from cas_studio.data.project import create_project

    # A 4x4 grid of 60 px squares, saved as proposed regions: region (r, c) is square r, c.
    grid = np.kron(np.arange(16).reshape(4, 4), np.ones((60, 60), np.int32)).astype(np.uint16)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (16, 3))[grid].astype(np.uint8)
    folder = tmp_path / "lasso-preview"
    project = create_project(folder)
    (path,) = project.add_images([write_image(tmp_path / "grid.png", image)])
    grid = grid.astype(np.int32) + 1
    project.save_labels(path, grid, proposal=grid)  # as an over-segmentation would: nothing confirmed
    before = read_label_map(project.label_path(path))

    page.get_by_role("tab", name="Annotate").click()
    fill_and_settle(page, "#project-folder", str(folder))
    page.locator("#project-open").click()
    status = page.locator("#annotate-status")
    expect(status).to_contain_text("16 regions")
    page.locator("#drag-tool label", has_text="lasso").click()
    # Choosing the lasso fetches the shown label map at once, so the first move already previews.
    page.wait_for_function("() => window.casCanvas.labelsReady()", timeout=20_000)
    # x 20..165, y 70..200 cuts through eleven squares and holds one whole (row 2, column 1).
    outline = [(20, 70), (165, 70), (165, 200), (20, 200), (20, 75)]
    drag_pixels(page, "#canvas img", outline, steps=4, release=False)
    page.wait_for_function("() => window.casCanvas.previewTaken > 0")
    page.mouse.move(*client_point(page, "#canvas img", 22, 72))  # the preview follows the latest outline
    page.wait_for_timeout(200)
    inside = cv2.fillPoly(np.zeros(before.shape, np.uint8), [np.array([(20, 70), (165, 70), (165, 200), (20, 200)],
                                                                      np.int32)], 1).astype(bool)
    previewed = page.evaluate("() => window.casCanvas.previewTaken")
    assert abs(previewed - inside.sum()) < 0.05 * inside.sum()
    # The tint is drawn on the overlay before release.
    tinted = page.evaluate("""() => { const c = document.getElementById('canvas-overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert tinted > 1000
    assert (read_label_map(project.label_path(path)) == before).all()  # nothing sent yet
    page.mouse.up()
    deadline = time.time() + 30
    while (read_label_map(project.label_path(path)) == before).all() and time.time() < deadline:
        time.sleep(0.2)
    after = read_label_map(project.label_path(path))
    ring = np.ones((7, 7), np.uint8)  # a pixel or two of mouse rounding either side of the outline
    core, shell = cv2.erode(inside.view(np.uint8), ring) > 0, cv2.dilate(inside.view(np.uint8), ring) > 0
    assert len(np.unique(after[core])) == 1 and after[core][0] not in before  # one new region inside
    assert (after[~shell] == before[~shell]).all()  # outside untouched: the cut squares keep their rest
    assert len(np.unique(after)) == 16  # one square wholly inside is gone, one region is new


def test_video_annotate_one_frame_then_propagate(page, tmp_path):
    """A short clip is added as a sequence, one frame gets a mask, Propagate fills the others."""
    import cv2
    from playwright.sync_api import expect

    frames = []
    for t in range(4):
        f = np.full((96, 128, 3), 90, np.uint8)
        cv2.circle(f, (40 + 8 * t, 48), 20, (230, 60, 40), -1)
        frames.append(f)
    clip = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for f in frames:
        vw.write(f[..., ::-1].copy())
    vw.release()
    mask = np.zeros((96, 128), np.uint8)
    cv2.circle(mask, (40, 48), 20, 255, -1)
    mask_file = write_image(tmp_path / "mask.png", mask)

    page.get_by_role("tab", name="Annotate").click()
    fill_and_settle(page, "#project-folder", str(tmp_path / "video-project"))
    page.locator("#project-open").click()
    status = page.locator("#annotate-status")
    expect(status).to_contain_text("no images yet")
    page.locator("#add-video input[type=file]").set_input_files(str(clip))
    page.locator("#add-video-btn").click()
    expect(status).to_contain_text("clip_00000.png")
    expect(page.locator("#frame-slider")).to_be_visible()
    expect(page.locator("#frame-slider")).to_contain_text("frame of clip.avi (4)")
    if not page.locator("#import-mask-file").is_visible():  # the page is shared: it may be open already
        page.get_by_text("Import an existing mask or label map").click()
    page.locator("#import-mask-file input[type=file]").set_input_files(str(mask_file))
    page.get_by_role("button", name="Import for this image").click()
    expect(status).to_contain_text("image confirmed")
    page.locator("#propagate").click()
    expect(status).to_contain_text("learned from 1 confirmed frame, filled 3 unconfirmed frames", timeout=180_000)
    page.locator("#next-image").click()
    expect(status).to_contain_text("clip_00001.png")
    expect(status).to_contain_text("proposed")
    project = tmp_path / "video-project"
    assert (project / "labels" / "clip_00003.png.png").is_file()
    assert set(np.unique(read_label_map(project / "labels" / "clip_00003.png.png"))) <= {1, 2}
