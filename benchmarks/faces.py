"""Face detection measured.

``python benchmarks/faces.py --real ../shared/datasets/masked-real-dev`` runs every detector
setting on real photos (``with_mask/`` and ``without_mask/``) and prints, per setting, the share
of photos where a face was found and the median and 95th-percentile milliseconds per photo
(detection, landmarks and eye alignment: what ``predict`` pays), with photos read beforehand.

``python benchmarks/faces.py`` times detection and 68-point landmarks on the sample photos at
sizes from 256 to 2500 px, clean and with a drawn mask.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

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


REAL_DETECTORS = ("hog", "mtcnn", "cnn", "hog+mtcnn", "blaze", "blaze>mtcnn", "blaze>hog+mtcnn")


def real(root: Path, detectors: list[str], limit: int) -> None:
    from mask2face.images import IMAGE_SUFFIXES, read_image

    sets = {}
    for name in ("with_mask", "without_mask"):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        sets[name] = [read_image(p) for p in files[:limit or None]]
    finder = get_face_finder()
    finder.find(sets["with_mask"][0], "blaze+mtcnn+cnn+hog")  # load every model first
    print(f"| detector | with_mask found | without_mask found | median ms | p95 ms |")
    print("|---|---|---|---|---|")
    for detector in detectors:
        found, times = {}, []
        for name, photos in sets.items():
            hits = 0
            for photo in photos:
                start = time.perf_counter()
                faces = finder.find(photo, detector)
                times.append((time.perf_counter() - start) * 1000)
                hits += bool(faces)
            found[name] = f"{hits / len(photos):.1%} ({hits}/{len(photos)})"
        print(f"| `{detector}` | {found['with_mask']} | {found['without_mask']} | "
              f"{np.median(times):.0f} | {np.percentile(times, 95):.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, metavar="DIR",
                        help="a folder with with_mask/ and without_mask/ photo folders")
    parser.add_argument("--detectors", nargs="+", default=list(REAL_DETECTORS))
    parser.add_argument("--limit", type=int, default=0, help="photos per folder (0 = all)")
    args = parser.parse_args()
    if args.real:
        real(args.real, args.detectors, args.limit)
    else:
        synthetic()


def synthetic() -> None:
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
                    _, landmark_ms = timed(lambda: finder.landmarks(image, boxes[0].box), 10)
                print(f"{name:22s} {width:6d} {detector:>8s} {detect_ms:10.1f} "
                      f"{landmark_ms:13.1f} {len(boxes):6d}")


if __name__ == "__main__":
    main()
