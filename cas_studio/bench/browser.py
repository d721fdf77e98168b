"""``cas-studio bench browser``: what a person waits for in the Annotate tab, in a real browser.

Starts the app on a free loopback port with the shipped models, opens it in Debian's Chromium
(Playwright, ``--disable-gpu``), makes a project with one photo resized to ``--megapixels``, and
times each click-to-object click from the mouse event to the updated status and the new canvas
image decoded. Needs ``pip install -e ".[test]"`` (Playwright) and ``apt-get install chromium``.
Target: 300 ms per click at 1 MP.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

TARGET_MS = 300
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
    box = img.bounding_box()  # includes the zoom transform
    nw, nh, fit, zoom = img.evaluate("e => [e.naturalWidth, e.naturalHeight, getComputedStyle(e).objectFit, "
                                     "window.casCanvas ? window.casCanvas.zoom : 1]")
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


def drag_pixels(page, selector: str, points: list[tuple[float, float]], *, steps: int = 3) -> None:
    """Press, move through ``points`` (natural pixels) and release: a stroke or a lasso drawn by hand."""
    page.locator(selector).scroll_into_view_if_needed()
    page.mouse.move(*client_point(page, selector, *points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*client_point(page, selector, x, y), steps=steps)
    page.mouse.up()


def run(megapixels: float = 1.0, clicks: int = 5) -> list[float]:
    """Milliseconds per click-to-object click (the first one loads the model)."""
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
    times = []
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
            page.locator("#click-mode").get_by_text("click object", exact=True).click()
            h, w = image.shape[:2]
            for i in range(1, clicks + 1):
                x, y = w // 2 + 7 * i, h // 2 + 5 * i  # on the cup, a little further each time
                t0 = time.perf_counter()
                click_pixel(page, "#canvas img", x, y)
                expect(status).to_contain_text(f"Object in progress: {i} positive")
                page.wait_for_function("() => { const i = document.querySelector('#canvas img'); "
                                       "return i && i.complete && i.naturalWidth > 0; }")
                times.append(1000 * (time.perf_counter() - t0))
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
    later = sorted(times[1:]) or times
    median = later[len(later) // 2]
    print(f"browser click-to-object at {args.megapixels:g} MP: first click (loads the model) {times[0]:.0f} ms; "
          f"then median {median:.0f} ms ({', '.join(f'{t:.0f}' for t in times[1:])}), "
          f"{median / TARGET_MS:.2f} of the {TARGET_MS} ms target")
    return 0
