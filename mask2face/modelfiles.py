"""Model files in one place: which model a command uses, and loading it to run.

A model is a folder (a training run, the shipped model, an export) holding ``config.json`` and
the network as ``model.keras`` (Keras, for training and evaluation), ``model.onnx`` (exported by
``mask2face export``: unmasking needs neither Keras nor TensorFlow), or both. Names a command
accepts for ``--model``: ``bundled`` (the model shipped inside the package, also the default),
``latest`` (the newest run under the configuration's model folder), a folder, or a model file.

Where a folder holds both files, predict runs ``model.onnx`` when its ``export.json`` says it
was exported from this very ``model.keras`` (same SHA-256): the same network without importing
Keras (a second per photo less at start-up), and in float32 where the Keras file may carry its
training's bfloat16. A run trained further after its export falls back to ``model.keras``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from mask2face.errors import ModelFileError

if TYPE_CHECKING:
    import keras

log = logging.getLogger("mask2face.modelfiles")

# The model that ships with mask2face (trained on LFW; see its MODEL_CARD.md).
BUNDLED_MODEL = Path(__file__).resolve().parent / "pretrained" / "lfw128"
KERAS_FILE = "model.keras"
ONNX_FILE = "model.onnx"
EXPORT_RECORD = "export.json"
NAMES = ("bundled", "latest")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in 1 MB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keras_available() -> bool:
    from mask2face.cli import installed
    return installed("keras")


def export_is_current(folder: Path) -> bool:
    """Whether ``folder``'s model.onnx was exported from the model.keras beside it."""
    record = folder / EXPORT_RECORD
    if not (folder / ONNX_FILE).exists() or not record.exists():
        return False
    try:
        source = json.loads(record.read_text()).get("source_sha256")
    except (OSError, ValueError):
        return False
    keras_file = folder / KERAS_FILE
    return not keras_file.exists() or source == file_digest(keras_file)


def _file_in(folder: Path, keras_only: bool) -> Path:
    keras_file, onnx_file = folder / KERAS_FILE, folder / ONNX_FILE
    if keras_only or not onnx_file.exists():
        return keras_file
    if not keras_file.exists() or export_is_current(folder):
        return onnx_file
    if keras_available():
        log.info("%s is older than %s: using the Keras file (mask2face export %s makes a new "
                 "one)", onnx_file, keras_file.name, folder)
        return keras_file
    raise ModelFileError(f"{onnx_file} was exported from another {KERAS_FILE} and Keras is not "
                         f"installed: export it again (mask2face export {folder}, needs "
                         f"mask2face[train])")


