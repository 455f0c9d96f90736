"""Export a trained model for unmasking without Keras: ``mask2face export RUN_OR_MODEL``.

The ONNX file is written here from the Keras graph, layer by layer (the U-Nets use nine kinds
of layer: convolutions, transposed convolutions, pooling, ReLU / LeakyReLU, add, concatenate,
the heads' sigmoid and the mask composite), so no converter with its own TensorFlow pins is
needed. It takes NHWC float32 crops in [0, 1], as the Keras model does, and gives ``image`` (the
composite), ``mask`` (the mask head) and ``generated`` (the generator's whole image, what predict
pastes). It runs in OpenCV's DNN module, which the core install has already, or in ONNX Runtime
where that is installed. The folder gets the run's ``config.json`` beside it (and the model card,
if the run has one): the folder is then a model predict and the web page accept.

``--format tflite`` and ``--format savedmodel`` write Keras's own exports (TensorFlow needed).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mask2face.errors import ModelFileError, UsageError
from mask2face.modelfiles import EXPORT_RECORD, ONNX_FILE, file_digest, find_model, load_model

if TYPE_CHECKING:
    import keras

log = logging.getLogger("mask2face.export")

ONNX_OPSET = 17
OUTPUTS = ("image", "mask", "generated")


class _Graph:
    """The ONNX nodes and weights written so far, NCHW inside. With ``half``, each weight is
    stored as float16 and cast to float32 when the file is loaded (ONNX Runtime folds the casts
    once): half the file, the same float32 arithmetic. The convolutions that read the image at
    its full, half or quarter resolution keep float32 weights (about a tenth of them): rounding
    those is carried through the whole network (on one trained model and the sample crops, the
    mask output moved by 1.3 8-bit levels with every weight in float16, by 0.5 with those in
    float32)."""

    def __init__(self, half: bool = True, input_size: int = 0) -> None:
        from onnx import helper
        self.helper = helper
        self.half = half
        self.input_size = input_size
        self.casts: list = []
        self.nodes: list = []
        self.weights: list = []

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def full_precision(self, in_shape: tuple) -> bool:
        """Whether a convolution reading ``in_shape`` (N, H, W, C) keeps float32 weights."""
        return self.input_size > 0 and in_shape[1] is not None \
            and 4 * in_shape[1] >= self.input_size

    def weight(self, name: str, value: np.ndarray, full: bool = False) -> str:
        from onnx import TensorProto, numpy_helper
        if full or not self.half:
            self.weights.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
            return name
        self.weights.append(numpy_helper.from_array(np.asarray(value, np.float16), f"{name}.f16"))
        self.casts.append(self.helper.make_node("Cast", [f"{name}.f16"], [name],
                                                name=f"{name}.cast", to=TensorProto.FLOAT))
        return name


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: (before, after); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv(graph: _Graph, layer, source: str, in_shape: tuple, name: str) -> str:
    config = layer.get_config()
    kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights()) \
        if config["use_bias"] else (np.asarray(layer.get_weights()[0], np.float32), None)
    (kh, kw), (sh, sw) = config["kernel_size"], config["strides"]
    if tuple(config.get("dilation_rate", (1, 1))) != (1, 1) or config.get("groups", 1) != 1:
        raise ModelFileError(f"{layer.name}: dilated or grouped convolutions are not exported")
    full = graph.full_precision(in_shape)
    inputs = [source, graph.weight(f"{name}.w", kernel.transpose(3, 2, 0, 1), full)]
    if bias is not None:
        inputs.append(graph.weight(f"{name}.b", bias, full))
    transposed = type(layer).__name__ == "Conv2DTranspose"
    if config["padding"] == "same" and transposed:
        # The transposed convolution crops what the forward convolution's padding added.
        pads = [(k - s) // 2 for k, s in ((kh, sh), (kw, sw))]
        pads += [k - s - p for (k, s), p in zip(((kh, sh), (kw, sw)), pads)]
        if min(pads) < 0:
            raise ModelFileError(f"{layer.name}: a kernel smaller than its stride")
    elif config["padding"] == "same":
        (top, bottom), (left, right) = (_same_pads(in_shape[1], kh, sh),
                                        _same_pads(in_shape[2], kw, sw))
        pads = [top, left, bottom, right]
    else:
        pads = [0, 0, 0, 0]
    op = "ConvTranspose" if transposed else "Conv"
    out = graph.node(op, inputs, name, kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
    activation = config.get("activation", "linear")
    if activation in ("relu", "sigmoid"):
        out = graph.node("Relu" if activation == "relu" else "Sigmoid", [out], f"{name}.act")
    elif activation != "linear":
        raise ModelFileError(f"{layer.name}: activation {activation!r} is not exported")
    return out


def _layer(graph: _Graph, layer, sources: list[str], in_shapes: list[tuple], name: str) -> str:
    kind = type(layer).__name__
    config = layer.get_config()
    if kind in ("Conv2D", "Conv2DTranspose"):
        return _conv(graph, layer, sources[0], in_shapes[0], name)
    if kind == "LeakyReLU":
        slope = config.get("negative_slope", config.get("alpha", 0.3))
        return graph.node("LeakyRelu", sources, name, alpha=float(slope))
    if kind == "ReLU":
        if config.get("max_value") is not None or config.get("negative_slope", 0) or \
                config.get("threshold", 0):
            raise ModelFileError(f"{layer.name}: a ReLU with a cap, slope or threshold")
        return graph.node("Relu", sources, name)
    if kind == "Add":
        out = sources[0]
        for i, other in enumerate(sources[1:]):
            out = graph.node("Add", [out, other], name if i == len(sources) - 2 else f"{name}.{i}")
        return out
    if kind == "Concatenate":
        if config["axis"] not in (-1, 3):
            raise ModelFileError(f"{layer.name}: concatenation over axis {config['axis']}")
        return graph.node("Concat", sources, name, axis=1)
    if kind in ("AveragePooling2D", "MaxPooling2D"):
        if config["padding"] != "valid":
            raise ModelFileError(f"{layer.name}: only 'valid' pooling is exported")
        op = "AveragePool" if kind == "AveragePooling2D" else "MaxPool"
        return graph.node(op, sources, name, kernel_shape=list(config["pool_size"]),
                          strides=list(config["strides"] or config["pool_size"]))
    if kind == "MaskComposite":  # original + mask * (generated - original)
        generated, original, mask = sources
        difference = graph.node("Sub", [generated, original], f"{name}.difference")
        return graph.node("Add", [original, graph.node("Mul", [mask, difference],
                                                         f"{name}.masked")], name)
    raise ModelFileError(f"{layer.name}: layers of kind {kind} are not exported "
                         f"(mask2face's own architectures use Conv2D, Conv2DTranspose, pooling, "
                         f"ReLU, LeakyReLU, Add, Concatenate and MaskComposite)")


def onnx_model(model: "keras.Model", half: bool = True):
    """The ONNX graph of a mask2face model (an ``onnx.ModelProto``): NHWC float32 in, the
    outputs ``image``, ``mask`` and ``generated`` (a model without the mask head: ``image``);
    ``half``: weights stored as float16, except those of the convolutions that read the input at
    its full, half or quarter resolution (the outputs move by under one 8-bit level)."""
    import keras
    from onnx import TensorProto, checker, helper

    (model_input,) = model.inputs
    size = tuple(model_input.shape[1:])
    graph = _Graph(half, size[0] or 0)
    names = {id(model_input): graph.node("Transpose", ["input"], "input.nchw",
                                         perm=[0, 3, 1, 2])}
    shapes = {id(model_input): (None, *size)}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        node = layer._inbound_nodes[0]
        inputs = list(node.input_tensors)
        sources = [names[id(t)] for t in inputs]
        out = _layer(graph, layer, sources, [shapes[id(t)] for t in inputs],
                     f"layer.{layer.name}")
        for tensor in node.output_tensors:
            names[id(tensor)] = out
            shapes[id(tensor)] = tuple(tensor.shape)
    outputs = model.output if isinstance(model.output, dict) else {"image": model.output}
    if "mask" in outputs and type(model.get_layer("image")).__name__ == "MaskComposite":
        composite = model.get_layer("image")._inbound_nodes[0]
        outputs = {**outputs, "generated": composite.input_tensors[0]}
    graph_outputs = []
    for key, tensor in outputs.items():
        graph.node("Transpose", [names[id(tensor)]], key, perm=[0, 2, 3, 1])
        graph_outputs.append(helper.make_tensor_value_info(
            key, TensorProto.FLOAT, ["batch", *tensor.shape[1:]]))
    onnx_graph = helper.make_graph(
        graph.casts + graph.nodes, "mask2face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *size])],
        graph_outputs, graph.weights)
    proto = helper.make_model(onnx_graph, producer_name="mask2face",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    proto.ir_version = 8  # readable by ONNX Runtime >= 1.14 and OpenCV >= 4.8
    checker.check_model(proto)
    return proto


def float32_copy(model: "keras.Model") -> "keras.Model":
    """The same network computing in float32: a model trained in mixed precision carries
    bfloat16 layers, which TFLite's own kernels cannot run."""
    import keras
    config = model.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float32"
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def weights_from_onnx(model: "keras.Model", onnx_file: str | Path) -> list[np.ndarray] | None:
    """``model``'s weights read back from an export of a model of the same setting (None where
    a layer's weights are not in it): training can start from the shipped export alone."""
    import onnx
    from onnx import numpy_helper
    stored = {init.name.removesuffix(".f16"): numpy_helper.to_array(init).astype(np.float32)
              for init in onnx.load(str(onnx_file)).graph.initializer}
    weights = []
    for layer in model.layers:
        names = [f"layer.{layer.name}.w", f"layer.{layer.name}.b"][:len(layer.get_weights())]
        if any(name not in stored for name in names):
            return None
        for i, name in enumerate(names):
            value = stored[name]
            weights.append(value.transpose(2, 3, 1, 0) if i == 0 else value)
    return weights


