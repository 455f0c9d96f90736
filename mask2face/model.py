"""The U-Net: one function returns a plain functional ``keras.Model``.

Architectures (``make_model(architecture, ...)``):
    resnet    the published mask2face network, layer for layer (ReLU, no normalisation): a first
              full-resolution convolution; per level a strided convolution, whose output is the
              skip, and a residual block on it; a bottleneck convolution; per level on the way up
              a residual block over [x, skip], a transposed convolution over [that, skip] and a
              convolution; a last convolution over [first, x]. 53,586,243 parameters and
              212.4 GFLOP per 256 px image at the published setting.
    resnet_d  mask2face's own, cheaper variant (the default): the down blocks' shortcut averages
              2x2 and projects with a 1x1 convolution (ResNet-D), residual up blocks, LeakyReLU,
              the input concatenated before the heads. 34.0 M parameters and 79.3 GFLOP at the
              published setting; at equal training time it scored higher (docs/model.md).
    plain     a classic U-Net: two convolutions a level, max-pooling, transposed-convolution
              upsampling, skip concatenation.

Beyond the original, an optional mask head (sigmoid, one channel: where the mask is) and a
composite output ``m * generated + (1 - m) * input`` that keeps the input's pixels outside the
predicted mask. With both off, the model is the original's.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from mask2face.config import Config, ModelConfig
from mask2face.errors import ConfigError

PUBLISHED = {"filters": (64, 128, 128, 256, 256, 512), "kernels": (7, 7, 7, 3, 3, 3),
             "image_size": 256}


@keras.saving.register_keras_serializable("mask2face")
class MaskComposite(layers.Layer):
    """``mask * generated + (1 - mask) * original``: pixels outside the mask are kept."""

    def call(self, inputs: list) -> "keras.KerasTensor":
        generated, original, mask = inputs
        original = keras.ops.cast(original, generated.dtype)
        mask = keras.ops.cast(mask, generated.dtype)
        return mask * generated + (1.0 - mask) * original


def _relu_conv(x, filters: int, kernel: int, name: str, strides: int = 1,
               activate: bool = True):
    """The published network's convolution: 'same' padding, ReLU or none."""
    return layers.Conv2D(filters, kernel, strides=strides, padding="same",
                         activation="relu" if activate else None, name=f"{name}_conv")(x)


def apply_published_down_block(x: "keras.KerasTensor", filters: int, kernel: int,
                               name: str) -> "keras.KerasTensor":
    """A strided convolution (its output is the skip), then conv + ReLU, conv, add, ReLU.

    Returns:
        (the level's output, the skip kept for the decoder).
    """
    skip = _relu_conv(x, filters, kernel, f"{name}_stride", strides=2, activate=False)
    h = _relu_conv(skip, filters, kernel, f"{name}_a")
    h = _relu_conv(h, filters, kernel, f"{name}_b", activate=False)
    x = layers.Add(name=f"{name}_add")([h, skip])
    return layers.ReLU(name=f"{name}_out")(x), skip


def apply_published_up_block(x: "keras.KerasTensor", skip: "keras.KerasTensor", filters: int,
                             out_filters: int, kernel: int, name: str) -> "keras.KerasTensor":
    """conv + ReLU and conv over [x, skip], add x, ReLU; a transposed convolution over
    [that, skip] doubles the resolution; conv + ReLU."""
    h = layers.Concatenate(name=f"{name}_concat")([x, skip])
    h = _relu_conv(h, filters, kernel, f"{name}_a")
    h = _relu_conv(h, filters, kernel, f"{name}_b", activate=False)
    h = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([h, x]))
    h = layers.Concatenate(name=f"{name}_skip_concat")([h, skip])
    h = layers.Conv2DTranspose(out_filters, kernel, strides=2, padding="same",
                               name=f"{name}_upsample")(h)
    return _relu_conv(h, out_filters, kernel, f"{name}_c")


