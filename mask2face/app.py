"""``python -m mask2face.app``: a local web page to unmask photos (Gradio).

The page takes a photo (upload, paste or one of the bundled examples), shows the result beside
it with a before/after slider, the faces found with their boxes and, on request, the predicted
mask region; the result downloads in the input's format and size. The same function is served
over Gradio's API as ``/unmask`` (an image file in; the unmasked image and a JSON summary out)::

    from gradio_client import Client, handle_file
    image, summary = Client("http://127.0.0.1:7860/").predict(handle_file("masked.jpg"),
                                                               api_name="/unmask")

The model is loaded once; requests are served one at a time (one model call at a time suits a
CPU); uploads and results live in a temporary folder removed when the app stops. Needs the
``app`` extra: ``pip install -e ".[app]"``.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mask2face.config import DETECTOR_CHOICES, key_range
from mask2face.detectors import parse_detector
from mask2face.errors import ImageReadError, UsageError
from mask2face.images import IMAGE_SUFFIXES

if TYPE_CHECKING:
    import gradio as gr

    from mask2face.paste import FaceResult
    from mask2face.predict import Unmasker

log = logging.getLogger(__name__)

MAX_UPLOAD = "20mb"
# The page refuses larger photos (a 32 KB PNG can hold 100 M pixels: 1.9 GB to unmask); the
# command line keeps faces.max_image_pixels. 40 M pixels is a 7700 x 5200 photo.
PAGE_MAX_PIXELS = 40_000_000
# Result files of this many recent requests stay on disk (a download may still come for them);
# older ones are removed. Gradio's own copies are removed by age (CACHE_CLEANUP).
KEEP_RESULTS = 8
CACHE_CLEANUP = (300, 900)  # every 5 minutes, files older than 15
FACE_CHOICES = ("all faces", "largest face")
BOX_COLOR = (255, 200, 0)
REGION_COLOR = (255, 0, 80)
REGION_OPACITY = 0.55


@dataclass
class Outcome:
    """What one photo gave: files to show and download, and a summary."""

    result_file: Path | None = None
    before: np.ndarray | None = None
    after: np.ndarray | None = None
    boxes: np.ndarray | None = None       # the photo with every face's box
    regions: np.ndarray | None = None     # the same, with the pasted regions tinted
    summary: dict = field(default_factory=dict)
    message: str = ""                     # one line: what happened, or what went wrong


def draw_faces(photo: np.ndarray, results: Sequence["FaceResult"],
               regions: bool) -> np.ndarray:
    """The photo with each face's box (and, with ``regions``, its pasted region tinted)."""
    import cv2

    from mask2face.paste import region_overlay
    out = region_overlay(photo, results, REGION_COLOR, REGION_OPACITY) if regions else photo.copy()
    thickness = max(2, round(max(photo.shape[:2]) / 300))
    for result in results:
        x0, y0, x1, y1 = (int(round(v)) for v in result.face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_COLOR, thickness)
    return out


