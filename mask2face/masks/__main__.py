"""``python -m mask2face.masks PHOTOS``: put masks on your own photos (MaskTheFace's flags work
too); ``python -m mask2face.masks --preview sheet.png``: a contact sheet of every mask kind,
colour and pattern on the sample faces (and on MaskTheFace templates when a folder is given)."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mask2face.cli import add_config_argument, make_parser, overrides, run_command
from mask2face.detectors import detector_argument

if TYPE_CHECKING:
    from mask2face.config import MasksConfig
    from mask2face.masks.templates import TemplateSet

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


# Random masks at the end of the preview sheet, to show the variety.
PREVIEW_RANDOM = 15


def render_preview(masks_config: MasksConfig, templates: TemplateSet | None = None,
                   size: int = 192, seed: int = 0) -> np.ndarray:
    """The contact sheet as an RGB array: one row per face, one column per mask variety."""
    import cv2

    from mask2face.masks import KINDS, PALETTES, PATTERNS, apply_mask, spec_from_config

    # Every kind, colour, pattern and template drawn the neat way (mask_variety 0), then a
    # block of random masks with the configured variety (fit, colours, prints, light, sheer).
    varieties = []
    for kind in KINDS:
        for color in PALETTES[kind]:
            varieties.append(dict(mask_type=kind, mask_color=PALETTES[kind][color],
                                  mask_color_weight=1.0, mask_pattern="", mask_variety=0.0))
    for pattern in PATTERNS:
        varieties.append(dict(mask_type="cloth", mask_pattern=pattern, mask_pattern_weight=0.9,
                              mask_color="", mask_color_weight=0.0, mask_variety=0.0))
    if templates is not None:
        for name in templates.names():
            varieties.append(dict(mask_type=name, mask_color="", mask_pattern="",
                                  mask_variety=0.0))
    varieties += [dict(mask_type="random", mask_color="", mask_pattern="")] * PREVIEW_RANDOM
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
            text = f"{spec.kind} {spec.pattern or spec.color_name}"
            if variety["mask_type"] == "random":
                text = f"random: {spec.kind.removeprefix('template:')}"
            cv2.putText(tile, text[:24], (3, size - 5),
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


# MaskTheFace's mask-type names that mean one of ours (its templates by the same names are used
# instead where a template folder is given); "inpaint" and "all" are not offered.
MASKTHEFACE_KINDS = {"surgical": "surgical", "n95": "n95", "kn95": "kn95", "cloth": "cloth",
                     "gas": "gas", "random": "random", "surgical_blue": "surgical",
                     "surgical_green": "surgical"}
MASKTHEFACE_COLORS = {"surgical_blue": "#0473e2", "surgical_green": "#46a77b"}


def resolve_kind(name: str, templates: TemplateSet | None) -> tuple[str, str]:
    """(mask_type, colour) for a kind as a user may write it: ours, a template name, or
    MaskTheFace's spelling ("N95", "surgical_blue")."""
    from mask2face.errors import UsageError
    if name.startswith("template:") or name in ("random",):
        return name, ""
    if templates is not None and f"template:{name}" in templates.names():
        return f"template:{name}", ""
    key = name.lower()
    if key in ("inpaint", "all"):
        raise UsageError(f"--mask-type {name}: MaskTheFace's {name!r} is not offered; use one "
                         f"kind, or random")
    if key in MASKTHEFACE_KINDS:
        return MASKTHEFACE_KINDS[key], MASKTHEFACE_COLORS.get(key, "")
    return name, ""  # checked with the known kinds below


