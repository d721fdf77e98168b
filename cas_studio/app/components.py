"""Gradio components with our own behaviour (same front end as the component they extend)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import UnidentifiedImageError

from ..io import IMAGE_SUFFIXES


class ImageUpload(gr.Image):
    """``gr.Image`` whose upload of a non-image (a text file named .jpg) is our clear error,
    not Gradio's "Could not preprocess input component ... UnidentifiedImageError"."""

    is_template = True  # drawn by gr.Image's front end

    def preprocess(self, payload):  # noqa: D102 - gr.Image's, with a clear error
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            name = Path(getattr(payload, "orig_name", None) or getattr(payload, "path", None) or "the upload").name
            raise gr.Error(f"{name} is not a readable image ({type(err).__name__}); upload one of "
                           f"{', '.join(sorted(IMAGE_SUFFIXES))}.") from None
