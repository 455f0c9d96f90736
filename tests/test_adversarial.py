"""The adversarial term: the discriminator, its losses, the gradient split, training and resume."""

import csv
import json

import numpy as np
import pytest

from tests.test_train import Killed, SIZE, kill_after, tiny_config, train_tiny_with_cli, write_pairs


def test_hinge_and_feature_matching_on_numbers_worked_by_hand():
    from keras import ops

    from mask2face.adversarial import (feature_matching_loss, hinge_discriminator_loss,
                                       hinge_generator_loss)
    real = np.array([[2.0, 0.5]], np.float32)   # relu(1 - 2) = 0, relu(1 - 0.5) = 0.5
    fake = np.array([[-3.0, 0.0]], np.float32)  # relu(1 - 3) = 0, relu(1 + 0) = 1
    assert float(hinge_discriminator_loss(real, fake)) == pytest.approx(0.25 + 0.5)
    assert float(hinge_generator_loss(fake)) == pytest.approx(1.5)
    a = [np.zeros((1, 2, 2, 1), np.float32), np.ones((1, 1, 1, 2), np.float32)]
    b = [np.full((1, 2, 2, 1), 0.5, np.float32), np.full((1, 1, 1, 2), 3.0, np.float32)]
    assert float(ops.convert_to_numpy(feature_matching_loss(a, b))) == pytest.approx((0.5 + 2) / 2)


def test_discriminator_shapes_and_patch_size():
    from mask2face.adversarial import make_discriminator
    d = make_discriminator(SIZE, filters=(8, 16, 32))
    x = np.random.default_rng(0).random((2, SIZE, SIZE, 3)).astype(np.float32)
    out = d([x, x])
    assert tuple(out["logits"].shape) == (2, SIZE // 4, SIZE // 4, 1)
    assert [tuple(f.shape)[-1] for f in out["features"]] == [8, 16, 32]


def test_one_loss_gives_each_network_its_own_gradient():
    """The generator gets the gradient of its terms alone, the discriminator of its hinge loss
    alone: checked against gradients of each term taken on its own."""
    tf = pytest.importorskip("tensorflow")
    import keras

    from mask2face.adversarial import (CriticTraining, feature_matching_loss,
                                       hinge_discriminator_loss, hinge_generator_loss,
                                       make_discriminator)
    inputs = keras.Input((SIZE, SIZE, 3))
    image = keras.layers.Conv2D(3, 3, padding="same", name="g")(inputs)
    generator = keras.Model(inputs, {"image": image})
    discriminator = make_discriminator(SIZE, filters=(8, 16))
    model = CriticTraining(generator, discriminator, 0.5, 2.0)
    model.compile(loss={"image": "mae"})
    rng = np.random.default_rng(1)
    x = tf.constant(rng.random((2, SIZE, SIZE, 3)), tf.float32)
    y = {"image": tf.constant(rng.random((2, SIZE, SIZE, 3)), tf.float32)}
    g_vars, d_vars = generator.trainable_variables, discriminator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        total = model.compute_loss(x=x, y=y, y_pred=out, training=True)
        real = discriminator([x, y["image"]])
        fake = discriminator([x, out["image"]])
        fake_held = discriminator([x, tf.stop_gradient(out["image"])])
        reconstruction = tf.reduce_mean(tf.abs(y["image"] - out["image"]))
        real_f = [tf.stop_gradient(f) for f in real["features"]]
        g_only = reconstruction + 0.5 * hinge_generator_loss(fake["logits"]) + \
            2.0 * feature_matching_loss(real_f, fake["features"])
        d_only = hinge_discriminator_loss(real["logits"], fake_held["logits"])
    for variables, alone in ((g_vars, g_only), (d_vars, d_only)):
        got = np.concatenate([g.numpy().ravel() for g in tape.gradient(total, variables)])
        want = np.concatenate([g.numpy().ravel() for g in tape.gradient(alone, variables)])
        scale = np.abs(want).max()
        assert scale > 0
        # float32 rounding of the cancelled terms only: far below the gradient's own size.
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)
    assert float(total) == pytest.approx(float(reconstruction + d_only), rel=1e-5)


