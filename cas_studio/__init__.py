"""CAS Studio: class-agnostic segmentation with the CAS loss.

The library is headless: ``cas_studio.losses``, ``cas_studio.models``, ``cas_studio.models.weights`` and
the modules above them never import the app. The names below load on first use, so that
``import cas_studio.io`` or ``import cas_studio.annotation`` does not pay for importing torch.
"""

from __future__ import annotations

from ._lazy import lazy_getattr

__version__ = "0.1.0"
#: Public name -> the submodule that defines it.
_LAZY = {"CASLoss": "losses", "cas_loss": "losses", "cas_terms": "losses", "build_model": "models.factory",
         "WeightsInfo": "models.weights", "load_model": "models.weights", "save_weights": "models.weights",
         "keep_freed_memory": "training.allocator"}
__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
