"""Milliseconds per photo for face detection and for 68-point landmarks, and faces found,
for the sample photos at sizes from 256 to 2500 px, for each detector; and the same on masked
copies (the case prediction meets). Run: ``python benchmarks/faces.py``.
"""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from mask2face.config import MasksConfig
from mask2face.faces import get_face_finder
from mask2face.images import sample_photos
from mask2face.masks import apply_mask, spec_from_config


def timed(function, repeats: int):
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    return result, (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    finder = get_face_finder()
    photos = sample_photos()
    masked = {}
    for name, photo in photos.items():
        rng = np.random.default_rng(0)
        face = finder.find(photo)[0]
        masked[f"{name} masked"] = apply_mask(
            photo, face.landmarks, spec_from_config(MasksConfig(mask_type="surgical"), rng), rng)[0]
    print(f"{'photo':22s} {'width':>6s} {'detector':>8s} {'detect ms':>10s} {'landmarks ms':>13s} "
          f"{'faces':>6s}")
    for name, photo in {**photos, **masked}.items():
        for width in (256, 512, 1024, 2500):
            image = np.asarray(Image.fromarray(photo).resize(
                (width, int(width * photo.shape[0] / photo.shape[1]))))
            for detector in ("hog", "mtcnn", "cnn", "auto", "hog+mtcnn", "hog+mtcnn+cnn"):
                repeats = 10 if detector == "hog" else 3
                boxes, detect_ms = timed(lambda: finder.detect(image, detector), repeats)
                landmark_ms = 0.0
                if boxes:
                    _, landmark_ms = timed(lambda: finder.landmarks(image, boxes[0][:4]), 10)
                print(f"{name:22s} {width:6d} {detector:>8s} {detect_ms:10.1f} "
                      f"{landmark_ms:13.1f} {len(boxes):6d}")


if __name__ == "__main__":
    main()
