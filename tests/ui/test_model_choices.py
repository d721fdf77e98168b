"""What the app offers: each dropdown lists only models that can do its tasks, and a model is refused
for a task it was not trained for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from skimage import data

from cas_studio.app import segment_tab
from cas_studio.app.context import AppContext
from cas_studio.app.models import ModelStore
from cas_studio.io import write_image
from cas_studio.models.factory import build_model
from cas_studio.models.weights import WEIGHTS_DIR_ENV, WeightsInfo, save_weights


@pytest.fixture
def weights_here(tmp_path, monkeypatch):
    torch.manual_seed(0)
    for name, info in {
        "regions": WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=4, task="regions", input_size=64),
        "my-clicks": WeightsInfo(arch="efficientnet_lite1_fpn_clicks", out_channels=2, task="clicks", input_size=64),
    }.items():
        save_weights(build_model(info.arch, info.out_channels), tmp_path / f"{name}.safetensors", info, half=True)
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))
    monkeypatch.setattr("cas_studio.models.weights.weights_dirs", lambda: [tmp_path])
    return tmp_path


def test_dropdowns_leave_out_the_click_model(weights_here):
    choices = ModelStore().choices()
    assert "regions" in choices and "my-clicks" not in choices


def test_segment_refuses_a_model_trained_for_another_task(weights_here, tmp_path):
    image = write_image(tmp_path / "coffee.png", data.coffee()[::8, ::8])
    result, overlay, channels, cutout, summary, state, _ = segment_tab.segment(AppContext(tmp_path),
                                                                                str(image), "saliency", "regions")
    # No result (nor a stale one) shown: the summary says why.
    assert (result, overlay, channels, cutout, state) == (None, None, [], None, None)
    assert "Not segmented:" in summary and "regions is a regions model; choose a saliency model" in summary


def test_two_apps_in_one_process_share_no_projects_folder_or_models(tmp_path):
    from cas_studio.app import build_app

    a = build_app(projects_dir=tmp_path / "a").cas_context
    b = build_app(projects_dir=tmp_path / "b").cas_context
    a.models.register("a-run", tmp_path / "a.safetensors")
    assert a.projects_dir != b.projects_dir and "a-run" not in b.models.choices()
    assert a.project_path("p") == (tmp_path / "a" / "p").resolve()
    with pytest.raises(ValueError, match="inside the projects folder"):
        b.project_path(str(tmp_path / "a" / "p"))


def test_a_run_whose_weights_are_swapped_is_no_longer_offered_or_loaded(tmp_path):
    import shutil

    from cas_studio.app.models import ModelStore

    shipped = Path(__file__).resolve().parents[2] / "weights"
    run = tmp_path / "best.safetensors"
    shutil.copy(shipped / "saliency.safetensors", run)
    store = ModelStore()
    store.register("my-run", run)
    assert "my-run" in store.choices()
    assert store.get("my-run").info.task == "saliency"
    shutil.copy(shipped / "texture.safetensors", tmp_path / "swap.tmp")
    (tmp_path / "swap.tmp").replace(run)  # a texture model copied over the run's best file
    with pytest.raises(ValueError, match="replaced or removed"):
        store.get("my-run")
    assert "my-run" not in store.choices()
