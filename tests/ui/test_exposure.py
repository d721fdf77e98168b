"""Safe to expose: projects confined to a root, auth required off this machine, no leaks, limits."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

import pytest

from cas_studio.app import settings

app_main = importlib.import_module("cas_studio.app.main")  # the package re-exports main() under that name
from cas_studio.data.project import confine


def test_projects_are_confined_to_their_root(tmp_path):
    root = tmp_path / "projects"
    root.mkdir()
    assert confine(root, "mine") == (root / "mine").resolve()
    assert confine(root, str(root / "a" / "b")) == (root / "a" / "b").resolve()
    for bad in ("../elsewhere", "/etc", str(tmp_path), "a/../../x"):
        with pytest.raises(ValueError, match="inside the projects folder"):
            confine(root, bad)
    (root / "escape").symlink_to(tmp_path)  # a link inside that points outside
    with pytest.raises(ValueError, match="inside the projects folder"):
        confine(root, "escape/x")


def test_the_app_refuses_a_project_outside_the_root(client_url_and_root):
    from gradio_client import Client

    url, root = client_url_and_root
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="inside the projects folder"):
        client.predict(str(root.parent.parent / "outside"), api_name="/open_project")
    assert not (root.parent.parent / "outside").exists()


@pytest.fixture
def client_url_and_root(live_app):
    return live_app.cas_url, live_app.cas_context.projects_dir


@pytest.mark.parametrize("argv", [["--share"], ["--host", "0.0.0.0"]])
def test_exposing_without_auth_is_refused(argv, capsys, monkeypatch):
    launched = []
    monkeypatch.setattr("gradio.Blocks.launch", lambda self, **kw: launched.append(kw))
    assert app_main.main(argv) == 2 and launched == []
    assert "needs --auth" in capsys.readouterr().err


def test_auth_is_passed_and_errors_do_not_show_server_paths(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr("gradio.Blocks.launch", lambda self, **kw: launched.append(kw))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "users.txt").write_text("# team\nann:secret1\nbob:secret2\n")
    assert app_main.main(["--host", "0.0.0.0", "--auth", "@users.txt"]) == 0
    (kw,) = launched
    assert kw["auth"] == [("ann", "secret1"), ("bob", "secret2")] and kw["show_error"] is False
    assert app_main.main(["--share", "--insecure"]) == 0 and launched[-1]["auth"] is None
    with pytest.raises(ValueError, match="USER:PASS"):
        app_main.read_auth("nopassword")


def test_scratch_files_are_private_and_expire(tmp_path, monkeypatch):
    first = settings.scratch("cutout-")
    assert first.parent.name.startswith("cas-studio-scratch-") and oct(first.stat().st_mode)[-3:] == "700"
    old = time.time() - settings.SCRATCH_TTL_S - 10
    os.utime(first, (old, old))
    settings.scratch("export-")
    assert not first.exists()
    examples = app_main.example_images()
    assert all(Path(p).parent.parent.name.startswith("cas-studio-scratch-") for p in examples)


def test_run_labels_of_same_named_projects_differ(tmp_path):
    from cas_studio.app.context import AppContext

    ctx = AppContext(tmp_path)
    assert ctx.run_label(tmp_path / "a" / "mine", "r1") != ctx.run_label(tmp_path / "b" / "mine", "r1")


def test_weights_metadata_ranges_are_checked_before_allocation():
    from cas_studio.models.weights import WeightsInfo

    base = WeightsInfo(arch="efficientnet_lite0_fpn", out_channels=2, task="saliency").to_metadata()
    for key, value in (("out_channels", "1000000000"), ("input_size", "1000000"), ("mean", "[0.5, 0.5]"),
                       ("std", "[0.2, 0.0, 0.2]"), ("out_channels", "2.5")):
        with pytest.raises(ValueError, match="bad weights metadata"):
            WeightsInfo.from_metadata({**base, key: value})


def test_the_served_app_keeps_freed_memory_while_working_and_trims_it_when_idle(tmp_path, monkeypatch):
    """``main`` sets both allocator policies before it serves (cas_studio.training.allocator)."""
    calls = []
    monkeypatch.setattr(app_main, "keep_freed_memory", lambda: calls.append("keep"))
    monkeypatch.setattr(app_main, "trim_when_idle", lambda: calls.append("trim"))
    monkeypatch.setattr("gradio.Blocks.launch", lambda self, **kw: calls.append("launch"))
    monkeypatch.chdir(tmp_path)
    assert app_main.main([]) == 0
    assert calls == ["keep", "trim", "launch"]
