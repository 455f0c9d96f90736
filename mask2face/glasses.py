"""Glasses drawn onto training pairs, so that a mask head learns to leave them alone.

On real photos the mask head sometimes takes a lens's lower half or a frame's rim for mask,
most often on small photos with thick frames or tinted lenses in the mask's own colour, where
the fitted eyes (and so the eye guard) sit off the real eyes. Drawn pairs rarely show that
case. ``add_glasses`` copies a pairs folder and draws a pair of glasses (frames of several
weights and colours; clear, tinted or dark lenses, some in the mask's colour) over the eyes of a
share of its training pairs: onto the masked input and the clean target alike, in front of the
mask, and takes the frames and dark lenses out of the true mask. The rest of the pairs, and the
test split, are linked unchanged.

    python -m mask2face.glasses data/pairs data/pairs_glasses --share 0.3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mask2face.errors import UsageError
from mask2face.images import atomic_write
from mask2face.landmarks import eye_centres
from mask2face.pairs import FACES, SETTINGS_FILE, list_pairs, png_bytes

log = logging.getLogger("mask2face.glasses")

SUPERSAMPLE = 4  # glasses are drawn this many times larger, then reduced: smooth edges
FRAME_COLOURS = {  # RGB in [0, 1]
    "black": (0.06, 0.06, 0.07), "dark brown": (0.22, 0.13, 0.08),
    "tortoise": (0.42, 0.26, 0.12), "gold": (0.78, 0.64, 0.33),
    "silver": (0.75, 0.76, 0.78), "white": (0.92, 0.92, 0.9), "red": (0.6, 0.1, 0.1),
    "navy": (0.1, 0.14, 0.35),
}
LENS_TINTS = {
    "grey": (0.12, 0.12, 0.13), "brown": (0.3, 0.18, 0.08), "green": (0.12, 0.22, 0.12),
    "blue": (0.15, 0.2, 0.55), "violet": (0.3, 0.25, 0.55),
}


def fitted_eyes(predictor, image: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """(2, 2) eye centres of a pair's clean face: dlib's 68 points fitted twice (in a box about
    the aligned crop's face, then in the first fit's own box); the aligned crop's usual place
    (``canonical``) where the fit lands far from it."""
    import dlib
    size = image.shape[0]
    box = dlib.rectangle(int(size * 0.16), int(size * 0.11), int(size * 0.84), int(size * 0.8))
    for _ in range(2):
        shape = predictor(image, box)
        points = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        box = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
    eyes = eye_centres(points)
    if np.abs(eyes - canonical).max() > 0.08 * size:
        return canonical.copy()
    return eyes


def usual_eyes(size: int, margin: float) -> np.ndarray:
    """Where a training crop's eyes usually lie (``face_crop``): the face scale is twice the
    eye distance, the crop's side that times 1 + 2 ``margin``, its centre 0.35 of the way from
    the eyes to the mouth, about a quarter of the scale below them."""
    side = 2.0 * (1 + 2 * margin)  # in eye distances
    half = 0.5 / side
    y = 0.5 - 0.35 * 1.1 / side
    return np.array([[0.5 - half, y], [0.5 + half, y]]) * size


def _lens_outline(centre, across, down, half_width, half_height, power, count=48):
    t = np.linspace(0, 2 * np.pi, count, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = half_width * np.sign(c) * np.abs(c) ** (2 / power)
    y = half_height * np.sign(s) * np.abs(s) ** (2 / power)
    return centre + x[:, None] * across + y[:, None] * down


def draw_glasses(size: int, eyes: np.ndarray, rng: np.random.Generator,
                 mask_colour: np.ndarray | None = None):
    """One pair of glasses over ``eyes`` in a ``size`` px crop: (RGB, alpha, opaque), each
    (size, size[, 3]) float32; ``opaque`` is what hides the face (frames and dark lenses)."""
    k = SUPERSAMPLE
    big = size * k
    left, right = eyes * k
    across = (right - left) / max(np.hypot(*(right - left)), 1e-6)
    down = np.array([-across[1], across[0]])
    distance = np.hypot(*(right - left))
    half_width = rng.uniform(0.36, 0.5) * distance
    half_height = rng.uniform(0.22, 0.4) * distance
    power = rng.uniform(2.0, 5.0)
    lower = rng.uniform(0.0, 0.15) * distance
    thickness = max(k, int(round(rng.uniform(0.02, 0.1) * distance)))
    frame_colour = np.array(list(FRAME_COLOURS.values())[rng.integers(len(FRAME_COLOURS))])
    frame_colour = np.clip(frame_colour * rng.uniform(0.85, 1.15), 0, 1)

    kind = rng.choice(["clear", "tinted", "dark"], p=[0.45, 0.3, 0.25])
    if kind == "clear":
        lens_alpha, lens_colour = rng.uniform(0.0, 0.12), np.array([0.85, 0.88, 0.9])
    else:
        if mask_colour is not None and rng.random() < 0.35:
            lens_colour = np.clip(mask_colour * rng.uniform(0.7, 1.1), 0, 1)
        else:
            lens_colour = np.array(list(LENS_TINTS.values())[rng.integers(len(LENS_TINTS))])
        lens_alpha = rng.uniform(0.3, 0.6) if kind == "tinted" else rng.uniform(0.8, 0.95)

    lens = np.zeros((big, big), np.float32)
    frame = np.zeros((big, big), np.float32)
    for eye in (left, right):
        centre = eye + down * lower
        outline = _lens_outline(centre, across, down, half_width, half_height, power)
        cv2.fillPoly(lens, [np.round(outline).astype(np.int32)], 1.0)
        cv2.polylines(frame, [np.round(outline).astype(np.int32)], True, 1.0, thickness,
                      cv2.LINE_AA)
    # The bridge between the lenses' inner upper edges, and the temples out to the sides.
    top = -0.55 * half_height
    inner_l = left + down * lower + across * half_width * 0.95 + down * top
    inner_r = right + down * lower - across * half_width * 0.95 + down * top
    arc = [inner_l, (inner_l + inner_r) / 2 - down * 0.08 * distance, inner_r]
    cv2.polylines(frame, [np.round(np.array(arc)).astype(np.int32)], False, 1.0,
                  max(1, int(thickness * 0.8)), cv2.LINE_AA)
    for eye, side in ((left, -1), (right, 1)):
        start = eye + down * (lower + top) + side * across * half_width * 0.98
        end = start + side * across * rng.uniform(0.3, 0.6) * distance - down * 0.05 * distance
        cv2.line(frame, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)),
                 1.0, max(1, int(thickness * 0.7)), cv2.LINE_AA)

    lens = cv2.resize(lens, (size, size), interpolation=cv2.INTER_AREA)
    frame = np.clip(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA), 0, 1)
    # Dark lenses are often darker at the top.
    rows = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    shade = 1.0 if kind != "dark" or rng.random() < 0.5 else \
        np.clip(1.15 - 0.5 * (rows - eyes[:, 1].mean() / size + 0.1) / 0.2, 0.6, 1.0)
    lens_a = lens * lens_alpha * shade
    alpha = frame + (1 - frame) * lens_a
    rgb = (frame[..., None] * frame_colour
           + ((1 - frame) * lens_a)[..., None] * lens_colour) / np.maximum(alpha, 1e-6)[..., None]
    opaque = np.maximum(frame, lens * (lens_alpha >= 0.6))
    return rgb.astype(np.float32), alpha.astype(np.float32), opaque.astype(np.float32)


def _link(source: str | Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def add_glasses(source: str | Path, target: str | Path, share: float = 0.3,
                seed: int = 0) -> dict:
    """Copy the pairs folder ``source`` to ``target`` with glasses on ``share`` of its training
    pairs (``draw_glasses``); returns {"pairs": N, "glasses": M, "failed": ["id: why", ...]}.
    A pair that cannot be read is linked as it is and reported; the rest go on."""
    import dlib
    from mask2face.faces.dlib_files import LANDMARKS_FILE, resolve_model_file
    source, target = Path(source), Path(target)
    if not (source / "train" / "inputs").is_dir():
        raise UsageError(f"{source}: not a pairs folder (no train/inputs)")
    if not 0 <= share <= 1:
        raise UsageError(f"--share must lie in [0, 1], got {share}")
    pairs = list_pairs(source / "train")
    predictor = dlib.shape_predictor(str(resolve_model_file("", LANDMARKS_FILE,
                                                            "landmarks_predictor_path")))
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    for path in (source / "test").rglob("*"):
        if path.is_file():
            _link(path, target / path.relative_to(source))
    margin = 0.3
    if (source / SETTINGS_FILE).exists():
        margin = json.loads((source / SETTINGS_FILE).read_text()).get(
            "data", {}).get("crop_margin", margin)
    train = target / "train"
    rng = np.random.default_rng(seed)
    drawn, failed = 0, []
    canonical = None
    for i, (inputs, outputs, masks) in enumerate(zip(pairs.inputs, pairs.outputs, pairs.masks)):
        name = Path(inputs).name
        if pairs.faces is not None:
            _link(pairs.faces[i], train / FACES / name)
        if rng.random() < share:
            masked, clean = cv2.imread(inputs), cv2.imread(outputs)
            truth = cv2.imread(masks, cv2.IMREAD_GRAYSCALE)
            if masked is not None and clean is not None and truth is not None and (
                    masked.shape == clean.shape and truth.shape == clean.shape[:2]):
                masked, clean = masked[..., ::-1], clean[..., ::-1]
                size = clean.shape[0]
                if canonical is None:
                    canonical = usual_eyes(size, margin)
                eyes = fitted_eyes(predictor, clean, canonical)
                on_mask = truth > 127
                colour = (np.median(masked[on_mask], axis=0) / 255.0) \
                    if on_mask.sum() > 20 else None
                rgb, alpha, opaque = draw_glasses(size, eyes, rng, colour)
                a = alpha[..., None]
                for image, folder in ((masked, "inputs"), (clean, "outputs")):
                    out = (1 - a) * image / 255.0 + a * rgb
                    atomic_write(train / folder / name,
                                 png_bytes(np.round(out * 255).astype(np.uint8)))
                kept = (truth.astype(np.float32) * (1 - opaque)).round()
                atomic_write(train / "masks" / name,
                             png_bytes(np.where(kept > 127, 255, 0).astype(np.uint8)))
                drawn += 1
                continue
            failed.append(f"{Path(name).stem}: unreadable or mismatched images, copied as "
                          f"they are")
        for path, folder in ((inputs, "inputs"), (outputs, "outputs"), (masks, "masks")):
            _link(path, train / folder / name)
    return {"pairs": len(pairs), "glasses": drawn, "failed": failed}


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import make_parser, run_command

    parser = make_parser("glasses", "Copy a pairs folder with glasses drawn on a share of its "
                                    "training pairs (so a mask head learns to leave them alone).")
    parser.add_argument("source", metavar="PAIRS_FOLDER", help="a pairs folder (train/, test/)")
    parser.add_argument("target", metavar="NEW_FOLDER", help="the new pairs folder")
    parser.add_argument("--share", type=float, default=0.3,
                        help="share of the training pairs given glasses (default 0.3)")
    parser.add_argument("--seed", type=int, default=0)

    def command(args: argparse.Namespace) -> int:
        counts = add_glasses(args.source, args.target, args.share, args.seed)
        print(f"{counts['glasses']} of {counts['pairs']} training pairs given glasses: "
              f"{args.target}")
        for line in counts["failed"]:
            log.error("%s", line)
        return 1 if counts["failed"] else 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