def resolve_color(name: str) -> str:
    """#rrggbb for a hex colour or a colour name (CSS names: 'navy', 'lightblue', ...)."""
    from PIL import ImageColor

    from mask2face.errors import UsageError
    try:
        rgb = ImageColor.getrgb(name if name.startswith("#") else name.lower().replace(" ", ""))
        return "#{:02x}{:02x}{:02x}".format(*rgb[:3])
    except ValueError:
        raise UsageError(f"--color {name!r}: not a colour (use #rrggbb or a colour name such "
                         f"as navy)") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("masks",
        "Put masks on the faces of your own photos, or preview the mask kinds.")
    add_config_argument(parser)
    parser.add_argument("inputs", nargs="*", metavar="PHOTO_OR_FOLDER")
    parser.add_argument("--path", dest="extra_inputs", action="append", default=[],
                        metavar="PHOTO_OR_FOLDER", help="a photo or folder (MaskTheFace's flag)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file for one photo, folder for several (default: "
                             "<name>_masked.<ext> / masked/)")
    parser.add_argument("--mask-type", "--mask_type", dest="mask_type", metavar="T",
                        help="surgical, n95, kn95, cloth, gas, random, template:<name>; "
                             "MaskTheFace's N95, KN95, surgical_blue, surgical_green too")
    parser.add_argument("--color", dest="mask_color", metavar="C", help="#rrggbb or a colour name")
    parser.add_argument("--color-weight", "--color_weight", dest="mask_color_weight", type=float,
                        metavar="W")
    parser.add_argument("--pattern", dest="mask_pattern", metavar="P",
                        help="a pattern name or an image file")
    parser.add_argument("--pattern-weight", "--pattern_weight", dest="mask_pattern_weight",
                        type=float, metavar="W")
    parser.add_argument("--mask-templates-path", dest="mask_templates_path", metavar="DIR",
                        help="a MaskTheFace folder: its templates become kinds template:<name>")
    parser.add_argument("--detector", type=detector_argument, metavar="D",
                        help="face detector (default: predict_face_detector)")
    faces = parser.add_mutually_exclusive_group()
    faces.add_argument("--all-faces", dest="largest_face", action="store_false", default=False,
                       help="mask every face found (default)")
    faces.add_argument("--largest-face", dest="largest_face", action="store_true",
                       help="mask only the largest face")
    parser.add_argument("--save-region", action="store_true",
                        help="also write <name>_region.png: 255 where the mask is")
    parser.add_argument("--write_original_image", "--write-original-image",
                        dest="write_original", action="store_true",
                        help="also write the photo unmasked beside it (MaskTheFace's flag)")
    parser.add_argument("--seed", type=int, metavar="S")
    parser.add_argument("--workers", type=int, default=1, metavar="K",
                        help="processes (0 = one per CPU core)")
    parser.add_argument("--overwrite", action="store_true", help="replace results that exist")
    parser.add_argument("--preview", metavar="PNG", help="write the contact sheet of every kind")
    parser.add_argument("--size", type=int, default=192, help="preview tile size in pixels")

    def command(args: argparse.Namespace) -> int:
        import json

        from mask2face.config import load_config
        from mask2face.errors import UsageError
        from mask2face.images import write_image
        from mask2face.masks import check_kind, load_templates
        from mask2face.masks.patterns import check_pattern

        inputs = list(args.inputs) + list(args.extra_inputs)
        if not inputs and not args.preview:
            raise UsageError("give photos or folders to mask, or --preview SHEET.png")
        config = load_config(args.config, **overrides(args, ["mask_templates_path", "seed"]))
        templates = load_templates(config.masks.mask_templates_path)
        if args.preview:
            sheet = render_preview(config.masks, templates, args.size)
            write_image(args.preview, sheet)
            log.info("wrote %s (%dx%d)", args.preview, sheet.shape[1], sheet.shape[0])
            if not inputs:
                return 0
        changes = overrides(args, ["mask_color_weight", "mask_pattern_weight", "mask_pattern"])
        if args.mask_type:
            changes["mask_type"], color = resolve_kind(args.mask_type, templates)
            if color and not args.mask_color:
                changes.update(mask_color=color, mask_color_weight=1.0)
        if args.mask_color:
            changes["mask_color"] = resolve_color(args.mask_color)
        config.override(**changes)
        check_kind(config.masks.mask_type, templates)
        check_pattern(config.masks.mask_pattern)
        from mask2face.masks.photos import mask_files
        report = mask_files(config, inputs, args.output, args.detector, args.largest_face,
                            args.save_region, args.write_original, args.overwrite, args.workers)
        report.print_failures()
        print(json.dumps(report.counts()))
        return report.exit_code

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
