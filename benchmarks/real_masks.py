"""What a model does with real masked and unmasked photos.

``python benchmarks/real_masks.py --real ../shared/datasets/masked-real-dev [--model RUN]``

For ``with_mask/``: the share of photos with a face found, and of found faces that the model
changed (its mask head predicted a mask there). For ``without_mask/``: the share of photos left
exactly as they were. A contact sheet (``--sheet``, default ``real_masks_sheet.png``) shows, for a
seeded sample of photos of each folder, photo | predicted region (red) | result, to judge by eye
whether the region covers the visible mask. The sheet holds the dev photos: keep it out of the
repository.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TILE = 192


def tile(image: np.ndarray) -> np.ndarray:
    import cv2
    scale = TILE / max(image.shape[:2])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = np.zeros((TILE, TILE, 3), np.uint8)
    out[:small.shape[0], :small.shape[1]] = small
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True,
                        help="a folder with with_mask/ and without_mask/")
    parser.add_argument("--model", help="run folder (default: newest run, else the bundled model)")
    parser.add_argument("--sheet", default="real_masks_sheet.png")
    parser.add_argument("--sheet-count", type=int, default=24, help="photos per folder shown")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from mask2face.faces import contact_sheet
    from mask2face.images import IMAGE_SUFFIXES, read_image, write_image
    from mask2face.predict import Unmasker, region_overlay

    unmasker = Unmasker.load(args.model)
    print(f"model: {unmasker.model_file}; detector: {unmasker.finder.detector_name}")
    rows = []
    for folder in ("with_mask", "without_mask"):
        files = sorted(p for p in (args.real / folder).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        shown = set(np.random.default_rng(args.seed).choice(
            len(files), min(args.sheet_count, len(files)), replace=False).tolist())
        found = faces = changed = untouched_photos = 0
        seconds = []
        for number, path in enumerate(files):
            photo = read_image(path)
            start = time.perf_counter()
            out, results = unmasker.unmask_faces(photo)
            seconds.append(time.perf_counter() - start)
            found += bool(results)
            faces += len(results)
            changed += sum(r.changed for r in results)
            untouched_photos += bool(np.array_equal(out, photo))
            if number in shown:
                rows += [tile(photo), tile(region_overlay(photo, results)), tile(out)]
        if folder == "with_mask":
            print(f"with_mask: {len(files)} photos, a face found in {found} ({found / len(files):.1%}); "
                  f"{changed} of {faces} faces found changed ({changed / max(faces, 1):.1%}); "
                  f"changed over all photos: {changed / len(files):.1%}")
        else:
            print(f"without_mask: {len(files)} photos, left exactly as they were: "
                  f"{untouched_photos} ({untouched_photos / len(files):.1%})")
        print(f"  median {np.median(seconds) * 1000:.0f} ms per photo (detection, model, paste)")
    write_image(args.sheet, contact_sheet(rows, columns=6))
    print(f"contact sheet: {args.sheet} (photo | predicted region | result; with_mask first)")


if __name__ == "__main__":
    main()
