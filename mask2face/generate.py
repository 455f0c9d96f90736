"""Photos -> training pairs: ``python -m mask2face.generate``.

For each photo: find every face, draw a mask, cut the masked and the clean face with the same
eye-levelled transform, and write the triple (inputs/, outputs/, masks/ with identical names).

Reproducible and resumable: photos are processed in one fixed order and each face draws its
mask from a generator seeded by (seed, photo number, face number), so the output depends on
neither the number of workers nor interruptions. Files are written under temporary names and
renamed; a photo's manifest lines are appended only once all its triples exist. Run again with
the same arguments and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from mask2face.batch import BatchReport
from mask2face.config import Config, load_config
from mask2face.datasets import SourcePhoto, resolve_sources
from mask2face.errors import ImageReadError, Mask2FaceError, UsageError
from mask2face.pairs import (MANIFEST, SETTINGS_FILE, SKIPPED, SPLITS, Pair, PairSet, PairWriter,
                             list_pairs)
from mask2face.parallel import WorkerLost, folder_lock, map_spawned, start_worker, worker

log = logging.getLogger(__name__)



@dataclass
class PairResult:
    """What one photo gave: encoded triples, or why it was skipped."""

    index: int
    photo: SourcePhoto
    split: str
    pairs: list[Pair] = field(default_factory=list)
    skipped: str | None = None


# ---------------------------------------------------------------------------- planning

def split_photos(photos: list[SourcePhoto], test_fraction: float,
                 seed: int) -> list[tuple[SourcePhoto, str]]:
    """Assign each photo a split, by identity: nobody is in both (a dataset's own split wins)."""
    if all(p.split for p in photos):
        return [(p, p.split) for p in photos]
    identities = sorted({p.identity for p in photos})
    if len(identities) == 1:
        log.warning("all photos share one identity (%s): splitting by photo, so the same "
                    "person is in train and test", identities[0])
        order = np.random.default_rng(seed).permutation(len(photos))
        n_test = int(round(len(photos) * test_fraction))
        test = set(order[:n_test].tolist())
        return [(p, "test" if i in test else "train") for i, p in enumerate(photos)]
    order = np.random.default_rng(seed).permutation(len(identities))
    n_test = max(1, int(round(len(identities) * test_fraction))) if test_fraction > 0 else 0
    test_ids = {identities[i] for i in order[:n_test]}
    return [(p, "test" if p.identity in test_ids else "train") for p in photos]


def plan(config: Config) -> list[tuple[int, SourcePhoto, str]]:
    """(photo number, photo, split) in processing order: a seeded shuffle of all photos.

    Each source is split on its own, so adding a source leaves the others' test people as
    they were (a model trained on one source is still judged on people it never saw)."""
    assigned = [pair for photos in resolve_sources(config.data.input_images_path,
                                                   config.data.data_path)
                for pair in split_photos(photos, config.data.test_fraction, config.data.seed)]
    order = np.random.default_rng(config.data.seed + 1).permutation(len(assigned))
    return [(int(i), *assigned[i]) for i in order]


# ------------------------------------------------------------------------------ worker

def make_pairs(index: int, photo: SourcePhoto, split: str) -> PairResult:
    """Read one photo and make a pair for each face big enough (runs in a worker)."""
    from mask2face.faces import face_crop
    from mask2face.images import read_image
    from mask2face.masks import apply_mask, spec_from_config

    config: Config = worker.config
    result = PairResult(index, photo, split)
    try:
        image = read_image(photo.path, config.faces.max_image_pixels)
    except ImageReadError as e:
        result.skipped = f"unreadable: {str(e).split(': ', 1)[-1]}"
        return result
    faces = worker.finder.find(image)
    if not faces:
        result.skipped = "no face"
        return result
    big = [f for f in faces if min(f.box[2] - f.box[0], f.box[3] - f.box[1])
           >= config.data.min_face_size]
    if not big:
        result.skipped = f"faces too small (under min_face_size {config.data.min_face_size} px)"
        return result
    if config.data.verify_faces:
        from mask2face.faces import VERIFY_MIN_SCORE
        big = [f for f in big if worker.finder.verify_score(image, f) >= VERIFY_MIN_SCORE]
        if not big:
            result.skipped = "no face (only face-like patterns, rejected by verify_faces)"
            return result
    size, margin = config.data.image_size, config.data.crop_margin
    for number, face in enumerate(big):
        seed = [config.data.seed, index, number]
        rng = np.random.default_rng(seed)
        spec = spec_from_config(config.masks, rng, worker.templates)
        crop = face_crop(face.landmarks, size, margin)
        clean = crop.apply(image)
        masked, region = apply_mask(clean, crop.to_crop(face.landmarks), spec, rng)
        result.pairs.append(Pair.encode(f"{index:06d}_{number}", split, str(photo.path), number,
                                        photo.identity, spec.describe(), seed, masked, clean,
                                        region))
    return result


def _run_one(task: tuple[int, SourcePhoto, str]) -> PairResult:
    try:
        return make_pairs(*task)
    except Mask2FaceError:
        raise
    except Exception as e:  # one bad photo must not stop a long batch
        log.debug("failed on %s", task[1].path, exc_info=True)
        return PairResult(task[0], task[1], task[2], skipped=f"error: {type(e).__name__}: {e}")


# ------------------------------------------------------------------------------- driver

def _settings(config: Config) -> dict:
    """What decides the content of the pairs; a resumed run must match it."""
    data = config.to_dict()
    # Where the pairs are and how many processes made them do not change them.
    return {"data": {k: v for k, v in data["data"].items() if k not in ("workers", "pairs_path")},
            "faces": data["faces"], "masks": data["masks"]}


def _results(tasks: list, config: Config, workers: int) -> Iterator[PairResult]:
    if workers <= 1:
        start_worker(config.to_dict())
        yield from map(_run_one, tasks)
        return
    yield from map_spawned(_run_one, tasks, workers, start_worker, (config.to_dict(),))


@dataclass
class PairReport(BatchReport):
    """A generate run: ``written`` lists the photos that gave pairs, ``skipped`` those without a
    usable face, ``failed`` those unreadable or failed (this run's and, when it resumed one,
    the earlier runs'), ``pairs`` the pairs in each split."""

    pairs: dict[str, int] = field(default_factory=dict)
    output: str = ""

    def counts(self) -> dict:
        return {**super().counts(), "pairs": dict(self.pairs), "output": self.output}


def generate(config: Config, overwrite: bool = False) -> PairReport:
    """Generate pairs into ``config.data.pairs_path``.

    Args:
        config: the configuration (data, faces and masks sections are used).
        overwrite: delete what is in the output folder and start over.

    Raises:
        UsageError: the source is missing, the output holds pairs made with other settings, or
            another run is writing there.
    """
    tasks = plan(config)  # a missing source fails here, before the output folder is made
    with folder_lock(config.data.pairs_path):
        return _generate(config, tasks, overwrite)


def _generate(config: Config, tasks: list, overwrite: bool = False) -> PairReport:
    out = Path(config.data.pairs_path)
    from mask2face.masks import check_kind, load_templates
    from mask2face.masks.patterns import check_pattern
    check_kind(config.masks.mask_type, load_templates(config.masks.mask_templates_path))
    check_pattern(config.masks.mask_pattern)
    settings_path = out / SETTINGS_FILE
    if overwrite and out.exists():
        for name in (*SPLITS, MANIFEST, SKIPPED, SETTINGS_FILE):
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    settings = _settings(config)
    if settings_path.exists():
        saved = json.loads(settings_path.read_text())
        saved["data"].pop("pairs_path", None)  # written by earlier versions
        if saved != settings:
            differ = [f"{key} ({saved.get(section, {}).get(key)!r} there, {value!r} now)"
                      for section, values in settings.items() for key, value in values.items()
                      if saved.get(section, {}).get(key) != value]
            raise UsageError(f"{out} holds pairs made with other settings: "
                             f"{'; '.join(differ) or 'other keys'}; use --overwrite to start "
                             f"over, or another --output")
    try:
        writer = PairWriter(out)
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {e.strerror}") from None

    wanted = {"train": config.data.train_image_count, "test": config.data.test_image_count}
    finished, counts = writer.done()
    if finished:
        log.info("resuming: %d photos already done (%s)", len(finished),
                 ", ".join(f"{counts[s]} {s} pairs" for s in SPLITS))
    # Photos are taken in order until each split has its count; those past a full split wait.
    todo = [t for t in tasks if t[0] not in finished]
    workers = config.data.workers or os.cpu_count() or 1
    report = PairReport(output=str(out))
    bar = tqdm(total=sum(wanted.values()), initial=sum(min(counts[s], wanted[s]) for s in SPLITS),
               unit="pair", desc="pairs", disable=None)
    try:
        pending = [t for t in todo if counts[t[2]] < wanted[t[2]]]
        for result in _results(pending, config, workers):
            room = wanted[result.split] - counts[result.split]
            if room <= 0:
                if all(counts[s] >= wanted[s] for s in SPLITS):
                    break
                continue
            try:
                if result.skipped:
                    writer.skip(result.index, str(result.photo.path), result.skipped)
                    written = 0
                else:
                    written = writer.write(result.split, result.pairs[:room])
            except OSError as e:
                raise UsageError(f"cannot write pairs to {out}: {e.strerror}; the "
                                 f"{sum(counts.values())} pairs written before are intact") from None
            counts[result.split] += written
            bar.update(written)
            reason = (result.skipped or "").split(":")[0]
            if written:
                report.written.append(str(result.photo.path))
            elif reason not in FAILED_REASONS:  # failures are read back from the writer's list
                report.skip(result.photo.path, reason)
    except WorkerLost as e:
        raise WorkerLost(f"{e}: the {sum(counts.values())} pairs written are kept in {out}; "
                         f"run the same command again to continue") from None
    finally:
        bar.close()
    for split in SPLITS:
        if counts[split] < wanted[split]:
            log.warning("%s: %d pairs asked for, only %d available", split, wanted[split],
                        counts[split])
    report.pairs = {s: counts[s] for s in SPLITS}
    for source, reason in writer.skipped_with(FAILED_REASONS):
        report.fail(source, f"{source}: {reason}")
    log.info("pairs written: %s; photos skipped: %s%s",
             ", ".join(f"{s} {counts[s]}" for s in SPLITS),
             ", ".join([f"{len(p)} {r}" for r, p in report.skipped.items()]
                       + [f"{len(report.failed)} unreadable or failed"] * bool(report.failed))
             or "none",
             f" (see {writer.skipped_file})" if writer.skipped_file.exists() else "")
    return report


# Skip reasons that mean the input failed (the command exits 1); a photo without a usable face
# is skipped, which is not a failure.
FAILED_REASONS = ("unreadable", "error")


class DataGenerator:
    """The generator's object interface (as in the original mask2face article)."""

    def __init__(self, configuration: Config | str | Path | None = None) -> None:
        self.configuration = configuration if isinstance(configuration, Config) else \
            load_config(configuration)

    def generate_images(self, overwrite: bool = False) -> dict:
        return generate(self.configuration, overwrite=overwrite)

    def get_dataset_examples(self, n: int = 10, test_dataset: bool = False
                             ) -> tuple[list[str], list[str]]:
        """Paths of ``n`` (masked input, clean output) pairs of the train or test split."""
        folder = Path(self.configuration.data.pairs_path) / ("test" if test_dataset else "train")
        pairs = list_pairs(folder)
        return pairs.inputs[:n], pairs.outputs[:n]

    def get_pairs(self, n: int = 10, test_dataset: bool = False) -> "PairSet":
        """The first ``n`` pairs of the train or test split: inputs, outputs, masks, identities."""
        folder = Path(self.configuration.data.pairs_path) / ("test" if test_dataset else "train")
        pairs = list_pairs(folder)
        return pairs.subset(range(min(n, len(pairs))))


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, make_parser, overrides, run_command

    parser = make_parser("generate", "Make masked / clean / mask-region pairs.")
    add_config_argument(parser)
    parser.add_argument("--input", dest="input_images_path", metavar="PATH_OR_DATASET",
                        help="a photo folder, 'lfw' or 'celeba'")
    parser.add_argument("--output", dest="pairs_path", metavar="DIR", help="pairs folder")
    parser.add_argument("--train-count", dest="train_image_count", type=int, metavar="N")
    parser.add_argument("--test-count", dest="test_image_count", type=int, metavar="N")
    parser.add_argument("--image-size", dest="image_size", type=int, metavar="S")
    parser.add_argument("--mask-type", dest="mask_type", metavar="T")
    parser.add_argument("--workers", type=int, metavar="K", help="processes (0 = CPU cores)")
    parser.add_argument("--seed", type=int, metavar="S")
    parser.add_argument("--overwrite", action="store_true", help="start over")
    keys = ["input_images_path", "pairs_path", "train_image_count", "test_image_count",
            "image_size", "mask_type", "workers", "seed"]

    def command(args: argparse.Namespace) -> int:
        config = load_config(args.config, **overrides(args, keys))
        report = generate(config, overwrite=args.overwrite)
        if config.data.train_image_count and not report.pairs["train"]:
            log.error("no training pairs were made: no photo gave a usable face")
            return 1
        if report.failed:
            failed = len(report.failed)
            log.warning("%d photo%s could not be used (unreadable or failed; listed in %s)",
                        failed, "s" * (failed != 1), Path(report.output) / SKIPPED)
        return report.exit_code

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