class App:
    """The page's work, without the page: testable with no browser and no Gradio."""

    def __init__(self, unmasker: "Unmasker", work_dir: str | Path,
                 max_pixels: int = PAGE_MAX_PIXELS) -> None:
        self.unmasker = unmasker
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.max_pixels = min(max_pixels, unmasker.config.faces.max_image_pixels)
        self._finders = {}
        self._default_finder = unmasker.finder
        self._results: list[Path] = []

    def _forget_old_results(self) -> None:
        while len(self._results) > KEEP_RESULTS:
            shutil.rmtree(self._results.pop(0), ignore_errors=True)

    def _use_detector(self, detector: str | None) -> None:
        """Find faces with ``detector`` for this request; None: the model's own detector (a
        choice made by an earlier request does not stay)."""
        from mask2face.faces import face_finder_from_config
        if not detector:
            self.unmasker.finder = self._default_finder
            return
        parse_detector(detector)  # UsageError, with the grammar, for a malformed one
        if detector not in self._finders:
            self._finders[detector] = face_finder_from_config(self.unmasker.config.faces,
                                                              detector)
        self.unmasker.finder = self._finders[detector]

    def unmask(self, photo: str | Path | None, detector: str | None = None,
               feather: float | None = None, grow: float | None = None,
               faces: str = FACE_CHOICES[0]) -> Outcome:
        """Unmask one photo file. Never raises for a bad photo: the message says what is wrong.
        """
        if not photo:
            return Outcome(message="Choose a photo first.")
        photo = Path(photo)
        name = photo.name
        for label, key, value in (("feather", "feather", feather), ("grow", "region_grow", grow)):
            low, top = key_range(key)
            if value is not None and not (isinstance(value, (int, float))
                                          and math.isfinite(value) and low <= value <= top):
                return Outcome(message=f"{label} must be a number from {low:g} to {top:g}, "
                                       f"not {value!r}")
        try:
            return self._unmask(photo, name, detector, feather, grow, faces)
        finally:
            give_memory_back()

    def _unmask(self, photo: Path, name: str, detector: str | None, feather: float | None,
                grow: float | None, faces: str) -> Outcome:
        from mask2face.images import read_photo, save_like
        from mask2face.predict import whole_photo_note
        try:
            self._use_detector(detector)
            source = read_photo(photo, self.max_pixels)
            image = source.rgb
            after, results = self.unmasker.unmask_faces(
                image, feather=feather, grow=grow, largest_only=faces == FACE_CHOICES[1])
        except (ImageReadError, UsageError) as e:
            return Outcome(message=str(e).replace(str(photo), name))
        except Exception as e:  # an odd photo must not stop the app
            log.debug("failed on %s", photo, exc_info=True)
            return Outcome(message=f"{name}: {type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''}")
        changed = sum(r.changed for r in results)
        summary = {"photo": name, "faces": len(results), "unmasked": changed,
                   "outcomes": [r.outcome for r in results],
                   "boxes": [[round(float(v), 1) for v in r.face.box] for r in results],
                   "model": str(self.unmasker.model_file)}
        if not results:
            return Outcome(before=image, summary=summary,
                           message=f"{name}: no face found{self.unmasker.no_face_note(image)}; "
                                   f"try another detector")
        suffix = photo.suffix.lower() if photo.suffix.lower() in IMAGE_SUFFIXES else ".png"
        folder = self.work_dir / uuid.uuid4().hex
        result_file = folder / f"{photo.stem}_unmasked{suffix}"
        save_like(result_file, after, source)  # the photo's format, mode and metadata
        self._results.append(folder)
        self._forget_old_results()
        message = (f"{name}: {len(results)} face{'s' * (len(results) != 1)} found"
                   f"{whole_photo_note(results)}, {changed} unmasked")
        if changed < len(results):
            message += f"; {len(results) - changed} left untouched (no mask predicted)"
        return Outcome(result_file, image, after, draw_faces(image, results, False),
                       draw_faces(image, results, True), summary, message)


def give_memory_back() -> None:
    """Return freed memory to the system after a request (glibc keeps large freed blocks)."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def example_photos(folder: Path) -> list[Path]:
    """The sample photos with a mask drawn by mask2face, written once into ``folder``; none
    where the sample photos' packages (scikit-image, matplotlib: the train extra) are absent."""
    from mask2face.config import MasksConfig
    from mask2face.faces import get_face_finder
    from mask2face.images import sample_photos, write_image
    from mask2face.masks import apply_mask, spec_from_config

    try:
        photos = sample_photos()
    except ImportError:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    finder = get_face_finder()
    out = []
    kinds = {"astronaut": ("surgical", "#7fb3d8"), "grace_hopper": ("cloth", "#2c3d66")}
    for seed, (name, photo) in enumerate(photos.items()):
        path = folder / f"{name}_masked.png"
        if not path.exists():
            faces = finder.find(photo)
            if not faces:
                continue
            kind, color = kinds.get(name, ("surgical", ""))
            config = MasksConfig(mask_type=kind, mask_color=color, mask_color_weight=1.0,
                                 mask_variety=0.0)
            rng = np.random.default_rng(seed)
            masked, _ = apply_mask(photo, faces[0].landmarks, spec_from_config(config, rng), rng)
            write_image(path, masked)
        out.append(path)
    return out


