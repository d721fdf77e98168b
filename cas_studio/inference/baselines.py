"""Classical baselines measured beside the CAS models: unsupervised saliency and region methods."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import segmentation as skseg

from ..io import to_rgb8


def spectral_residual_saliency(image: np.ndarray, *, width: int = 64) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007): HxW float32 in [0, 1].

    The log-amplitude spectrum minus its local average keeps what is unexpected in the image;
    transformed back (with the original phase), squared and smoothed, it is a saliency map.
    """
    rgb = to_rgb8(image)
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    small = cv2.resize(gray, (width, max(1, int(round(width * h / w)))), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amp - cv2.blur(log_amp.astype(np.float32), (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    sal -= sal.min()
    return (sal / sal.max()).astype(np.float32) if sal.max() > 0 else sal


def felzenszwalb_regions(image: np.ndarray, *, scale: float = 500, sigma: float = 0.8, min_size: int = 200) -> np.ndarray:
    """scikit-image's Felzenszwalb segmentation: HxW int32 labels 0..N-1."""
    return skseg.felzenszwalb(to_rgb8(image), scale=scale, sigma=sigma, min_size=int(min_size)).astype(np.int32)
