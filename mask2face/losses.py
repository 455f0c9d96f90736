"""Losses and metrics, each a small registered function named for exactly what it computes.

Written with ``keras.ops`` only, so they run on every Keras backend (TensorFlow, JAX) and are the
one definition used by training and by ``evaluate``. SSIM is ``tf.image.ssim``'s: an 11 px
Gaussian window (sigma 1.5), k1 = 0.01, k2 = 0.03, valid positions only, averaged over the
positions and then the channels.

Targets of the image output may carry the true mask region as a fourth channel
(``rgb + mask``, as the training pipeline gives them): image losses use the first three channels,
the ``masked_*`` metrics use the fourth to look only inside the mask.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
from keras import ops

# A tensor of the Keras backend in use (TensorFlow, JAX or PyTorch), and a loss over two.
Tensor = Any
LossFn = Callable[[Tensor, Tensor], Tensor]

PACKAGE = "mask2face"
EPSILON = 1e-6
PSNR_MOST = 100.0  # dB: the training metric's value for an image that comes out exact
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
IMAGE_AXES = (1, 2, 3)


def _rgb(y_true: "Tensor", y_pred: "Tensor") -> tuple["Tensor", "Tensor"]:
    return ops.cast(y_true[..., :3], "float32"), ops.cast(y_pred, "float32")[..., :3]


@keras.saving.register_keras_serializable(PACKAGE)
def l1(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Mean absolute error per image."""
    t, p = _rgb(y_true, y_pred)
    return ops.mean(ops.abs(t - p), axis=IMAGE_AXES)


