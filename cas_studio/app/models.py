"""Which models an app offers, loaded once and shared by all its sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from ..data.project import file_sha256
from ..inference.tasks import get_task
from ..models.weights import available_weights, load_model, read_info, resolve_weights

#: Loaded models kept per app (the least recently used go first).
CACHE_SIZE = 4


class ModelStore:
    """The shipped models plus the runs registered at run time (finished fine-tunes), loaded on
    first use and cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, object] = OrderedDict()
        #: Extra weights files: dropdown label -> path.
        self.extra: dict[str, Path] = {}
        #: The SHA-256 each extra file had when it was registered (a recorded run's hash).
        self._hashes: dict[str, str] = {}

    def __deepcopy__(self, memo: dict) -> ModelStore:
        # Shared by every session of the app: a session's state (deep-copied by Gradio from the
        # initial value) refers to the one store, never to a copy of its cache and lock.
        return self

    def register(self, label: str, path: Path) -> None:
        """Offer ``path`` in the dropdowns as ``label``, for as long as the file keeps the hash it
        has now (a recorded run's weights, checked just before)."""
        self.extra[label] = Path(path)
        try:
            self._hashes[label] = file_sha256(path)
        except OSError:  # offered never: _unchanged drops it at the first look
            self._hashes[label] = None

    def _unchanged(self, label: str) -> bool:
        """Whether a registered file is still the one registered; a swapped or removed one is dropped."""
        try:
            same = file_sha256(self.extra[label]) == self._hashes.get(label)
        except OSError:
            same = False
        if not same:
            self.extra.pop(label, None)
            self._hashes.pop(label, None)
        return same

    def path(self, label: str) -> Path:
        """The weights file of a dropdown label."""
        return self.extra.get(label) or resolve_weights(label)

    def choices(self) -> list[str]:
        """Labels for the model dropdowns: shipped names first, then registered runs. Models of
        tasks the dropdowns do not serve (the click model, which the click-object mode uses by
        itself) are left out."""
        def offered(name: str) -> bool:
            try:
                return get_task(read_info(name).task).trainable
            except (ValueError, FileNotFoundError):
                return True  # listed, so choosing it shows what is wrong with the file
        return [n for n in available_weights() if offered(n)] + sorted(k for k in list(self.extra) if self._unchanged(k))

    def get(self, label: str):
        """The loaded model for a dropdown label (cached, CPU or CUDA as available)."""
        if not label:
            raise ValueError("no model selected, and no model is installed: train one with `cas-studio train` "
                             "or put a .safetensors file in weights/")
        if label in self.extra and not self._unchanged(label):
            raise ValueError(f"{label}: its weights file was replaced or removed since the run recorded it; "
                             "it is no longer offered")
        path = Path(self.path(label)).resolve()
        key = f"{path}:{file_sha256(path)}"  # a file replaced in place is never served from the cache
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        model = load_model(path)
        with self._lock:
            self._cache[key] = model
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return model
