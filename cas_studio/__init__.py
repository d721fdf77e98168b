"""CAS Studio: class-agnostic segmentation with the CAS loss.

The library is headless: ``cas_studio.losses``, ``cas_studio.models``, ``cas_studio.weights`` and
the modules above them never import the app.
"""

from .losses import CASLoss, cas_loss, cas_terms
from .models import build_model
from .weights import WeightsInfo, load_model, save_weights

__version__ = "0.1.0"
__all__ = ["CASLoss", "WeightsInfo", "build_model", "cas_loss", "cas_terms", "load_model", "save_weights"]
