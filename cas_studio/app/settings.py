"""Process-wide app settings: how long files and sessions are kept, and the scratch space.

Where projects may live, and which models and runs an app has, belong to each app
(:class:`cas_studio.app.context.AppContext`), not to the process."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

#: How long cut-outs, exports and Gradio's cache are kept, in seconds.
SCRATCH_TTL_S = 3600
#: How long a closed tab's session state (its undo history, its last saliency map) is kept, in seconds.
SESSION_TTL_S = 3600
#: The shipped weights the Annotate and Fine-tune tabs start from, when installed.
START_MODEL = "regions"
_scratch_root: Path | None = None


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


#: Environment variable that moves the default projects folder.
PROJECTS_ENV = "CAS_STUDIO_PROJECTS"


def default_projects_dir() -> Path:
    """Where the app keeps projects unless told (``--projects-dir``): ``$CAS_STUDIO_PROJECTS``, else
    the platform's user data folder (``~/.local/share/cas-studio/projects`` on Linux), never the
    current folder (a fine-tune writes tens of MB there, inside whatever checkout one started in)."""
    from platformdirs import user_data_path

    return Path(os.environ.get(PROJECTS_ENV) or user_data_path("cas-studio") / "projects")
