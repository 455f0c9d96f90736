"""What a paste's grain and skin colour are taken from, against the clean face under drawn masks.

``python benchmarks/paste_references.py --pairs data/m2f37/test --seed 1``
``python benchmarks/paste_references.py --draw-on ../shared/datasets/masked-real-dev/without_mask
--mask-templates-path ../shared/maskthefaces --pairs-count 150 --seed 1`` (the draws of
``real_masks.py``)

Each masked photo goes through predict; for its face (unpixelated photos only: a pixelated
photo's grain is its blocks', ``paste.block_grain``), the references ``paste`` measures on
(``paste.paste_references``: the ring of face round the region, ``paste.skin_ring``, and the
forehead, ``paste.forehead``) are set against the clean photo under the drawn mask (less 2 px).
Grain (``paste.grain_level``): each estimate's ratio to the clean face's, the median and the
share within 1.5 times; for the ring, the forehead, the smaller of the two and what predict asks
for (their geometric mean where the forehead is the smoother). Skin colour (``paste.skin_chroma``):
each estimate's distance (CIELAB a*, b*) to the clean face's, median and mean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from real_masks import drawn_arguments, pair_triples, photo_triples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model (default: the shipped one; see predict --model)")
    drawn_arguments(parser)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not (args.pairs or args.draw_on):
        parser.error("give --pairs or --draw-on")

    import cv2

    from mask2face.paste import (GRAIN_MIN_PIXELS, asked_grain, grain_level, paste_frame,
                                 paste_references, skin_chroma, skin_ring)
    from mask2face.pixelation import pixel_blocks
    from mask2face.predict import Unmasker

    unmasker = Unmasker.load(args.model)
    triples = (pair_triples(args.pairs, args.pairs_count, args.seed) if args.pairs else
               photo_triples(args.draw_on, args.pairs_count, args.seed, args.mask_templates_path))
    grains = {"ring": [], "forehead": [], "the smaller": [], "predict (geometric mean)": []}
    colours = {"ring": [], "forehead": [], "mean of the two": []}
    faces = 0
    for _, masked, clean, truth in triples:
        if pixel_blocks(masked) is not None:
            continue
        _, results = unmasker.unmask_faces(masked)
        changed = [r for r in results if r.changed]
        if not changed:
            continue
        frame = paste_frame(masked.shape, changed[0])
        if frame is None:
            continue
        x0, y0, x1, y1 = frame.box
        face, visible, brow = paste_references(frame, changed[0])
        ring = skin_ring(frame.alpha, changed[0].crop.photo_scale, face, visible)
        under = cv2.erode(truth[y0:y1, x0:x1].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        seen, real = masked[y0:y1, x0:x1].astype(np.float32), clean[y0:y1, x0:x1].astype(np.float32)
        if min(ring.sum(), brow.sum(), under.sum()) < GRAIN_MIN_PIXELS:
            continue
        faces += 1
        truth_grain = grain_level(real, under)
        at_ring, at_brow = grain_level(seen, ring), grain_level(seen, brow)
        if truth_grain > 0:
            for name, value in (("ring", at_ring), ("forehead", at_brow),
                                ("the smaller", min(at_ring, at_brow)),
                                ("predict (geometric mean)", asked_grain(seen, ring, brow))):
                grains[name].append(value / truth_grain)
        truth_colour, ring_colour, brow_colour = (skin_chroma(image, where) for image, where in (
            (real, under), (seen, ring), (seen, brow)))
        if truth_colour is not None and ring_colour is not None and brow_colour is not None:
            for name, value in (("ring", ring_colour), ("forehead", brow_colour),
                                ("mean of the two", (ring_colour + brow_colour) / 2)):
                colours[name].append(float(np.hypot(*(value - truth_colour))))
    label = args.pairs or args.draw_on
    print(f"{label} (seed {args.seed}): {faces} faces measured")
    print("grain, estimate / clean face under the mask:")
    for name, ratios in grains.items():
        ratios = np.asarray(ratios)
        if len(ratios):
            within = np.mean(np.abs(np.log(np.maximum(ratios, 1e-6))) < np.log(1.5))
            print(f"  {name:26s} median {np.median(ratios):.2f}, within 1.5 times {within:.0%}")
    print("skin colour, distance to the clean face's (CIELAB a*, b*):")
    for name, distances in colours.items():
        if distances:
            print(f"  {name:26s} median {np.median(distances):.2f}, mean {np.mean(distances):.2f}")


if __name__ == "__main__":
    main()
