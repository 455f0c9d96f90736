"""Losses and metrics, each a small registered function named for exactly what it computes.

Targets of the image output may carry the true mask region as a fourth channel
(``rgb + mask``, as the training pipeline gives them): image losses use the first three channels,
the ``masked_*`` metrics use the fourth to look only inside the mask.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PACKAGE = "mask2face"
IMAGE_LOSSES = ("ssim_l1", "ssim", "l1", "mse")
MASK_LOSSES = ("bce", "dice", "dice_bce")
EPSILON = 1e-6


def _rgb(y_true, y_pred):
    y_pred = tf.cast(y_pred, tf.float32)
    return tf.cast(y_true[..., :3], tf.float32), y_pred[..., :3]


@keras.saving.register_keras_serializable(PACKAGE)
def l1(y_true, y_pred):
    """Mean absolute error per image."""
    t, p = _rgb(y_true, y_pred)
    return tf.reduce_mean(tf.abs(t - p), axis=[1, 2, 3])


@keras.saving.register_keras_serializable(PACKAGE)
def mse(y_true, y_pred):
    """Mean squared error per image."""
    t, p = _rgb(y_true, y_pred)
    return tf.reduce_mean(tf.square(t - p), axis=[1, 2, 3])


@keras.saving.register_keras_serializable(PACKAGE)
def ssim(y_true, y_pred):
    """Structural similarity per image (images in [0, 1]; 11 px Gaussian window)."""
    t, p = _rgb(y_true, y_pred)
    return tf.image.ssim(t, p, max_val=1.0)


@keras.saving.register_keras_serializable(PACKAGE)
def ssim_loss(y_true, y_pred):
    """1 - SSIM per image."""
    return 1.0 - ssim(y_true, y_pred)


@keras.saving.register_keras_serializable(PACKAGE)
class SsimL1Loss(keras.losses.Loss):
    """(1 - SSIM) + l1_weight * L1, per image."""

    def __init__(self, l1_weight: float = 1.0, name: str = "ssim_l1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.l1_weight = l1_weight

    def call(self, y_true, y_pred):
        return ssim_loss(y_true, y_pred) + self.l1_weight * l1(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "l1_weight": self.l1_weight}


@keras.saving.register_keras_serializable(PACKAGE)
def psnr(y_true, y_pred):
    """Peak signal-to-noise ratio in dB per image (images in [0, 1])."""
    t, p = _rgb(y_true, y_pred)
    return tf.image.psnr(t, p, max_val=1.0)


@keras.saving.register_keras_serializable(PACKAGE)
def masked_l1(y_true, y_pred):
    """Mean absolute error inside the true mask region (the target's fourth channel)."""
    t, p = _rgb(y_true, y_pred)
    region = tf.cast(y_true[..., 3:4], tf.float32)
    error = tf.reduce_sum(tf.abs(t - p) * region, axis=[1, 2, 3])
    return error / (3.0 * tf.reduce_sum(region, axis=[1, 2, 3]) + EPSILON)


@keras.saving.register_keras_serializable(PACKAGE)
def dice_loss(y_true, y_pred):
    """1 - Dice coefficient of the predicted and true mask, per image."""
    t, p = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
    inter = tf.reduce_sum(t * p, axis=[1, 2, 3])
    total = tf.reduce_sum(t, axis=[1, 2, 3]) + tf.reduce_sum(p, axis=[1, 2, 3])
    return 1.0 - (2.0 * inter + EPSILON) / (total + EPSILON)


@keras.saving.register_keras_serializable(PACKAGE)
def bce(y_true, y_pred):
    """Binary cross-entropy of the mask, per image."""
    t, p = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
    return tf.reduce_mean(keras.losses.binary_crossentropy(t, p), axis=[1, 2])


@keras.saving.register_keras_serializable(PACKAGE)
def dice_bce(y_true, y_pred):
    """Dice loss plus binary cross-entropy, per image."""
    return dice_loss(y_true, y_pred) + bce(y_true, y_pred)


@keras.saving.register_keras_serializable(PACKAGE)
def mask_iou(y_true, y_pred):
    """Intersection over union of the true mask and the predicted one thresholded at 0.5."""
    t = tf.cast(y_true > 0.5, tf.float32)
    p = tf.cast(tf.cast(y_pred, tf.float32) > 0.5, tf.float32)
    inter = tf.reduce_sum(t * p, axis=[1, 2, 3])
    union = tf.reduce_sum(tf.maximum(t, p), axis=[1, 2, 3])
    return (inter + EPSILON) / (union + EPSILON)


def make_image_loss(name: str, l1_weight: float = 1.0):
    """The image loss called ``name``; raises ValueError listing the known ones."""
    losses = {"ssim_l1": lambda: SsimL1Loss(l1_weight), "ssim": lambda: ssim_loss,
              "l1": lambda: l1, "mse": lambda: mse}
    if name not in losses:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(losses)}")
    return losses[name]()


def make_mask_loss(name: str):
    losses = {"bce": bce, "dice": dice_loss, "dice_bce": dice_bce}
    if name not in losses:
        raise ValueError(f"unknown mask loss {name!r}; known: {', '.join(losses)}")
    return losses[name]


IMAGE_METRICS = (psnr, ssim, masked_l1)
MASK_METRICS = (mask_iou,)
