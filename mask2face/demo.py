"""The whole pipeline offline, in a few minutes on a CPU: ``python -m mask2face.demo``.

It needs no network and no dataset: the two face photos that the dependencies ship
(scikit-image's astronaut, matplotlib's Grace Hopper) are turned into a small varied set (crops,
flips, rotations, colour changes), pairs are generated with several mask kinds, a small model is
trained, a held-out masked photo is unmasked and an evaluation report is written.

A model trained on two faces shows that the pipeline works end to end; it says nothing about
what a model trained on CelebA or LFW can do.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mask2face.config import Config, load_config

log = logging.getLogger(__name__)

DISCLAIMER = ("This model was trained on variations of two photos: it shows that the pipeline "
              "works end to end, not what a model trained on CelebA or LFW can do. The "
              "'held-out' photo is a new variation of a sample photo it trained on; the shipped "
              "model (trained on LFW) never saw this person.")


@dataclass
class DemoSettings:
    """Sizes of one demo run: ``full`` fits in about 5 minutes on a 2-core CPU; ``quick`` is a
    smoke run for tests and the notebook's QUICK mode."""

    variants_per_group: int
    groups_per_photo: int
    image_size: int
    filters: tuple
    kernels: tuple
    epochs: int
    batch_size: int


FULL = DemoSettings(variants_per_group=14, groups_per_photo=4, image_size=128,
                    filters=(24, 32, 48, 64, 96), kernels=(5, 5, 3, 3, 3), epochs=80,
                    batch_size=8)
QUICK = DemoSettings(variants_per_group=3, groups_per_photo=2, image_size=64,
                     filters=(8, 16, 32), kernels=(3, 3, 3), epochs=2, batch_size=8)


