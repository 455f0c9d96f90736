"""What a model does with real masked and unmasked photos.

``python benchmarks/real_masks.py --real ../shared/datasets/masked-real-dev [--model RUN]``

For ``with_mask/``: the share of photos with a face found, and of found faces that the model
changed (its mask head predicted a mask there). For ``without_mask/``: the share of photos left
exactly as they were. A contact sheet (``--sheet``, default ``real_masks_sheet.png``) shows, for a
seeded sample of photos of each folder, photo | predicted region (red) | result, to judge by eye
whether the region covers the visible mask. The sheet holds the dev photos: keep it out of the
repository.

``--pairs DIR`` (a test folder of generated pairs, e.g. ``data/m2f22/test``) also runs each of
``--pairs-count`` masked crops through predict as a photo (detect, crop, model, paste) and reports,
against the true mask and the clean crop: the share of the mask replaced (and of its thin parts),
what was changed further than 4 px from it (any paste weight, the feather's faint tail included;
how much of that by over 12 levels, a change a person sees; and how much the paste replaced,
weight 0.5 or more), how often the eyes changed (and how often they did
off the drawn mask: a mask drawn up to the lids lies partly in the eye regions; the eyes placed on
the clean crop by two fits, ``eye_figures``), the PSNR inside
the mask and over the whole image, the detail inside the mask, and the identity distance to the
clean face of the result and of the masked photo. ``--draw-on DIR`` (photos without masks, e.g.
``../shared/datasets/masked-real-dev/without_mask``) measures the same on real photos: a mask is
drawn on each one's largest face as ``mask2face masks`` draws it (``--mask-templates-path`` adds
MaskTheFace's templates to the kinds) and the photo itself is the clean original. Each part may be
run alone (``--real``, ``--pairs`` and ``--draw-on`` are each optional). ``--faces FILE`` writes
each drawn face's figures as a JSON line (its pair or photo, mask replaced, thin parts, changed
beyond the mask, the eye change by each reference, identity): the faces behind a figure.
``--jpeg QUALITY`` (with ``--real``) runs each ``with_mask/`` photo again saved as a JPEG of that
quality, as most photos reach predict, and reports on how many the outcome is the same (each
face's, in order) and the replaced region's area within JPEG_AREA_SHARE of the first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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


def drawn_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose faces with drawn masks, whose clean face is known: ``--pairs``,
    ``--pairs-count``, ``--draw-on`` and ``--mask-templates-path`` (also
    ``paste_references.py``'s)."""
    parser.add_argument("--pairs", type=Path,
                        help="a folder of test pairs (inputs/ masks/ outputs/)")
    parser.add_argument("--pairs-count", type=int, default=300,
                        help="pairs (or photos, with --draw-on) drawn at random")
    parser.add_argument("--draw-on", type=Path,
                        help="a folder of photos without masks: a mask is drawn on each one's "
                             "largest face and the result measured as with --pairs")
    parser.add_argument("--mask-templates-path", default="",
                        help="with --draw-on: MaskTheFace's templates, drawn among the kinds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, help="a folder with with_mask/ and without_mask/")
    parser.add_argument("--model", help="a model (default: the shipped one; see predict --model)")
    parser.add_argument("--sheet", default="real_masks_sheet.png")
    parser.add_argument("--sheet-count", type=int, default=24, help="photos per folder shown")
    parser.add_argument("--seed", type=int, default=0)
    drawn_arguments(parser)
    parser.add_argument("--pixelate", type=float, default=0,
                        help="with --pairs: make each pair a pixelated photo first, enlarged to "
                             "twice its size in blocks of this many pixels, and measure with the "
                             "paste in the photo's blocks and smooth")
    parser.add_argument("--jpeg", type=int, metavar="QUALITY",
                        help="with --real: also run each with_mask photo saved as a JPEG of this "
                             "quality (1-100) and report how often the outcome stays the same")
    parser.add_argument("--faces", type=Path, metavar="FILE",
                        help="with --pairs or --draw-on: write each face's figures to FILE, one "
                             "JSON line each (the pair or photo, the mask replaced, its thin "
                             "parts, what changed beyond it, the eye change by each reference, "
                             "the identity distance), to find the faces behind a figure")
    args = parser.parse_args()

    from mask2face.predict import Unmasker

    if not (args.real or args.pairs or args.draw_on):
        parser.error("give --real, --pairs, --draw-on or several")
    if args.jpeg is not None and not (args.real and 1 <= args.jpeg <= 100):
        parser.error("--jpeg needs --real and a quality from 1 to 100")
    unmasker = Unmasker.load(args.model)
    print(f"model: {unmasker.model_file}; detector: {unmasker.finder.detector_name}")
    # The per-face file is closed (what was written so far kept) however the run ends.
    with (open(args.faces, "w", encoding="utf-8") if args.faces
          else contextlib.nullcontext()) as faces:
        if args.real:
            real_photos(unmasker, args.real, args.sheet, args.sheet_count, args.seed,
                        args.jpeg)
        if args.pairs and args.pixelate:
            for blocks in (True, False):
                unmasker.config.predict.match_blocks = blocks
                print("pasted in the photo's blocks:" if blocks else "pasted smooth:")
                drawn_masks(unmasker, pair_triples(args.pairs, args.pairs_count, args.seed,
                                                   args.pixelate),
                            f"{args.pairs}, pixelated in {args.pixelate:g} px blocks", faces)
        elif args.pairs:
            drawn_masks(unmasker, pair_triples(args.pairs, args.pairs_count, args.seed),
                        str(args.pairs), faces)
        if args.draw_on:
            drawn_masks(unmasker, photo_triples(args.draw_on, args.pairs_count, args.seed,
                                                args.mask_templates_path),
                        f"drawn on the photos of {args.draw_on}", faces)
    if args.faces:
        print(f"each face's figures: {args.faces}")


def real_photos(unmasker, real: Path, sheet: str, sheet_count: int, seed: int,
                jpeg: int | None = None) -> None:
    """Real masked and bare photos: faces found and changed, bare photos kept, a contact sheet;
    with ``jpeg`` (a quality), how often a masked photo saved as such a JPEG comes out the same
    (``same_outcome``)."""
    from mask2face.images import contact_sheet
    from mask2face.images import IMAGE_SUFFIXES, read_image, write_image
    from mask2face.pixelation import pixel_blocks
    from mask2face.paste import pasted_region, region_overlay
    from mask2face.predict import took_whole_photo

    rows = []
    for folder in ("with_mask", "without_mask"):
        files = sorted(p for p in (real / folder).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        shown = set(np.random.default_rng(seed).choice(
            len(files), min(sheet_count, len(files)), replace=False).tolist())
        found = faces = changed = untouched_photos = pixelated = guessed = 0
        seconds, same = [], []
        for number, path in enumerate(files):
            photo = read_image(path)
            start = time.perf_counter()
            out, results = unmasker.unmask_faces(photo)
            seconds.append(time.perf_counter() - start)
            found += bool(results)
            guessed += took_whole_photo(results)
            pixelated += pixel_blocks(photo) is not None
            faces += len(results)
            changed += sum(r.changed for r in results)
            untouched_photos += bool(np.array_equal(out, photo))
            if number in shown:
                rows += [tile(photo), tile(region_overlay(photo, results)), tile(out)]
            if jpeg is not None and folder == "with_mask":
                _, again = unmasker.unmask_faces(as_jpeg(photo, jpeg))
                same.append(same_outcome(results, pasted_region(photo.shape, results),
                                         again, pasted_region(photo.shape, again)))
        if folder == "with_mask":
            print(f"with_mask: {len(files)} photos, a face found in {found} "
                  f"({found / len(files):.1%}; the photo taken as its face, where no detector "
                  f"found one: {guessed}); {changed} of {faces} faces found changed "
                  f"({changed / max(faces, 1):.1%}); "
                  f"changed over all photos: {changed / len(files):.1%}")
            if same:
                outcomes, areas = np.array(same).sum(axis=0)
                print(f"  saved as JPEG (quality {jpeg}): the same outcome on {outcomes} of "
                      f"{len(same)} photos; the replaced area within {JPEG_AREA_SHARE:.0%} of "
                      f"the first on {areas}")
        else:
            print(f"without_mask: {len(files)} photos, left exactly as they were: "
                  f"{untouched_photos} ({untouched_photos / len(files):.1%}); the photo taken "
                  f"as its face, where no detector found one: {guessed}")
        print(f"  pixelated (pasted in the photo's blocks): {pixelated}; median "
              f"{np.median(seconds) * 1000:.0f} ms per photo (detection, model, paste)")
    write_image(sheet, contact_sheet(rows, columns=6))
    print(f"contact sheet: {sheet} (photo | predicted region | result; with_mask first)")


# With --jpeg: a replaced region whose area differs by more than this share from the one found
# in the photo as it was counts as a different result.
JPEG_AREA_SHARE = 0.2


def as_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (RGB uint8) as it comes back from a JPEG of ``quality``."""
    import cv2
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def same_outcome(first, first_weight: np.ndarray, second, second_weight: np.ndarray
                 ) -> tuple[bool, bool]:
    """Whether two runs on one photo came out alike: each face's outcome the same (``outcome``,
    in the order found) and the replaced area (weight >= 0.5) within JPEG_AREA_SHARE of the
    larger of the two."""
    a, b = int((first_weight >= 0.5).sum()), int((second_weight >= 0.5).sum())
    return ([r.outcome for r in first] == [r.outcome for r in second],
            abs(a - b) <= JPEG_AREA_SHARE * max(a, b, 1))


# A pixel replaced further than this from the true mask (photo pixels) counts as harm outside it.
OUTSIDE_BAND_PX = 4
# Mask parts narrower than this (photo pixels: ear loops, straps, ties) are the thin parts.
THIN_PX = 7
# ... and beyond that band, a pixel whose colour moved by more than this (levels of 255, the
# largest over R, G and B) is harm a person can see (a smear beside the jaw, an ear painted over):
# the feathered edge's faint change is not.
VISIBLE_LEVELS = 12
# An eye region whose mean change is above this (levels of 255) counts as an eye changed.
EYE_CHANGE_LEVELS = 4.0
# The drawn mask grown by this (photo pixels: its soft edge) is left out of the eye regions for
# the second eye figure (``eye_change``).
MASK_EDGE_PX = 2


def eye_regions(shape, landmarks: np.ndarray) -> np.ndarray:
    """The eyes down to their lower eyelids: each eye's hull (68-point landmarks) grown by 0.1
    of the eye distance, without the rows below that eye's lowest eyelid point (where a mask's
    top edge may sit). Pair crops are eye-levelled, so those are rows."""
    import cv2

    from mask2face.landmarks import LEFT_EYE, RIGHT_EYE
    distance = np.hypot(*(landmarks[LEFT_EYE].mean(0) - landmarks[RIGHT_EYE].mean(0)))
    grow = max(1, int(round(0.1 * distance)))
    eyes = np.zeros(shape[:2], bool)
    for eye in (LEFT_EYE, RIGHT_EYE):
        one = np.zeros(shape[:2], np.uint8)
        cv2.fillConvexPoly(one, cv2.convexHull(np.round(landmarks[eye]).astype(np.int32)), 1)
        one = cv2.dilate(one, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
        one[int(np.ceil(landmarks[eye, 1].max())) + 1:] = False
        eyes |= one
    return eyes


def eye_change(masked: np.ndarray, out: np.ndarray, eyes: np.ndarray,
               truth: np.ndarray) -> tuple[float, float]:
    """The mean change (levels of 255, over R, G and B) from ``masked`` to ``out`` over the eye
    regions ``eyes``, and over those of their pixels that lie off the drawn mask ``truth`` (grown
    by MASK_EDGE_PX; NaN where none do). A mask drawn up to the lower lids lies partly inside the
    eye regions: replacing it there counts in the first figure, though the eyes are kept."""
    import cv2
    change = np.abs(out.astype(np.float32) - masked.astype(np.float32)).mean(axis=-1)
    near = cv2.dilate(truth.astype(np.uint8), np.ones((2 * MASK_EDGE_PX + 1,) * 2, np.uint8)) > 0
    bare = eyes & ~near
    return (float(change[eyes].mean()),
            float(change[bare].mean()) if bare.any() else float("nan"))


def eye_figures(masked: np.ndarray, out: np.ndarray, truth: np.ndarray,
                references: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """``eye_change`` over the eye regions of each reference fit on the clean photo (name: its
    68 landmarks). Two fits are measured: dlib's in its HOG box, which on thick glasses can put
    the eyes on the frame's lower rim (and count the mask's top edge under it), and predict's own
    face finder's (BlazeFace's box and eyes, dlib's points), which can be off on a blurred or
    tilted face. Where they disagree, the eye figure is not the model's alone."""
    return {name: eye_change(masked, out, eye_regions(masked.shape, landmarks), truth)
            for name, landmarks in references.items()}


