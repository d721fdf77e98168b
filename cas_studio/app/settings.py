"""What one app process is configured with: where projects may live, and its scratch space."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..data.project import confine

#: Projects may only be created or opened inside this folder (``--projects-dir``).
projects_dir: Path = Path("projects").resolve()
#: How long cut-outs, exports and Gradio's cache are kept, in seconds.
SCRATCH_TTL_S = 3600
#: How long a closed tab's session state (its undo history, its last saliency map) is kept, in seconds.
SESSION_TTL_S = 3600
_scratch_root: Path | None = None


def project_path(typed: str) -> Path:
    """The project folder a client typed, confined to :data:`projects_dir` (a relative path is
    taken inside it); ``ValueError`` for anything outside it, symbolic links included."""
    return confine(projects_dir, typed)


def label_of(folder: Path) -> str:
    """How a project is named in model lists: its path inside the projects folder (unique)."""
    try:
        return folder.resolve().relative_to(projects_dir).as_posix()
    except ValueError:
        return folder.name


def scratch(prefix: str) -> Path:
    """A new private folder for files handed to a client (cut-outs, exports). Folders older than
    :data:`SCRATCH_TTL_S` are removed as new ones are made; the whole scratch space of processes
    that ended goes at the next start."""
    global _scratch_root
    if _scratch_root is None:
        for stale in Path(tempfile.gettempdir()).glob("cas-studio-scratch-*"):
            if time.time() - stale.stat().st_mtime > SCRATCH_TTL_S:
                shutil.rmtree(stale, ignore_errors=True)
        _scratch_root = Path(tempfile.mkdtemp(prefix="cas-studio-scratch-"))
    for old in _scratch_root.iterdir():
        if time.time() - old.stat().st_mtime > SCRATCH_TTL_S:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_scratch_root))
