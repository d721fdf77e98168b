"""A training run folder: the one type that reads and writes its files.

::

    <run>/
      config.json        the TrainConfig and the command (``recipe``) that made the run
      status.json        running / finished / stopped / failed, a message, and the outcome
      metrics.jsonl      one row of metrics per epoch (epoch 0: the starting model, when measured)
      metrics.csv        the same rows for spreadsheets
      curves.png         the rows plotted
      best.safetensors   the best epoch so far (full metadata); absent when no epoch beat the start
      last.safetensors   the last epoch
      last.state.pt      optimiser, scheduler, epoch and best score for resuming (tensors only)

Every file is written atomically. ``train``, ``finetune``, ``low_fidelity``, the CLI and the app
all go through :class:`Run`; nothing else opens these files.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from enum import StrEnum

import numpy as np
import torch

from ..io import atomic_path

class RunState(StrEnum):
    """A run's state as ``status.json`` records it (the text is the stored value)."""

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    #: Derived, never written: ``running`` with nobody running it (the process died).
    INTERRUPTED = "interrupted"
    #: Derived, never written: no readable ``status.json``.
    UNKNOWN = "unknown"

    @property
    def ended_well(self) -> bool:
        """The run ended and its weights may be used (finished, or stopped by the user)."""
        return self in (RunState.FINISHED, RunState.STOPPED)


#: The states a run records.
STATES = (RunState.RUNNING, RunState.FINISHED, RunState.STOPPED, RunState.FAILED)


def state_of(status: dict) -> RunState:
    """The :class:`RunState` a ``status.json`` dict records (``UNKNOWN`` for anything else)."""
    try:
        return RunState(status.get("state"))
    except ValueError:
        return RunState.UNKNOWN


class Run:
    """One run folder (see the module docstring); the path is resolved once, here."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.folder == self.folder

    def __hash__(self) -> int:
        return hash(self.folder)

    @property
    def name(self) -> str:
        """The folder's name (a run's label in lists)."""
        return self.folder.name

    @property
    def best_path(self) -> Path:
        """Where the best checkpoint is kept."""
        return self.folder / "best.safetensors"

    @property
    def last_path(self) -> Path:
        """Where the last epoch's checkpoint is kept."""
        return self.folder / "last.safetensors"

    @property
    def state_path(self) -> Path:
        """Where the resume state (optimiser, scheduler, epoch) is kept."""
        return self.folder / "last.state.pt"

    def _write_json(self, name: str, payload: dict) -> None:
        with atomic_path(self.folder / name) as tmp:
            tmp.write_text(json.dumps(payload, indent=2))

    def _read_json(self, name: str) -> dict | None:
        try:
            return json.loads((self.folder / name).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    # config -------------------------------------------------------------------------------------
    def create(self, config: dict) -> Run:
        """Make the folder (if needed) and record the run's configuration."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_json("config.json", config)
        return self

    def config(self) -> dict:
        """The recorded configuration (``{}`` when absent or unreadable)."""
        return self._read_json("config.json") or {}

    # status -------------------------------------------------------------------------------------
    def status(self) -> dict:
        """``status.json`` (``{"state": "unknown"}`` when absent or unreadable)."""
        return self._read_json("status.json") or {"state": RunState.UNKNOWN, "message": "no status recorded"}

    def set_status(self, state: RunState | str, message: str = "", **extra) -> None:
        """Record the run's state atomically, keeping earlier extra fields (e.g. the outcome)."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}; choose one of {STATES}")
        old = self._read_json("status.json") or {}
        keep = {k: v for k, v in old.items() if k not in ("state", "message", "time")}
        self._write_json("status.json", {**keep, "state": state, "message": message, "time": time.time(), **extra})

    # metrics ------------------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """The per-epoch metric rows recorded so far (``[]`` when none)."""
        try:
            text = (self.folder / "metrics.jsonl").read_text()
        except OSError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def write_rows(self, rows: list[dict]) -> None:
        """Record every row (JSON lines and CSV) and redraw ``curves.png``."""
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with atomic_path(self.folder / "metrics.csv") as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)
        with atomic_path(self.folder / "metrics.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        if rows:
            _plot(rows, self.folder / "curves.png")

    # weights and resume state -------------------------------------------------------------------
    def remove_temporaries(self) -> int:
        """Delete the temporary files of writes that never finished (a process killed mid-write);
        call only when no process writes to this run. Returns how many were removed."""
        stale = list(self.folder.glob(".*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def weights(self) -> Path | None:
        """The checkpoint to use: the best one, else the last one, else None."""
        for path in (self.best_path, self.last_path):
            if path.is_file():
                return path
        return None

    def save_state(self, state: dict) -> None:
        """Save the resume state (tensors and plain values only)."""
        with atomic_path(self.state_path) as tmp:
            torch.save(state, tmp)

    def load_state(self) -> dict | None:
        """The resume state, read with ``weights_only=True``; None when there is none."""
        if not self.state_path.is_file():
            return None
        return torch.load(self.state_path, map_location="cpu", weights_only=True)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Epoch 0 (the starting model) has scores but no training loss: plot the union of keys.
    keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in ("epoch", "time_s", "lr", "saliency_channel")]
    keys = keys or ["epoch"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, k in zip(axes[0], keys):
        ax.plot(epochs, [r.get(k, np.nan) for r in rows], marker="o", ms=3)
        ax.set_title(k)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
