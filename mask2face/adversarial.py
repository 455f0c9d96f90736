"""The adversarial term: a PatchGAN discriminator and the training model that adds its losses.

SSIM + L1 alone is minimised by the average of every face that fits the visible half: a smooth
lower face with no lips, nostrils or grain. A discriminator that judges 70 px patches of the
crop (pix2pix's PatchGAN, conditioned on the masked input) penalises exactly that average, and
the L1 distance between its features on the real face and on the output (feature matching, as
in pix2pixHD) is a perceptual term learnt on faces.

Both networks train with one ``model.fit`` and one Adam: ``AdversarialTraining.compute_loss``
returns one scalar whose gradient is the generator's loss for the generator's weights and the
hinge loss for the discriminator's. The discriminator's own loss sees the output with its
gradient stopped; the generator's terms are written as (term on the output) - (the same term
on the stopped output): equal values, so their sum is 0 and their gradients for the
discriminator cancel exactly, while the generator keeps the gradient of the first. That is
written in ``keras.ops`` alone, so it trains on TensorFlow and JAX alike, and the run's backup
(``BackupAndRestore``) holds both networks and the optimizer's state for both: a resumed run
continues the game where it stopped.

Only the generator is saved as ``model.keras``: predict never needs the discriminator.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

Tensor = Any

DISCRIMINATOR_FILTERS = (32, 64, 128, 256)


def make_discriminator(size: int, filters: tuple[int, ...] = DISCRIMINATOR_FILTERS,
                       name: str = "discriminator") -> keras.Model:
    """A PatchGAN: (masked input, image) -> a map of real/fake logits and each level's features.

    4x4 convolutions, stride 2 but the last, LeakyReLU 0.2, instance normalisation after the
    first level (no running statistics: nothing to update outside the gradient step). Each
    logit sees a 70 px patch at four levels.
    """
    masked = keras.Input((size, size, 3), name="masked")
    image = keras.Input((size, size, 3), name="image")
    x = layers.Concatenate(name=f"{name}_pair")([masked, image])
    features = []
    for level, width in enumerate(filters):
        stride = 1 if level == len(filters) - 1 else 2
        x = layers.Conv2D(width, 4, strides=stride, padding="same",
                          name=f"{name}_conv{level}")(x)
        if level:
            x = layers.GroupNormalization(groups=width, name=f"{name}_norm{level}")(x)
        x = layers.LeakyReLU(0.2, name=f"{name}_act{level}")(x)
        features.append(x)
    logits = layers.Conv2D(1, 4, padding="same", dtype="float32", name=f"{name}_logits")(x)
    return keras.Model([masked, image], {"logits": logits, "features": features}, name=name)


def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's hinge loss: mean(relu(1 - real)) + mean(relu(1 + fake))."""
    real = ops.cast(real_logits, "float32")
    fake = ops.cast(fake_logits, "float32")
    return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    """The generator's hinge loss: -mean(fake)."""
    return -ops.mean(ops.cast(fake_logits, "float32"))


def feature_matching_loss(real_features: list, fake_features: list) -> Tensor:
    """Mean over the levels of the mean absolute difference of the discriminator's features."""
    terms = [ops.mean(ops.abs(ops.cast(r, "float32") - ops.cast(f, "float32")))
             for r, f in zip(real_features, fake_features)]
    return ops.sum(ops.stack(terms)) / len(terms)


class AdversarialTraining(keras.Model):
    """Trains ``generator`` (the functional model that is saved and shipped) against a
    discriminator: the reconstruction losses given to ``compile``, plus
    ``adversarial_weight`` x the hinge loss and ``feature_matching_weight`` x feature matching.

    Used by ``mask2face.train`` only; calling it is calling the generator.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 adversarial_weight: float, feature_matching_weight: float, **kwargs) -> None:
        super().__init__(name="adversarial_training", **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_weight = float(adversarial_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        # The terms' own values, logged each epoch (history.csv): the learning curves.
        self.g_adversarial_tracker = keras.metrics.Mean(name="g_adversarial")
        self.feature_matching_tracker = keras.metrics.Mean(name="feature_matching")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.built = True  # both networks are built functional models (the backup needs it)

    def call(self, inputs: Tensor, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)
        if not training:  # validation: the reconstruction losses, comparable between runs
            return loss
        target = y["image"] if isinstance(y, dict) else y
        image = y_pred["image"] if isinstance(y_pred, dict) else y_pred
        target = ops.cast(target[..., :3], image.dtype)
        x = ops.cast(ops.convert_to_tensor(x), image.dtype)
        held = ops.stop_gradient(image)
        real = self.discriminator([x, target], training=True)
        fake = self.discriminator([x, image], training=True)
        fake_held = self.discriminator([x, held], training=True)
        d_loss = hinge_discriminator_loss(real["logits"], fake_held["logits"])
        real_features = [ops.stop_gradient(f) for f in real["features"]]
        g_adversarial = hinge_generator_loss(fake["logits"])
        matching = feature_matching_loss(real_features, fake["features"])
        # Value 0, gradient: the generator's terms for the generator, nothing for the critic.
        generator_terms = (
            self.adversarial_weight * (g_adversarial - hinge_generator_loss(fake_held["logits"]))
            + self.feature_matching_weight * (
                matching - feature_matching_loss(real_features, fake_held["features"])))
        self.g_adversarial_tracker.update_state(g_adversarial)
        self.feature_matching_tracker.update_state(matching)
        self.d_loss_tracker.update_state(d_loss)
        return loss + d_loss + generator_terms


def generator_of(model: keras.Model) -> keras.Model:
    """The network that is saved and shipped: the generator of an ``AdversarialTraining``, or
    the model itself."""
    return model.generator if isinstance(model, AdversarialTraining) else model
