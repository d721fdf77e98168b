"""``cas-studio bench browser``: what a person waits for in the Annotate tab, in a real browser.

Starts the app on a free loopback port with the shipped models, opens it in Debian's Chromium
(Playwright, ``--disable-gpu``), makes a project with one photo resized to ``--megapixels``, and
times each click-to-object click from the mouse event to the updated status and the new canvas
image decoded; then, on the over-segmented photo, each editing interaction the same way (a click to
select, a click to merge, a merge stroke, a lasso, grow, undo, a granularity change), and a mouse
move while drawing (from the move event to the brush drawn on the overlay). Needs
``pip install -e ".[test]"`` (Playwright) and ``apt-get install chromium``.
Targets: 300 ms per interaction at 1 MP; 30 ms per mouse move while drawing.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MS = 300
MOVE_TARGET_MS = 30
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_point(page, selector: str, x: float, y: float) -> tuple[float, float]:
    """Where natural pixel (x, y) of the displayed image is on the page, allowing for letterboxing
    (object-fit) and the Annotate canvas's zoom and pan."""
    img = page.locator(selector)
    for _ in range(50):
        # A picture being replaced has no size yet: wait for the new one rather than divide by zero
        # (and again if it is replaced between the wait and the reading).
        page.wait_for_function("s => { const e = document.querySelector(s); return e && e.complete && e.naturalWidth > 0; }",
                               arg=selector)
        box = img.bounding_box()  # includes the zoom transform
        nw, nh, fit, zoom = img.evaluate("e => [e.naturalWidth, e.naturalHeight, getComputedStyle(e).objectFit, "
                                         "window.casCanvas ? window.casCanvas.zoom : 1]")
        if nw and nh and box and box["width"] and box["height"]:
            break
    scale = min(box["width"] / nw, box["height"] / nh)
    if fit == "scale-down":  # never enlarged beyond the zoom
        scale = min(scale, zoom)
    left = box["x"] + (box["width"] - nw * scale) / 2
    top = box["y"] + (box["height"] - nh * scale) / 2
    return left + (x + 0.5) * scale, top + (y + 0.5) * scale


def click_pixel(page, selector: str, x: int, y: int) -> None:
    """Click the displayed image at natural pixel (x, y)."""
    page.locator(selector).scroll_into_view_if_needed()  # the canvas is up to 70% of the window high
    page.mouse.click(*client_point(page, selector, x, y))


