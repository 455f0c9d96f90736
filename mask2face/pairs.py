"""The training pairs on disk: the one place that knows their layout.

::

    <root>/train/inputs/<id>.png    masked face (RGB)
    <root>/train/outputs/<id>.png   the same face without the mask (RGB)
    <root>/train/masks/<id>.png     where the mask was drawn (L, 255 inside)
    <root>/train/faces/<id>.png     optional: the face's area as predict finds it on the masked
                                    input (L, 255 inside the 68 points' hull; ``face_areas``)
    <root>/test/...                 the same for the test split
    <root>/manifest.jsonl           one JSON record per pair: id, split, identity, source, mask
    <root>/skipped.csv              number, source, reason: photos that gave no pair
    <root>/generation.json          the settings the pairs were made with

A pair's three files share one name. A masked input and its clean target differ only inside the
mask region grown by ``EDGE_BAND_PX`` (the drawing's anti-aliased edge). Files are written under
temporary names and renamed; a photo's manifest lines are appended only once all its files exist,
so a kill leaves at most one torn last line, which readers drop.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mask2face.errors import UsageError
from mask2face.images import atomic_write

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
KINDS_OF_FILE = ("inputs", "outputs", "masks")
# Written after the pairs, by ``python -m mask2face.face_areas``, for ``training.face_outline``.
FACES = "faces"
MANIFEST = "manifest.jsonl"
SKIPPED = "skipped.csv"
SETTINGS_FILE = "generation.json"
# Pixels this close to a saved mask region may differ between input and target: the drawing's
# anti-aliased edge. Further away they are identical.
EDGE_BAND_PX = 2
# A model trained with hole_share sees the saved region grown by this many more pixels as a grey
# hole (its anti-aliased edge and a little more); predict grows the region it found as much.
HOLE_GROWTH_PX = 2
# A model trained with ``face_outline`` sees its hole mid grey over the face's area and this grey
# beyond it (where a real mask stands off the cheeks over the background, or covers the neck):
# told where the face ends, it need not blur face and background together there.
OUTSIDE_FACE_GREY = 0.0


def with_edge_band(region: np.ndarray) -> np.ndarray:
    """A saved (H, W) uint8 mask region grown by EDGE_BAND_PX (a square): where a pair's input
    and target may differ (``data.grow_mask`` is the same on tensors)."""
    import cv2
    width = 2 * EDGE_BAND_PX + 1
    return cv2.dilate(region, np.ones((width, width), np.uint8))


def hole_fill(face):
    """The grey a hole is filled with: mid grey over the face's area (``face``, 0-1, a NumPy
    array or a TensorFlow tensor), OUTSIDE_FACE_GREY beyond it. Training and predict both fill
    their holes with it."""
    return 0.5 * face + OUTSIDE_FACE_GREY * (1.0 - face)


@dataclass
class Pair:
    """One pair as it is written: its manifest record and its three images as PNG bytes (made
    in generate's workers, so that the encoding runs in parallel)."""

    record: dict              # the manifest line
    files: dict[str, bytes]   # KINDS_OF_FILE -> PNG

    @classmethod
    def encode(cls, pair_id: str, split: str, source: str, face: int, identity: str,
               mask: dict, seed: list[int], masked: np.ndarray, clean: np.ndarray,
               region: np.ndarray) -> "Pair":
        """``mask`` is the drawn mask's description (``MaskSpec.describe``), ``seed`` what its
        random draws came from; the images are uint8 RGB, RGB and L."""
        record = {"id": pair_id, "split": split, "source": source, "face": face,
                  "identity": identity, "mask": mask, "seed": seed}
        images = dict(zip(KINDS_OF_FILE, (masked, clean, region)))
        return cls(record, {kind: png_bytes(image) for kind, image in images.items()})


def png_bytes(array: np.ndarray) -> bytes:
    """A uint8 image (RGB or L) as PNG bytes, compressed fast (level 1): how every file of a
    pair (and its face area, ``mask2face.face_areas``) is written."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@dataclass
class PairSet:
    """The files of some pairs, in step: inputs[i], outputs[i] and masks[i] are one pair;
    faces[i] its face's area where the split has them all (else None)."""

    inputs: list[str]
    outputs: list[str]
    masks: list[str]
    identities: list[str]
    faces: list[str] | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, keep: Iterable[int]) -> "PairSet":
        keep = list(keep)
        faces = None if self.faces is None else [self.faces[i] for i in keep]
        return PairSet(*[[values[i] for i in keep] for values in
                         (self.inputs, self.outputs, self.masks, self.identities)], faces)


def read_manifest(root: str | Path) -> list[dict]:
    """The manifest's records (none when there is no manifest); a torn or foreign line is
    skipped."""
    path = Path(root) / MANIFEST
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "id" in record:
                records.append(record)
    return records