def write_onnx(model: "keras.Model", output: Path, half: bool) -> Path:
    from mask2face.images import atomic_write
    target = output / ONNX_FILE
    atomic_write(target, onnx_model(model, half).SerializeToString())
    return target


def write_tflite(model: "keras.Model", output: Path, half: bool) -> Path:
    """TensorFlow Lite (float32 weights: ``half`` is for ONNX)."""
    target = output / "model.tflite"
    float32_copy(model).export(str(target), format="litert")
    return target


def write_savedmodel(model: "keras.Model", output: Path, half: bool) -> Path:
    """A TensorFlow SavedModel folder (float32 weights)."""
    target = output / "saved_model"
    float32_copy(model).export(str(target), format="tf_saved_model")
    return target


# Export formats: writer(model, output folder, half) -> the file or folder written.
WRITERS = {"onnx": write_onnx, "tflite": write_tflite, "savedmodel": write_savedmodel}
FORMATS = tuple(WRITERS)


def export(source: str | Path, output: str | Path | None = None, fmt: str = "onnx",
           half: bool = True) -> Path:
    """Write ``source`` (a run folder or model.keras beside its config.json) to the folder
    ``output`` (None: the model's own folder) in ``fmt``, with the run's config.json (and model
    card). Returns the model file."""
    from mask2face.images import atomic_write
    if fmt not in WRITERS:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    model_file, config_file = find_model(source, keras_only=True)
    output = Path(output) if output is not None else model_file.parent
    if output.resolve() == model_file.parent.resolve() and fmt != "onnx":
        raise UsageError(f"{output} is the model's own folder: give another -o for {fmt}")
    output.mkdir(parents=True, exist_ok=True)
    target = WRITERS[fmt](load_model(model_file), output, half)
    for extra in (config_file, model_file.parent / "MODEL_CARD.md"):
        if extra.exists() and extra.resolve() != (output / extra.name).resolve():
            shutil.copyfile(extra, output / extra.name)
    if fmt == "onnx":  # predict runs it in place of the Keras file it was made from
        from mask2face import __version__
        record = {"format": "onnx", "source": model_file.name,
                  "source_sha256": file_digest(model_file), "mask2face": __version__}
        atomic_write(output / EXPORT_RECORD, (json.dumps(record, indent=1) + "\n").encode())
    return target


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import make_parser, run_command

    parser = make_parser("export",
        "Write a trained model in a form that unmasks without Keras or TensorFlow.")
    parser.add_argument("model", metavar="RUN_OR_MODEL",
                        help="a training run folder, its model.keras, 'bundled' or 'latest'")
    parser.add_argument("--format", choices=FORMATS, default="onnx",
                        help="onnx (default: runs in the core install), tflite or savedmodel")
    parser.add_argument("--float32", dest="half", action="store_false",
                        help="store all ONNX weights as float32 (default float16, except the "
                             "convolutions reading the top three resolutions: about half the "
                             "file; the arithmetic is float32 either way)")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="folder to write (default: the run folder itself for onnx)")

    def command(args: argparse.Namespace) -> int:
        target = export(args.model, args.output, args.format, args.half)
        log.info("wrote %s", target)
        print(json.dumps({"written": str(target), "format": args.format}))
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
