"""``mask2face faces`` (``python -m mask2face.faces``): the faces found in photos, with their
boxes, scores, detectors and eye points; their aligned crops and a contact sheet of them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from mask2face.cli import add_config_argument, make_parser, run_command
from mask2face.config import load_config
from mask2face.detectors import detector_argument
from mask2face.errors import ImageReadError, UsageError
from mask2face.faces.crops import face_crop
from mask2face.faces.finder import Face, face_finder_from_config
from mask2face.images import contact_sheet, list_photos, read_image, write_image

SHEET_TILE = 160
SHEET_MAX_TILES = 96


def face_record(face: Face) -> dict:
    """A face as the ``faces`` command's JSON gives it (photo pixels, one decimal)."""
    return {"box": [round(float(v), 1) for v in face.box], "score": round(float(face.score), 3),
            "detector": face.detector,
            "eyes": [[round(float(v), 1) for v in point] for point in face.eyes]}


def _sheet_tile(image: np.ndarray, face: Face, size: int, margin: float) -> np.ndarray:
    """The face's aligned crop with its eye points marked: the eyes of a good crop sit level."""
    crop = face_crop(face.landmarks, size, margin)
    tile = crop.apply(image).copy()
    for x, y in crop.to_crop(face.eyes):
        cv2.circle(tile, (int(round(x)), int(round(y))), max(2, size // 40), (0, 255, 0), 1,
                   cv2.LINE_AA)
    return tile


def main(argv=None) -> int:
    from tqdm.auto import tqdm

    parser = make_parser("faces",
        "Find the faces in photos: boxes, scores, detectors and eye points.")
    parser.add_argument("inputs", nargs="+", metavar="PHOTO_OR_FOLDER")
    parser.add_argument("--detector", type=detector_argument, metavar="D",
                        help="face detector, e.g. blaze>mtcnn (default: the configuration's "
                             "predict_face_detector, the one predict uses)")
    parser.add_argument("--json", action="store_true", help="one JSON object per photo and line")
    parser.add_argument("--crops", metavar="DIR",
                        help="write each face's aligned crop as DIR/<photo>_<face>.png")
    parser.add_argument("--sheet", metavar="FILE",
                        help=f"a contact sheet of the aligned crops (first {SHEET_MAX_TILES})")
    add_config_argument(parser)

    def command(args) -> int:
        config = load_config(args.config)
        detector = config.predict.detector(args.detector)
        items = list_photos(args.inputs)
        if not items:
            raise UsageError("no photos given (or the folders hold none)")
        finder = face_finder_from_config(config.faces, detector)
        size, margin = config.data.image_size, config.data.crop_margin
        tiles, failed, found = [], 0, 0
        for photo, relative in tqdm(items, unit="photo", disable=None, file=sys.stderr):
            record = {"path": str(photo), "faces": [], "error": None}
            try:
                image = read_image(photo, config.faces.max_image_pixels)
                faces = finder.find(image)
            except (ImageReadError, OSError) as e:
                record["error"] = str(e)
                failed += 1
                faces = []
            record["faces"] = [face_record(f) for f in faces]
            found += bool(faces)
            for number, face in enumerate(faces):
                if args.crops:
                    name = f"{relative.with_suffix('').as_posix().replace('/', '_')}_{number}.png"
                    write_image(Path(args.crops) / name,
                                face_crop(face.landmarks, size, margin).apply(image))
                if args.sheet and len(tiles) < SHEET_MAX_TILES:
                    tiles.append(_sheet_tile(image, face, SHEET_TILE, margin))
            if args.json:
                print(json.dumps(record), flush=True)
            elif record["error"]:
                print(f"{photo}: error: {record['error']}", flush=True)
            else:
                described = "; ".join(
                    f"box {r['box']} score {r['score']} {r['detector']} eyes {r['eyes']}"
                    for r in record["faces"])
                print(f"{photo}: {len(faces)} face{'s' * (len(faces) != 1)}"
                      f"{': ' + described if described else ''}", flush=True)
        if args.sheet and tiles:
            write_image(args.sheet, contact_sheet(tiles))
        print(f"{len(items)} photos: a face found in {found}, none in "
              f"{len(items) - found - failed}, {failed} unreadable", file=sys.stderr)
        return 1 if failed else 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
