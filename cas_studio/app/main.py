"""The CAS Studio app: assembles the tabs and launches the server (``python app.py``)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import gradio as gr

from ..io import write_image
from . import annotate_tab, finetune_tab, segment_tab
from .models import model_choices

EXAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "coins", "camera")


def example_images(folder: Path | None = None) -> list[str]:
    """Write a few images bundled with scikit-image to PNG files (offline) and return their paths."""
    from skimage import data

    folder = folder or Path(tempfile.gettempdir()) / "cas-studio-examples"
    paths = []
    for name in EXAMPLES:
        path = folder / f"{name}.png"
        if not path.is_file():
            write_image(path, getattr(data, name)())
        paths.append(str(path))
    return paths


def build_app(*, project_folder: str = "projects/my-project") -> gr.Blocks:
    """Build the Blocks app (not launched)."""
    with gr.Blocks(title="CAS Studio") as demo:
        gr.Markdown("# CAS Studio\nClass-agnostic segmentation: regions are ids, never class names.")
        with gr.Tab("Segment"):
            seg = segment_tab.build(example_images())
        with gr.Tab("Annotate"):
            annot = annotate_tab.build(project_folder)
        with gr.Tab("Fine-tune"):
            tune = finetune_tab.build(project_folder, [seg["model"], annot["model"]])
        # One project across the tabs: the one open in Annotate is the one Fine-tune uses, until
        # the user types another there.
        annot["folder"].change(lambda folder: folder, annot["folder"], tune["folder"], api_name=False,
                               show_progress="hidden")
        demo.load(None, None, None, js=annotate_tab.SHORTCUTS_JS)  # keyboard shortcuts (Annotate tab)
        # Model lists refresh on page load, so models added since start-up appear.
        demo.load(lambda: (gr.update(choices=model_choices()),) * 2, None, [seg["model"], annot["model"]],
                  api_name=False)
    # Bounded queue: inference runs one at a time, edits a few at a time; memory stays bounded.
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python app.py`` and ``cas-studio app``."""
    p = argparse.ArgumentParser(prog="cas-studio app", description="Serve the CAS Studio app.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off by default)")
    p.add_argument("--project", default="projects/my-project", help="default annotation project folder")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    finetune_tab.register_runs(args.project)  # earlier runs' models are selectable at once
    demo = build_app(project_folder=args.project)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                max_file_size="200mb")
    return 0
