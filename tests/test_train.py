"""Training: input pipeline, run folder, resume, distribution (tiny models, 64 px)."""

import csv
from pathlib import Path
import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from PIL import Image

from mask2face.config import load_config
from mask2face.data import make_dataset, split_validation
from mask2face.pairs import list_pairs
from tests.conftest import ROOT

SIZE = 64


def write_pairs(root, count=12, people=4, seed=0):
    """Pairs whose difference is known: the masked input is the clean image with the mask
    region painted flat grey."""
    rng = np.random.default_rng(seed)
    manifest = []
    for i in range(count):
        clean = (rng.random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        x0 = int(rng.integers(5, 25))
        mask[30:58, x0:x0 + 30] = 255
        masked = clean.copy()
        masked[mask > 0] = 128
        name = f"{i:06d}_0"
        for kind, image in (("inputs", masked), ("outputs", clean), ("masks", mask)):
            (root / "train" / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "train" / kind / f"{name}.png")
        manifest.append(json.dumps({"id": name, "split": "train", "identity": f"p{i % people}"}))
    (root / "manifest.jsonl").write_text("\n".join(manifest) + "\n")
    return root


def tiny_config(pairs, **extra):
    values = dict(pairs_path=str(pairs), image_size=SIZE, filters=(8, 16, 32), kernels=(3, 3, 3),
                  epochs=3, batch_size=4, learning_rate=1e-3, preview_count=2,
                  validation_fraction=0.25)
    values.update(extra)
    return load_config(ROOT / "configuration.json", **values)


def test_augmentation_keeps_input_target_and_mask_aligned(tmp_path):
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    ds = make_dataset(pairs, SIZE, 4, training=True, mask_head=True, augment=True, seed=3,
                      degrade=False)
    flipped_seen = set()
    for masked, targets in ds.take(3):
        clean, mask = targets["image"][..., :3].numpy(), targets["mask"].numpy()[..., 0]
        masked = masked.numpy()
        assert clean.min() >= 0 and clean.max() <= 1
        for m, c, region in zip(masked, clean, mask):
            differ = np.abs(m - c).max(axis=-1) > 1e-6
            inside = region > 0.5
            assert differ[~inside].sum() == 0  # same jitter on both: identical outside
            # The training mask is the painted region grown by the 2 px anti-aliasing band; the
            # shift, turn and scale resample both, so their outlines agree within about a pixel
            # (a few pixels more where the outline meets the repeated edge of the crop).
            grown = cv2.dilate(differ.astype(np.uint8), np.ones((5, 5), np.uint8))
            near = np.ones((3, 3), np.uint8)
            assert (inside & (cv2.dilate(grown, near) == 0)).mean() < 0.005
            assert ((grown > 0) & (cv2.dilate(inside.astype(np.uint8), near) == 0)).mean() < 0.005
            flipped_seen.add(bool(inside[:, :SIZE // 2].sum() < inside[:, SIZE // 2:].sum()))
    assert flipped_seen == {True, False}  # flips happened and stayed aligned


def test_softened_and_compressed_pairs_differ_only_inside_the_mask(tmp_path):
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    ds = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=5)
    masked, targets = next(iter(ds))
    clean, mask = targets["image"][..., :3].numpy(), targets["mask"].numpy()[..., 0]
    differ = np.abs(masked.numpy() - clean).max(axis=-1) > 1e-6
    assert not differ[mask < 0.5].any()
    assert differ[mask > 0.5].mean() > 0.9


def test_reframed_pairs_repeat_one_edge_line_on_input_target_and_mask():
    import tensorflow as tf

    from mask2face.data import _reframe
    rng = np.random.default_rng(0)
    images = [tf.constant(rng.random((SIZE, SIZE, c)), tf.float32) for c in (3, 3, 1)]
    draws = tf.constant([0.0, 1.0, 0.5, 0.0])  # bottom cut at 70 %, left cut at the most
    cut = [image.numpy() for image in _reframe(images, draws)]
    bottom, left = int(SIZE * 0.7), int(SIZE * 0.15)
    for before, after in zip(images, cut):
        before = before.numpy()
        assert np.array_equal(after[:bottom, left:], before[:bottom, left:])
        assert (after[bottom:] == after[bottom - 1:bottom]).all()  # the last row repeated
        assert (after[:, :left] == after[:, left:left + 1]).all()  # the first column repeated


def test_zoomed_pairs_enlarge_input_target_and_mask_alike():
    """_zoom: every image of a pair is enlarged about the same point, by the drawn factor, on
    the eyes' row: a patch in the lower middle grows by that factor and moves down, away from
    that row, the same on input, target and mask, while a patch on the row stays on it."""
    import tensorflow as tf

    from mask2face.data import ZOOM_RANGE, _zoom, eye_row
    size = 64
    square = np.zeros((size, size, 1), np.float32)
    square[36:44, 28:36] = 1.0  # 8 x 8, centred on column 32, rows 36-44
    eyes = eye_row(0.3) * size
    square[int(eyes) - 1:int(eyes) + 2, 20:24] = 1.0  # a mark on the eyes' row, to the left
    images = [tf.constant(np.repeat(square, 3, axis=2)), tf.constant(np.repeat(square, 3, 2)),
              tf.constant(square)]
    draws = tf.constant([1.0, 1.0, 0.5])  # the largest zoom, no sideways shift
    out = [image.numpy() for image in _zoom(images, draws, eye_row(0.3))]
    for image in out[1:]:
        np.testing.assert_array_equal(image[..., 0], out[0][..., 0])
    lower = out[2][..., 0].copy()
    lower[:int(eyes) + 6] = 0
    rows, columns = np.nonzero(lower > 0.5)
    width = columns.max() - columns.min() + 1
    assert abs(width - 8 * ZOOM_RANGE[1]) <= 1.5
    # The input row y is seen at (y - e) * zoom + e: the patch's top row 36 lands lower.
    expected_top = (36 - eyes) * ZOOM_RANGE[1] + eyes
    assert abs(rows.min() - expected_top) <= 1.5
    assert abs(columns.mean() - 31.5) <= 0.6
    mark_rows = np.nonzero(out[2][: int(eyes) + 6, :28, 0] > 0.5)[0]
    assert abs(mark_rows.mean() - ((int(eyes) - eyes) * ZOOM_RANGE[1] + eyes)) <= 1.0


def test_the_zoom_turns_about_the_row_the_crop_puts_the_eyes_on():
    """eye_row(margin) is where face_crop with that margin puts a frontal face's eyes (eye
    distance d, mouth 1.1 d below them), so a run with another crop_margin zooms about its own
    pairs' eyes; a wider margin puts them lower, nearer the middle."""
    from mask2face.data import eye_row
    from mask2face.faces.crops import face_crop
    from mask2face.landmarks import LEFT_EYE, MOUTH, RIGHT_EYE
    d = 40.0
    points = np.zeros((68, 2))
    points[:] = (200.0, 260.0)
    points[LEFT_EYE] = (180.0, 200.0)
    points[RIGHT_EYE] = (180.0 + d, 200.0)
    points[MOUTH] = (180.0 + d / 2, 200.0 + 1.1 * d)
    rows = {}
    for margin in (0.2, 0.3, 0.5):
        crop = face_crop(points, 128, margin=margin)
        rows[margin] = crop.to_crop(points[LEFT_EYE])[:, 1].mean() / 128
        assert abs(rows[margin] - eye_row(margin)) < 0.005
    assert rows[0.2] < rows[0.3] < rows[0.5] < 0.5
    assert abs(eye_row(0.3) - 0.38) < 0.005


def test_zoom_share_enlarges_that_share_of_the_training_pairs(tmp_path):
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    plain = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3, degrade=False)
    zoomed = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3, degrade=False,
                          zoom_share=1.0)
    (_, before), (masked, after) = next(iter(plain)), next(iter(zoomed))
    area_before = before["mask"].numpy().sum(axis=(1, 2, 3))
    area_after = after["mask"].numpy().sum(axis=(1, 2, 3))
    # Every mask larger (1.3-2.3 times, less what runs on past the crop's bottom and sides).
    assert (area_after > area_before).all() and (area_after / area_before).mean() > 1.15
    clean, mask = after["image"][..., :3].numpy(), after["mask"].numpy()[..., 0]
    differ = np.abs(masked.numpy() - clean).max(axis=-1) > 1e-6
    assert not differ[mask < 0.5].any()  # still the target outside the mask


def test_unmasked_share_shows_clean_faces_with_empty_masks(tmp_path):
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    everything = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                              unmasked_share=1.0)
    masked, targets = next(iter(everything))
    assert np.array_equal(masked.numpy(), targets["image"][..., :3].numpy())
    assert targets["mask"].numpy().max() == 0 and targets["image"][..., 3].numpy().max() == 0
    none = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                        unmasked_share=0.0)
    masked, targets = next(iter(none))
    assert (targets["mask"].numpy().reshape(12, -1).max(axis=1) == 1).all()