def vary(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One variation of a photo: crop, flip, small rotation, colour and brightness change."""
    import cv2

    h, w = photo.shape[:2]
    if rng.random() < 0.5:
        photo = photo[:, ::-1]
    angle = rng.uniform(-15, 15)
    scale = rng.uniform(0.9, 1.15)
    matrix = cv2.getRotationMatrix2D((w / 2 + rng.uniform(-20, 20), h / 2), angle, scale)
    photo = cv2.warpAffine(np.ascontiguousarray(photo), matrix, (w, h),
                           borderMode=cv2.BORDER_REFLECT)
    x0, y0 = rng.integers(0, w // 8), rng.integers(0, h // 8)
    photo = photo[y0:y0 + h - h // 8, x0:x0 + w - w // 8]
    tint = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.85, 1.15)
    return np.clip(photo.astype(np.float32) * tint, 0, 255).astype(np.uint8)


def make_demo_photos(folder: str | Path, settings: DemoSettings = FULL, seed: int = 0) -> Path:
    """Write the varied photo set: one sub-folder per group of variations (a stand-in for a
    person's identity, so the train/test split has groups to separate)."""
    from mask2face.images import sample_photos, write_image

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for name, photo in sample_photos().items():
        for group in range(settings.groups_per_photo):
            for i in range(settings.variants_per_group):
                write_image(folder / f"{name}_{group}" / f"{i:03d}.jpg", vary(photo, rng),
                            quality=92)
    return folder


def held_out_photo(seed: int = 99) -> np.ndarray:
    """A Grace Hopper variation none of the demo's photos repeat, wearing a mask drawn by
    mask2face."""
    from mask2face.config import MasksConfig
    from mask2face.faces import get_face_finder
    from mask2face.images import sample_photos
    from mask2face.masks import apply_mask, spec_from_config

    rng = np.random.default_rng(seed)
    photo = vary(sample_photos()["grace_hopper"], rng)
    face = get_face_finder().find(photo)[0]
    spec = spec_from_config(MasksConfig(mask_type="surgical", mask_color="#7fb3d8",
                                        mask_color_weight=1.0), rng)
    return apply_mask(photo, face.landmarks, spec, rng)[0]


def demo_config(out: str | Path, settings: DemoSettings = FULL) -> Config:
    """The configuration of a demo run in ``out``."""
    out = Path(out)
    count = 2 * settings.groups_per_photo * settings.variants_per_group
    return load_config(
        None, input_images_path=str(out / "photos"), pairs_path=str(out / "pairs"),
        image_size=settings.image_size, train_image_count=count, test_image_count=count,
        test_fraction=0.25, min_face_size=40, workers=2, mask_type="random",
        filters=settings.filters, kernels=settings.kernels, epochs=settings.epochs,
        batch_size=settings.batch_size, learning_rate=2e-3, lr_schedule="cosine",
        validation_fraction=0.2, early_stopping_patience=max(5, settings.epochs // 4),
        model_dir=str(out / "models"), test_results_dir=str(out / "report"))


def run_demo(out: str | Path = "data/demo", quick: bool = False) -> dict:
    """Run every stage; returns where the results are."""
    from mask2face.evaluate import evaluate
    from mask2face.generate import generate
    from mask2face.images import write_image
    from mask2face.predict import Unmasker
    from mask2face.train import train

    settings = QUICK if quick else FULL
    out = Path(out)
    started = time.perf_counter()
    config = demo_config(out, settings)
    log.info("1/5 photos: variations of the two sample photos in %s", out / "photos")
    make_demo_photos(out / "photos", settings)
    log.info("2/5 pairs: drawing masks and cutting faces")
    summary = generate(config, overwrite=True)
    log.info("3/5 training a small model (%d epochs, %d px)", settings.epochs,
             settings.image_size)
    run = train(config, log_every=10)  # a new run folder under <out>/models/
    log.info("4/5 unmasking a held-out photo")
    unmasker = Unmasker.load(run)
    before = held_out_photo()
    after = unmasker.unmask(before)
    write_image(out / "before.jpg", before, quality=95)
    write_image(out / "after.jpg", after, quality=95)
    write_image(out / "before_after.jpg", np.hstack([before, after]), quality=95)
    from mask2face.predict import BUNDLED_MODEL
    if (BUNDLED_MODEL / "model.keras").exists():
        shipped = Unmasker.load(BUNDLED_MODEL).unmask(before)
        write_image(out / "before_after_shipped.jpg", np.hstack([before, after, shipped]),
                    quality=95)
    log.info("5/5 evaluating on the test pairs")
    metrics = evaluate(unmasker, out / "pairs" / "test", out / "report")
    seconds = time.perf_counter() - started
    result = {"photos": str(out / "photos"), "pairs": summary.pairs, "run": str(run),
              "before_after": str(out / "before_after.jpg"),
              "before_after_shipped": str(out / "before_after_shipped.jpg"),
              "report": str(out / "report" / "report.md"), "seconds": round(seconds, 1),
              "psnr_mask": round(metrics["model"]["psnr_mask"], 2),
              "telea_psnr_mask": round(metrics["telea"]["psnr_mask"], 2)}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import make_parser, require, run_command

    parser = make_parser("demo", "Run the whole pipeline offline on the sample photos.")
    parser.add_argument("--output", default="data/demo", metavar="DIR",
                        help="where everything goes (default: data/demo)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")

    def command(args: argparse.Namespace) -> int:
        require("keras", "skimage", "matplotlib")  # the train extra
        result = run_demo(args.output, args.quick)
        print(f"\nDone in {result['seconds']:.0f} s. {DISCLAIMER}")
        print(f"  before | after:  {result['before_after']}")
        print(f"  before | after | shipped LFW model:  {result['before_after_shipped']}")
        print(f"  report:          {result['report']}")
        print(f"  trained model:   {result['run']}")
        print(f"  pairs:           {args.output}/pairs ({result['pairs']['train']} train, "
              f"{result['pairs']['test']} test)")
        print(json.dumps(result))
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
