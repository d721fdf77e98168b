"""Constants shared by the model and data layers (kept here so neither imports the other)."""

#: ImageNet per-channel normalisation (RGB, images in [0, 1]) that every CAS Studio model takes.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
