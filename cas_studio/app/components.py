"""Gradio components with our own behaviour (same front end as the component they extend)."""

from __future__ import annotations


import gradio as gr
from PIL import UnidentifiedImageError

from ..io import IMAGE_SUFFIXES


class ImageUpload(gr.Image):
    """``gr.Image`` (``type="filepath"``) that hands an upload Pillow cannot read to the handler as
    its path, so the handler refuses it by name with the library's message (and every output shows
    that refusal) instead of Gradio's "Could not preprocess input component" error on every output."""

    is_template = True  # drawn by gr.Image's front end

    def preprocess(self, payload):  # noqa: D102 - gr.Image's, the unreadable left to the handler
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError):
            path = getattr(payload, "path", None)
            if self.type != "filepath" or not path:
                raise gr.Error(f"The upload is not a readable image; upload one of "
                               f"{', '.join(sorted(IMAGE_SUFFIXES))}.") from None
            return str(path)
