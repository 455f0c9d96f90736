"""The critics beside SSIM + L1: a PatchGAN discriminator, dlib's recognition network, a texture
term, and the training model that adds their losses.

SSIM + L1 alone is minimised by the average of every face that fits the visible half: a smooth
lower face with no lips, nostrils or grain. A discriminator that judges 70 px patches of the
crop (pix2pix's PatchGAN, conditioned on the masked input) penalises exactly that average, and
the L1 distance between its features on the real face and on the output (feature matching, as
in pix2pixHD) is a perceptual term learnt on faces.

dlib's face-recognition ResNet (``mask2face.dlib_resnet``, frozen) sees the output and the
real face cut as its 150 px chip: the distance of its descriptors is the identity loss (the
identity measure ``evaluate`` reports), the L1 distance of its levels' features a perceptual
loss learnt on faces.

The texture term (``texture_loss``) needs no network: it compares how much detail (a band of
1-3 px) the output and the real face hold at each place, so it asks for lips' edges, creases
and stubble without asking them to sit on the real face's pixels, which behind a mask no model
can know.

Both trained networks learn in one ``model.fit`` with one Adam: ``CriticTraining.compute_loss``
returns one scalar whose gradient is the generator's loss for the generator's weights and the
hinge loss for the discriminator's. The discriminator's own loss sees the output with its
gradient stopped; the generator's terms are written as (term on the output) - (the same term
on the stopped output): equal values, so their sum is 0 and their gradients for the
discriminator cancel exactly, while the generator keeps the gradient of the first. That is
written in ``keras.ops`` alone, so it trains on TensorFlow and JAX alike, and the run's backup
(``BackupAndRestore``) holds both networks and the optimizer's state for both: a resumed run
continues the game where it stopped.

The critics judge the result inside the mask drawn on the pair, with the real face around it
(``judged_inside``): the part predict repaints, and nothing else.

Only the generator is saved as ``model.keras``: predict never needs the discriminator.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from mask2face.losses import gaussian_taps

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


# The texture term's band of detail: each colour channel blurred by the first sigma less it
# blurred by the second (px at 128 px), its energy averaged over the third. The finest pixels
# are left out on purpose: a generator meets a term there with a 2 px stripe of its last
# upsampling (seen with a 0-1 px band), and predict's grain match gives the photo's own grain at
# that scale. Per channel, not on the luminance: a luminance term's gradient darkens green twice
# as much as red and five times as much as blue, and the lips it drew came out purple (judged
# blind: the per-channel term better on 20 dev photos, worse on 10, casts 15 against 29).
TEXTURE_SIGMAS = (1.0, 3.0, 3.0)

# Where dlib's 150 px face chip (get_face_chip, padding 0.25) lies in a training crop
# (crop_margin 0.3), as shares of the crop: x0, y0, x1, y1. Measured over 89 LFW and UTKFace
# faces (standard deviation 0.012-0.019 of the crop, about 2 px at 128 px).
DLIB_CHIP_BOX = (0.080, 0.118, 0.930, 0.967)


def face_chips(images: Tensor, box: tuple[float, float, float, float] = DLIB_CHIP_BOX) -> Tensor:
    """(N, S, S, 3) crops in [0, 1] -> (N, 150, 150, 3) chips in [0, 255], cut where dlib cuts
    its chip (differentiable: a slice and a bilinear resize)."""
    from mask2face.dlib_resnet import CHIP_SIZE
    size = int(images.shape[1])
    x0, y0 = int(round(box[0] * size)), int(round(box[1] * size))
    x1, y1 = int(round(box[2] * size)), int(round(box[3] * size))
    chips = ops.image.resize(images[:, y0:y1, x0:x1, :], (CHIP_SIZE, CHIP_SIZE),
                             interpolation="bilinear")
    return chips * 255.0


def identity_loss(real_descriptor: Tensor, fake_descriptor: Tensor) -> Tensor:
    """Mean Euclidean distance of dlib descriptors (the identity distance; < 0.6 = same
    person)."""
    difference = ops.cast(real_descriptor, "float32") - ops.cast(fake_descriptor, "float32")
    return ops.mean(ops.sqrt(ops.sum(ops.square(difference), axis=-1) + 1e-12))


class CriticTraining(keras.Model):
    """Trains ``generator`` (the functional model that is saved and shipped) with critics
    beside the reconstruction losses given to ``compile``:

    - ``discriminator`` (or None): ``adversarial_weight`` x the hinge loss and
      ``feature_matching_weight`` x feature matching;
    - ``face_net`` (or None), dlib's recognition network (``mask2face.dlib_resnet``), frozen:
      ``identity_weight`` x the identity distance of output and real face, and
      ``perceptual_weight`` x the mean L1 distance of its five levels' features.
    - ``texture_weight`` x ``texture_loss`` (needs no network).

    Used by ``mask2face.train`` only; calling it is calling the generator.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model | None = None,
                 adversarial_weight: float = 0.0, feature_matching_weight: float = 0.0,
                 face_net: keras.Model | None = None, identity_weight: float = 0.0,
                 perceptual_weight: float = 0.0, face_terms_blur: float = 0.0,
                 texture_weight: float = 0.0, **kwargs) -> None:
        super().__init__(name="critic_training", **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.face_net = face_net
        self.adversarial_weight = float(adversarial_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self.identity_weight = float(identity_weight)
        self.perceptual_weight = float(perceptual_weight)
        self.face_terms_blur = float(face_terms_blur)
        self.texture_weight = float(texture_weight)
        # The terms' own values, logged each epoch (history.csv): the learning curves.
        if discriminator is not None:
            self.g_adversarial_tracker = keras.metrics.Mean(name="g_adversarial")
            self.feature_matching_tracker = keras.metrics.Mean(name="feature_matching")
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        if face_net is not None:
            self.identity_tracker = keras.metrics.Mean(name="identity")
            self.perceptual_tracker = keras.metrics.Mean(name="perceptual")
        if self.texture_weight:
            self.texture_tracker = keras.metrics.Mean(name="texture")
        self.built = True  # every network is a built functional model (the backup needs it)

    def call(self, inputs: Tensor, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)
        if not training:  # validation: the reconstruction losses, comparable between runs
            return loss
        target = y["image"] if isinstance(y, dict) else y
        image = y_pred["image"] if isinstance(y_pred, dict) else y_pred
        drawn = ops.cast(target[..., 3:], image.dtype) if target.shape[-1] == 4 else None
        target = ops.cast(target[..., :3], image.dtype)
        if drawn is not None:  # the mask drawn on the pair: judge the result inside it
            image = judged_inside(image, target, drawn)
        if self.discriminator is not None:
            loss = loss + self._adversarial_terms(ops.cast(ops.convert_to_tensor(x), image.dtype),
                                                  target, image)
        if self.face_net is not None:
            loss = loss + self._face_terms(target, image)
        if self.texture_weight:
            region = drawn if drawn is not None else ops.ones_like(image[..., :1])
            texture = texture_loss(target, image, region, int(image.shape[1]) / 128)
            self.texture_tracker.update_state(texture)
            loss = loss + self.texture_weight * texture
        return loss

    def _adversarial_terms(self, x: Tensor, target: Tensor, image: Tensor) -> Tensor:
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
        return d_loss + generator_terms

    def _face_terms(self, target: Tensor, image: Tensor) -> Tensor:
        if self.face_terms_blur:
            image = detail_on(image, target, self.face_terms_blur * int(image.shape[1]) / 128)
        real = self.face_net(ops.stop_gradient(face_chips(target)), training=False)
        fake = self.face_net(face_chips(image), training=False)
        identity = identity_loss(ops.stop_gradient(real["descriptor"]), fake["descriptor"])
        perceptual = feature_matching_loss([ops.stop_gradient(f) for f in real["features"]],
                                           fake["features"])
        self.identity_tracker.update_state(identity)
        self.perceptual_tracker.update_state(perceptual)
        return self.identity_weight * identity + self.perceptual_weight * perceptual


def judged_inside(image: Tensor, target: Tensor, region: Tensor) -> Tensor:
    """What the critics see: the result inside the drawn mask, the real face everywhere else.

    Outside the mask real and result then agree, so the discriminator and dlib's network can
    only judge (and push) the repainted part, and none of their gradient reaches pixels the
    paste keeps from the photo; the first critic runs, judging the whole crop, pulled the
    mask's own colour back into the face."""
    return image * region + target * (1.0 - region)


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """(N, H, W, C) images blurred by a Gaussian of ``sigma`` px (two 1-D passes, the border
    zero-padded)."""
    taps = gaussian_taps(max(1, int(round(3 * sigma))), sigma).astype("float32")
    channels = int(images.shape[-1])
    rows = ops.cast(np.tile(taps[:, None, None, None], (1, 1, channels, 1)), images.dtype)
    columns = ops.cast(np.tile(taps[None, :, None, None], (1, 1, channels, 1)), images.dtype)
    images = ops.depthwise_conv(images, rows, strides=1, padding="same")
    return ops.depthwise_conv(images, columns, strides=1, padding="same")


def detail_on(image: Tensor, target: Tensor, sigma: float) -> Tensor:
    """The output's detail (finer than a Gaussian of ``sigma`` px) on the real face's blurred
    colours: what dlib's network judges with ``face_terms_blur``. Its gradient reaches only
    the output's fine detail, so the identity and perceptual terms can shape lips, nostrils and
    grain but cannot tint the repainted skin (the casts, grey-green or the mask's colour, that
    lost every by-eye comparison); colour and shading are left to SSIM + L1. (The blur is
    linear: one blur of the difference is the two blurs' difference.)"""
    return image - gaussian_blur(image - ops.stop_gradient(target), sigma)


def detail_energy(images: Tensor, scale: float = 1.0) -> Tensor:
    """(N, H, W, C): how much detail each place of ``images`` holds in each channel in the
    texture term's band (TEXTURE_SIGMAS, times ``scale``): the band-passed image's root mean
    square around it: lips' and nostrils' edges, creases, stubble."""
    finer, coarser, spread = (sigma * scale for sigma in TEXTURE_SIGMAS)
    band = gaussian_blur(images, finer) - gaussian_blur(images, coarser)
    return ops.sqrt(gaussian_blur(ops.square(band), spread) + 1e-5)


def texture_loss(target: Tensor, image: Tensor, region: Tensor, scale: float = 1.0) -> Tensor:
    """Absolute difference of the output's and the real face's ``detail_energy`` inside
    ``region`` (N, H, W, 1), summed over the channels and averaged over the region: the texture
    term. It asks for as much edge, crease and stubble as the real face has at each place, not
    for each hair where the real one is, which no model can know behind a mask (a pixel loss
    asks for that, and gets the average: a blur)."""
    difference = ops.abs(detail_energy(image, scale)
                         - ops.stop_gradient(detail_energy(target, scale)))
    region = ops.cast(region, difference.dtype)
    return ops.sum(difference * region) / (ops.sum(region) + 1.0)


def generator_of(model: keras.Model) -> keras.Model:
    """The network that is saved and shipped: the generator of a ``CriticTraining``, or the
    model itself."""
    return model.generator if isinstance(model, CriticTraining) else model
