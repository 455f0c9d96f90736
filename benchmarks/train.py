"""Training throughput: images/s and ms per step for the published and the default setting at
128 and 256 px; forward GFLOPs per image; achieved GFLOP/s against a matmul measured in the same
run (float32, and bfloat16 where the CPU has it); and the input pipeline alone.

Run: ``python benchmarks/train.py`` (``--help`` for fewer settings or steps).
Training FLOPs are counted as 3 x forward (forward, and two backward products).
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


def train_rate(filters, kernels, size: int, batch: int, steps: int, policy: str) -> dict:
    import keras
    import numpy as np

    from mask2face.losses import make_image_loss, make_mask_loss
    from mask2face.model import forward_flops, make_model

    keras.mixed_precision.set_global_policy(policy)
    model = make_model("resnet", size, filters, kernels)
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


def pipeline_rate(size: int, batch: int) -> float:
    """Images per second from the tf.data pipeline alone (decode, augment, batch)."""
    from mask2face.config import load_config
    from mask2face.data import list_pairs, make_dataset
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--settings", nargs="+", default=["published", "default"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--bfloat16", choices=["auto", "on", "off"], default="auto")
    args = parser.parse_args()

    import tensorflow as tf

    from mask2face.config import ModelConfig
    from mask2face.model import PUBLISHED
    from mask2face.train import cpu_supports_bfloat16

    settings = {"published": (PUBLISHED["filters"], PUBLISHED["kernels"]),
                "default": (ModelConfig().filters, ModelConfig().kernels)}
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
        filters, kernels = settings[name]
        for size in args.sizes:
            policies = ["float32"] + ([f"mixed_{half}"] if with_half else [])
            for policy in policies:
                r = train_rate(filters, kernels, size, args.batch, args.steps, policy)
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
