"""``FaceFinder``: the faces in a photo and their 68 landmarks.

The detectors (``mask2face.detectors.DETECTORS``, one module each in this package) and dlib's
shape predictor are built once per process (``get_face_finder``). Detection runs on a
downscaled copy of large photos; boxes and landmarks come back in the original photo's pixels.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mask2face.config import FacesConfig
from mask2face.detectors import DETECTORS, parse_detector
from mask2face.errors import ConfigError, UsageError
from mask2face.faces.boxes import Box, Detection, merge_detections
from mask2face.faces.crops import face_crop
from mask2face.faces.dlib_files import LANDMARKS_FILE, resolve_model_file
from mask2face.images import luminance
from mask2face.landmarks import eye_centres

log = logging.getLogger("mask2face.faces")

# Generation re-checks each face with HOG on its aligned crop: measured on the demo's 122 pairs,
# real faces score 1.01 or more there, face-like patterns (a suit badge) 0.20 or less.
VERIFY_CROP = 192
VERIFY_MIN_SCORE = 0.5
# Where a detector's eyes (BlazeFace's) and the fitted ones are apart by more than the first
# share of the eye distance, the landmarks move towards the detector's eyes, all the way at the
# second. Judged from contact sheets of real masked photos: where the two were far apart,
# BlazeFace's eyes were on the eyes far more often (the fit had slid onto the mask); where they
# are close, dlib's fitted points are the more precise (drawn masks on the sample photos: within
# 0.15).
EYES_TRUST = (0.25, 0.5)
# A photo in which no detector finds a face can still be its subject's face crop (a cropped
# dataset, a close-up whose face is mostly covered). ``FaceFinder.whole_photo`` then takes the
# photo's middle square for the face's training crop: HOG's box lies at these shares of that crop
# (median over 294 LFW faces; spread 0.04-0.06), and dlib's points are fitted in it.
PHOTO_FACE_BOX = (0.151, 0.176, 0.884, 0.915)
# ...but not in a photo much wider or taller than a face crop (a close-up is 3:4 at most), nor
# in one larger than a cropped dataset's photos (LFW's are 250 px, the dev sets' 96-224): a
# detector that finds nothing in a large photo has more often missed a smaller face than a
# face filling it (the masked sample portrait, 512 x 600, with HOG alone: a face painted over
# the uniform below the real one) ...
PHOTO_FACE_MAX_ASPECT = 4 / 3
PHOTO_FACE_MAX_SIDE = 256
# ... nor in an icon or thumbnail under this many px across (the dev sets' smallest are 96) ...
PHOTO_FACE_MIN_SIDE = 64
# ... nor in a photo blank where the eyes would be (luminance spread over the box's upper half
# under this many levels: a black or flat frame). Real faces, masked or not, spread 20 or more.
PHOTO_FACE_MIN_SPREAD = 10.0
WHOLE_PHOTO = "photo"  # the detector name such a face carries

Detect = Callable[[np.ndarray], list[Detection]]


@dataclass
class Face:
    """One face in a photo, in the photo's pixels."""

    box: Box
    score: float
    landmarks: np.ndarray  # (68, 2) float32, x then y
    detector: str
    detector_eyes: np.ndarray | None = None  # (2, 2) the detector's own eye points, if it has

    @property
    def eyes(self) -> np.ndarray:
        """(2, 2): the centres of the image-left and the image-right eye."""
        return eye_centres(self.landmarks)

    @property
    def detector_eyes_apart(self) -> float | None:
        """The detector's own eyes' distance over its box's width (None: it gives no eyes)."""
        if self.detector_eyes is None or self.box[2] <= self.box[0]:
            return None
        distance = np.hypot(*(self.detector_eyes[1] - self.detector_eyes[0]))
        return float(distance / (self.box[2] - self.box[0]))


