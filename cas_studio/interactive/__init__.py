"""Click-to-object: a click gives a whole object, more positive and negative clicks refine it.

``ClickSegmenter`` runs the shipped ``clicks`` model (:mod:`.segmenter`); :mod:`.clicks` holds the
click encoding and the standard NoC click protocol; ``cas-studio train-clicks`` trains the model
(:mod:`.train`).
"""

from .clicks import Click, check_clicks, click_maps, iou, next_click
from .segmenter import ClickSegmenter

__all__ = ["Click", "ClickSegmenter", "check_clicks", "click_maps", "iou", "next_click"]
