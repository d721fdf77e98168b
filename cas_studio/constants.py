"""Constants shared across layers (kept here so no layer imports another for them)."""

#: ImageNet per-channel normalisation (RGB, images in [0, 1]) that every CAS Studio model takes.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The label-map id of pixels no region claims (ignored in training).
UNLABELLED = 0
#: Region ids are stored as 16-bit PNG values: an edit may not create a larger id.
MAX_ID = 65535
