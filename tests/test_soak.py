"""The soak (``cas-studio bench soak``), small: concurrent sessions lose no edit and memory stays bounded."""

from __future__ import annotations

import pytest

from cas_studio.bench import soak
from cas_studio.data import project as project_module


@pytest.mark.slow
def test_concurrent_sessions_lose_no_edit(tmp_path):
    r = soak.run(sessions=12, seconds=4, images=3, readers=4, folder=tmp_path)
    assert r["errors"] == [] and r["lost"] == {} and r["pairs_ok"], r
    assert r["reads"] > 10 and r["stale_reads"] == 0, r  # readers raced the writers and saw whole snapshots
    assert r["confirmation_errors"] == 0, r  # nothing recorded confirmed that nobody confirmed, nothing lost
    assert r["saves"] > 10 and r["conflicts"] > 0  # sessions did collide, and were told
    assert r["rss_growth_mb"] < 1024


@pytest.mark.slow
def test_the_soak_sees_lost_edits_when_saves_do_not_compare_versions(tmp_path, monkeypatch):
    """Without compare-and-swap the last writer wins silently: the soak must notice."""
    real = project_module.Project.save_labels

    def blind(self, image, labels, **kw):
        kw["expected_version"] = None
        return real(self, image, labels, **kw)

    monkeypatch.setattr(project_module.Project, "save_labels", blind)
    r = soak.run(sessions=12, seconds=3, images=1, folder=tmp_path)
    assert r["lost"], r


@pytest.mark.slow
def test_the_soak_sees_stale_reads_when_reads_skip_the_lock(tmp_path, monkeypatch):
    """Labels and sidecar read outside the project lock can pair old labels with a newer sidecar."""
    import time

    def unlocked(self, image):
        labels = self._read_object(self.sidecar(image).get("labels"))
        time.sleep(0.002)  # the window between reading the label map and its record
        side = self.sidecar(image)
        return labels, side, self._read_object(side.get("proposal"))

    monkeypatch.setattr(project_module.Project, "load_annotation", unlocked)
    r = soak.run(sessions=8, seconds=3, images=1, readers=4, folder=tmp_path)
    assert r["stale_reads"] > 0, r


@pytest.mark.slow
def test_the_soak_counts_confirmation_errors_when_a_save_confirms_what_nobody_did(tmp_path, monkeypatch):
    """A save that records every region as confirmed (as a reader's rewritten proposal once made
    it) trains on fragments nobody confirmed: the soak must count them."""
    import numpy as np

    # Every region judged "changed" against its proposal: all recorded confirmed, proposal kept.
    monkeypatch.setattr(project_module, "confirmed_regions",
                        lambda labels, proposal, **kw: np.setdiff1d(np.unique(labels), [0]))
    r = soak.run(sessions=4, seconds=2, images=1, readers=2, folder=tmp_path)
    assert r["confirmation_errors"] > 0, r


@pytest.mark.slow
def test_two_processes_racing_on_one_project_lose_nothing(tmp_path):
    r = soak.run(sessions=6, seconds=4, images=2, readers=2, folder=tmp_path, processes=2)
    assert r["processes"] == 2 and not r["errors"], r
    assert r["saves"] > 0 and r["reads"] > 0, r
    assert not r["lost"] and r["pairs_ok"] and r["stale_reads"] == 0 and r["confirmation_errors"] == 0, r


def test_the_soak_refuses_a_process_count_it_cannot_fill(tmp_path):
    with pytest.raises(ValueError, match="a session per process, got 3 process"):
        soak.run(sessions=2, seconds=1, images=1, folder=tmp_path, processes=3)
