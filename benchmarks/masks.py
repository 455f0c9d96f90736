"""Milliseconds per mask for each kind, on a 256 px face crop and on a full-size photo.

Run: ``python benchmarks/masks.py [--templates ../shared/maskthefaces]``.
"""

from __future__ import annotations

import argparse
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--templates", default="", help="a MaskTheFace folder to time as well")
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
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
