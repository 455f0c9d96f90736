"""What a model does with real masked and unmasked photos.

``python benchmarks/real_masks.py --real ../shared/datasets/masked-real-dev [--model RUN]``

For ``with_mask/``: the share of photos with a face found, and of found faces that the model
changed (its mask head predicted a mask there). For ``without_mask/``: the share of photos left
exactly as they were. A contact sheet (``--sheet``, default ``real_masks_sheet.png``) shows, for a
seeded sample of photos of each folder, photo | predicted region (red) | result, to judge by eye
whether the region covers the visible mask. The sheet holds the dev photos: keep it out of the
repository.

``--pairs DIR`` (a test folder of generated pairs, e.g. ``data/lfw128v/test``) also runs each of
``--pairs-count`` masked crops through predict as a photo (detect, crop, model, paste) and reports
the share of the true mask's pixels left unreplaced and the PSNR inside the true mask and over the
whole image against the clean crop: what predict's framing and region leave, on masks whose
extent is known.
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
    parser.add_argument("--pairs", type=Path, help="a folder of test pairs (inputs/ masks/ outputs/)")
    parser.add_argument("--pairs-count", type=int, default=300)
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
    if args.pairs:
        drawn_masks(unmasker, args.pairs, args.pairs_count, args.seed)


def drawn_masks(unmasker, folder: Path, count: int, seed: int) -> None:
    """Generated pairs through predict as photos: the true mask left unreplaced, PSNR in it."""
    from mask2face.evaluate import psnr
    from mask2face.images import read_image
    from mask2face.pairs import list_pairs
    from mask2face.predict import pasted_region

    pairs = list_pairs(folder)
    chosen = np.random.default_rng(seed).choice(len(pairs.inputs), min(count, len(pairs.inputs)),
                                                replace=False)
    left, inside, whole, missed = [], [], [], 0
    for i in chosen:
        masked, clean = read_image(pairs.inputs[i]), read_image(pairs.outputs[i])
        truth = read_image(pairs.masks[i])[..., 0] > 127
        out, results = unmasker.unmask_faces(masked)
        replaced = pasted_region(masked.shape, results) >= 0.5
        missed += not results
        left.append((truth & ~replaced).sum() / max(truth.sum(), 1))
        inside.append(psnr(clean / 255.0, out / 255.0, truth))
        whole.append(psnr(clean / 255.0, out / 255.0))
    print(f"drawn masks ({folder}, {len(chosen)} pairs through predict): no face found in "
          f"{missed}; true mask left unreplaced {np.mean(left):.1%} (90th percentile "
          f"{np.percentile(left, 90):.1%}); PSNR inside the true mask {np.mean(inside):.2f} dB, "
          f"over the whole image {np.mean(whole):.2f} dB")


if __name__ == "__main__":
    main()
