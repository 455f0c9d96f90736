"""Faces and their 68 landmarks (dlib), and the eye-levelled square crop of a face.

The detectors and the shape predictor are built once per process (``get_face_finder``).
Detection runs on a downscaled copy of large photos; boxes and landmarks come back in the
original photo's pixels.

Detectors (components joined by "+" run together and their boxes are merged):
    hog      dlib's HOG detector: ~15 ms on a 512 px photo, but it misses most masked faces.
    mtcnn    MTCNN (the ``mtcnn`` package, on TensorFlow) with looser stage thresholds: finds
             masked faces at ~0.1 s a photo (19 of 20 masked test photos with hog).
    cnn      dlib's MMOD CNN detector: ~0.9 s a photo on a 2-core CPU (16 of 20).
    auto     hog first, mtcnn only where hog finds nothing (clean photos stay fast).
Measured with ``benchmarks/faces.py``; prediction uses ``hog+mtcnn`` by default.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mask2face.errors import ModelFileError, UsageError

COMPONENTS = ("hog", "mtcnn", "cnn")
DETECTORS = ("auto", "hog", "mtcnn", "cnn", "hog+mtcnn", "hog+cnn", "hog+mtcnn+cnn")
# MTCNN's stage thresholds (proposal, refine, output): looser than the package's (0.6, 0.7, 0.8),
# which missed 5 of 20 masked test faces; these miss 1 and add no false face on them.
MTCNN_THRESHOLDS = (0.5, 0.5, 0.6)
# MTCNN searches a larger copy than HOG: masked faces under ~80 px score too low to be kept
# (a 5-face 1200 px photo: 3 found at 800 px, all 5 at 1200 px for ~0.5 s).
MTCNN_MAX_SIDE = 1280
LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
CNN_FILE = "mmod_human_face_detector.dat"
# The CNN's smallest face is ~80 px and its cost grows with pixel count: search a copy this big.
CNN_MAX_SIDE = 512
# Below this side, HOG searches a 2x upsampled copy (faces under 80 px) when it found none.
HOG_UPSAMPLE_BELOW = 400
# HOG scores: real faces in the sample photos score 1.4-1.7, false positives 0.06-0.14.
HOG_MIN_SCORE = 0.3

# Generation re-checks each face with HOG on its aligned crop: measured on the demo's 122 pairs,
# real faces score 1.01 or more there, face-like patterns (a suit badge) 0.20 or less.
VERIFY_CROP = 192
VERIFY_MIN_SCORE = 0.5

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)


@dataclass
class Face:
    """One face in a photo, in the photo's pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    landmarks: np.ndarray  # (68, 2) float32, x then y
    detector: str


def packaged_model_path(name: str) -> Path | None:
    """A model file from the face-recognition-models package, located without importing it
    (its __init__ imports pkg_resources, which new setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    return path if path.exists() else None


def resolve_model_file(configured: str, name: str, key: str) -> Path:
    """The configured path if set, else the packaged file; one clear error if neither exists."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelFileError(f"{key} = {configured!r}: file not found")
        return path
    path = packaged_model_path(name)
    if path is None:
        raise ModelFileError(
            f"dlib model {name} not found: run 'pip install face-recognition-models' or "
            f"download it from dlib.net/files and set {key} to its path")
    return path