def beyond_band(truth: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels further than OUTSIDE_BAND_PX from the true mask, where a change
    counts as harm outside it."""
    import cv2
    near = cv2.dilate(truth.astype(np.uint8), np.ones((2 * OUTSIDE_BAND_PX + 1,) * 2, np.uint8))
    return near == 0


def region_figures(truth: np.ndarray, replaced: np.ndarray, weight: np.ndarray) -> dict:
    """How well a replaced region (``replaced``: weight >= 0.5; ``weight``: any change) follows
    the true mask: the mask's share replaced, its thin parts' share, and the pixels changed
    further than OUTSIDE_BAND_PX from it, as a share of the mask's area (``outside``: any weight,
    the feather's faint tail included; ``outside replaced``: those ``replaced``)."""
    import cv2
    opened = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_OPEN,
                              np.ones((THIN_PX, THIN_PX), np.uint8))
    thin = truth & (opened == 0)
    area = max(int(truth.sum()), 1)
    return {"replaced": float((truth & replaced).sum() / area),
            "thin": float((thin & replaced).sum() / thin.sum()) if thin.sum() >= 20 else None,
            "outside": float(((weight > 0) & beyond_band(truth)).sum() / area),
            "outside replaced": float((replaced & beyond_band(truth)).sum() / area)}