def test_hole_share_greys_the_mask_and_predict_makes_the_same_hole(tmp_path):
    """hole_share 1: every training input shows its (grown) mask as mid grey, nothing else
    changed; predict's numpy hole (no TensorFlow there) is the training hole to the pixel; the
    mask target (which the composite and the in-mask losses follow) is the whole hole."""
    from mask2face.data import with_hole
    from mask2face.predict import grown_holes, with_hole as predict_hole
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    holes = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                         unmasked_share=0.0, hole_share=1.0)
    plain = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                         unmasked_share=0.0)
    (holed, targets), (masked, plain_targets) = next(iter(holes)), next(iter(plain))
    mask = plain_targets["mask"].numpy()[..., 0] > 0.5
    assert mask.any()
    expected = predict_hole(masked.numpy(), mask)
    np.testing.assert_allclose(holed.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(with_hole(masked, plain_targets["mask"]).numpy(), expected,
                               atol=1e-6)
    hole = grown_holes(mask)
    assert hole.sum() > mask.sum()
    np.testing.assert_array_equal(targets["mask"].numpy()[..., 0], hole)
    np.testing.assert_array_equal(targets["image"].numpy()[..., 3], hole)
    assert (holed.numpy()[mask] == 0.5).all()
    far = ~np.stack([cv2.dilate(m.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for m in mask])
    np.testing.assert_array_equal(holed.numpy()[far], masked.numpy()[far])


def test_hole_surroundings_fills_the_hole_from_round_it_as_predict_does(tmp_path):
    """hole_surroundings: the training hole holds the colours round it spread inwards, the same
    to float rounding as predict's NumPy fill of the same hole; a hole beside two colours takes
    each side's colour near that side and something between them in the middle."""
    import tensorflow as tf

    from mask2face.data import surroundings_fill as tf_fill
    from mask2face.errors import UsageError
    from mask2face.predict import grown_holes, surroundings_fill, with_hole as predict_hole
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    holes = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                         unmasked_share=0.0, hole_share=1.0, hole_surroundings=True)
    plain = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                         unmasked_share=0.0)
    (holed, targets), (masked, plain_targets) = next(iter(holes)), next(iter(plain))
    mask = plain_targets["mask"].numpy()[..., 0] > 0.5
    expected = predict_hole(masked.numpy(), mask, surroundings=True)
    np.testing.assert_allclose(holed.numpy(), expected, atol=1e-5)
    hole = grown_holes(mask) > 0
    np.testing.assert_array_equal(holed.numpy()[~hole], masked.numpy()[~hole])
    assert not np.allclose(holed.numpy()[hole], 0.5)  # not the grey
    np.testing.assert_array_equal(targets["mask"].numpy()[..., 0], hole)

    # Red on the left, blue on the right, a hole across the middle rows.
    image = np.zeros((1, 32, 32, 3), np.float32)
    image[:, :, :16, 0] = 1.0
    image[:, :, 16:, 2] = 1.0
    gap = np.zeros((1, 32, 32, 1), np.float32)
    gap[:, 8:24, 4:28] = 1.0
    filled = surroundings_fill(image, gap)
    np.testing.assert_allclose(tf_fill(tf.constant(image), tf.constant(gap)).numpy(), filled,
                               atol=1e-6)
    np.testing.assert_array_equal(filled[gap[..., 0] == 0], image[gap[..., 0] == 0])
    left, right, middle = filled[0, 16, 5], filled[0, 16, 26], filled[0, 16, 15:17].mean(0)
    assert left[0] > 0.8 and left[2] < 0.2 and right[2] > 0.8 and right[0] < 0.2
    assert 0.2 < middle[0] < 0.8 and 0.2 < middle[2] < 0.8
    assert np.all(np.abs(np.diff(filled[0, 16, :, 0])) < 0.25)  # smooth, no step
    with pytest.raises(UsageError, match="face_outline"):
        make_dataset(pairs, SIZE, 12, training=True, mask_head=True, hole_share=1.0,
                     face_outline=True, hole_surroundings=True)