def test_critics_judge_only_the_drawn_mask():
    """With the pair's mask in the target (rgb + mask), the discriminator sees the real face
    outside the mask: no critic gradient reaches the output's pixels there."""
    tf = pytest.importorskip("tensorflow")
    import keras

    from mask2face.adversarial import CriticTraining, make_discriminator
    inputs = keras.Input((SIZE, SIZE, 3))
    generator = keras.Model(inputs, {"image": keras.layers.Identity()(inputs)})
    model = CriticTraining(generator, make_discriminator(SIZE, filters=(8, 16)), 1.0, 1.0)
    model.compile(loss={"image": lambda y, p: tf.zeros(())})  # the critics alone
    rng = np.random.default_rng(2)
    mask = np.zeros((2, SIZE, SIZE, 1), np.float32)
    mask[:, SIZE // 2:, 4:-4] = 1.0
    target = np.concatenate([rng.random((2, SIZE, SIZE, 3)), mask], -1).astype(np.float32)
    x = tf.constant(rng.random((2, SIZE, SIZE, 3)), tf.float32)
    image = tf.Variable(x)  # the output, apart from x (the discriminator's condition)
    with tf.GradientTape() as tape:
        total = model.compute_loss(x=x, y={"image": tf.constant(target)},
                                   y_pred={"image": image}, training=True)
    # The generator's terms are written to have value 0 but keep their gradient.
    through_output = np.abs(tape.gradient(total, image).numpy()).sum(-1)
    inside = mask[..., 0] > 0
    assert through_output[inside].max() > 0
    assert through_output[~inside].max() == 0


@pytest.mark.slow
def test_critic_run_trains_logs_every_term_saves_the_generator_and_resumes(tmp_path):
    import keras

    from mask2face.predict import load_model
    from mask2face.train import train
    config = tiny_config(write_pairs(tmp_path / "pairs"), epochs=3, adversarial_weight=0.1,
                         feature_matching_weight=1.0, identity_weight=0.1,
                         perceptual_weight=0.1, texture_weight=1.0)
    with pytest.raises(Killed):
        train(config, tmp_path / "run", extra_callbacks=[kill_after(0)])
    backup = tmp_path / "run" / "backup" / "latest.weights.h5"
    assert backup.exists()
    train(config, tmp_path / "run", resume=True)
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for term in ("g_adversarial", "feature_matching", "d_loss", "identity", "perceptual",
                 "texture", "val_image_psnr"):
        assert all(np.isfinite(float(r[term])) for r in rows), term
    assert all(float(r["identity"]) > 0 for r in rows)
    model = load_model(tmp_path / "run" / "model.keras")  # the generator alone, the latest epoch
    assert not any("discriminator" in layer.name or "dlib" in layer.name
                   for layer in model.layers)
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 2
    keras.backend.clear_session()


@pytest.mark.slow
def test_adversarial_run_resumes_both_networks_and_the_optimizer_exactly(tmp_path):
    """A run killed after an epoch continues with the discriminator and the optimizer state it
    had when its backup was written, not fresh ones."""
    import keras

    from mask2face.train import train
    config = tiny_config(write_pairs(tmp_path / "pairs"), epochs=2, adversarial_weight=0.1,
                         feature_matching_weight=1.0)
    seen = {}

    def state(model):
        return ([w.copy() for w in model.discriminator.get_weights()],
                [np.array(v) for v in model.optimizer.variables])

    class KillAfterFirst(keras.callbacks.Callback):  # after the run's own callbacks: backed up
        def on_epoch_end(self, epoch, logs=None):
            seen["killed"] = state(self.model)
            raise Killed()

    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.setdefault("resumed", state(self.model))

    with pytest.raises(Killed):
        train(config, tmp_path / "run", extra_callbacks=[KillAfterFirst()])
    train(config, tmp_path / "run", resume=True, extra_callbacks=[FirstStep()])
    (d_then, opt_then), (d_now, opt_now) = seen["killed"], seen["resumed"]
    assert len(d_then) == len(d_now) > 0
    for a, b in zip(d_then, d_now):
        np.testing.assert_array_equal(a, b)
    assert len(opt_then) == len(opt_now) and any(np.abs(v).sum() > 0 for v in opt_then[1:])
    for a, b in zip(opt_then, opt_now):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()


@pytest.mark.slow
def test_cli_trains_the_adversarial_term_on_jax(tmp_path):
    """The training command on JAX, with the published network (as test_train.py's
    test_cli_trains_a_tiny_published_model on TensorFlow) and the adversarial term on, in a
    Python that finds neither TensorFlow nor dlib, as on a GPU machine with JAX alone: the
    batches come from the NumPy pipeline (holes filled from round them, close-ups)."""
    pytest.importorskip("jax")
    rows = train_tiny_with_cli(tmp_path, "jax", {
        "model": {"architecture": "resnet", "filters": [8, 16, 32], "kernels": [3, 3, 3]},
        "training": {"preview_count": 1, "validation_fraction": 0.25,
                     "adversarial_weight": 0.1, "feature_matching_weight": 1.0,
                     "hole_share": 0.5, "hole_surroundings": True, "zoom_share": 0.3}},
        without_tensorflow=True)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert (tmp_path / "run" / "previews" / "epoch_001.png").exists()
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert all(np.isfinite(float(r["d_loss"])) and float(r["d_loss"]) > 0 for r in rows)
    assert (tmp_path / "run" / "model.keras").exists()


def test_face_terms_blur_lets_the_face_terms_shape_but_not_tint():
    """With ``face_terms_blur`` dlib's terms judge the output's detail on the real face's
    blurred colours: a tint of the whole output barely moves them (only the zero-padded border
    band sees it), while the same tint moves them fully without it; fine detail moves them
    either way."""
    import keras
    from keras import ops

    from mask2face.adversarial import CriticTraining
    from mask2face.dlib_resnet import CHIP_SIZE
    chip = keras.Input((CHIP_SIZE, CHIP_SIZE, 3))
    level = keras.layers.Conv2D(4, 3, padding="same", kernel_initializer="he_normal")(chip / 255)
    face_net = keras.Model(chip, {"descriptor": keras.layers.GlobalAveragePooling2D()(level),
                                  "features": [level]})
    inputs = keras.Input((SIZE, SIZE, 3))
    generator = keras.Model(inputs, {"image": keras.layers.Identity()(inputs)})

    def terms(blur, output, target):
        model = CriticTraining(generator, face_net=face_net, identity_weight=1.0,
                               perceptual_weight=1.0, face_terms_blur=blur)
        return float(ops.convert_to_numpy(model._face_terms(target, output)))

    rng = np.random.default_rng(3)
    target = rng.random((2, SIZE, SIZE, 3)).astype(np.float32) * 0.5 + 0.25
    tinted = target + np.array([0.15, -0.1, 0.05], np.float32)
    grain = target + rng.normal(0, 0.1, target.shape).astype(np.float32)
    assert terms(0.0, target, target) == pytest.approx(0.0, abs=1e-6)
    assert terms(4.0, target, target) == pytest.approx(0.0, abs=1e-6)
    assert terms(4.0, tinted, target) < 0.2 * terms(0.0, tinted, target)
    assert terms(4.0, grain, target) > 0.5 * terms(0.0, grain, target)


def _texture(target, image, region):
    from keras import ops

    from mask2face.adversarial import texture_loss
    return float(ops.convert_to_numpy(texture_loss(target, image, region)))


def test_texture_term_asks_for_the_real_grain_not_its_place():
    """The texture term compares how much detail each place holds: the real face's texture
    moved by a few pixels (what a model can make behind a mask) is near it, its blur (what a
    pixel loss prefers) is far, and a tint of the colour does not count at all."""
    import cv2
    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.normal(0, 0.08, (SIZE, SIZE, 3)).astype(np.float32), (0, 0), 0.7)
    target = (0.5 + noise)[None]
    moved = np.roll(target, 3, axis=2)
    blurred = cv2.GaussianBlur(target[0], (0, 0), 2.0)[None]
    tinted = target + np.array([0.1, -0.05, 0.08], np.float32)
    region = np.zeros((1, SIZE, SIZE, 1), np.float32)
    region[:, 20:-20, 20:-20] = 1.0  # away from the zero-padded border
    assert _texture(target, target, region) == 0.0
    assert _texture(target, tinted, region) < 1e-4
    assert np.abs(moved - target).mean() > np.abs(blurred - target).mean()
    assert _texture(target, moved, region) < 0.25 * _texture(target, blurred, region)


def test_texture_term_reaches_only_pixels_near_its_region():
    """The term's gradient asks a smooth output for detail inside the region (and the blur's
    reach around it), and nowhere else."""
    tf = pytest.importorskip("tensorflow")
    from mask2face.adversarial import TEXTURE_SIGMAS, texture_loss
    rng = np.random.default_rng(6)
    target = (0.5 + rng.normal(0, 0.05, (1, SIZE, SIZE, 3))).astype(np.float32)
    smooth = tf.Variable(np.full((1, SIZE, SIZE, 3), 0.5, np.float32))
    region = np.zeros((1, SIZE, SIZE, 1), np.float32)
    region[:, 40:56, 22:44] = 1.0
    with tf.GradientTape() as tape:
        loss = texture_loss(target, smooth, region)
    gradient = np.abs(tape.gradient(loss, smooth).numpy()).sum(axis=-1)[0]
    reach = int(np.ceil(3 * (TEXTURE_SIGMAS[1] + TEXTURE_SIGMAS[2]))) + 1
    assert float(loss) > 0 and gradient[40:56, 22:44].mean() > 0
    assert gradient[:40 - reach].max() == 0.0
    assert gradient[:, :22 - reach].max() == 0.0
