"""A live app on a free loopback port, with small untrained models standing in for shipped ones."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from cas_studio.bench.browser import free_port
from cas_studio.models.factory import build_model
from cas_studio.models.weights import WEIGHTS_DIR_ENV, WeightsInfo, save_weights


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    for task, channels in (("saliency", 2), ("regions", 8), ("texture", 4)):
        info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=channels, task=task, input_size=128,
                           saliency_channel=1 if task == "saliency" else None)
        save_weights(build_model(info.arch, channels), folder / f"{task}.safetensors", info, half=True)
    # An untrained click model clicks nothing sensible: the shipped one stands in for itself.
    shipped = Path(__file__).resolve().parents[2] / "weights" / "clicks.safetensors"
    if shipped.is_file():
        shutil.copy(shipped, folder / "clicks.safetensors")
    return folder


@pytest.fixture(scope="session")
def live_app(weights_dir, tmp_path_factory):
    """The running app (its ``cas_context`` says where its projects live); see :func:`app_url`."""
    mp = pytest.MonkeyPatch()
    mp.setenv(WEIGHTS_DIR_ENV, str(weights_dir))
    # Hide the shipped folder but keep honouring $CAS_STUDIO_WEIGHTS, as the real function does: a
    # later test that points it elsewhere must still find its own files.
    mp.setattr("cas_studio.models.weights.weights_dirs",
               lambda: list(dict.fromkeys([Path(os.environ.get(WEIGHTS_DIR_ENV, weights_dir)), weights_dir])))
    from cas_studio.app import build_app

    # Every test's tmp_path lies under the base temp folder: the projects folder of this app.
    demo = build_app(project_folder="p", projects_dir=tmp_path_factory.getbasetemp())
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, show_error=True)
    demo.cas_url = f"http://127.0.0.1:{port}/"
    yield demo
    demo.close()
    mp.undo()


@pytest.fixture(scope="session")
def app_url(live_app):
    return live_app.cas_url