def changed_outside(truth: np.ndarray, masked: np.ndarray, out: np.ndarray,
                    levels: int = 0) -> float:
    """The pixels further than OUTSIDE_BAND_PX from the true mask whose colour changed from
    ``masked`` to ``out`` by more than ``levels`` (the largest over R, G and B; 0: changed at
    all), as a share of the mask's area. Off the drawn mask the masked photo is the clean one,
    so every such pixel is a change that should not be there."""
    moved = np.abs(out.astype(np.int16) - masked.astype(np.int16)).max(axis=2) > levels
    return float((moved & beyond_band(truth)).sum() / max(int(truth.sum()), 1))


def visible_outside(truth: np.ndarray, masked: np.ndarray, out: np.ndarray) -> float:
    """``changed_outside`` by more than VISIBLE_LEVELS: a change a person sees."""
    return changed_outside(truth, masked, out, VISIBLE_LEVELS)


def pixelated(image: np.ndarray, block: float, nearest: bool = False) -> np.ndarray:
    """``image`` enlarged to twice its size as a pixelated photo: blocks ``block`` pixels wide
    (its mean colours), or with ``nearest`` each pixel repeated (a mask)."""
    import cv2
    size = (2 * image.shape[1], 2 * image.shape[0])
    if nearest:
        return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(image, (max(1, round(size[0] / block)), max(1, round(size[1] / block))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, size, interpolation=cv2.INTER_NEAREST)


def pair_triples(folder: Path, count: int, seed: int, pixelate: float = 0):
    """(name, masked, clean, true mask) of ``count`` generated pairs of ``folder`` drawn at
    random (name: the masked input's file); with ``pixelate``, each made a pixelated photo first
    (``pixelated``)."""
    from mask2face.images import read_image
    from mask2face.pairs import list_pairs

    pairs = list_pairs(folder)
    chosen = np.random.default_rng(seed).choice(len(pairs.inputs), min(count, len(pairs.inputs)),
                                                replace=False)
    for i in chosen:
        masked, clean = read_image(pairs.inputs[i]), read_image(pairs.outputs[i])
        truth = read_image(pairs.masks[i])[..., 0] > 127
        if pixelate:
            masked, clean = pixelated(masked, pixelate), pixelated(clean, pixelate)
            truth = pixelated(truth.astype(np.uint8), pixelate, nearest=True) > 0
        yield str(pairs.inputs[i]), masked, clean, truth


def photo_triples(folder: Path, count: int, seed: int, templates: str = ""):
    """(name, masked, clean, true mask) of ``count`` photos of ``folder`` drawn at random (name:
    the photo's file), each with a mask drawn on its largest face as ``mask2face masks`` draws it
    (every kind at random, with ``templates``: MaskTheFace's too); photos where no face is found
    are passed over."""
    from mask2face.config import Config
    from mask2face.faces import face_finder_from_config
    from mask2face.images import list_photos, read_photo
    from mask2face.masks import load_templates
    from mask2face.masks.photos import mask_photo

    config = Config()
    config.masks.mask_type = "random"
    config.masks.mask_templates_path = templates
    finder = face_finder_from_config(config.faces, config.predict.detector(None))
    loaded = load_templates(templates)
    photos = [photo for photo, _ in list_photos([folder])]
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(photos), min(count, len(photos)), replace=False):
        clean = read_photo(photos[i]).rgb
        drawn = mask_photo(clean, finder, config.masks, loaded, [seed, int(i)], largest_face=True)
        if drawn.faces:
            yield str(photos[i]), drawn.image, clean, drawn.region > 127


