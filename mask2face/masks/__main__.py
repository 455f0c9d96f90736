"""``python -m mask2face.masks --preview sheet.png``: a contact sheet of every mask kind, colour
and pattern on the sample faces (and on MaskTheFace templates when a folder is given)."""

from __future__ import annotations

import argparse
import logging
from typing import Sequence

import numpy as np

from mask2face.cli import add_config_argument, overrides, run_command

log = logging.getLogger(__name__)


def preview_faces(size: int = 192, margin: float = 0.25) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The sample faces as crops, each also turned and tilted: (label, crop, landmarks)."""
    import cv2

    from mask2face.faces import face_crop, get_face_finder
    from mask2face.images import sample_photos

    finder = get_face_finder()
    out = []
    for name, photo in sample_photos().items():
        face = finder.find(photo)[0]
        crop = face_crop(face.landmarks, size, margin)
        image = crop.apply(photo)
        out.append((name, image, crop.to_crop(face.landmarks)))
        # Tilted 20 degrees, found again so the landmarks are real.
        centre = (size / 2, size / 2)
        rotation = cv2.getRotationMatrix2D(centre, 20 if name == "astronaut" else -20, 1.0)
        tilted = cv2.warpAffine(image, rotation, (size, size), borderMode=cv2.BORDER_REPLICATE)
        faces = finder.find(tilted)
        if faces:
            out.append((f"{name} tilted", tilted, faces[0].landmarks))
    return out


def render_preview(masks_config, templates=None, size: int = 192, seed: int = 0) -> np.ndarray:
    """The contact sheet as an RGB array: one row per face, one column per mask variety."""
    import cv2

    from mask2face.masks import KINDS, PALETTES, PATTERNS, apply_mask, spec_from_config

    varieties = []
    for kind in KINDS:
        for color in PALETTES[kind]:
            varieties.append(dict(mask_type=kind, mask_color=PALETTES[kind][color],
                                  mask_color_weight=1.0, mask_pattern=""))
    for pattern in PATTERNS:
        varieties.append(dict(mask_type="cloth", mask_pattern=pattern, mask_pattern_weight=0.9,
                              mask_color="", mask_color_weight=0.0))
    if templates is not None:
        for name in templates.names():
            varieties.append(dict(mask_type=name, mask_color="", mask_pattern=""))
    faces = preview_faces(size)
    rows = []
    for label, image, landmarks in faces:
        tiles = []
        for i, variety in enumerate(varieties):
            config = masks_config.__class__(**{**masks_config.__dict__, **variety})
            rng = np.random.default_rng(seed + i)
            spec = spec_from_config(config, rng, templates)
            masked, _ = apply_mask(image, landmarks, spec, rng)
            tile = masked.copy()
            cv2.putText(tile, f"{spec.kind} {spec.pattern or spec.color_name}"[:24], (3, size - 5),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
        log.info("previewed %s", label)
    columns = 8
    # Wrap long rows so the sheet stays readable.
    blocks = []
    for start in range(0, len(varieties), columns):
        for row in rows:
            block = row[:, start * size:(start + columns) * size]
            pad = columns * size - block.shape[1]
            blocks.append(np.pad(block, ((0, 0), (0, pad), (0, 0)), constant_values=255))
        blocks.append(np.full((8, columns * size, 3), 255, np.uint8))
    return np.vstack(blocks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mask2face.masks",
                                     description="Preview the mask kinds on the sample faces.")
    add_config_argument(parser)
    parser.add_argument("--preview", metavar="PNG", required=True, help="contact sheet to write")
    parser.add_argument("--mask-templates-path", dest="mask_templates_path", metavar="DIR",
                        help="also show the templates of a MaskTheFace folder")
    parser.add_argument("--size", type=int, default=192, help="tile size in pixels")

    def command(args: argparse.Namespace) -> int:
        from mask2face.config import load_config
        from mask2face.images import write_image
        from mask2face.masks import load_templates

        config = load_config(args.config, **overrides(args, ["mask_templates_path"]))
        templates = load_templates(config.masks.mask_templates_path)
        sheet = render_preview(config.masks, templates, args.size)
        write_image(args.preview, sheet)
        log.info("wrote %s (%dx%d)", args.preview, sheet.shape[1], sheet.shape[0])
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
