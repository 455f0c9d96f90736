"""Prediction speed and memory: end-to-end seconds per photo (model loaded once) for a 1-face
and a 5-face photo, split into detection, model and paste-back, for the published and the
default model; and the process's resident memory over repeated predictions.

Weights are untrained (speed does not depend on them). Run: ``python benchmarks/predict.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def masked_photos() -> tuple[np.ndarray, np.ndarray]:
    """A 1-face photo and a 5-face photo (a grid of masked sample faces)."""
    import cv2

    from mask2face.config import MasksConfig
    from mask2face.faces import get_face_finder
    from mask2face.images import sample_photos
    from mask2face.masks import apply_mask, spec_from_config

    finder = get_face_finder()
    masked = []
    for i, photo in enumerate(sample_photos().values()):
        face = finder.find(photo)[0]
        rng = np.random.default_rng(i)
        spec = spec_from_config(MasksConfig(mask_type="cloth"), rng)
        masked.append(cv2.resize(apply_mask(photo, face.landmarks, spec, rng)[0], (400, 460)))
    one = masked[1]
    tiles = [masked[i % 2] for i in range(5)] + [np.full_like(masked[0], 200)]
    five = np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:])])
    return one, five


def make_run(folder: Path, filters, kernels) -> Path:
    from mask2face.config import load_config
    from mask2face.model import make_model

    config = load_config(ROOT / "configuration.json", filters=tuple(filters),
                         kernels=tuple(kernels))
    folder.mkdir(parents=True)
    make_model(config.model.architecture, config.data.image_size, filters, kernels).save(
        folder / "model.keras")
    config.save(folder / "config.json")
    return folder


def timed_photo(unmasker, photo, repeats: int) -> dict:
    from mask2face.predict import Timing
    unmasker.unmask(photo)  # warm-up
    unmasker.timing = Timing()
    start = time.perf_counter()
    for _ in range(repeats):
        unmasker.unmask(photo)
    total = (time.perf_counter() - start) / repeats
    t = unmasker.timing
    return {"seconds": total, "detect": t.detect_s / repeats, "model": t.model_s / repeats,
            "paste": t.paste_s / repeats, "faces": t.faces // repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-runs", type=int, default=500)
    args = parser.parse_args()

    import psutil

    from mask2face.config import ModelConfig
    from mask2face.model import PUBLISHED
    from mask2face.predict import Unmasker

    one, five = masked_photos()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = {"published": (PUBLISHED["filters"], PUBLISHED["kernels"]),
                    "default": (ModelConfig().filters, ModelConfig().kernels)}
        for name, (filters, kernels) in settings.items():
            unmasker = Unmasker.load(make_run(Path(tmp) / name, filters, kernels))
            for label, photo in (("1-face", one), ("5-face", five)):
                r = timed_photo(unmasker, photo, args.repeats)
                r.update(model_setting=name, photo=label)
                results.append(r)
                print(f"{name:9s} {label}: {r['seconds']:.2f} s/photo ({r['faces']} faces) = "
                      f"detection {r['detect']:.2f} + model {r['model']:.2f} + paste "
                      f"{r['paste'] * 1000:.1f} ms")
        unmasker = Unmasker.load(Path(tmp) / "default")
        process = psutil.Process()
        unmasker.unmask(one)
        samples = []
        for i in range(args.memory_runs):
            unmasker.unmask(one)
            if i % 50 == 0 or i == args.memory_runs - 1:
                samples.append(process.memory_info().rss / 2 ** 20)
        growth = samples[-1] - samples[0]
        print(f"resident memory over {args.memory_runs} predictions (default model, 1-face "
              f"photo): {samples[0]:.0f} MB -> {samples[-1]:.0f} MB (growth {growth:+.1f} MB); "
              f"samples every 50: {', '.join(f'{s:.0f}' for s in samples)}")
        results.append({"memory_mb": samples, "growth_mb": growth})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