def test_validation_split_is_by_identity(tmp_path):
    pairs = list_pairs(write_pairs(tmp_path, count=20, people=5) / "train")
    train, val = split_validation(pairs, 0.2, seed=0)
    assert val is not None and not set(train.identities) & set(val.identities)
    assert len(train) + len(val) == 20


def test_train_writes_run_folder(tmp_path):
    from mask2face.train import train
    run = train(tiny_config(write_pairs(tmp_path / "pairs")), tmp_path / "run")
    for name in ("model.keras", "config.json", "history.csv"):
        assert (run / name).exists()
    assert len(list((run / "previews").glob("epoch_*.png"))) == 3
    assert json.loads((run / "config.json").read_text())["data"]["image_size"] == SIZE
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and "val_image_psnr" in rows[0]


class Killed(Exception):
    pass


def kill_after(last_epoch: int):
    """A callback that stops training like a kill once epoch ``last_epoch`` has ended."""
    import keras

    class KillAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == last_epoch:
                raise Killed()
    return KillAfter()


def test_killed_run_resumes_and_history_continues(tmp_path):
    from mask2face.train import train

    config = tiny_config(write_pairs(tmp_path / "pairs"), epochs=3)
    with pytest.raises(Killed):
        train(config, tmp_path / "run", extra_callbacks=[kill_after(0)])
    assert (tmp_path / "run" / "backup").exists()
    train(config, tmp_path / "run", resume=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]