def published_unet(inputs: "keras.KerasTensor", filters: Sequence[int],
                   kernels: Sequence[int]) -> "keras.KerasTensor":
    """Features at input resolution from the published ResNet U-Net (before the heads)."""
    first = _relu_conv(inputs, filters[0], kernels[0], "first", activate=False)
    x, skips = first, []
    for level, (f, k) in enumerate(zip(filters, kernels)):
        x, skip = apply_published_down_block(x, f, k, f"down{level}")
        skips.append(skip)
    x = _relu_conv(x, filters[-1], kernels[-1], "bottleneck")
    for level in reversed(range(len(filters))):
        # Each step up works at the next shallower level's filters and kernel (the last step:
        # its own).
        shallower = max(level - 1, 0)
        x = apply_published_up_block(x, skips[level], filters[level], filters[shallower],
                                     kernels[shallower], f"up{level}")
    x = layers.Concatenate(name="final_concat")([first, x])
    return _relu_conv(x, filters[0], kernels[0], "final")


def _conv(x, filters: int, kernel: int, name: str, strides: int = 1, activate: bool = True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    if activate:
        x = layers.LeakyReLU(0.2, name=f"{name}_act")(x)
    return x


def apply_down_block(x: "keras.KerasTensor", filters: int, kernel: int,
                     name: str) -> "keras.KerasTensor":
    """Halve the resolution with a strided convolution; residual add with a pooled 1x1.

    The shortcut averages 2x2 and then projects (ResNet-D) rather than using a strided 1x1
    convolution: besides keeping all the input, this avoids TensorFlow 2.21's oneDNN gradient
    of strided 1x1 convolutions, which corrupts memory on CPUs.
    """
    pooled = layers.AveragePooling2D(2, name=f"{name}_pool")(x)
    shortcut = layers.Conv2D(filters, 1, padding="same", name=f"{name}_shortcut")(pooled)
    h = _conv(x, filters, kernel, f"{name}_a", strides=2)
    h = _conv(h, filters, kernel, f"{name}_b", activate=False)
    x = layers.Add(name=f"{name}_add")([h, shortcut])
    return layers.LeakyReLU(0.2, name=f"{name}_out")(x)


def apply_residual_block(x: "keras.KerasTensor", filters: int, kernel: int,
                         name: str) -> "keras.KerasTensor":
    """Two convolutions and a residual add (1x1 projection when the width changes)."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, padding="same", name=f"{name}_shortcut")(x)
    h = _conv(x, filters, kernel, f"{name}_a")
    h = _conv(h, filters, kernel, f"{name}_b", activate=False)
    x = layers.Add(name=f"{name}_add")([h, shortcut])
    return layers.LeakyReLU(0.2, name=f"{name}_out")(x)


def apply_up_block(x: "keras.KerasTensor", skip: "keras.KerasTensor", filters: int,
                   out_filters: int, kernel: int, name: str) -> "keras.KerasTensor":
    """Concatenate the skip, residual block, then double the resolution (transposed conv)."""
    x = layers.Concatenate(name=f"{name}_concat")([x, skip])
    x = apply_residual_block(x, filters, kernel, f"{name}_res")
    x = layers.Conv2DTranspose(out_filters, kernel, strides=2, padding="same",
                               name=f"{name}_upsample")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_up_act")(x)


def resnet_d_unet(inputs: "keras.KerasTensor", filters: Sequence[int],
                  kernels: Sequence[int]) -> "keras.KerasTensor":
    """Features at input resolution from mask2face's ResNet-D U-Net (before the heads)."""
    x, skips = inputs, []
    for level, (f, k) in enumerate(zip(filters, kernels)):
        x = apply_down_block(x, f, k, f"down{level}")
        skips.append(x)
    x = apply_residual_block(x, filters[-1], kernels[-1], "bottleneck")
    for level in reversed(range(len(filters))):
        out_filters = filters[level - 1] if level > 0 else filters[0]
        x = apply_up_block(x, skips[level], filters[level], out_filters, kernels[level],
                           f"up{level}")
    return layers.Concatenate(name="final_concat")([x, inputs])


def plain_unet(inputs: "keras.KerasTensor", filters: Sequence[int],
               kernels: Sequence[int]) -> "keras.KerasTensor":
    """Features at input resolution from a classic U-Net (before the heads)."""
    x, skips = inputs, []
    for level, (f, k) in enumerate(zip(filters, kernels)):
        x = _conv(x, f, k, f"enc{level}_a")
        x = _conv(x, f, k, f"enc{level}_b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = _conv(x, filters[-1] * 2, 3, "middle_a")
    x = _conv(x, filters[-1] * 2, 3, "middle_b")
    for level in reversed(range(len(filters))):
        f, k = filters[level], kernels[level]
        x = layers.Conv2DTranspose(f, 2, strides=2, padding="same", name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skips[level]])
        x = _conv(x, f, k, f"dec{level}_a")
        x = _conv(x, f, k, f"dec{level}_b")
    return x


ARCHITECTURES = {"resnet": published_unet, "resnet_d": resnet_d_unet, "plain": plain_unet}
_DEFAULT = ModelConfig()


def make_model(architecture: str = _DEFAULT.architecture, image_size: int = 256,
               filters: Sequence[int] = _DEFAULT.filters,
               kernels: Sequence[int] = _DEFAULT.kernels,
               mask_head: bool = _DEFAULT.mask_head,
               composite_output: bool = _DEFAULT.composite_output) -> keras.Model:
    """Build the mask-removal U-Net (defaults: the configuration's model section's defaults;
    the published setting is ``PUBLISHED``).

    Args:
        architecture: "resnet" (the published network), "resnet_d" or "plain".
        image_size: side of the square input; must be divisible by 2 ** len(filters).
        filters: filters per level, outermost first.
        kernels: kernel size per level.
        mask_head: add a second output, "mask": where the mask is (sigmoid, one channel).
        composite_output: the "image" output keeps input pixels outside the predicted mask
            (needs the mask head).

    Returns:
        A functional model: input (S, S, 3) in [0, 1]; output "image" (S, S, 3), and "mask"
        (S, S, 1) when the mask head is on (outputs are a dict then).

    Raises:
        ConfigError: unknown architecture, mismatched filters and kernels, or an image size
            the depth cannot divide.
    """
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {architecture!r}; known: "
                          f"{', '.join(ARCHITECTURES)}")
    if len(filters) != len(kernels) or not filters:
        raise ConfigError(f"filters {tuple(filters)} and kernels {tuple(kernels)} must have "
                          f"the same, non-zero length")
    depth = 2 ** len(filters)
    if image_size % depth:
        raise ConfigError(f"image_size {image_size} is not divisible by {depth} "
                          f"(2 to the power of the {len(filters)} levels): use a multiple "
                          f"of {depth}, such as {max(depth, round(image_size / depth) * depth)}")
    if composite_output and not mask_head:
        raise ConfigError("composite_output needs mask_head: the composite uses the predicted "
                          "mask")
    inputs = keras.Input((image_size, image_size, 3), name="masked")
    features = ARCHITECTURES[architecture](inputs, filters, kernels)
    # Heads in float32, so that mixed precision keeps the outputs exact.
    generated = layers.Conv2D(3, 1, activation="sigmoid", dtype="float32",
                              name="generated" if composite_output else "image")(features)
    if not mask_head:
        return keras.Model(inputs, generated, name=f"mask2face_{architecture}")
    mask = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(features)
    image = generated
    if composite_output:
        image = MaskComposite(dtype="float32", name="image")([generated, inputs, mask])
    return keras.Model(inputs, {"image": image, "mask": mask}, name=f"mask2face_{architecture}")


def model_from_config(config: Config, image_size: int | None = None) -> keras.Model:
    m = config.model
    return make_model(m.architecture, image_size or config.data.image_size, m.filters,
                      m.kernels, m.mask_head, m.composite_output)


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one forward pass for one image (convolutions only)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1]
            c_out = layer.filters
            if isinstance(layer, layers.Conv2DTranspose):
                h, w = layer.input.shape[1:3]
            else:
                h, w = layer.output.shape[1:3]
            total += 2 * h * w * kh * kw * c_in * c_out
    return int(total)
