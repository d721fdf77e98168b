"""The CAS Studio app: assembles the tabs and launches the server (``python app.py``)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import gradio as gr

from ..io import write_image
from ..training.allocator import keep_freed_memory, trim_when_idle
from . import annotate_tab, canvas, finetune_tab, segment_tab, settings
from .context import AppContext

EXAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "coins", "camera")


def example_images(folder: Path | None = None) -> list[str]:
    """Write a few images bundled with scikit-image to PNG files (offline) and return their paths
    (by default in a private folder of this process, not at a path anyone can predict)."""
    from skimage import data

    folder = folder or settings.scratch("examples-")
    paths = []
    for name in EXAMPLES:
        path = folder / f"{name}.png"
        if not path.is_file():
            write_image(path, getattr(data, name)())
        paths.append(str(path))
    return paths


def build_app(*, project_folder: str = "my-project", projects_dir: str | Path | None = None) -> gr.Blocks:
    """Build the Blocks app (not launched); projects are confined to ``projects_dir`` (default:
    :func:`~cas_studio.app.settings.default_projects_dir`).

    The app's own state (projects folder, models, runs) is one :class:`AppContext`, kept as the
    returned Blocks' ``cas_context``: two apps in one process share nothing.
    """
    ctx = AppContext(Path(projects_dir) if projects_dir is not None else settings.default_projects_dir())
    ctx.projects_dir.mkdir(parents=True, exist_ok=True)
    # Gradio's own cache of uploads and outputs is cleared hourly of files older than an hour.
    with gr.Blocks(title="CAS Studio", delete_cache=(settings.SCRATCH_TTL_S, settings.SCRATCH_TTL_S)) as demo:
        gr.Markdown("# CAS Studio\nClass-agnostic segmentation: regions are ids, never class names.")
        # The project this browser had open (its local storage), reopened on a reload. Outside the
        # tabs: a tab's components are not rendered, nor read on page load, until it is shown.
        remembered = gr.BrowserState("", storage_key="cas-studio-project")
        with gr.Tab("Segment"):
            seg = segment_tab.build(ctx, example_images())
        with gr.Tab("Annotate"):
            annot = annotate_tab.build(ctx, project_folder, remembered)
        with gr.Tab("Fine-tune"):
            tune = finetune_tab.build(ctx, project_folder, [seg["model"], annot["model"]])
        # One project across the tabs: the one open in Annotate is the one Fine-tune uses, until
        # the user types another there.
        annot["folder"].change(lambda folder: folder, annot["folder"], tune["folder"], api_name=False,
                               show_progress="hidden")
        demo.load(None, None, None, js=annotate_tab.shortcuts_js())  # keyboard shortcuts (Annotate tab)
        demo.load(None, None, None, js=canvas.canvas_js())  # drawing, zoom and pan on the Annotate canvas
        # A reload reopens the project this browser had open.
        demo.load(functools.partial(annotate_tab.reopen, ctx), [remembered, annot["state"]],
                  [annot["folder"], annot["state"], annot["picture"], annot["status"]], api_name=False)
        # Model lists refresh on page load, so models added since start-up appear.
        demo.load(lambda: (gr.update(choices=ctx.models.choices()),) * 2, None, [seg["model"], annot["model"]],
                  api_name=False)
    # Bounded queue: inference runs one at a time, edits a few at a time; memory stays bounded.
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.cas_context = ctx
    return demo


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def read_auth(spec: str) -> list[tuple[str, str]]:
    """``USER:PASS``, or ``@FILE`` with one ``USER:PASS`` per line, as Gradio's ``auth`` list."""
    lines = Path(spec[1:]).read_text().splitlines() if spec.startswith("@") else [spec]
    pairs = []
    for line in (x.strip() for x in lines):
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ValueError("--auth wants USER:PASS (or @FILE with one USER:PASS per line)")
        pairs.append((user, password))
    if not pairs:
        raise ValueError("--auth names no USER:PASS")
    return pairs


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python app.py`` and ``cas-studio app``."""
    keep_freed_memory()  # steadier, faster model passes (cas_studio.training.allocator)
    trim_when_idle()  # ... and the freed memory back to the system while the app waits
    p = argparse.ArgumentParser(prog="cas-studio app", description="Serve the CAS Studio app.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link (needs --auth)")
    p.add_argument("--projects-dir", default=None,
                   help="projects may only be created or opened inside this folder (default: $CAS_STUDIO_PROJECTS, "
                        f"else {settings.default_projects_dir()})")
    p.add_argument("--project", default="my-project", help="default annotation project, inside --projects-dir")
    p.add_argument("--auth", default=None, help="USER:PASS, or @FILE with one USER:PASS per line")
    p.add_argument("--insecure", action="store_true",
                   help="allow --share or a non-loopback --host without --auth (anyone who reaches it can use it)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    exposed = args.share or args.host not in LOOPBACK
    try:
        auth = read_auth(args.auth) if args.auth else None
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if exposed and auth is None and not args.insecure:
        print("error: --share or --host other than this machine needs --auth USER:PASS (or --insecure to "
              "serve without a password)", file=sys.stderr)
        return 2
    demo = build_app(project_folder=args.project, projects_dir=args.projects_dir)
    finetune_tab.register_runs(demo.cas_context, args.project)  # earlier runs' models are selectable at once
    # show_error=False: unexpected exceptions (and the server paths in them) stay in the server log;
    # our own messages (gr.Error) still reach the user.
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=False,
                max_file_size="200mb", auth=auth)
    return 0
