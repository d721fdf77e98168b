"""What one running app owns: its projects folder, its models and its fine-tuning runs.

``build_app`` makes one :class:`AppContext` and hands it to every tab, so nothing about a running
app lives in module globals: two apps in one process (a test beside a benchmark) keep their own
projects folder, model list and runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.project import confine
from ..training.finetune import RunManager
from .models import ModelStore


@dataclass
class AppContext:
    """One app's projects folder, models, runs and cached curve plots."""

    projects_dir: Path
    models: ModelStore = field(default_factory=ModelStore)
    runs: RunManager = field(default_factory=RunManager)
    plots: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.projects_dir = Path(self.projects_dir).expanduser().resolve()

    def project_path(self, typed: str) -> Path:
        """The project folder a client typed, confined to :attr:`projects_dir` (a relative path is
        taken inside it); ``ValueError`` for anything outside it, symbolic links included."""
        return confine(self.projects_dir, typed)

    def label_of(self, folder: Path) -> str:
        """How a project is named in model lists: its path inside the projects folder (unique)."""
        try:
            return folder.resolve().relative_to(self.projects_dir).as_posix()
        except ValueError:
            return folder.name

    def run_label(self, root: Path, run_name: str) -> str:
        """A run's name in the model lists: its project's path inside the projects folder, then the run."""
        return f"{self.label_of(root)}/{run_name}"
