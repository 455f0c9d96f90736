"""Quality per unit of compute: train candidate settings for the same wall-clock time on the same
pairs and compare validation quality inside the mask region. This is how the default model
setting in configuration.json was chosen.

Run: ``python benchmarks/default_setting.py --pairs data/demo/pairs --seconds 150``
(make pairs first, e.g. with ``python -m mask2face.demo``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CANDIDATES = {
    "published": ((64, 128, 128, 256, 256, 512), (7, 7, 7, 3, 3, 3)),
    "wide": ((48, 64, 96, 128, 192, 256), (7, 5, 5, 3, 3, 3)),
    "default": ((32, 48, 64, 96, 128, 192), (7, 5, 5, 3, 3, 3)),
    "small": ((24, 48, 64, 96, 128, 192), (5, 5, 5, 3, 3, 3)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", required=True, help="a pairs folder holding train/")
    parser.add_argument("--seconds", type=float, default=150.0, help="training time each")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-4,
                        help="Adam's rate for every candidate (the configuration's default)")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    args = parser.parse_args()

    import keras
    import numpy as np

    from mask2face.data import make_dataset, split_validation
    from mask2face.pairs import list_pairs
    from mask2face.evaluate import image_metrics
    from mask2face.losses import make_image_loss, make_mask_loss
    from mask2face.model import forward_flops, make_model

    pairs = list_pairs(Path(args.pairs) / "train")
    train_pairs, val_pairs = split_validation(pairs, 0.2, seed=0)
    train_ds = make_dataset(train_pairs, args.size, 8, training=True, mask_head=True, seed=0)
    val_ds = make_dataset(val_pairs, args.size, 8, training=False, mask_head=True)
    results = []
    for name in args.candidates:
        filters, kernels = CANDIDATES[name]
        keras.utils.set_random_seed(0)
        model = make_model("resnet_d", args.size, filters, kernels)
        model.compile(keras.optimizers.Adam(args.learning_rate),
                      loss={"image": make_image_loss("ssim_l1"), "mask": make_mask_loss("dice_bce")},
                      loss_weights={"image": 1.0, "mask": 0.2})
        start, epochs = time.perf_counter(), 0
        while time.perf_counter() - start < args.seconds:
            model.fit(train_ds, epochs=1, verbose=0)
            epochs += 1
        rows = []
        for masked, targets in val_ds:
            output = model(masked, training=False)["image"].numpy()
            for out, target in zip(output, targets["image"].numpy()):
                rows.append(image_metrics(target[..., :3], np.clip(out, 0, 1), target[..., 3] > 0.5))
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr_mask", "ssim_mask", "psnr")}
        gflop_256 = forward_flops(make_model("resnet_d", 256, filters, kernels)) / 1e9
        result = {"setting": name, "filters": filters, "kernels": kernels,
                  "params_m": model.count_params() / 1e6, "gflop_256": gflop_256,
                  "epochs_in_budget": epochs, **mean}
        results.append(result)
        print(f"{name:9s} {result['params_m']:5.1f}M params {gflop_256:5.1f} GFLOP@256: "
              f"{epochs:3d} epochs in {args.seconds:.0f} s at lr {args.learning_rate:g} -> "
              f"val PSNR mask "
              f"{mean['psnr_mask']:.2f} dB, SSIM mask {mean['ssim_mask']:.3f}, PSNR {mean['psnr']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
