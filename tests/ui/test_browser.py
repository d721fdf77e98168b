"""A real browser (Debian's Chromium, driven by Playwright) segments, over-segments, merges by clicking, saves."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from cas_studio.io import read_label_map, write_image

pytestmark = pytest.mark.ui
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


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


def inner_point(labels: np.ndarray, region: int) -> tuple[int, int]:
    """The pixel of ``region`` farthest from its boundary, as (x, y)."""
    dist = ndimage.distance_transform_edt(labels == region)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def click_image_pixel(page, selector: str, x: int, y: int) -> None:
    """Click the displayed image at natural pixel (x, y), allowing for letterboxing (object-fit: contain)."""
    img = page.locator(selector)
    box = img.bounding_box()
    nw, nh = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    scale = min(box["width"] / nw, box["height"] / nh)
    left = box["x"] + (box["width"] - nw * scale) / 2
    top = box["y"] + (box["height"] - nh * scale) / 2
    page.mouse.click(left + (x + 0.5) * scale, top + (y + 0.5) * scale)


def test_segment_then_annotate_and_merge(page, tmp_path):
    from playwright.sync_api import expect

    image_file = write_image(tmp_path / "coffee.png", data.coffee()[::2, ::2])
    page.locator("#segment-image input[type=file]").set_input_files(str(image_file))
    page.locator("#segment-run").click()
    expect(page.locator("#segment-summary")).to_contain_text("saliency with")

    page.get_by_role("tab", name="Annotate").click()
    folder = tmp_path / "project"
    fill_and_settle(page, "#project-folder", str(folder))
    page.locator("#project-open").click()
    status = page.locator("#annotate-status")
    expect(status).to_contain_text(str(folder))
    expect(status).to_contain_text("no images yet")
    page.locator("#add-files input[type=file]").set_input_files(str(image_file))
    page.locator("#add-images").click()
    expect(status).to_contain_text("not annotated yet")
    page.locator("#oversegment").click()
    expect(status).to_contain_text("0 of 1 confirmed")  # proposals only, until someone edits or confirms
    expect(status).to_contain_text("1 edits")

    labels = read_label_map(folder / "labels" / "coffee.png")
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
    expect(status).to_contain_text("1 of 1 confirmed")  # the merged region is the person's

    saved = read_label_map(folder / "labels" / "coffee.png")
    assert saved[ya, xa] == saved[yb, xb] == a
    assert len(np.unique(saved)) == n_before - 1
    page.screenshot(path=str(tmp_path / "annotate.png"))


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