def drag_pixels(page, selector: str, points: list[tuple[float, float]], *, steps: int = 3,
                release: bool = True) -> None:
    """Press, move through ``points`` (natural pixels) and release (unless ``release`` is False):
    a stroke or a lasso drawn by hand."""
    page.locator(selector).scroll_into_view_if_needed()
    page.mouse.move(*client_point(page, selector, *points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*client_point(page, selector, x, y), steps=steps)
    if release:
        page.mouse.up()


def _edits(page) -> int:
    import re

    m = re.search(r"(\d+) edits", page.locator("#annotate-status").inner_text())
    return int(m.group(1)) if m else 0


def _timed(page, act, text: str | None = None) -> float:
    """Milliseconds from ``act()`` to the status showing ``text`` (default: one more edit) and a new
    canvas image decoded."""
    from playwright.sync_api import expect

    src = page.locator("#canvas img").get_attribute("src")
    text = text or f"{_edits(page) + 1} edits"
    t0 = time.perf_counter()
    act()
    expect(page.locator("#annotate-status")).to_contain_text(text)
    page.wait_for_function("(old) => { const i = document.querySelector('#canvas img'); "
                           "return i && i.src !== old && i.complete && i.naturalWidth > 0; }", arg=src)
    return 1000 * (time.perf_counter() - t0)


def run(megapixels: float = 1.0, clicks: int = 5) -> dict[str, list[float]]:
    """Milliseconds per interaction: click-to-object clicks (the first loads the model), each edit,
    and mouse moves while drawing."""
    import cv2
    from playwright.sync_api import expect, sync_playwright
    from skimage import data

    from ..app import build_app
    from ..io import write_image

    work = Path(tempfile.mkdtemp(prefix="cas-bench-browser-"))
    image = data.coffee()
    s = (megapixels * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
    image = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
    photo = write_image(work / "cup.png", image)
    demo = build_app(project_folder="bench", projects_dir=work)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    times: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Annotate").click()
            page.locator("#project-folder textarea, #project-folder input").first.fill(str(work / "project"))
            page.locator("#project-folder textarea, #project-folder input").first.press("Tab")
            page.locator("#project-open").click()
            status = page.locator("#annotate-status")
            expect(status).to_contain_text("no images yet")
            page.locator("#add-files input[type=file]").set_input_files(str(photo))
            page.locator("#add-images").click()
            expect(status).to_contain_text("not annotated yet")
            canvas = "#canvas img"
            h, w = image.shape[:2]
            if clicks:
                page.locator("#click-mode").get_by_text("click object", exact=True).click()
                for i in range(1, clicks + 1):
                    x, y = w // 2 + 7 * i, h // 2 + 5 * i  # on the cup, a little further each time
                    times.setdefault("click object", []).append(
                        _timed(page, lambda: click_pixel(page, canvas, x, y), f"Object in progress: {i} positive"))
                page.locator("#cancel-object").click()
                expect(status).not_to_contain_text("Object in progress")
                page.locator("#click-mode").get_by_text("select / merge", exact=True).click()
            page.locator("#oversegment").click()
            expect(status).to_contain_text("1 edits", timeout=120_000)
            for i in range(3):
                x0, y = int(w * (0.2 + 0.2 * i)), int(h * 0.3)
                times.setdefault("click: select", []).append(
                    _timed(page, lambda: click_pixel(page, canvas, x0, y), "Selected"))
                times.setdefault("click: merge", []).append(
                    _timed(page, lambda: click_pixel(page, canvas, x0 + w // 40, y)))
                page.locator("#deselect").click()
                expect(status).not_to_contain_text("Selected")
                yy = int(h * (0.5 + 0.1 * i))
                # Timed from the release: drawing takes as long as the hand takes.
                drag_pixels(page, canvas, [(0.1 * w, yy), (0.2 * w, yy), (0.3 * w, yy)], release=False)
                times.setdefault("merge stroke (from release)", []).append(_timed(page, page.mouse.up))
            # Mouse moves while drawing: from the move event to the stroke drawn on the overlay.
            page.locator(canvas).scroll_into_view_if_needed()
            page.mouse.move(*client_point(page, canvas, 0.6 * w, 0.8 * h))
            page.mouse.down()
            for k in range(20):
                target = client_point(page, canvas, (0.6 + 0.01 * k) * w, 0.8 * h)
                t0 = time.perf_counter()
                page.mouse.move(*target)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")  # drawn
                times.setdefault("mouse move while drawing", []).append(1000 * (time.perf_counter() - t0))
            page.mouse.up()
            expect(status).to_contain_text("edits")
            page.wait_for_timeout(2000)  # that stroke's answer lands before the next timing
            page.locator("#drag-tool label", has_text="lasso").click()
            # Moves while tracing a lasso: the outline and the preview of what it merges (the label
            # map arrives once per picture; wait for it, as a hand reaching for the mouse does).
            page.wait_for_function("() => window.casCanvas.labelsReady()")
            cx, cy, r = w * 0.5, h * 0.5, min(h, w) / 5
            ring = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 21)]
            page.mouse.move(*client_point(page, canvas, *ring[0]))
            page.mouse.down()
            for x, y in ring[1:]:
                target = client_point(page, canvas, x, y)
                t0 = time.perf_counter()
                page.mouse.move(*target)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")  # preview and outline drawn
                times.setdefault("mouse move while tracing a lasso (with its preview)", []).append(
                    1000 * (time.perf_counter() - t0))
            page.mouse.up()
            expect(status).to_contain_text("edits")
            page.wait_for_timeout(2000)
            for i in range(2):
                cx, cy, r = w * (0.3 + 0.4 * i), h * 0.5, min(h, w) / 8
                ring = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 16)]
                drag_pixels(page, canvas, ring, steps=1, release=False)
                times.setdefault("lasso (from release)", []).append(_timed(page, page.mouse.up))
            for i in range(2):
                x, y = int(w * (0.15 + 0.6 * i)), int(h * 0.15)
                _timed(page, lambda: click_pixel(page, canvas, x, y), "Selected")
                page.locator("#shortcuts").click()
                times.setdefault("grow (G)", []).append(_timed(page, lambda: page.keyboard.press("g")))
                page.locator("#deselect").click()
                times.setdefault("undo (Ctrl+Z)", []).append(
                    _timed(page, lambda: page.keyboard.press("Control+z"), f"{_edits(page) - 1} edits"))
            track = page.locator("#granularity input[type=range]")
            for frac in (0.6, 0.8):
                track.scroll_into_view_if_needed()
                box = track.bounding_box()
                times.setdefault("granularity", []).append(_timed(page, lambda: page.mouse.click(
                    box["x"] + frac * box["width"], box["y"] + box["height"] / 2)))
            browser.close()
    finally:
        demo.close()
        shutil.rmtree(work, ignore_errors=True)
    return times


def main(argv: list[str] | None = None) -> int:
    """Print the click round trips; exit 2 when Chromium or Playwright is missing."""
    p = argparse.ArgumentParser(prog="cas-studio bench browser", description=__doc__.split("\n\n")[0])
    p.add_argument("--megapixels", type=float, default=1.0)
    p.add_argument("--clicks", type=int, default=5)
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print("error: Debian's chromium is needed (apt-get install chromium)")
        return 2
    try:
        times = run(args.megapixels, args.clicks)
    except ModuleNotFoundError as err:
        print(f"error: {err} (pip install -e \".[test]\")")
        return 2
    print(f"browser round trips at {args.megapixels:g} MP in Chromium --disable-gpu (input event to the new canvas "
          f"decoded), median and each:")
    clicks = times.pop("click object", [])
    if clicks:
        later = sorted(clicks[1:]) or clicks
        print(f"browser click-to-object at {args.megapixels:g} MP: first click (loads the model) {clicks[0]:.0f} ms; "
              f"then median {later[len(later) // 2]:.0f} ms ({', '.join(f'{t:.0f}' for t in clicks[1:])}), "
              f"{later[len(later) // 2] / TARGET_MS:.2f} of the {TARGET_MS} ms target")
    for name, values in times.items():
        target = MOVE_TARGET_MS if name.startswith("mouse move") else TARGET_MS
        median = float(np.median(values))
        print(f"  {name}: {median:.0f} ms ({', '.join(f'{t:.0f}' for t in values)}), "
              f"{median / target:.2f} of the {target} ms target")
    return 0
