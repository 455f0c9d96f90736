"""Milliseconds per mask for each kind, on a 256 px face crop and on a full-size photo; and the
whole ``python -m mask2face.masks FOLDER`` command on 100 photos of 500-2500 px (photos per
second, 1 and 2 workers).

Run: ``python benchmarks/masks.py [--templates ../shared/maskthefaces] [--photos 100]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mask2face.config import MasksConfig
from mask2face.faces import face_crop, get_face_finder
from mask2face.images import sample_photos
from mask2face.masks import KINDS, apply_mask, load_templates, spec_from_config


def per_mask_ms(image, landmarks, kind, templates, repeats) -> float:
    rng = np.random.default_rng(0)
    spec = spec_from_config(MasksConfig(mask_type=kind), rng, templates)
    apply_mask(image, landmarks, spec, rng)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        apply_mask(image, landmarks, spec, rng)
    return (time.perf_counter() - start) / repeats * 1000


def command_rate(count: int) -> None:
    """Photos per second of the masks command, whole process, 1 and 2 workers."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from generate import make_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "photos", count, "large")
        for workers in (1, 2):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mask2face.masks", str(folder), "-o",
                            str(Path(tmp) / f"out{workers}"), "--workers", str(workers), "-q"],
                           check=False, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            written = len(list((Path(tmp) / f"out{workers}").rglob("*.jpg")))
            print(f"masks command, {count} photos of 500-2500 px, workers={workers}: {written} "
                  f"written in {seconds:.1f} s = {count / seconds:.1f} photos/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--templates", default="", help="a MaskTheFace folder to time as well")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--photos", type=int, default=100,
                        help="photos for the command's timing (0: skip it)")
    args = parser.parse_args()
    if args.photos:
        command_rate(args.photos)
    templates = load_templates(args.templates)
    photo = sample_photos()["grace_hopper"]
    big = np.asarray(Image.fromarray(photo).resize((1600, 1875)))  # a full-size photo
    finder = get_face_finder()
    face = finder.find(photo)[0]
    crop = face_crop(face.landmarks, 256)
    small, small_lm = crop.apply(photo), crop.to_crop(face.landmarks)
    big_lm = finder.find(big)[0].landmarks
    kinds = list(KINDS) + (templates.names() if templates else [])
    print(f"{'kind':22s} {'256 px crop':>12s} {'1600x1875 photo':>16s}")
    for kind in kinds:
        a = per_mask_ms(small, small_lm, kind, templates, args.repeats)
        b = per_mask_ms(big, big_lm, kind, templates, max(args.repeats // 4, 3))
        print(f"{kind:22s} {a:9.2f} ms {b:13.2f} ms")


if __name__ == "__main__":
    main()