@keras.saving.register_keras_serializable(PACKAGE)
def mse(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Mean squared error per image."""
    t, p = _rgb(y_true, y_pred)
    return ops.mean(ops.square(t - p), axis=IMAGE_AXES)


def gaussian_taps(radius: int, sigma: float) -> np.ndarray:
    """The 2 * radius + 1 taps of a normalised 1-D Gaussian of ``sigma`` (float64)."""
    coords = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-coords ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _gaussian_window(channels: int) -> np.ndarray:
    """The (11, 11, channels, 1) depthwise kernel of SSIM's normalised Gaussian window."""
    g = gaussian_taps((SSIM_WINDOW - 1) // 2, SSIM_SIGMA)
    window = np.outer(g, g).astype(np.float32)
    return np.tile(window[:, :, None, None], (1, 1, channels, 1))


def ssim_map(t, p, max_val: float = 1.0):
    """SSIM at every valid window position of two (N, H, W, C) float batches:
    (N, H - 10, W - 10, C), position (i, j) centred on pixel (i + 5, j + 5)."""
    channels = int(t.shape[-1])
    window = ops.convert_to_tensor(_gaussian_window(channels))

    def local_mean(x):
        return ops.depthwise_conv(x, window, strides=1, padding="valid")
    c1, c2 = (SSIM_K1 * max_val) ** 2, (SSIM_K2 * max_val) ** 2
    mean_t, mean_p = local_mean(t), local_mean(p)
    both = mean_t * mean_p * 2.0
    squares = ops.square(mean_t) + ops.square(mean_p)
    luminance = (both + c1) / (squares + c1)
    cross = local_mean(t * p) * 2.0
    power = local_mean(ops.square(t) + ops.square(p))
    contrast_structure = (cross - both + c2) / (power - squares + c2)
    return luminance * contrast_structure


def ssim_per_image(t, p, max_val: float = 1.0):
    """SSIM of two (N, H, W, C) float batches, per image (``tf.image.ssim``'s definition)."""
    return ops.mean(ssim_map(t, p, max_val), axis=IMAGE_AXES)


@keras.saving.register_keras_serializable(PACKAGE)
def ssim(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Structural similarity per image (images in [0, 1]; 11 px Gaussian window)."""
    return ssim_per_image(*_rgb(y_true, y_pred))


@keras.saving.register_keras_serializable(PACKAGE)
def ssim_loss(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """1 - SSIM per image."""
    return 1.0 - ssim(y_true, y_pred)


@keras.saving.register_keras_serializable(PACKAGE)
class SsimL1Loss(keras.losses.Loss):
    """(1 - SSIM) + l1_weight * L1, per image."""

    def __init__(self, l1_weight: float = 1.0, name: str = "ssim_l1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.l1_weight = l1_weight

    def call(self, y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
        return ssim_loss(y_true, y_pred) + self.l1_weight * l1(y_true, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "l1_weight": self.l1_weight}


@keras.saving.register_keras_serializable(PACKAGE)
def psnr(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Peak signal-to-noise ratio in dB per image (images in [0, 1]), at most PSNR_MOST: a pair
    shown unmasked comes out exactly as it went in, and one infinite image made the training
    curve's mean over the epoch infinite."""
    return 10.0 * ops.log10(1.0 / ops.maximum(mse(y_true, y_pred), 10.0 ** (-PSNR_MOST / 10)))


@keras.saving.register_keras_serializable(PACKAGE)
def masked_l1(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Mean absolute error inside the true mask region (the target's fourth channel)."""
    t, p = _rgb(y_true, y_pred)
    region = ops.cast(y_true[..., 3:4], "float32")
    error = ops.sum(ops.abs(t - p) * region, axis=IMAGE_AXES)
    return error / (3.0 * ops.sum(region, axis=IMAGE_AXES) + EPSILON)


@keras.saving.register_keras_serializable(PACKAGE)
def dice_loss(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """1 - Dice coefficient of the predicted and true mask, per image."""
    t, p = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
    inter = ops.sum(t * p, axis=IMAGE_AXES)
    total = ops.sum(t, axis=IMAGE_AXES) + ops.sum(p, axis=IMAGE_AXES)
    return 1.0 - (2.0 * inter + EPSILON) / (total + EPSILON)


@keras.saving.register_keras_serializable(PACKAGE)
def bce(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Binary cross-entropy of the mask, per image."""
    t, p = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
    return ops.mean(keras.losses.binary_crossentropy(t, p), axis=(1, 2))


@keras.saving.register_keras_serializable(PACKAGE)
def dice_bce(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Dice loss plus binary cross-entropy, per image."""
    return dice_loss(y_true, y_pred) + bce(y_true, y_pred)


@keras.saving.register_keras_serializable(PACKAGE)
def mask_iou(y_true: "Tensor", y_pred: "Tensor") -> "Tensor":
    """Intersection over union of the true mask and the predicted one thresholded at 0.5."""
    t = ops.cast(ops.cast(y_true, "float32") > 0.5, "float32")
    p = ops.cast(ops.cast(y_pred, "float32") > 0.5, "float32")
    inter = ops.sum(t * p, axis=IMAGE_AXES)
    union = ops.sum(ops.maximum(t, p), axis=IMAGE_AXES)
    return (inter + EPSILON) / (union + EPSILON)


# The losses by name: the configuration's training.loss and training.mask_loss offer exactly
# these (a test checks the lists agree; the configuration stays free of Keras).
IMAGE_LOSSES: dict[str, Callable[[float], LossFn]] = {
    "ssim_l1": lambda l1_weight: SsimL1Loss(l1_weight), "ssim": lambda _: ssim_loss,
    "l1": lambda _: l1, "mse": lambda _: mse}
MASK_LOSSES: dict[str, LossFn] = {"bce": bce, "dice": dice_loss, "dice_bce": dice_bce}


def make_image_loss(name: str, l1_weight: float = 1.0) -> LossFn:
    """The image loss called ``name``; raises ValueError listing the known ones."""
    if name not in IMAGE_LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(IMAGE_LOSSES)}")
    return IMAGE_LOSSES[name](l1_weight)


def make_mask_loss(name: str) -> LossFn:
    if name not in MASK_LOSSES:
        raise ValueError(f"unknown mask loss {name!r}; known: {', '.join(MASK_LOSSES)}")
    return MASK_LOSSES[name]


IMAGE_METRICS = (psnr, ssim, masked_l1)
MASK_METRICS = (mask_iou,)
