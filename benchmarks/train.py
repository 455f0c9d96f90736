"""Training throughput: images/s and ms per step for the published and the default setting;
forward GFLOPs per image; achieved GFLOP/s against a matmul measured in the same run; and the
input pipeline alone. Training FLOPs are counted as 3 x forward (forward, two backward products).

TensorFlow (this machine's CPU, or a GPU): ``python benchmarks/train.py`` (``--help``).

JAX, on a machine with Keras, JAX and NumPy but no TensorFlow (a GPU machine):
``KERAS_BACKEND=jax python benchmarks/train.py --jax``. Synthetic batches are made on the device;
each setting is trained with one jitted step (Keras's stateless model and optimizer calls,
SSIM + L1 loss, Adam) in float32 and mixed bfloat16, at batch 12 and a larger batch, and compared
with a bfloat16 matmul measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def matmul_gflops(dtype: str, n: int = 2048, repeats: int = 10) -> float:
    import tensorflow as tf
    a = tf.random.uniform((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        matmul(a).numpy()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def settings() -> dict:
    """name -> (architecture, filters, kernels, mask head and composite output)."""
    from mask2face.config import ModelConfig
    from mask2face.model import PUBLISHED
    default = ModelConfig()
    return {"published": ("resnet", PUBLISHED["filters"], PUBLISHED["kernels"], False),
            "default": (default.architecture, default.filters, default.kernels, True)}


def train_rate(setting: tuple, size: int, batch: int, steps: int, policy: str) -> dict:
    import keras
    import numpy as np

    from mask2face.losses import make_image_loss, make_mask_loss
    from mask2face.model import forward_flops, make_model

    keras.mixed_precision.set_global_policy(policy)
    architecture, filters, kernels, heads = setting
    model = make_model(architecture, size, filters, kernels, mask_head=True,
                       composite_output=heads)
    model.compile(keras.optimizers.Adam(1e-4),
                  loss={"image": make_image_loss("ssim_l1"), "mask": make_mask_loss("dice_bce")},
                  loss_weights={"image": 1.0, "mask": 0.2})
    x = np.random.rand(batch, size, size, 3).astype("float32")
    y = {"image": np.random.rand(batch, size, size, 4).astype("float32"),
         "mask": (np.random.rand(batch, size, size, 1) > 0.5).astype("float32")}
    model.train_on_batch(x, y)  # compile and warm up
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - start) / steps
    flops = forward_flops(model)
    keras.mixed_precision.set_global_policy("float32")
    return {"images_per_s": batch / seconds, "ms_per_step": seconds * 1000,
            "forward_gflop": flops / 1e9, "achieved_gflops": 3 * flops * batch / seconds / 1e9}


def jax_matmul_tflops(n: int = 8192, repeats: int = 20) -> float:
    import jax
    import jax.numpy as jnp
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.bfloat16)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(a)
    out.block_until_ready()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e12


def jax_train_rate(setting: tuple, size: int, batch: int, steps: int, policy: str) -> dict:
    """Images/s of a jitted JAX training step (forward, SSIM + L1 loss, backward, Adam)."""
    import jax
    import keras

    from mask2face.losses import make_image_loss, make_mask_loss
    from mask2face.model import forward_flops, make_model

    keras.mixed_precision.set_global_policy(policy)
    architecture, filters, kernels, heads = setting
    model = make_model(architecture, size, filters, kernels, mask_head=heads,
                       composite_output=heads)
    image_loss = make_image_loss("ssim_l1")
    mask_loss = make_mask_loss("dice_bce")
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    def loss_of(trainable, non_trainable, x, target, mask):
        out, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        if heads:
            loss = image_loss(target, out["image"]) + 0.2 * keras.ops.mean(mask_loss(mask, out["mask"]))
        else:
            loss = image_loss(target, out)
        return loss, non_trainable

    gradient = jax.value_and_grad(loss_of, has_aux=True)

    @jax.jit
    def step(state, x, target, mask):
        trainable, non_trainable, opt = state
        (loss, non_trainable), grads = gradient(trainable, non_trainable, x, target, mask)
        trainable, opt = optimizer.stateless_apply(opt, grads, trainable)
        return loss, (trainable, non_trainable, opt)

    keys = jax.random.split(jax.random.key(1), 3)
    x = jax.random.uniform(keys[0], (batch, size, size, 3))
    target = jax.random.uniform(keys[1], (batch, size, size, 4))
    mask = (jax.random.uniform(keys[2], (batch, size, size, 1)) > 0.5).astype("float32")
    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    began = time.perf_counter()
    loss, state = step(state, x, target, mask)
    loss.block_until_ready()
    compile_s = time.perf_counter() - began
    for _ in range(2):
        loss, state = step(state, x, target, mask)
    loss.block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        loss, state = step(state, x, target, mask)
    loss.block_until_ready()
    seconds = (time.perf_counter() - start) / steps
    flops = forward_flops(model)
    keras.mixed_precision.set_global_policy("float32")
    return {"images_per_s": batch / seconds, "ms_per_step": seconds * 1000,
            "forward_gflop": flops / 1e9, "train_tflops": 3 * flops * batch / seconds / 1e12,
            "compile_s": compile_s, "loss": float(loss)}


def jax_main(args) -> None:
    import jax
    import keras
    if keras.backend.backend() != "jax":
        raise SystemExit("--jax needs KERAS_BACKEND=jax")
    device = jax.devices()[0]
    matmul = jax_matmul_tflops()
    print(f"device: {device.device_kind} ({device.platform}); bf16 matmul 8192^3: "
          f"{matmul:.0f} TFLOP/s", flush=True)
    print("| setting | policy | batch | img/s | ms/step | train TFLOP/s | share of bf16 matmul "
          "| compile s |")
    print("|---|---|---|---|---|---|---|---|")
    results = []
    for name in args.settings:
        for policy in args.policies:
            for batch in args.batches:
                r = jax_train_rate(settings()[name], args.size, batch, args.steps, policy)
                r.update(setting=name, policy=policy, batch=batch, size=args.size,
                         share_of_matmul=r["train_tflops"] / matmul)
                results.append(r)
                print(f"| {name} | {policy} | {batch} | {r['images_per_s']:.1f} | "
                      f"{r['ms_per_step']:.1f} | {r['train_tflops']:.1f} | "
                      f"{r['share_of_matmul']:.1%} | {r['compile_s']:.0f} |", flush=True)
    print(json.dumps({"device": device.device_kind, "matmul_tflops": matmul, "runs": results}))


def pipeline_rate(size: int, batch: int) -> float:
    """Images per second from the tf.data pipeline alone (decode, augment, batch)."""
    from mask2face.config import load_config
    from mask2face.data import make_dataset
    from mask2face.pairs import list_pairs
    from mask2face.generate import generate
    from tests.helpers import make_people

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = make_people(tmp / "photos", per_person=8, people=8)
        config = load_config(ROOT / "configuration.json", input_images_path=str(photos),
                             pairs_path=str(tmp / "pairs"), image_size=size, test_fraction=0.0,
                             workers=2)
        generate(config)
        pairs = list_pairs(tmp / "pairs" / "train")
        ds = make_dataset(pairs, size, batch, training=True, mask_head=True, cache=False)
        images = 0
        ds = ds.repeat()
        iterator = iter(ds)
        next(iterator)
        start = time.perf_counter()
        while time.perf_counter() - start < 5.0:
            masked, _ = next(iterator)
            images += int(masked.shape[0])
        return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--settings", nargs="+", default=["published", "default"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--bfloat16", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--jax", action="store_true",
                        help="JAX mode: no TensorFlow, synthetic batches on the device")
    parser.add_argument("--size", type=int, default=256, help="JAX mode: image size")
    parser.add_argument("--batches", type=int, nargs="+", default=[12, 48],
                        help="JAX mode: batch sizes")
    parser.add_argument("--policies", nargs="+", default=["mixed_bfloat16", "float32"],
                        help="JAX mode: precision policies")
    args = parser.parse_args()
    if args.jax:
        args.steps = max(args.steps, 10)
        jax_main(args)
        return

    import tensorflow as tf

    from mask2face.train import cpu_supports_bfloat16

    gpu = bool(tf.config.list_physical_devices("GPU"))
    device = tf.config.list_physical_devices("GPU")[0].name if gpu else "CPU"
    half = "float16" if gpu else "bfloat16"
    with_half = args.bfloat16 == "on" or (args.bfloat16 == "auto" and (gpu or cpu_supports_bfloat16()))
    reference = {"float32": matmul_gflops("float32")}
    if with_half:
        reference[half] = matmul_gflops(half)
    print(f"device: {device}; matmul 2048^2: " +
          ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in reference.items()))
    results = []
    for name in args.settings:
        for size in args.sizes:
            policies = ["float32"] + ([f"mixed_{half}"] if with_half else [])
            for policy in policies:
                r = train_rate(settings()[name], size, args.batch, args.steps, policy)
                ref = reference["float32" if policy == "float32" else half]
                r.update(setting=name, size=size, policy=policy, batch=args.batch,
                         ratio_to_matmul=r["achieved_gflops"] / ref)
                results.append(r)
                print(f"{name:9s} {size:4d} px {policy:15s} {r['images_per_s']:7.2f} img/s "
                      f"{r['ms_per_step']:9.0f} ms/step (batch {args.batch})  forward "
                      f"{r['forward_gflop']:6.1f} GFLOP/img  achieved {r['achieved_gflops']:6.0f} "
                      f"GFLOP/s = {r['ratio_to_matmul']:.0%} of matmul")
    training = list(results)
    for size in args.sizes:
        rate = pipeline_rate(size, args.batch)
        fastest = max(r["images_per_s"] for r in training if r["size"] == size)
        print(f"input pipeline {size} px: {rate:.0f} img/s = {rate / fastest:.1f}x the "
              f"fastest training rate measured at this size")
        results.append({"pipeline_size": size, "images_per_s": rate})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
