"""Video: ordered frames from a folder or a video file, and propagation of a few annotated frames
to all of them (``cas-studio propagate``)."""

from .frames import VIDEO_SUFFIXES, Frames
from .propagation import PropagateOptions, PropagationError, Progress, Propagator, propagate, region_table

__all__ = ["Frames", "VIDEO_SUFFIXES", "PropagateOptions", "PropagationError", "Progress", "Propagator",
           "propagate", "region_table"]
