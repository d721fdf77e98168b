"""The app shows the library's defaults: a test that fails when they drift apart."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from cas_studio import annotation as ann
from cas_studio.app import annotate_tab


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    from cas_studio.app.context import AppContext

    with gr.Blocks():
        return annotate_tab.build(AppContext(tmp_path_factory.mktemp("projects")), "x", gr.BrowserState(""))


def test_every_over_segmentation_slider_starts_at_the_library_default(tab):
    sliders = tab["sliders"]
    assert set(sliders) == {(m, p) for m in ann.METHODS for p in ann.DEFAULTS[m]}
    for (method, name), slider in sliders.items():
        assert slider.value == ann.DEFAULTS[method][name], (method, name)
        lo, hi, step, _ = annotate_tab.PARAM_RANGES[name]
        assert (slider.minimum, slider.maximum, slider.step) == (lo, hi, step)


def test_slic_opens_with_a_working_compactness(tab):
    """SLIC used to share watershed's compactness slider, which starts at 0 (division by zero)."""
    from skimage import data

    value = tab["sliders"][("slic", "compactness")].value
    assert value > 0
    labels = ann.oversegment(data.coffee()[::4, ::4], "slic", regions=50, compactness=value)
    assert labels.min() == 1 and labels.max() > 10


def test_method_and_granularity_open_at_the_measured_defaults(tab):
    assert tab["method"].value == ann.DEFAULT_METHOD
    assert tab["granularity"].value == ann.DEFAULT_GRANULARITY


def test_projects_live_in_the_user_data_folder_unless_told(monkeypatch, tmp_path):
    from cas_studio.app import settings

    monkeypatch.delenv(settings.PROJECTS_ENV, raising=False)
    default = settings.default_projects_dir()
    assert default.parts[-2:] == ("cas-studio", "projects") and not default.is_relative_to(Path.cwd())
    monkeypatch.setenv(settings.PROJECTS_ENV, str(tmp_path / "mine"))
    assert settings.default_projects_dir() == tmp_path / "mine"