def drawn_masks(unmasker, triples, label: str, faces=None) -> None:
    """Photos with drawn masks through predict (``triples``: name, masked photo, clean photo,
    true mask): how much of the true mask was replaced, how much else was, whether the eyes were
    kept, and what the result looks like (PSNR, detail, identity) against the clean photo; with
    ``faces`` (a text file), each face's figures as a JSON line."""
    from mask2face.evaluate import psnr
    from mask2face.identity import SAME_PERSON, IdentityMeter, detail_ratio
    from mask2face.paste import pasted_region
    from mask2face.predict import took_whole_photo

    meter = IdentityMeter()
    figures, inside, whole, detail, missed, guessed = [], [], [], [], 0, 0
    eyes_changed = {"dlib": [], "finder": []}  # (changed, changed off the drawn mask) per face
    people = {"result": [], "masked photo": []}
    for name, masked, clean, truth in triples:
        out, results = unmasker.unmask_faces(masked)
        weight = pasted_region(masked.shape, results)
        missed += not results
        guessed += took_whole_photo(results)
        figures.append(region_figures(truth, weight >= 0.5, weight))
        figures[-1]["changed outside"] = changed_outside(truth, masked, out)
        figures[-1]["visible outside"] = visible_outside(truth, masked, out)
        inside.append(psnr(clean / 255.0, out / 255.0, truth))
        whole.append(psnr(clean / 255.0, out / 255.0))
        detail.append(detail_ratio(clean, out, truth))
        shape = meter.landmarks(clean)
        landmarks = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        references = {"dlib": landmarks}
        found = unmasker.finder.find(clean)
        if found:
            references["finder"] = np.asarray(found[0].landmarks, np.float64)
        eyes = eye_figures(masked, out, truth, references)
        for reference, change in eyes.items():
            eyes_changed[reference].append(change)
        distances = meter.distances(clean, {"result": out, "masked photo": masked}, shape)
        for kind, distance in distances.items():
            people[kind].append(distance)
        if faces is not None:
            row = {"set": label, "name": name, "face found": bool(results),
                   "whole photo": took_whole_photo(results),
                   **{k: None if v is None else round(v, 4) for k, v in figures[-1].items()}}
            for reference, change in eyes.items():  # (all; off the drawn mask: None if none)
                row[f"eyes changed, {reference}"] = [None if np.isnan(v) else round(v, 2)
                                                     for v in change]
            row["identity distance"] = round(float(distances["result"]), 4)
            faces.write(json.dumps(row) + "\n")
            faces.flush()  # each face's line on disk as soon as it is measured
    thin = [f["thin"] for f in figures if f["thin"] is not None]
    print(f"drawn masks ({label}, {len(figures)} through predict): no face found in {missed}; "
          f"the photo taken as the face, where no detector found one: {guessed}")
    print(f"  true mask replaced: median {np.median([f['replaced'] for f in figures]):.1%}, "
          f"mean {np.mean([f['replaced'] for f in figures]):.1%}; thin parts (under {THIN_PX} "
          f"px, {len(thin)} pairs) mean {np.mean(thin) if thin else float('nan'):.1%}")
    print(f"  changed outside the mask (beyond {OUTSIDE_BAND_PX} px; pixels whose value changed), "
          f"share of the mask's area: median "
          f"{np.median([f['changed outside'] for f in figures]):.1%}, mean "
          f"{np.mean([f['changed outside'] for f in figures]):.1%}; reached there by the paste's "
          f"weight (over 0, the feather's tail that moves no pixel included): median "
          f"{np.median([f['outside'] for f in figures]):.1%}, mean "
          f"{np.mean([f['outside'] for f in figures]):.1%}; changed there by over "
          f"{VISIBLE_LEVELS} levels: median "
          f"{np.median([f['visible outside'] for f in figures]):.1%}, mean "
          f"{np.mean([f['visible outside'] for f in figures]):.1%}; replaced there (weight "
          f"0.5 or more): median {np.median([f['outside replaced'] for f in figures]):.1%}")
    for name, where in (("dlib", "dlib's fit in its HOG box"),
                        ("finder", "predict's face finder (BlazeFace, dlib's points)")):
        changes = np.array(eyes_changed[name]).reshape(-1, 2)
        if not len(changes):
            continue
        bare = changes[~np.isnan(changes[:, 1]), 1]
        print(f"  eyes changed (mean change over the eye regions > {EYE_CHANGE_LEVELS:.0f} "
              f"levels; the eyes where {where} puts them on the clean photo): "
              f"{np.mean(changes[:, 0] > EYE_CHANGE_LEVELS):.1%} of {len(changes)} pairs; over "
              f"the eye regions off the drawn mask (grown by {MASK_EDGE_PX} px): "
              f"{np.mean(bare > EYE_CHANGE_LEVELS):.1%} of {len(bare)} pairs")
    print(f"  PSNR inside the true mask {np.mean(inside):.2f} dB, over the whole image "
          f"{np.mean(whole):.2f} dB; detail inside the mask (result / clean, median) "
          f"{np.nanmedian(detail):.2f}")
    for name, distances in people.items():
        distances = np.array(distances)
        print(f"  identity distance to the clean face, {name}: median {np.median(distances):.3f}, "
              f"same person (< {SAME_PERSON}) {np.mean(distances < SAME_PERSON):.1%}")


if __name__ == "__main__":
    main()
