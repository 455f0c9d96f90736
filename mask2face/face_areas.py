"""Each training pair's face area, for a model trained with ``training.face_outline``.

::

    python -m mask2face.face_areas data/pairs [--workers K]

For every pair in ``<pairs>/train`` and ``<pairs>/test`` it writes ``faces/<id>.png``: the 68
points' hull (``landmarks.face_area``) as predict's face finder fits them on the *masked* input,
so that the model learns from the same outline, with the same errors, that predict will show
it. Where the finder finds no face the whole crop is written as face (the plain grey hole).
Pairs that have their file already are skipped: a run that was stopped goes on where it was.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from mask2face.config import Config, load_config
from mask2face.errors import UsageError
from mask2face.landmarks import face_area
from mask2face.pairs import FACES, SPLITS, list_pairs
from mask2face.parallel import map_spawned, start_worker, worker

log = logging.getLogger(__name__)


def face_area_of(finder, masked: np.ndarray) -> tuple[np.ndarray, bool]:
    """(uint8 face area, found) for a masked RGB uint8 crop: the face nearest its centre."""
    faces = finder.find(masked)
    size = masked.shape[0]
    if not faces:
        return np.full(masked.shape[:2], 255, np.uint8), False
    centre = np.array([masked.shape[1], masked.shape[0]], np.float64) / 2
    nearest = min(faces, key=lambda f: float(np.hypot(*(f.landmarks.mean(axis=0) - centre))))
    return np.round(face_area(nearest.landmarks, size) * 255).astype(np.uint8), True


def _one(paths: tuple[str, str]) -> str:
    """Write one pair's face area; 'found', 'no face' or the error's line."""
    from mask2face.images import atomic_write, read_image
    from mask2face.pairs import png_bytes

    source, target = paths
    try:
        masked = read_image(source)
        if masked.shape[0] != masked.shape[1]:
            return f"{Path(source).name}: not a square pair crop"
        area, found = face_area_of(worker.finder, masked)
        atomic_write(target, png_bytes(area))
        return "found" if found else "no face"
    except Exception as error:  # one bad pair must not stop the rest
        return f"{Path(source).name}: {error}"


def write_face_areas(config: Config, root: str | Path, workers: int = 1) -> dict:
    """Write the missing face areas under ``root`` (both splits); returns the counts
    ('found', 'no face', 'already there') and 'failed': the error line of each pair that
    could not be done."""
    root = Path(root)
    tasks = []
    counts = {"found": 0, "no face": 0, "already there": 0, "failed": []}
    splits = [s for s in SPLITS if (root / s / "inputs").is_dir()]
    if not splits:
        raise UsageError(f"no pairs in {root}: make them with 'python -m mask2face.generate "
                         f"--output {root}'")
    for split in splits:
        pairs = list_pairs(root / split)
        (root / split / FACES).mkdir(exist_ok=True)
        for source in pairs.inputs:
            target = root / split / FACES / Path(source).name
            if target.is_file():
                counts["already there"] += 1
            else:
                tasks.append((source, str(target)))
    detector = config.predict.detector(None)
    if workers <= 1:
        worker.start(config.to_dict(), detector)
        results = map(_one, tasks)
    else:
        results = map_spawned(_one, tasks, workers, start_worker, (config.to_dict(), detector),
                              chunksize=16)
    for done, outcome in enumerate(results, 1):
        if outcome in ("found", "no face"):
            counts[outcome] += 1
        else:
            counts["failed"].append(outcome)
        if done % 1000 == 0:
            log.info("%d of %d pairs", done, len(tasks))
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, make_parser, run_command

    parser = make_parser("face_areas", "Write each pair's face area (for training.face_outline).")
    add_config_argument(parser)
    parser.add_argument("pairs", metavar="PAIRS_FOLDER", help="the pairs folder (train/, test/)")
    parser.add_argument("--workers", type=int, default=1, metavar="K", help="processes")

    def command(args: argparse.Namespace) -> int:
        config = load_config(args.config)
        counts = write_face_areas(config, args.pairs, args.workers)
        failed = counts.pop("failed")
        log.info("face areas: %s", ", ".join(f"{v} {k}" for k, v in counts.items()))
        for line in failed:
            log.error("%s", line)
        return 1 if failed else 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