class FaceFinder:
    """Finds faces and fits 68 landmarks. Build one per process (``get_face_finder``)."""

    def __init__(self, landmarks_predictor_path: str = "", detector: str = "auto",
                 detection_max_side: int = 800) -> None:
        import dlib

        parse_detector(detector)
        self.detector_name = detector
        self.detection_max_side = detection_max_side
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = None
        self._mtcnn = None
        self._predictor = dlib.shape_predictor(str(resolve_model_file(
            landmarks_predictor_path, LANDMARKS_FILE, "landmarks_predictor_path")))
        self._dlib = dlib
        self._lock = threading.Lock()

    def _cnn_detector(self):
        if self._cnn is None:
            path = resolve_model_file("", CNN_FILE, "face-recognition-models")
            self._cnn = self._dlib.cnn_face_detection_model_v1(str(path))
        return self._cnn

    def _mtcnn_detector(self):
        if self._mtcnn is None:
            try:
                from mtcnn import MTCNN
            except ImportError:
                raise ModelFileError("the mtcnn detector needs the mtcnn package: "
                                     "pip install mtcnn") from None
            self._mtcnn = MTCNN()
        return self._mtcnn

    def detect(self, image: np.ndarray, detector: str | None = None) -> list[tuple]:
        """Face boxes (x0, y0, x1, y1, score, detector) in the image's pixels."""
        detector = detector or self.detector_name
        parts = parse_detector(detector)
        if parts == ["auto"]:
            boxes = self._detect_hog(image)
            return boxes if boxes else self._detect_mtcnn(image)
        run = {"hog": self._detect_hog, "mtcnn": self._detect_mtcnn, "cnn": self._detect_cnn}
        boxes: list[tuple] = []
        for part in parts:  # earlier detectors' boxes win where two overlap
            boxes = _merge_boxes(boxes + run[part](image))
        return boxes

    def _detect_mtcnn(self, image: np.ndarray) -> list[tuple]:
        small, scale = _downscale(image, max(self.detection_max_side, MTCNN_MAX_SIDE))
        pnet, rnet, onet = MTCNN_THRESHOLDS
        found = self._mtcnn_detector().detect_faces(
            small, threshold_pnet=pnet, threshold_rnet=rnet, threshold_onet=onet)
        boxes = []
        for face in found:
            x, y, w, h = face["box"]
            # MTCNN's box runs from the forehead; dlib's landmark model was fitted to boxes
            # from the brows to the chin: move the top down and widen to that shape.
            x0, y0, x1, y1 = x - 0.05 * w, y + 0.12 * h, x + 1.05 * w, y + h
            boxes.append((x0 / scale, y0 / scale, x1 / scale, y1 / scale,
                          float(face["confidence"]), "mtcnn"))
        return boxes

    def _detect_hog(self, image: np.ndarray) -> list[tuple]:
        small, scale = _downscale(image, self.detection_max_side)
        rects, scores, _ = self._hog.run(small, 0, HOG_MIN_SCORE)
        if not len(rects) and max(small.shape[:2]) < HOG_UPSAMPLE_BELOW:
            rects, scores, _ = self._hog.run(small, 1, HOG_MIN_SCORE)
        return [(r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale,
                 float(s), "hog") for r, s in zip(rects, scores)]

    def _detect_cnn(self, image: np.ndarray) -> list[tuple]:
        small, scale = _downscale(image, min(self.detection_max_side, CNN_MAX_SIDE))
        upsample = 1 if max(small.shape[:2]) < 200 else 0
        found = self._cnn_detector()(small, upsample)
        return [(d.rect.left() / scale, d.rect.top() / scale, d.rect.right() / scale,
                 d.rect.bottom() / scale, float(d.confidence), "cnn") for d in found]

    def landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """68 (x, y) points for the face in ``box``, fitted on the full-resolution image."""
        rect = self._dlib.rectangle(*[int(round(v)) for v in box[:4]])
        shape = self._predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def verify_score(self, image: np.ndarray, face: Face) -> float:
        """HOG's best score on the face's upright, aligned crop: high for an unmasked face, low
        for a face-like pattern that a detector took for a face (-1 when nothing is found)."""
        crop = face_crop(face.landmarks, VERIFY_CROP).apply(image)
        with self._lock:
            _, scores, _ = self._hog.run(crop, 0, -1.0)
        return float(max(scores)) if len(scores) else -1.0

    def find(self, image: np.ndarray, detector: str | None = None) -> list[Face]:
        """Every face in an RGB uint8 image, largest first."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise UsageError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
        image = np.ascontiguousarray(image)
        with self._lock:  # dlib objects are not thread-safe
            boxes = self.detect(image, detector)
            faces = [Face(tuple(b[:4]), b[4], self.landmarks(image, b[:4]), b[5])
                     for b in boxes]
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces


def parse_detector(name: str) -> list[str]:
    """'hog+mtcnn' -> ['hog', 'mtcnn']; raises UsageError for an unknown part."""
    if name == "auto":
        return ["auto"]
    parts = name.split("+")
    unknown = [p for p in parts if p not in COMPONENTS]
    if unknown or not parts:
        raise UsageError(f"unknown face detector {name!r}; known: {', '.join(DETECTORS)} "
                         f"(or any of {', '.join(COMPONENTS)} joined with '+')")
    return parts


@functools.lru_cache(maxsize=4)
def get_face_finder(landmarks_predictor_path: str = "", detector: str = "auto",
                    detection_max_side: int = 800) -> FaceFinder:
    """The process-wide FaceFinder for these settings (the 100 MB predictor loads once)."""
    return FaceFinder(landmarks_predictor_path, detector, detection_max_side)


def face_finder_from_config(faces_config, detector: str | None = None) -> FaceFinder:
    return get_face_finder(faces_config.landmarks_predictor_path,
                           detector or faces_config.face_detector,
                           faces_config.detection_max_side)


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale == 1.0:
        return image, 1.0
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return small, scale


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _merge_boxes(boxes: list[tuple], threshold: float = 0.3) -> list[tuple]:
    """Drop boxes that overlap an earlier one (HOG boxes come first and are kept)."""
    kept: list[tuple] = []
    for box in boxes:
        if all(_iou(box, k) < threshold for k in kept):
            kept.append(box)
    return kept


# ---------------------------------------------------------------- the eye-levelled crop

@dataclass
class FaceCrop:
    """A square crop of a face: ``matrix`` maps photo pixels to crop pixels."""

    matrix: np.ndarray  # (2, 3) float64 similarity transform
    size: int

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Cut the crop out of the photo (borders outside the photo are replicated)."""
        matrix = self.matrix
        scale = np.hypot(*matrix[0, :2])
        if scale < 0.5:
            # warpAffine has no area filter: shrink with one first so the crop does not alias.
            shrink = scale * 1.5
            image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
            matrix = matrix @ np.diag([1 / shrink, 1 / shrink, 1.0])
        return cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return transform_points(self.matrix, points)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        return transform_points(self.inverse, points)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, unit x-axis along the eyes, face scale) from 68 landmarks.

    The scale follows the FFHQ alignment: the larger of twice the eye distance and 1.8 times
    the eye-to-mouth distance, so it holds for turned heads and for faces under a mask.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    left_eye = landmarks[LEFT_EYE].mean(axis=0)
    right_eye = landmarks[RIGHT_EYE].mean(axis=0)
    mouth = landmarks[MOUTH].mean(axis=0)
    eye_mid = (left_eye + right_eye) / 2
    eye_to_eye = right_eye - left_eye
    eye_to_mouth = mouth - eye_mid
    # x-axis: eye direction blended with the perpendicular of the eye-mouth line (FFHQ).
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x /= np.hypot(*x)
    scale = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    centre = eye_mid + eye_to_mouth * 0.35  # lower than FFHQ: the chin and the mask fit
    return centre, x, float(scale)


def face_crop(landmarks: np.ndarray, size: int, margin: float = 0.3) -> FaceCrop:
    """The square, eye-levelled crop of ``size`` pixels around a face.

    Args:
        landmarks: (68, 2) points in photo pixels.
        size: side of the crop in pixels.
        margin: border added on each side, as a share of the face scale.
    """
    landmarks = np.asarray(landmarks)
    if landmarks.shape != (68, 2):
        raise UsageError(f"expected 68 (x, y) landmarks, got shape {landmarks.shape}")
    centre, x_axis, scale = face_frame(landmarks)
    side = scale * (1.0 + 2.0 * margin)
    zoom = size / side
    cos, sin = x_axis * zoom
    # Rotate by -angle and scale, then move the face centre to the crop centre.
    matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    matrix[:, 2] = size / 2.0 - matrix[:, :2] @ centre
    return FaceCrop(matrix, size)
