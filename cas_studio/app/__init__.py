"""The Gradio app: a thin layer over the library (nothing in the library imports it)."""

from .main import build_app, main

__all__ = ["build_app", "main"]
