"""Drawn pairs whose clean face is black and white or toned: the repainted face's colour.

``python benchmarks/monochrome.py --pairs data/m2f22/test [--model RUN]``

Finds the pairs whose clean crop is monochrome (``predict.photo_tone``), runs each masked crop
through predict as a photo, and reports how many of them predict finds monochrome through the
drawn mask (``predict.results_tone``: around the face, outside the region it replaces), and the
mean CIELAB chroma error inside the true mask against the clean face: the paste as the generator
colours it, in the tone of the face's own visible skin alone (``paste.grey_face_tone``, for a
face with no colour in a colour photo), and in the photo's tone, as predict pastes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True,
                        help="a folder of test pairs (inputs/ masks/ outputs/)")
    parser.add_argument("--model", help="a model (default: the shipped one; see predict --model)")
    args = parser.parse_args()

    from mask2face.images import read_image
    from mask2face.pixelation import pixel_blocks
    from mask2face.paste import _lab, paste, photo_tone, results_tone
    from mask2face.predict import Unmasker

    def chroma_error(result, clean, mask):
        a = _lab(result[mask].reshape(-1, 1, 3).astype(np.float32)).reshape(-1, 3)
        b = _lab(clean[mask].reshape(-1, 1, 3).astype(np.float32)).reshape(-1, 3)
        return float(np.hypot(*(a[:, 1:] - b[:, 1:]).T).mean())

    files = sorted((args.pairs / "inputs").iterdir())
    monochrome = [p.name for p in files if photo_tone(read_image(args.pairs / "outputs" / p.name))
                  is not None]
    print(f"{len(monochrome)} of {len(files)} pairs have a monochrome clean face")
    unmasker = Unmasker.load(args.model)
    found = 0
    errors = {"in colour": [], "in the face's own tone": [], "in the photo's tone": []}
    for name in monochrome:
        masked = read_image(args.pairs / "inputs" / name)
        clean = read_image(args.pairs / "outputs" / name)
        mask = read_image(args.pairs / "masks" / name)[..., 0] > 127
        results = unmasker.predict_faces(masked)
        if not results:
            continue
        tone = results_tone(masked, results)
        found += tone is not None
        blocks = pixel_blocks(masked)
        for key, given, own in (("in colour", None, False), ("in the face's own tone", None, True),
                                ("in the photo's tone", tone, True)):
            out = masked.copy()
            for result in results:
                paste(out, result, blocks=blocks, tone=given, face_tone=own)
            errors[key].append(chroma_error(out, clean, mask))
    print(f"found monochrome through the drawn mask: {found} of {len(errors['in colour'])} "
          f"with a face found")
    for key, values in errors.items():
        print(f"  chroma error inside the mask, pasted {key}: mean {np.mean(values):.2f}, "
              f"median {np.median(values):.2f} (CIELAB)")


if __name__ == "__main__":
    main()