class FaceFinder:
    """Finds faces and fits 68 landmarks. Build one per process (``get_face_finder``)."""

    def __init__(self, landmarks_predictor_path: str = "", detector: str = "auto",
                 detection_max_side: int = 800) -> None:
        import dlib

        parse_detector(detector)
        self.detector_name = detector
        self.detection_max_side = detection_max_side
        self._hog = dlib.get_frontal_face_detector()
        model_file = resolve_model_file(landmarks_predictor_path, LANDMARKS_FILE,
                                        "landmarks_predictor_path")
        try:
            self._predictor = dlib.shape_predictor(str(model_file))
        except RuntimeError as e:  # dlib's own words for a file that is not its model
            raise ConfigError(f"landmarks_predictor_path = {str(model_file)!r}: not a dlib "
                              f"shape predictor model ({str(e).strip()})") from None
        self._dlib = dlib
        self._detectors: dict[str, Detect] = {}
        self._lock = threading.RLock()  # dlib objects are not thread-safe

    def detector(self, name: str) -> Detect:
        """The detector called ``name``, built on first use (its models load once)."""
        if name not in self._detectors:
            module = importlib.import_module(f"mask2face.faces.{DETECTORS[name].module}")
            self._detectors[name] = module.build(self)
        return self._detectors[name]

    def detect(self, image: np.ndarray, detector: str | None = None) -> list[Detection]:
        """The faces the detector setting finds (its stages in turn until one finds a face)."""
        for stage in parse_detector(detector or self.detector_name):
            found: list[Detection] = []
            # A stage's parts are checked only when it is reached; earlier detectors' boxes win
            # where two overlap.
            for part in usable_parts(stage):
                found = merge_detections(found + self.detector(part)(image))
            if found:
                return found
        return []

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """68 (x, y) points for the face in ``box``, fitted on the full-resolution image."""
        rect = self._dlib.rectangle(*[int(round(v)) for v in box[:4]])
        with self._lock:
            shape = self._predictor(np.ascontiguousarray(image), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def _face(self, image: np.ndarray, found: Detection) -> Face:
        """A Face from a detection: landmarks fitted in its box and, where the detector's own
        eye points disagree with the fitted eyes (EYES_TRUST), moved towards them."""
        landmarks = self.landmarks(image, found.box)
        eyes = found.eyes
        if eyes is not None:
            fitted = eye_centres(landmarks)
            apart = np.hypot(*(fitted - eyes).T).max() / max(np.hypot(*(eyes[1] - eyes[0])), 1.0)
            trust = np.clip((apart - EYES_TRUST[0]) / (EYES_TRUST[1] - EYES_TRUST[0]), 0.0, 1.0)
            if trust > 0:
                landmarks = align_to_eyes(landmarks, fitted + trust * (eyes - fitted))
        return Face(tuple(found.box), found.score, landmarks, found.detector, eyes)

    def verify_score(self, image: np.ndarray, face: Face) -> float:
        """HOG's best score on the face's upright, aligned crop: high for an unmasked face, low
        for a face-like pattern that a detector took for a face (-1 when nothing is found)."""
        crop = face_crop(face.landmarks, VERIFY_CROP).apply(image)
        with self._lock:
            _, scores, _ = self._hog.run(crop, 0, -1.0)
        return float(max(scores)) if len(scores) else -1.0

    def whole_photo(self, image: np.ndarray) -> Face | None:
        """The face a photo in which nothing was found would hold if it were its subject's face
        crop (``photo_face_box``), with dlib's points fitted in it; None where the photo is
        shaped, sized or blank unlike a face crop (``whole_photo_refusal``). Its ``detector``
        is WHOLE_PHOTO."""
        if whole_photo_refusal(image):
            return None
        box = photo_face_box(image.shape)
        return Face(box, 0.0, self.landmarks(image, box), WHOLE_PHOTO)

    def find(self, image: np.ndarray, detector: str | None = None) -> list[Face]:
        """Every face in an RGB uint8 image, largest first."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise UsageError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
        image = np.ascontiguousarray(image)
        with self._lock:  # dlib objects are not thread-safe
            found = self.detect(image, detector)
            faces = [self._face(image, d) for d in found]
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces


def photo_face_box(shape: tuple[int, ...]) -> Box:
    """The box of the face a photo of ``shape`` holds if its middle square is the face's
    training crop (PHOTO_FACE_BOX)."""
    height, width = shape[:2]
    side = min(height, width)
    x0, y0 = (width - side) / 2, (height - side) / 2
    a, b, c, d = PHOTO_FACE_BOX
    return (x0 + a * side, y0 + b * side, x0 + c * side, y0 + d * side)


def whole_photo_refusal(image: np.ndarray) -> str:
    """Why a photo is not taken as a face crop (``FaceFinder.whole_photo``): "" where it is."""
    height, width = image.shape[:2]
    if max(height, width) > PHOTO_FACE_MAX_SIDE:
        return f"over {PHOTO_FACE_MAX_SIDE} px"
    if max(height, width) > PHOTO_FACE_MAX_ASPECT * min(height, width):
        return f"longer than {PHOTO_FACE_MAX_ASPECT:.2f} to 1"
    if min(height, width) < PHOTO_FACE_MIN_SIDE:
        return f"under {PHOTO_FACE_MIN_SIDE} px"
    x0, y0, x1, y1 = photo_face_box(image.shape)
    top = image[int(y0):int((y0 + y1) / 2), int(x0):int(x1)]
    if top.size == 0 or luminance(top.astype(np.float32)).std() < PHOTO_FACE_MIN_SPREAD:
        return "blank where the eyes would be"
    return ""


@functools.lru_cache(maxsize=None)
def installed(component: str) -> bool:
    """Whether a detector's packages are installed (hog and cnn always are); asked for every
    photo, looked up once per process."""
    from mask2face.cli import installed as package_installed
    return all(package_installed(package) for package in DETECTORS[component].needs)


@functools.lru_cache(maxsize=None)
def warn_missing(component: str, stand_in: str) -> None:
    instead = f"using dlib's {stand_in} detector instead, which finds far fewer masked faces" \
        if stand_in else "skipping it (a photo only it would find a face in is reported as no " \
        "face found)"
    log.warning("the %s detector is not installed (%s): %s", component,
                DETECTORS[component].install, instead)


def usable_parts(stage: list[str]) -> list[str]:
    """A detector stage with each component that is not installed replaced by its stand-in
    (blaze -> cnn) or left out, with a warning once per process that says how to install it."""
    parts: list[str] = []
    for part in stage:
        if not installed(part):
            warn_missing(part, DETECTORS[part].stand_in)
            part = DETECTORS[part].stand_in
        if part and part not in parts:
            parts.append(part)
    return parts


def align_to_eyes(landmarks: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """Move 68 landmarks by the similarity transform that puts their eye centres on ``eyes``
    ((2, 2), image-left eye first): the shape stays dlib's, its position, size and tilt follow
    the detector's eyes."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    source = eye_centres(landmarks)
    src = complex(*(source[1] - source[0]))
    dst = complex(*(np.asarray(eyes[1], float) - np.asarray(eyes[0], float)))
    if abs(src) < 1e-6 or abs(dst) < 1e-6:
        return landmarks.astype(np.float32)
    rotate_scale = dst / src  # one complex number: rotation and scale together
    points = (landmarks[:, 0] - source[0, 0]) + 1j * (landmarks[:, 1] - source[0, 1])
    moved = points * rotate_scale + complex(*eyes[0])
    return np.stack([moved.real, moved.imag], axis=1).astype(np.float32)


@functools.lru_cache(maxsize=4)
def get_face_finder(landmarks_predictor_path: str = "", detector: str = "auto",
                    detection_max_side: int = 800) -> FaceFinder:
    """The process-wide FaceFinder for these settings (the 100 MB predictor loads once)."""
    return FaceFinder(landmarks_predictor_path, detector, detection_max_side)


def face_finder_from_config(faces_config: FacesConfig,
                            detector: str | None = None) -> FaceFinder:
    return get_face_finder(faces_config.landmarks_predictor_path,
                           detector or faces_config.face_detector,
                           faces_config.detection_max_side)
