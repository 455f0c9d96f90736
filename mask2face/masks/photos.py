"""Masks on a user's own photos: ``mask_photo`` for one photo, ``mask_files`` for a batch
(``python -m mask2face.masks PHOTOS``).

Each face draws its mask from a generator seeded by (seed, the photo's path relative to its
input, the face's number), so a photo gets the same mask whatever else is in the batch and
whatever the number of workers.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mask2face.batch import BatchReport
from mask2face.parallel import map_spawned, start_worker, worker

if TYPE_CHECKING:
    from mask2face.config import Config, MasksConfig
    from mask2face.faces import FaceFinder
    from mask2face.masks.templates import TemplateSet

log = logging.getLogger(__name__)


@dataclass
class MaskedPhoto:
    image: np.ndarray    # the photo with a mask on every face chosen, same size
    region: np.ndarray   # (H, W) uint8, 255 where a mask covers a face
    faces: list          # the Face of each masked face
    kinds: list          # the mask kind drawn on each


def mask_photo(image: np.ndarray, finder: "FaceFinder", masks_config: "MasksConfig",
               templates: "TemplateSet | None" = None, seed: int | Sequence[int] = 0,
               largest_face: bool = False) -> MaskedPhoto:
    """Draw a mask on every face of a photo (or on the largest one).

    Args:
        image: (H, W, 3) uint8 RGB photo.
        finder: the face finder (``mask2face.faces.get_face_finder``).
        masks_config: kinds, colours and patterns (``random`` draws per face from the seed).
        templates: MaskTheFace templates, when ``mask_templates_path`` is set.
        seed: the photo's seed; face n draws from ``(*seed, n)``.
        largest_face: mask only the largest face.

    Returns:
        A MaskedPhoto; ``faces`` is empty when no face was found (the image is then a copy).
    """
    from mask2face.masks import apply_mask, spec_from_config

    faces = finder.find(image)
    if largest_face:
        faces = faces[:1]  # find() returns the largest first
    out, region, kinds = image.copy(), np.zeros(image.shape[:2], np.uint8), []
    base = list(np.atleast_1d(seed))
    for number, face in enumerate(faces):
        rng = np.random.default_rng([*base, number])
        spec = spec_from_config(masks_config, rng, templates)
        out, face_region = apply_mask(out, face.landmarks, spec, rng)
        region = np.maximum(region, face_region)
        kinds.append(spec.kind)
    return MaskedPhoto(out, region, faces, kinds)


# ------------------------------------------------------------------------------ batches

def _mask_one(task: tuple) -> tuple[str, str, int, list]:
    """(photo, outcome, faces masked, kinds): outcome is 'written' or why the photo failed."""
    from mask2face.errors import ImageReadError
    from mask2face.images import DRAWN_MASK, read_photo, save_like, write_image

    photo, target, relative, options = task
    target = Path(target)
    config: Config = worker.config
    try:
        source = read_photo(photo, config.faces.max_image_pixels)
        image = source.rgb
        seed = [config.data.seed, zlib.crc32(relative.encode())]
        result = mask_photo(image, worker.finder, config.masks, worker.templates, seed,
                            options["largest_face"])
        if not result.faces:
            return str(photo), "no face", 0, []
        save_like(target, result.image, source, DRAWN_MASK)  # the photo's own kind
        if options["save_region"]:
            write_image(target.with_name(f"{target.stem}_region.png"), result.region)
        if options["write_original"]:
            save_like(target.with_name(f"{target.stem}_original{target.suffix}"), image, source,
                      None)
        return str(photo), "written", len(result.faces), result.kinds
    except ImageReadError as e:
        return str(photo), f"unreadable: {str(e).split(': ', 1)[-1]}", 0, []
    except Exception as e:  # one odd photo must not stop the batch
        return str(photo), f"error: {type(e).__name__}: {e}", 0, []


@dataclass
class MaskReport(BatchReport):
    """A masks batch: the photos' outcomes, the faces masked and the kinds drawn on them."""

    faces: int = 0
    kinds: Counter = field(default_factory=Counter)

    def counts(self) -> dict:
        return {**super().counts(), "faces": self.faces}


def mask_files(config: "Config", inputs: Sequence[str], output: str | None = None,
               detector: str | None = None, largest_face: bool = False,
               save_region: bool = False, write_original: bool = False,
               overwrite: bool = False, workers: int = 1) -> MaskReport:
    """Mask every face in photos and folders. A photo without a face, or one that cannot be
    read, fails (it is reported, and the batch goes on).

    One photo in: a file (default ``<name>_masked.<ext>``); several or a folder: a folder
    (default ``masked/``) mirroring the input tree. Results that exist are kept (the photo is
    skipped) unless ``overwrite``.
    """
    from tqdm.auto import tqdm

    from mask2face.predict import RESULT_EXISTS, plan_outputs

    plan = plan_outputs(inputs, output, suffix="_masked", folder="masked")
    roots = [Path(p) for p in inputs]
    options = dict(largest_face=largest_face, save_region=save_region,
                   write_original=write_original)
    report = MaskReport()
    tasks = []
    for photo, target in plan:
        if target.exists() and not overwrite:
            report.skip(photo, RESULT_EXISTS)
            continue
        relative = next((photo.relative_to(r).as_posix() for r in roots
                         if r.is_dir() and r in photo.parents), photo.name)
        tasks.append((str(photo), str(target), relative, options))
    detector = config.predict.detector(detector)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(tasks) <= 1:
        start_worker(config.to_dict(), detector)
        results = map(_mask_one, tasks)
    else:
        results = map_spawned(_mask_one, tasks, workers, start_worker,
                              (config.to_dict(), detector), chunksize=2)
    targets = {task[0]: task[1] for task in tasks}
    reasons = Counter()
    for photo, outcome, count, drawn in tqdm(results, total=len(tasks), unit="photo",
                                              disable=None if len(tasks) > 1 else True):
        if outcome == "written":
            report.written.append(targets[photo])
            report.faces += count
            report.kinds.update(drawn)
        else:
            report.fail(photo, f"{photo}: {outcome}")
            reasons[outcome.split(":")[0]] += 1
            log.debug("%s: %s", photo, outcome)  # listed with the others when the batch ends
    where = ""
    if len(report.written) == 1:
        where = f", written to {report.written[0]}"
    elif report.written:
        where = f", written under {os.path.commonpath(report.written)}"
    log.info("%d photos: %d masked (%d faces)%s; %s", len(plan), len(report.written),
             report.faces, where,
             ", ".join([f"{n} {r}" for r, n in reasons.items()]
                       + [f"{len(p)} {r}" for r, p in report.skipped.items()])
             or "none failed or skipped")
    return report
