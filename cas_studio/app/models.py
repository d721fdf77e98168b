"""Which models the app offers, loaded once and shared by all sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from ..tasks import get_task
from ..weights import available_weights, load_model, read_info, resolve_weights

_lock = threading.Lock()
_cache: OrderedDict[str, object] = OrderedDict()
_CACHE_SIZE = 4
#: Extra weights files registered at run time (e.g. finished fine-tuning runs): label -> path.
extra_models: dict[str, Path] = {}


def model_choices() -> list[str]:
    """Labels for the model dropdowns: shipped names first, then registered runs. Models of tasks
    the dropdowns do not serve (the click model, which the click-object mode uses by itself) are
    left out."""
    def offered(name: str) -> bool:
        try:
            return get_task(read_info(name).task).trainable
        except (ValueError, FileNotFoundError):
            return True  # listed, so choosing it shows what is wrong with the file
    return [n for n in available_weights() if offered(n)] + sorted(extra_models)


def get_model(label: str):
    """The loaded model for a dropdown label (cached, CPU or CUDA as available)."""
    if not label:
        raise ValueError("no model selected, and no model is installed: train one with `cas-studio train` "
                         "or put a .safetensors file in weights/")
    path = extra_models.get(label) or resolve_weights(label)
    key = str(Path(path).resolve())
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    model = load_model(path)
    with _lock:
        _cache[key] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model