def test_resuming_a_finished_run_says_so_and_loses_nothing(tmp_path):
    from mask2face.errors import UsageError
    from mask2face.train import train

    config = tiny_config(write_pairs(tmp_path / "pairs"), epochs=1)
    run = train(config, tmp_path / "run")
    before = {name: (run / name).read_bytes() for name in ("history.csv", "model.keras")}
    with pytest.raises(UsageError, match="finished its epochs.*--init-from"):
        train(config, run, resume=True)
    assert {name: (run / name).read_bytes() for name in before} == before
    # A model folder (config.json and model.keras, no history, no backup) is no run to resume.
    (run / "history.csv").unlink()
    with pytest.raises(UsageError, match="finished its epochs.*--init-from"):
        train(config, run, resume=True)
    assert (run / "model.keras").read_bytes() == before["model.keras"]


# Run as ``python -c``: a Python that finds neither TensorFlow nor dlib, as on a GPU machine with
# JAX alone (the path finder answers "not installed" for them), then the command.
WITHOUT_TENSORFLOW = textwrap.dedent("""
    import importlib.machinery, runpy
    find = importlib.machinery.PathFinder.find_spec
    def hidden(cls, name, path=None, target=None):
        return None if name.split(".")[0] in ("tensorflow", "dlib") else find(name, path, target)
    importlib.machinery.PathFinder.find_spec = classmethod(hidden)
    runpy.run_module("mask2face.train", run_name="__main__", alter_sys=True)
    """)


