"""Pairs in one small file, to train on another machine: ``python -m mask2face.pack``.

A pairs folder is PNG files (a 128 px set of 15,829 pairs takes about 1 GB). A pack holds some
or all of its training pairs in one ``.npz``: the clean face as JPEG, the masked one as JPEG of
the box round its mask alone (outside it the two are the same), the mask region as PNG (exact),
each pair's identity (the validation split keeps whole people apart) and the settings the pairs
were made with. Unpacked, it is a pairs folder again, which ``python -m mask2face.train --data``
takes. Outside the mask region (grown by its anti-aliased band) the masked face is the clean
one, pixel for pixel, as in the pairs themselves; inside it both carry the JPEG's small error.

    python -m mask2face.pack data/pairs pairs.npz --count 3000
    python -m mask2face.pack --unpack pairs.npz data/unpacked
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mask2face.errors import UsageError
from mask2face.pairs import (KINDS_OF_FILE, MANIFEST, SETTINGS_FILE, list_pairs, png_bytes,
                             with_edge_band)

log = logging.getLogger(__name__)

PACK_QUALITY = 92  # JPEG quality of the faces in a pack
PACK_FORMAT = 1  # written into each pack; unpack reads this format alone


def _joined(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Byte strings as one uint8 array and the end offset of each."""
    ends = np.cumsum([len(b) for b in blobs]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), np.uint8), ends


def _split(data: np.ndarray, ends: np.ndarray) -> list[bytes]:
    starts = np.concatenate([[0], ends[:-1]])
    return [data[s:e].tobytes() for s, e in zip(starts, ends)]


def pack(pairs_root: str | Path, target: str | Path, count: int = 0,
         quality: int = PACK_QUALITY, seed: int = 0) -> int:
    """Write ``count`` training pairs of ``pairs_root`` (drawn at random with ``seed``; 0: all)
    into the pack ``target``; returns how many."""
    pairs = list_pairs(Path(pairs_root) / "train")
    chosen = np.arange(len(pairs))
    if count and count < len(pairs):
        chosen = np.sort(np.random.default_rng(seed).choice(len(pairs), count, replace=False))
    faces: dict[str, list[bytes]] = {kind: [] for kind in KINDS_OF_FILE}
    boxes = []

    def jpeg(image: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
    for i in chosen:
        masked, clean = (cv2.imread(path, cv2.IMREAD_COLOR)
                         for path in (pairs.inputs[i], pairs.outputs[i]))
        region = cv2.imread(pairs.masks[i], cv2.IMREAD_GRAYSCALE)
        if masked is None or clean is None or region is None:
            raise UsageError(f"{pairs.inputs[i]}: a pair whose images cannot all be read")
        band = with_edge_band(region)
        x, y, w, h = cv2.boundingRect(band) if band.any() else (0, 0, 1, 1)
        boxes.append((x, y, w, h))
        faces["inputs"].append(jpeg(masked[y:y + h, x:x + w]))
        faces["outputs"].append(jpeg(clean))
        faces["masks"].append(Path(pairs.masks[i]).read_bytes())  # PNG already: kept exact
    arrays = {"format": np.array(PACK_FORMAT), "boxes": np.array(boxes, np.int32).reshape(-1, 4)}
    for kind, blobs in faces.items():
        arrays[kind], arrays[kind + "_ends"] = _joined(blobs)
    settings = Path(pairs_root) / SETTINGS_FILE
    arrays["names"] = np.array([Path(pairs.inputs[i]).stem for i in chosen])
    arrays["identities"] = np.array([pairs.identities[i] for i in chosen])
    arrays["settings"] = np.array(settings.read_text() if settings.exists() else "{}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:  # np.savez adds ".npz" to a name without it
        np.savez(out, **arrays)
    return len(chosen)


def unpack(source: str | Path, pairs_root: str | Path) -> int:
    """Write the pack ``source`` out as a pairs folder ``pairs_root`` (its training split);
    returns how many pairs."""
    if not Path(source).is_file():
        raise UsageError(f"{source}: no such file")
    try:
        packed = np.load(source, allow_pickle=False)
        keys = set(packed.files)
    except (OSError, ValueError):
        raise UsageError(f"{source}: not a pack of pairs (made by 'mask2face pack')") from None
    if "format" not in keys or int(packed["format"]) != PACK_FORMAT:
        raise UsageError(f"{source}: not a pack of pairs in this version's format "
                         f"({PACK_FORMAT}): pack the pairs again with this 'mask2face pack'")
    names, identities, boxes = packed["names"], packed["identities"], packed["boxes"]
    blobs = {kind: _split(packed[kind], packed[kind + "_ends"]) for kind in KINDS_OF_FILE}
    settings = str(packed["settings"])
    root = Path(pairs_root)
    for kind in KINDS_OF_FILE:
        (root / "train" / kind).mkdir(parents=True, exist_ok=True)
    records = []
    for k, name in enumerate(names):
        def decoded(kind, flags=cv2.IMREAD_COLOR):
            return cv2.imdecode(np.frombuffer(blobs[kind][k], np.uint8), flags)
        clean, region = decoded("outputs"), decoded("masks", cv2.IMREAD_GRAYSCALE)
        x, y, w, h = boxes[k]
        masked = clean.copy()
        masked[y:y + h, x:x + w] = decoded("inputs")
        band = with_edge_band(region)[..., None] > 0
        masked = np.where(band, masked, clean)
        for kind, image in zip(KINDS_OF_FILE, (masked, clean, None)):
            path = root / "train" / kind / f"{name}.png"
            if image is None:
                path.write_bytes(blobs[kind][k])
            else:
                path.write_bytes(png_bytes(np.ascontiguousarray(image[..., ::-1])))
        records.append(json.dumps({"id": str(name), "split": "train",
                                   "identity": str(identities[k])}))
    (root / MANIFEST).write_text("\n".join(records) + "\n")
    (root / SETTINGS_FILE).write_text(settings)
    return len(names)


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import make_parser, run_command

    parser = make_parser("pack", "Pack a pairs folder's training pairs into one small file, or "
                                 "unpack one into a pairs folder (to train on another machine).")
    parser.add_argument("source", help="the pairs folder (or, with --unpack, the pack)")
    parser.add_argument("target", help="the pack to write (or, with --unpack, the pairs folder)")
    parser.add_argument("--unpack", action="store_true", help="unpack SOURCE into TARGET")
    parser.add_argument("--count", type=int, default=0,
                        help="pack this many pairs, drawn at random (default: all)")
    parser.add_argument("--quality", type=int, default=PACK_QUALITY,
                        help=f"JPEG quality of the faces (default {PACK_QUALITY})")
    parser.add_argument("--seed", type=int, default=0, help="the draw's seed")

    def command(args: argparse.Namespace) -> int:
        if args.unpack:
            done = unpack(args.source, args.target)
            log.info("%d pairs unpacked into %s", done, args.target)
        else:
            done = pack(args.source, args.target, args.count, args.quality, args.seed)
            log.info("%d pairs packed into %s (%.1f MB)", done, args.target,
                     Path(args.target).stat().st_size / 1e6)
        return 0
    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