def build(app: App, examples: Sequence[Path] = ()) -> gr.Blocks:
    """The Gradio Blocks page for ``app``."""
    import gradio as gr

    config = app.unmasker.config.predict
    with gr.Blocks(title="mask2face", delete_cache=CACHE_CLEANUP) as page:
        gr.Markdown("# mask2face\nRemove a face mask from a photo, on this computer. "
                    f"Model: `{app.unmasker.model_file}`.")
        with gr.Row():
            with gr.Column(scale=1):
                # A file, not gr.Image: the photo arrives as it was (format, EXIF, colour
                # profile), read by mask2face's own reader with predict's limits.
                photo = gr.File(label="Drop a photo (JPEG, PNG, WebP)", type="filepath",
                                file_types=["image"], elem_id="photo")
                with gr.Accordion("Options", open=False):
                    detector = gr.Dropdown(list(DETECTOR_CHOICES),
                                           value=app.unmasker.config.predict.predict_face_detector,
                                           label="Face detector")
                    feather = gr.Slider(*key_range("feather"), value=config.feather, step=0.01,
                                        label="Feather (width of the blended edge)")
                    grow = gr.Slider(*key_range("region_grow"), value=config.region_grow,
                                     step=0.01,
                                     label="Grow the mask region")
                    faces = gr.Radio(list(FACE_CHOICES),
                                     value=FACE_CHOICES[int(config.largest_face_only)],
                                     label="Faces")
                run = gr.Button("Unmask", variant="primary", elem_id="unmask")
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[photo],
                                label="Examples (masked by mask2face)")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="status")
                slider = gr.ImageSlider(label="Before / after", type="numpy", height=440,
                                        elem_id="before-after")
                show_region = gr.Checkbox(False, label="Show the mask region",
                                          elem_id="show-region")
                found = gr.Image(label="Faces found", type="numpy", interactive=False,
                                 height=440, elem_id="faces")
                download = gr.DownloadButton("Download the result", visible=False,
                                             elem_id="download")
                summary = gr.JSON(label="Summary", open=False)
        pictures = gr.State({})

        def on_unmask(path, detector, feather, grow, faces, show):
            outcome = app.unmask(path, detector, feather, grow, faces)
            shown = (outcome.before, outcome.after) if outcome.after is not None else None
            kept = {"boxes": outcome.boxes, "regions": outcome.regions}
            return (f"**{outcome.message}**", shown, kept,
                    outcome.regions if show else outcome.boxes,
                    gr.DownloadButton(value=str(outcome.result_file) if outcome.result_file
                                      else None, visible=outcome.result_file is not None),
                    outcome.summary)

        run.click(on_unmask, [photo, detector, feather, grow, faces, show_region],
                  [status, slider, pictures, found, download, summary], api_visibility="private")
        show_region.change(lambda show, kept: kept.get("regions" if show else "boxes"),
                           [show_region, pictures], [found], api_visibility="private")

        # The API: an image file in, the result file (the input's format) and the summary out.
        api_in = gr.File(type="filepath", visible=False)
        api_out = gr.File(visible=False)
        api_summary = gr.JSON(visible=False)

        def on_api(path):
            outcome = app.unmask(path)
            if outcome.result_file is None:  # no image; the summary says why
                return None, {**outcome.summary, "error": outcome.message}
            return str(outcome.result_file), outcome.summary

        gr.Button(visible=False).click(on_api, [api_in], [api_out, api_summary],
                                       api_name="unmask")
    return page


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import (add_config_argument, add_model_argument, make_parser, require,
                               run_command)

    parser = make_parser("app", "A local web page to unmask photos.")
    add_model_argument(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=7860)
    add_config_argument(parser)

    def command(args: argparse.Namespace) -> int:
        work = Path(tempfile.mkdtemp(prefix="mask2face-app-"))
        atexit.register(shutil.rmtree, work, ignore_errors=True)
        # A polite kill (SIGTERM) unwinds like Ctrl-C, so the folder is removed then too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no calls out
        # Gradio keeps uploads (and its own folders) here, so that stopping the app removes
        # every file: set before Gradio is imported, which reads it once.
        os.environ["GRADIO_TEMP_DIR"] = str(work / "uploads")
        require("gradio")
        from mask2face.config import load_config, predict_settings
        from mask2face.predict import Unmasker

        logging.getLogger("httpx").setLevel(logging.WARNING)
        config = load_config(args.config)
        unmasker = Unmasker.load(config.predict.chosen_model(args.model), None,
                                 config.training.model_dir, predict_settings(config))
        app = App(unmasker, work / "results")
        examples = example_photos(work / "examples")
        if examples:  # the first model call traces the model: do it before anyone waits
            app.unmask(examples[0])
        page = build(app, examples)
        page.queue(default_concurrency_limit=1)
        try:
            page.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD,
                        quiet=True, show_error=True, footer_links=["api"],
                        prevent_thread_lock=True)
        except OSError as e:  # the port is taken, or the address is not this machine's
            raise UsageError(f"cannot listen on {args.host}:{args.port}: "
                             f"{str(e).splitlines()[0]}") from None
        print(f"mask2face app: {page.local_url} (model {unmasker.model_file}); Ctrl-C stops it",
              flush=True)
        page.block_thread()
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