def train_tiny_with_cli(tmp_path, backend: str, settings: dict,
                        without_tensorflow: bool = False) -> list[dict]:
    """Train a tiny model for 2 epochs with ``python -m mask2face.train`` on ``backend``, the
    configuration's sections ``settings``, optionally in a Python that finds neither
    TensorFlow nor dlib; returns the rows of its history.csv."""
    import os
    pairs = write_pairs(tmp_path / "pairs")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(settings))
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = ["-c", WITHOUT_TENSORFLOW] if without_tensorflow else \
        ["-m", "mask2face.train"]
    result = subprocess.run(
        [sys.executable, *command, "--config", str(config), "--data", str(pairs),
         "--model-dir", str(tmp_path / "run"), "--image-size", str(SIZE), "--epochs", "2",
         "--batch-size", "4"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    if without_tensorflow:
        assert "TensorFlow" not in result.stderr  # no warning of a missing TensorFlow either
    return list(csv.DictReader(open(tmp_path / "run" / "history.csv")))


def test_cli_trains_a_tiny_published_model(tmp_path):
    """On TensorFlow; the same command on JAX (the published network, with the adversarial
    term on) is test_adversarial.py's test_cli_trains_the_adversarial_term_on_jax: one JAX run
    of the command, whose compiling takes minutes on CI's 2 cores, covers both."""
    rows = train_tiny_with_cli(tmp_path, "tensorflow", {
        "model": {"architecture": "resnet", "filters": [8, 16, 32], "kernels": [3, 3, 3]},
        "training": {"preview_count": 1, "validation_fraction": 0.25}})
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert (tmp_path / "run" / "model.keras").exists()


def test_best_model_replaced_whole_and_best_score_survives_a_resume(tmp_path, monkeypatch):
    import keras

    from mask2face.model import make_model
    from mask2face.callbacks import BestCheckpoint
    model = make_model("resnet_d", SIZE, (8, 16, 32), (3, 3, 3))
    first = BestCheckpoint(tmp_path, "val_loss")
    first.set_model(model)
    first.on_train_begin()
    first.on_epoch_end(0, {"val_loss": 1.0})
    saved = (tmp_path / "model.keras").read_bytes()
    # A resumed run (a new callback) must not replace the model with a worse epoch.
    again = BestCheckpoint(tmp_path, "val_loss")
    again.set_model(model)
    again.on_train_begin()
    again.on_epoch_end(1, {"val_loss": 2.0})
    assert (tmp_path / "model.keras").read_bytes() == saved

    # A kill in the middle of saving a better model leaves the previous one whole.
    def killed_while_writing(path, *args, **kwargs):
        Path(path).write_bytes(b"half a zip")
        raise KeyboardInterrupt
    monkeypatch.setattr(model, "save", killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        again.on_epoch_end(2, {"val_loss": 0.5})
    assert (tmp_path / "model.keras").read_bytes() == saved
    assert isinstance(keras.models.load_model(tmp_path / "model.keras", compile=False),
                      keras.Model)


@pytest.mark.parametrize("cut", ["weights", "history"])
def test_a_kill_at_a_bad_moment_still_resumes_with_whole_history(tmp_path, cut):
    from mask2face.train import train

    config = tiny_config(write_pairs(tmp_path / "pairs"), epochs=4, preview_count=0)
    with pytest.raises(Killed):
        train(config, tmp_path / "run", extra_callbacks=[kill_after(1)])
    backup = tmp_path / "run" / "backup"
    if cut == "weights":  # killed while the backup's weights were written
        (backup / "latest.weights.h5").write_bytes(b"")
    else:  # killed after the history row, before the backup of that epoch
        metadata = json.loads((backup / "training_metadata.json").read_text())
        (backup / "training_metadata.json").write_text(json.dumps({**metadata, "epoch": 1}))
    train(config, tmp_path / "run", resume=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]


def test_cli_without_pairs_says_how_to_make_them(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mask2face.train", "--data",
                             str(tmp_path / "nothing"), "--model-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "python -m mask2face.generate" in result.stderr and "Traceback" not in result.stderr


def test_mirrored_strategy_over_two_logical_cpus_trains_one_step(tmp_path):
    pairs = write_pairs(tmp_path / "pairs", count=8)
    code = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, numpy as np
        from mask2face.model import make_model
        from mask2face.losses import make_image_loss
        from mask2face.data import make_dataset
        from mask2face.pairs import list_pairs
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = make_model("resnet_d", 64, (8, 16, 32), (3, 3, 3), mask_head=False,
                               composite_output=False)
            model.compile("adam", make_image_loss("ssim_l1"))
        ds = make_dataset(list_pairs({str(pairs / 'train')!r}), 64, 4, training=True,
                          mask_head=False)
        history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        print("trained on", strategy.num_replicas_in_sync, "replicas")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert "trained on 2 replicas" in result.stdout, result.stderr[-2000:]


def test_a_second_run_into_a_held_folder_stops_naming_the_holder(tmp_path):
    import os

    from mask2face.parallel import folder_lock
    pairs = write_pairs(tmp_path / "pairs")
    tiny = tiny_config(pairs, epochs=1)
    tiny.save(tmp_path / "tiny.json")
    with folder_lock(tmp_path / "run"):  # this test process is the first run
        for command in (["mask2face.train", "--config", str(tmp_path / "tiny.json"),
                         "--model-dir", str(tmp_path / "run")],
                        ["mask2face.generate", "--config", str(tmp_path / "tiny.json"),
                         "--input", str(pairs), "--output", str(tmp_path / "run")]):
            result = subprocess.run([sys.executable, "-m", *command], capture_output=True,
                                    text=True, cwd=tmp_path)
            assert result.returncode == 2, result.stderr[-2000:]
            assert f"process {os.getpid()}" in result.stderr and "in use" in result.stderr
    assert not (tmp_path / "run" / "config.json").exists()
    # The lock went with its holder: the folder is free again.
    from mask2face.train import train
    assert (train(tiny, tmp_path / "run") / "model.keras").exists()


def test_ctrl_c_says_how_to_resume_and_that_works(tmp_path):
    import signal
    import time
    pairs = write_pairs(tmp_path / "pairs")
    tiny_config(pairs, epochs=30, preview_count=0).save(tmp_path / "tiny.json")
    command = [sys.executable, "-m", "mask2face.train", "--config", str(tmp_path / "tiny.json"),
               "--model-dir", str(tmp_path / "models" / "run")]
    process = subprocess.Popen(command[:-2], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "models").glob("*/history.csv")):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    hint = stderr.strip().splitlines()[-1]
    assert "--resume" in hint and "--model-dir" in hint
    run = hint.split("--model-dir ")[1].split(" --resume")[0]
    assert (tmp_path / run / "config.json").exists()
    resumed = subprocess.run([sys.executable, "-m", "mask2face.train", "--model-dir", run,
                              "--resume"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_init_from_starts_from_another_models_weights_and_refuses_another_setting(tmp_path):
    from mask2face.errors import ConfigError
    from mask2face.model import model_from_config
    from mask2face.train import train
    pairs = write_pairs(tmp_path / "pairs")
    source = tmp_path / "source"
    source.mkdir()
    config = tiny_config(pairs)
    start = model_from_config(config, SIZE)
    start.save(source / "model.keras")
    config.save(source / "config.json")
    # A learning rate of 0 keeps the weights: the run's model is the source's.
    run = train(tiny_config(pairs, init_from=str(source), learning_rate=0.0, epochs=1),
                tmp_path / "run")
    from mask2face.predict import load_model
    for mine, theirs in zip(load_model(run / "model.keras").get_weights(), start.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(ConfigError, match="another setting"):
        train(tiny_config(pairs, init_from=str(source), filters=(8, 16, 16)), tmp_path / "other")
    assert not (tmp_path / "other" / "config.json").exists()  # nothing to --resume is left


def test_two_runs_in_one_second_get_their_own_folders_and_a_failed_start_leaves_none(
        tmp_path, monkeypatch):
    import mask2face.train as train_module
    from mask2face.train import new_run_dir, train
    monkeypatch.setattr(train_module.time, "strftime", lambda *_: "20260101-000000")
    first, second = new_run_dir(str(tmp_path / "models")), new_run_dir(str(tmp_path / "models"))
    assert first != second and first.is_dir() and second.is_dir()
    # A start that fails once the folder is locked (here: weights of another setting) removes
    # the folder it made, so that it does not demand --resume.
    from mask2face.errors import ConfigError
    config = tiny_config(write_pairs(tmp_path / "pairs"), epochs=1, init_from="bundled")
    config.training.model_dir = str(tmp_path / "runs")
    with pytest.raises(ConfigError, match="another setting"):
        train(config)
    assert not any((tmp_path / "runs").iterdir())
    with pytest.raises(ConfigError, match="another setting"):
        train(config, tmp_path / "named")
    assert not (tmp_path / "named").exists()


def test_the_epoch_line_shows_every_nth_epoch_and_the_last(caplog):
    from mask2face.callbacks import EpochLine
    line = EpochLine(epochs=5, every=2)
    with caplog.at_level("INFO", logger="mask2face.train"):
        for epoch in range(3):  # stopped early after the third
            line.on_epoch_begin(epoch)
            line.on_epoch_end(epoch, {"loss": 0.5, "val_image_psnr": 20.0, "other": 1.0})
        line.on_train_end()
    shown = [r.getMessage() for r in caplog.records]
    assert [m.split(" (")[0] for m in shown] == ["epoch 2/5", "epoch 3/5"]
    assert shown[0].endswith("loss 0.5000, val PSNR 20.00 dB") and "other" not in shown[0]


def test_hole_spread_grows_holes_sideways_and_down_never_up(tmp_path):
    """hole_spread: each hole pair's hole is the plain hole grown by its own random amount to
    the sides and down, greyed out in the input and the whole of it the mask target; no hole
    reaches a row above the plain hole's top."""
    from mask2face.predict import grown_holes
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    plain = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                         unmasked_share=0.0)
    spread = make_dataset(pairs, SIZE, 12, training=True, mask_head=True, seed=3,
                          unmasked_share=0.0, hole_share=1.0, hole_spread=6)
    (masked, plain_targets), (holed, targets) = next(iter(plain)), next(iter(spread))
    hole = grown_holes(plain_targets["mask"].numpy()[..., 0] > 0.5) > 0
    wide = targets["mask"].numpy()[..., 0] > 0.5
    assert (wide >= hole).all()
    np.testing.assert_array_equal(targets["image"].numpy()[..., 3] > 0.5, wide)
    assert (holed.numpy()[wide] == 0.5).all()
    np.testing.assert_array_equal(holed.numpy()[~wide], masked.numpy()[~wide])
    extra = []
    for h, w in zip(hole, wide):
        rows = np.flatnonzero(h.any(axis=1))
        assert np.flatnonzero(w.any(axis=1))[0] == rows[0]
        # Sideways: how far the widest row reaches past the plain hole on each side.
        cols, wide_cols = np.flatnonzero(h.any(axis=0)), np.flatnonzero(w.any(axis=0))
        extra.append((cols[0] - wide_cols[0], wide_cols[-1] - cols[-1],
                      np.flatnonzero(w.any(axis=1))[-1] - rows[-1]))
    extra = np.array(extra)
    assert extra.min() >= 0 and extra.max() <= 6
    assert len({tuple(e) for e in extra}) > 3, extra  # drawn per pair


def test_face_outline_fills_the_hole_two_greys_from_each_pairs_face_area(tmp_path):
    """training.face_outline: a hole pair's hole is mid grey over the pair's face area and
    OUTSIDE_FACE_GREY beyond it (a face area of all face is the plain hole); without the face
    files the run stops with the command that makes them; predict's numpy hole is training's."""
    from mask2face.data import with_hole
    from mask2face.errors import UsageError
    from mask2face.pairs import OUTSIDE_FACE_GREY
    from mask2face.predict import with_hole as predict_hole
    root = write_pairs(tmp_path)
    with pytest.raises(UsageError, match="mask2face.face_areas"):
        make_dataset(list_pairs(root / "train"), SIZE, 12, training=True, mask_head=True,
                     hole_share=1.0, face_outline=True)
    (root / "train" / "faces").mkdir()
    settings = dict(training=True, mask_head=True, seed=3, unmasked_share=0.0, hole_share=1.0)
    holed = {}
    for level in (255, 0):
        for name in (root / "train" / "inputs").glob("*.png"):
            Image.fromarray(np.full((SIZE, SIZE), level, np.uint8)).save(
                root / "train" / "faces" / name.name)
        pairs = list_pairs(root / "train")
        assert pairs.faces is not None and len(pairs.faces) == len(pairs)
        holed[level], targets = next(iter(make_dataset(pairs, SIZE, 12, face_outline=True,
                                                       **settings)))
    plain, plain_targets = next(iter(make_dataset(list_pairs(root / "train"), SIZE, 12,
                                                  **settings)))
    np.testing.assert_array_equal(holed[255].numpy(), plain.numpy())
    hole = targets["mask"].numpy()[..., 0] > 0.5  # a hole pair's mask target is its hole
    assert hole.any()
    assert (holed[0].numpy()[hole] == OUTSIDE_FACE_GREY).all()
    np.testing.assert_array_equal(holed[0].numpy()[~hole], plain.numpy()[~hole])
    # The two versions of the hole, given one made-up face area, agree to float precision.
    rng = np.random.default_rng(0)
    crops = rng.random((2, SIZE, SIZE, 3)).astype(np.float32)
    masks = np.zeros((2, SIZE, SIZE), bool)
    masks[:, 30:60, 10:50] = True
    faces = np.zeros((2, SIZE, SIZE), np.float32)
    faces[:, :, :32] = 1.0
    faces[:, :, 32] = 0.4
    ours = predict_hole(crops, masks, faces)
    np.testing.assert_allclose(
        with_hole(crops, masks[..., None].astype(np.float32), faces[..., None]).numpy(), ours,
        atol=1e-6)
    assert (ours[:, 40, 20] == 0.5).all() and (ours[:, 40, 40] == OUTSIDE_FACE_GREY).all()
    np.testing.assert_allclose(ours[:, 40, 32], 0.5 * 0.4 + OUTSIDE_FACE_GREY * 0.6, atol=1e-6)


def test_face_areas_are_the_hull_predict_fits_on_each_masked_pair_and_go_on_past_a_bad_one(
        tmp_path, sample_faces):
    """``python -m mask2face.face_areas``: faces/<id>.png is the hull of the points predict's
    finder fits on the masked input (``landmarks.face_area``); a pair it cannot read is
    reported at the end and the rest are written; a second run skips what is there."""
    from mask2face.face_areas import main, write_face_areas
    from mask2face.faces import face_crop, face_finder_from_config
    from mask2face.landmarks import face_area
    photo, face = next(iter(sample_faces.values()))
    crop = face_crop(face.landmarks, 128, 0.3)
    clean = crop.apply(photo)
    masked = clean.copy()
    lower = crop.to_crop(face.landmarks)[33:, 1]  # below the nose tip
    masked[int(lower.min()) + 4:] = 128
    mask = np.zeros((128, 128), np.uint8)
    mask[int(lower.min()) + 4:] = 255
    for name, image in (("000000_0", masked), ("000001_0", None)):
        for kind, content in (("inputs", image), ("outputs", clean), ("masks", mask)):
            (tmp_path / "train" / kind).mkdir(parents=True, exist_ok=True)
            path = tmp_path / "train" / kind / f"{name}.png"
            if content is None:
                path.write_bytes(b"not a png")
            else:
                Image.fromarray(content).save(path)
    config = load_config(ROOT / "configuration.json")
    counts = write_face_areas(config, tmp_path)
    assert counts["found"] == 1 and len(counts["failed"]) == 1
    assert counts["failed"][0].startswith("000001_0.png")
    written = np.asarray(Image.open(tmp_path / "train" / "faces" / "000000_0.png"))
    fitted = face_finder_from_config(config.faces, config.predict.detector()).find(masked)
    expected = np.round(face_area(fitted[0].landmarks, 128) * 255).astype(np.uint8)
    np.testing.assert_array_equal(written, expected)
    assert written[64, 64] == 255 and written[0, 0] == 0
    assert not (tmp_path / "train" / "faces" / "000001_0.png").exists()
    assert main([str(tmp_path), "-q"]) == 1  # the bad pair again; the good one left as it was
    assert write_face_areas(config, tmp_path)["already there"] == 1
