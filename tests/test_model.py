"""The U-Net, its losses and metrics (tiny shapes: 64 px, filters like (8, 16, 32))."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mask2face import losses
from mask2face.errors import ConfigError
from mask2face.model import PUBLISHED, forward_flops, make_model

TINY = dict(image_size=64, filters=(8, 16, 32), kernels=(3, 3, 3))


@pytest.mark.parametrize("architecture", ["resnet", "resnet_d", "plain"])
@pytest.mark.parametrize("mask_head", [False, True])
def test_output_shapes(architecture, mask_head):
    model = make_model(architecture, mask_head=mask_head, composite_output=mask_head, **TINY)
    out = model(np.random.rand(2, 64, 64, 3).astype("float32"))
    if mask_head:
        assert out["image"].shape == (2, 64, 64, 3) and out["mask"].shape == (2, 64, 64, 1)
    else:
        assert out.shape == (2, 64, 64, 3)


def test_composite_keeps_input_outside_predicted_mask():
    model = make_model("resnet_d", **TINY)
    # Force the mask head to say "no mask anywhere": output must equal the input.
    mask_layer = model.get_layer("mask")
    kernel, bias = mask_layer.get_weights()
    mask_layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])
    x = np.random.rand(2, 64, 64, 3).astype("float32")
    np.testing.assert_allclose(model(x)["image"], x, atol=1e-6)


def test_published_network_exactly():
    model = make_model("resnet", 256, PUBLISHED["filters"], PUBLISHED["kernels"],
                       mask_head=False, composite_output=False)
    assert model.count_params() == 53_586_243
    assert round(forward_flops(model) / 1e9, 1) == 212.4
    assert not any(isinstance(layer, keras.layers.Conv2D) and layer.strides != (1, 1)
                   and layer.kernel_size == (1, 1) for layer in model.layers)


def test_resnet_d_setting_and_bad_settings():
    model = make_model("resnet_d", 256, PUBLISHED["filters"], PUBLISHED["kernels"],
                       mask_head=False, composite_output=False)
    assert model.count_params() == 33_971_532
    assert round(forward_flops(model) / 1e9, 1) == 79.3
    with pytest.raises(ConfigError, match="not divisible by 8"):
        make_model("resnet", 100, (8, 16, 32), (3, 3, 3))
    with pytest.raises(ConfigError, match="known: resnet, resnet_d, plain"):
        make_model("vit", **TINY)
    with pytest.raises(ConfigError, match="composite_output needs mask_head"):
        make_model("resnet", mask_head=False, composite_output=True, **TINY)


def test_layers_are_named():
    model = make_model("resnet_d", **TINY)
    assert {"down0_a_conv", "bottleneck_add", "up0_upsample", "final_concat", "mask",
            "image"} <= {layer.name for layer in model.layers}
    model = make_model("resnet", **TINY)
    assert {"first_conv", "down0_stride_conv", "down0_add", "bottleneck_conv", "up0_skip_concat",
            "up0_upsample", "final_conv", "mask", "image"} <= {layer.name for layer in model.layers}


def test_make_model_defaults_are_the_configurations():
    from mask2face.config import ModelConfig
    default = ModelConfig()
    model = make_model(image_size=64)
    assert model.name == f"mask2face_{default.architecture}"
    assert model.get_layer("down0_a_conv").filters == default.filters[0]


# ------------------------------------------------------------------- losses and metrics

def t(values):
    return tf.constant(np.asarray(values, np.float32))


def test_l1_is_mean_absolute_error_and_mse_is_squared():
    y = np.zeros((1, 2, 2, 3), np.float32)
    p = y.copy()
    p[0, 0, 0, :] = 0.5  # 3 of 12 values off by 0.5
    assert float(losses.l1(t(y), t(p))[0]) == pytest.approx(0.125)
    assert float(losses.mse(t(y), t(p))[0]) == pytest.approx(0.0625)


def test_ssim_l1_is_one_minus_ssim_plus_weighted_l1():
    rng = np.random.default_rng(0)
    y = rng.random((2, 32, 32, 3)).astype(np.float32)
    p = np.clip(y + rng.normal(0, 0.1, y.shape), 0, 1).astype(np.float32)
    expected = (1 - tf.image.ssim(y, p, 1.0)) + 0.5 * np.abs(y - p).mean(axis=(1, 2, 3))
    got = losses.SsimL1Loss(0.5).call(t(y), t(p))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert float(losses.ssim(t(y), t(y))[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("source", ["random", "photos"])
def test_ssim_is_tensorflows_ssim(source, photos):
    rng = np.random.default_rng(1)
    if source == "random":
        y = rng.random((3, 48, 40, 3)).astype(np.float32)
        p = np.clip(y + rng.normal(0, 0.2, y.shape), 0, 1).astype(np.float32)
    else:
        y = np.stack([photos["astronaut"][100:228, 150:278],
                      photos["grace_hopper"][150:278, 200:328]]).astype(np.float32) / 255
        p = np.clip(y + rng.normal(0, 0.05, y.shape), 0, 1).astype(np.float32)
        p[:, 40:90, 30:100] = 0.5  # a flat patch, as a mask leaves
    expected = tf.image.ssim(y, p, max_val=1.0).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(losses.ssim(y, p)), expected, atol=1e-4)
    expected_psnr = tf.image.psnr(y, p, max_val=1.0).numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(losses.psnr(y, p)), expected_psnr,
                               atol=1e-3)


def test_masked_l1_only_looks_inside_the_mask():
    y = np.zeros((1, 2, 2, 4), np.float32)
    y[0, 0, :, 3] = 1.0  # top row is the mask
    p = np.zeros((1, 2, 2, 3), np.float32)
    p[0, 0, :, :] = 0.2  # error 0.2 inside
    p[0, 1, :, :] = 0.9  # error outside must not count
    assert float(losses.masked_l1(t(y), t(p))[0]) == pytest.approx(0.2)


def test_psnr_dice_iou_bce_by_hand():
    y = np.full((1, 4, 4, 3), 0.5, np.float32)
    p = y + 0.1  # MSE 0.01 -> PSNR 20 dB
    assert float(losses.psnr(t(y), t(p))[0]) == pytest.approx(20.0, abs=1e-3)
    assert float(losses.psnr(t(y), t(y))[0]) == pytest.approx(losses.PSNR_MOST)  # not infinite
    m = np.zeros((1, 2, 2, 1), np.float32)
    m[0, 0, 0] = m[0, 0, 1] = 1
    q = np.zeros_like(m)
    q[0, 0, 0] = q[0, 1, 0] = 1  # 1 shared pixel; union 3
    assert float(losses.mask_iou(t(m), t(q))[0]) == pytest.approx(1 / 3, abs=1e-4)
    assert float(losses.dice_loss(t(m), t(q))[0]) == pytest.approx(1 - 2 * 1 / 4, abs=1e-4)
    half = np.full_like(m, 0.5)
    assert float(losses.bce(t(m), t(half))[0]) == pytest.approx(np.log(2), abs=1e-3)


def test_unknown_loss_lists_known():
    with pytest.raises(ValueError, match="known: ssim_l1, ssim, l1, mse"):
        losses.make_image_loss("perceptual")


@pytest.mark.parametrize("architecture", ["resnet", "resnet_d", "plain"])
@pytest.mark.parametrize("mask_head", [False, True])
def test_save_reload_safe_mode_identical(tmp_path, architecture, mask_head):
    model = make_model(architecture, mask_head=mask_head, composite_output=mask_head, **TINY)
    image_loss = losses.make_image_loss("ssim_l1", 0.7)
    if mask_head:
        model.compile(optimizer="adam", loss={"image": image_loss,
                                              "mask": losses.make_mask_loss("dice_bce")},
                      metrics={"image": list(losses.IMAGE_METRICS)})
    else:
        model.compile(optimizer="adam", loss=image_loss, metrics=list(losses.IMAGE_METRICS))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.rand(2, 64, 64, 3).astype("float32")
    out, again = model(x), reloaded(x)
    if mask_head:
        out, again = out["image"], again["image"]
    np.testing.assert_array_equal(out, again)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    keras.utils.set_random_seed(0)
    model = make_model("resnet_d", **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"image": losses.make_image_loss("ssim_l1"),
                        "mask": losses.make_mask_loss("dice_bce")},
                  loss_weights={"image": 1.0, "mask": 0.2})
    rng = np.random.default_rng(0)
    clean = rng.random((4, 64, 64, 3)).astype("float32")
    mask = np.zeros((4, 64, 64, 1), "float32")
    mask[:, 32:, 16:48] = 1
    masked = np.where(mask > 0, 0.3, clean).astype("float32")
    targets = {"image": np.concatenate([clean, mask], -1), "mask": mask}
    history = model.fit(masked, targets, epochs=25, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


@pytest.mark.parametrize("architecture", ["resnet", "resnet_d"])
def test_strided_blocks_train_repeatedly_without_crashing(architecture):
    """Regression: a strided 1x1 convolution's gradient corrupted memory under oneDNN."""
    model = make_model(architecture, mask_head=False, composite_output=False, **TINY)
    model.compile("adam", "mae")
    x = np.random.rand(8, 64, 64, 3).astype("float32")
    for _ in range(3):
        model.fit(x, x, batch_size=4, epochs=1, verbose=0)
