"""How fast each training input pipeline makes augmented batches, in pairs per second.

    python benchmarks/input_pipeline.py --pairs data/pairs [--count 2000] [--workers 2]

Both pipelines make the shipped model's batches (``training`` of the bundled model's configuration:
holes filled from round them, spread, unmasked faces, softening and JPEG) from the same pairs
(``train.datasets``, as training makes them), 128 px, batch 12. The first pass decodes the pairs
(both keep them in memory where they fit), the second is augmentation alone. The NumPy pipeline
(``mask2face.numpy_pipeline``) runs its batches in ``--workers`` threads, as Keras runs them in
training; tf.data uses its own threads. Nothing trains.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", required=True, help="a pairs folder (its train split)")
    parser.add_argument("--count", type=int, default=2000, help="pairs used")
    parser.add_argument("--batches", type=int, default=60, help="batches timed in each pass")
    parser.add_argument("--workers", type=int, default=2, help="the NumPy pipeline's threads")
    args = parser.parse_args()

    from pathlib import Path

    from mask2face.cli import installed
    from mask2face.config import load_config
    from mask2face.modelfiles import BUNDLED_MODEL
    from mask2face.pairs import list_pairs
    from mask2face.train import datasets

    pairs = list_pairs(Path(args.pairs) / "train")
    pairs = pairs.subset(range(min(args.count, len(pairs))))
    batch, count = 12, args.batches

    def batches(pipeline: str):  # the training dataset train makes with the shipped settings
        config = load_config(BUNDLED_MODEL / "config.json", data_pipeline=pipeline)
        return datasets(config, pairs, None, batch)[0], config.data.image_size

    ours, size = batches("numpy")
    print(f"{len(pairs)} pairs, {size} px, batch {batch}, {count} batches a pass")
    with ThreadPoolExecutor(args.workers) as pool:
        for number in range(2):
            start = time.perf_counter()
            made = sum(len(x) for x, _ in pool.map(ours.__getitem__, range(count)))
            print(f"numpy pipeline, {args.workers} threads, pass {number + 1}: "
                  f"{made / (time.perf_counter() - start):.0f} pairs/s")
    if not installed("tensorflow"):
        print("tf.data: TensorFlow is not installed")
        return
    theirs = iter(batches("tensorflow")[0])
    for number in range(2):
        start = time.perf_counter()
        made = sum(len(next(theirs)[0]) for _ in range(count))
        print(f"tf.data, pass {number + 1}: {made / (time.perf_counter() - start):.0f} pairs/s")


if __name__ == "__main__":
    main()