def list_pairs(split_dir: str | Path) -> PairSet:
    """The pairs of one split folder (``<root>/train`` or ``<root>/test``), matched by name;
    identities from the manifest beside it (else each pair is its own identity).

    Raises:
        UsageError: the folder holds no complete pairs.
    """
    split_dir = Path(split_dir)
    folders = [split_dir / kind for kind in KINDS_OF_FILE]
    if not all(f.is_dir() for f in folders):
        raise UsageError(f"no pairs in {split_dir}: make them with 'python -m mask2face.generate "
                         f"--output {split_dir.parent}', or unpack a pack of them there with "
                         f"'python -m mask2face.pack --unpack PACK {split_dir.parent}'")
    names = sorted(set.intersection(*[{p.name for p in f.glob("*.png")} for f in folders]))
    if not names:
        raise UsageError(f"no complete pairs (inputs/, outputs/, masks/) in {split_dir}")
    identities = {r["id"] + ".png": str(r.get("identity", r["id"]))
                  for r in read_manifest(split_dir.parent)}
    faces_dir = split_dir / FACES
    faces = [str(faces_dir / n) for n in names] \
        if all((faces_dir / n).is_file() for n in names) else None
    return PairSet(*[[str(folder / n) for n in names] for folder in folders],
                   [identities.get(n, Path(n).stem) for n in names], faces)


def mask_kinds(split_dir: str | Path) -> dict[str, str]:
    """Pair id -> the kind of mask drawn on it, from the manifest (empty if none)."""
    kinds = {}
    for record in read_manifest(Path(split_dir).parent):
        mask = record.get("mask")
        kind = mask.get("kind") if isinstance(mask, dict) else None
        if kind:
            kinds[record["id"]] = kind
    return kinds


def photo_sources(split_dir: str | Path) -> dict[str, str]:
    """Pair id -> the photo set it came from, from the manifest (empty if none): the folder
    holding the person folders (LFW's ``lfw-deepfunneled``) or, for a photo that is its own
    identity, the folder holding the photo (``utkface-train``)."""
    sources = {}
    for record in read_manifest(Path(split_dir).parent):
        source = record.get("source")
        if isinstance(source, str) and source:
            path = Path(source)
            own = str(record.get("identity", "")) == path.stem
            sources[record["id"]] = (path.parent if own else path.parent.parent).name
    return sources


def drop_torn_last_line(path: Path) -> None:
    """Cut a last line that a kill left half-written (every complete line ends with a newline):
    the photo it belonged to is then redone."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning("%s: dropping an incomplete last line (an interrupted run); its photo is "
                    "done again", path)
        with open(path, "r+b") as handle:
            handle.truncate(keep)


class PairWriter:
    """Writes pairs into a pairs folder: files atomically, the manifest once a photo is
    complete, and the photos that gave no pair in skipped.csv."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for split in SPLITS:
            for kind in KINDS_OF_FILE:
                (root / split / kind).mkdir(parents=True, exist_ok=True)
        for stale in root.glob("*/*/.tmp-*"):
            stale.unlink()
        self.manifest = root / MANIFEST
        self.skipped_file = root / SKIPPED
        for appended in (self.manifest, self.skipped_file):
            drop_torn_last_line(appended)

    def done(self) -> tuple[set[int], Counter]:
        """Photo numbers already finished (paired or skipped), and pairs per split written."""
        finished, counts = set(), Counter()
        for record in read_manifest(self.root):
            finished.add(int(record["id"].split("_")[0]))
            counts[record["split"]] += 1
        for row in self._skipped_rows():
            finished.add(int(row["number"]))
        return finished, counts

    def write(self, split: str, pairs: Sequence[Pair]) -> int:
        """Write one photo's pairs; returns how many were written."""
        for pair in pairs:
            name = pair.record["id"] + ".png"
            for kind, data in pair.files.items():
                atomic_write(self.root / split / kind / name, data)
        lines = "".join(json.dumps(p.record) + "\n" for p in pairs)
        with open(self.manifest, "a") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        return len(pairs)

    def skip(self, number: int, source: str, reason: str) -> None:
        new = not self.skipped_file.exists()
        with open(self.skipped_file, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["number", "source", "reason"])
            writer.writerow([number, source, reason])

    def skipped_with(self, reasons: Sequence[str]) -> list[tuple[str, str]]:
        """(source, reason) of the photos listed in skipped.csv (this run and earlier ones)
        whose reason starts with one of ``reasons``."""
        return [(row["source"], row["reason"]) for row in self._skipped_rows()
                if row["reason"].split(":")[0] in reasons]

    def _skipped_rows(self) -> list[dict]:
        if not self.skipped_file.exists():
            return []
        with open(self.skipped_file, newline="") as handle:
            return list(csv.DictReader(handle))
