"""Pairs per second of ``python -m mask2face.generate``, whole process, with 1 and 2 workers.

(a) photos 500 to 2500 px wide; (b) CelebA-sized 178 x 218 photos. Both are made from the
sample photos (varied crops, flips, rotations, colours). Run: ``python benchmarks/generate.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import variants  # noqa: E402

from mask2face.images import sample_photos  # noqa: E402


def make_folder(root: Path, count: int, sizes: str) -> Path:
    from mask2face.faces import get_face_finder
    finder = get_face_finder()
    photos = list(sample_photos().values())
    rng = np.random.default_rng(0)
    for i in range(count):
        person = root / f"p{i % 20:02d}"
        person.mkdir(parents=True, exist_ok=True)
        image = variants(photos[i % 2], 1, seed=i, width=400)[0]
        if sizes == "large":
            width = int(rng.uniform(500, 2500))
            image = image.resize((width, int(width * image.height / image.width)))
        else:  # CelebA's aligned photos: 178 x 218 with a face about 100 px wide in the middle
            x0, y0, x1, y1 = finder.find(np.asarray(image))[0].box
            cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 178 / 100
            image = image.crop((cx - side / 2, cy - side * 0.6, cx + side / 2,
                                cy + side * 0.62)).resize((178, 218))
        image.save(person / f"{i:04d}.jpg", quality=92)
    return root


def run(folder: Path, out: Path, workers: int, count: int) -> tuple[float, int]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mask2face.generate", "--input", str(folder),
                    "--output", str(out), "--train-count", str(count), "--test-count",
                    str(count), "--workers", str(workers), "--image-size", "256", "-q"],
                   check=True)
    seconds = time.perf_counter() - start
    pairs = len((out / "manifest.jsonl").read_text().splitlines())
    return seconds, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=120, help="photos per set")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, sizes in (("(a) 500-2500 px photos", "large"), ("(b) 178x218 photos", "celeba")):
            folder = make_folder(tmp / sizes, args.photos, sizes)
            for workers in (1, 2):
                seconds, pairs = run(folder, tmp / f"out-{sizes}-{workers}", workers, args.photos)
                rate = pairs / seconds
                print(f"{label:26s} workers={workers}: {pairs} pairs in {seconds:.1f} s "
                      f"= {rate:.1f} pairs/s (whole process, start-up included)")
                results.append({"set": sizes, "workers": workers, "pairs": pairs,
                                "seconds": round(seconds, 2), "pairs_per_s": round(rate, 1)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