def find_model(model: str | Path | None = None, model_dir: str = "models",
               keras_only: bool = False, missing_ok: bool = False) -> tuple[Path, Path]:
    """(model file, config.json) for ``--model``: None or 'bundled' = the shipped model,
    'latest' = the newest run under ``model_dir``, else a folder or a model file.
    ``keras_only``: the Keras file (training, evaluation, export); ``missing_ok``: return its
    path even where only the export is there (an installed package ships no model.keras)."""
    if model is None or str(model) == "bundled":
        if not (BUNDLED_MODEL / "config.json").exists():
            raise ModelFileError("the shipped model is missing from this install: give "
                                 "--model RUN_DIR, or train one with 'python -m mask2face.train'")
        model_file = _file_in(BUNDLED_MODEL, keras_only)
    elif str(model) == "latest":
        runs = sorted(Path(model_dir).glob(f"*/{KERAS_FILE}"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise ModelFileError(f"no trained model under {model_dir}/: train one with "
                                 f"'python -m mask2face.train', or leave out --model for the "
                                 f"shipped one")
        model_file = _file_in(runs[-1].parent, keras_only)
    else:
        model = Path(model)
        model_file = _file_in(model, keras_only) if model.is_dir() else model
    if not model_file.exists() and not missing_ok:
        hint = ""
        if model_file.name == KERAS_FILE and (model_file.parent / ONNX_FILE).exists():
            hint = (" (an installed package ships the export alone; the Keras file comes "
                    "with a clone of the repository)")
        raise ModelFileError(f"model not found: {model_file}{hint}")
    config_file = model_file.parent / "config.json"
    if not config_file.exists():
        raise ModelFileError(f"{model_file.parent} has no config.json: mask2face needs the "
                             f"run's configuration to use its model")
    return model_file, config_file


def load_model(model_file: Path) -> "keras.Model":
    """Load a .keras file with safe_mode on (a model file cannot run code)."""
    import zipfile

    if Path(model_file).suffix == ".onnx":
        raise ModelFileError(f"{model_file} is an exported network: training and evaluation "
                             f"need its {KERAS_FILE}")
    try:
        import keras
    except ImportError:
        raise ModelFileError(f"{model_file} needs Keras, which this install lacks: install "
                             f"mask2face[train], or use an exported model.onnx "
                             f"(mask2face export)") from None

    import mask2face.losses  # noqa: F401  registers the custom objects
    import mask2face.model  # noqa: F401
    try:
        with zipfile.ZipFile(model_file) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        broken = str(e) or type(e).__name__
    if broken is not None:
        raise ModelFileError(f"{model_file} is damaged (not a whole .keras file: {broken}); "
                             f"copy or export it again")
    try:
        return keras.models.load_model(model_file, safe_mode=True, compile=False)
    except Exception as e:  # another Keras version, unsafe content ...
        raise ModelFileError(f"cannot load {model_file}: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None


def with_generator_output(model: "keras.Model") -> "keras.Model":
    """The model with its generator's image, before the model keeps the input outside its own
    mask (MaskComposite), as a third output "generated"; a model without that step as it is."""
    import keras

    from mask2face.model import MaskComposite
    composite = next((layer for layer in model.layers if isinstance(layer, MaskComposite)), None)
    if composite is None or not isinstance(model.output, dict):
        return model
    return keras.Model(model.inputs, {**model.output, "generated": composite.input[0]})


class Network:
    """A model ready to run: (N, S, S, 3) float32 crops in [0, 1] -> {"image", and with a mask
    head "mask" (N, S, S, 1) and "generated"} as float32 arrays."""

    size: int
    model: "keras.Model | None" = None  # the Keras model, where it runs through Keras
    runtime: str = ""

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


class KerasNetwork(Network):
    def __init__(self, model: "keras.Model") -> None:
        import keras

        self.model = model
        self.size = int(model.inputs[0].shape[1])
        self.runtime = f"keras ({keras.backend.backend()})"
        net = with_generator_output(model)
        self._forward: Callable
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            signature = [tf.TensorSpec([None, self.size, self.size, 3], tf.float32)]
            # One traced function: repeated calls neither retrace nor grow memory.
            self._forward = tf.function(lambda x: net(x, training=False),
                                        input_signature=signature, reduce_retracing=True)
        else:
            self._forward = lambda x: net(x, training=False)

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        out = self._forward(np.asarray(crops, np.float32))
        if not isinstance(out, dict):
            out = {"image": out}
        return {key: np.asarray(value, dtype=np.float32) for key, value in out.items()}


class OnnxNetwork(Network):
    """An exported model.onnx, run by ONNX Runtime where it is installed (about twice as fast on
    CPUs), else by OpenCV's DNN module (always there)."""

    def __init__(self, model_file: Path, runtime: str = "auto") -> None:
        """``runtime``: 'onnxruntime', 'opencv', or 'auto' (the first that is installed)."""
        self.model_file = Path(model_file)
        onnxruntime = None
        if runtime in ("auto", "onnxruntime"):
            try:
                import onnxruntime
            except ImportError:
                if runtime == "onnxruntime":
                    raise ModelFileError("ONNX Runtime is not installed: pip install "
                                         "onnxruntime") from None
        try:
            if onnxruntime is not None:
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3
                # Its threads would otherwise spin after each call, taking the CPU from the
                # face detector that runs next (3-4x slower detection, measured).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = onnxruntime.InferenceSession(
                    str(model_file), options, providers=["CPUExecutionProvider"])
                shape = self._session.get_inputs()[0].shape
                self.outputs = [o.name for o in self._session.get_outputs()]
                self.runtime = f"onnxruntime {onnxruntime.__version__}"
            else:
                import cv2
                self._session = None
                self._net = cv2.dnn.readNetFromONNX(str(model_file))
                self.outputs = list(self._net.getUnconnectedOutLayersNames())
                shape = None
                self.runtime = f"opencv {cv2.__version__}"
        except Exception as e:
            raise ModelFileError(f"cannot load {model_file}: {type(e).__name__}: "
                                 f"{str(e).strip().splitlines()[-1] if str(e) else ''}") from None
        config = json.loads((self.model_file.parent / "config.json").read_text())
        self.size = int(shape[1]) if shape and isinstance(shape[1], int) else \
            int(config.get("data", {}).get("image_size", 256))

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        crops = np.ascontiguousarray(crops, np.float32)
        if self._session is not None:
            values = self._session.run(None, {"input": crops})
        else:
            self._net.setInput(crops, "input")
            values = self._net.forward(self.outputs)
        return {name: np.asarray(v, np.float32) for name, v in zip(self.outputs, values)}


def load_network(model_file: Path) -> Network:
    """The network in ``model_file`` (.onnx or .keras), ready to run."""
    if Path(model_file).suffix == ".onnx":
        return OnnxNetwork(model_file)
    return KerasNetwork(load_model(model_file))
