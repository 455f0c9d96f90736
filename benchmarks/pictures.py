"""The README's before/after picture of a model on the two sample photos.

``python benchmarks/pictures.py --model mask2face/pretrained/lfw128 -o docs/shipped_before_after.jpg``

Each sample photo is masked by mask2face (surgical, N95, cloth; neat masks, mask_variety 0) and
unmasked by the model; a row per photo of masked | unmasked tiles, cut around the face. Neither
person is in LFW.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TILE = (200, 230)  # width, height
MASKS = (("surgical", "#7fb3d8"), ("n95", "#f0eee6"), ("cloth", "#2f8a8a"))


def main() -> None:
    import cv2

    from mask2face.config import MasksConfig
    from mask2face.faces import get_face_finder
    from mask2face.images import sample_photos, write_image
    from mask2face.masks import apply_mask, spec_from_config
    from mask2face.predict import Unmasker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "mask2face" / "pretrained" / "lfw128"))
    parser.add_argument("-o", "--output", default="shipped_before_after.jpg")
    args = parser.parse_args()
    unmasker = Unmasker.load(args.model)
    finder = get_face_finder()
    rows = []
    for name, photo in sample_photos().items():
        face = finder.find(photo)[0]
        x0, y0, x1, y1 = face.box
        w, h = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.15 * h
        half_w = 1.0 * w
        half_h = half_w * TILE[1] / TILE[0]
        box = [int(max(0, cx - half_w)), int(max(0, cy - half_h)),
               int(min(photo.shape[1], cx + half_w)), int(min(photo.shape[0], cy + half_h))]
        tiles = []
        for i, (kind, color) in enumerate(MASKS):
            rng = np.random.default_rng(i)
            config = MasksConfig(mask_type=kind, mask_color=color, mask_color_weight=1.0,
                                 mask_variety=0.0)
            masked, _ = apply_mask(photo, face.landmarks, spec_from_config(config, rng), rng)
            after = unmasker.unmask(masked)
            for image in (masked, after):
                cut = image[box[1]:box[3], box[0]:box[2]]
                tiles.append(cv2.resize(cut, TILE, interpolation=cv2.INTER_AREA))
        rows.append(np.hstack(tiles))
    write_image(args.output, np.vstack(rows), quality=92)
    print(f"wrote {args.output} with {unmasker.model_file}")


if __name__ == "__main__":
    main()
