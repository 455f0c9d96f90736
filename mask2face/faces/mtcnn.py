"""MTCNN (the ``mtcnn`` package, on TensorFlow) with looser stage thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from mask2face.errors import ModelFileError
from mask2face.faces.boxes import Detection, downscale

if TYPE_CHECKING:
    from mask2face.faces.finder import FaceFinder

# MTCNN's stage thresholds (proposal, refine, output): looser than the package's (0.6, 0.7, 0.8),
# which missed 5 of 20 masked test faces; these miss 1 and add no false face on them.
MTCNN_THRESHOLDS = (0.5, 0.5, 0.6)
# MTCNN searches a larger copy than HOG: masked faces under ~80 px score too low to be kept
# (a 5-face 1200 px photo: 3 found at 800 px, all 5 at 1200 px for ~0.5 s).
MTCNN_MAX_SIDE = 1280


class Mtcnn:
    """``detect(image, pad)``: MTCNN's faces; ``pad`` adds a black border of that share of the
    longer side first (like BlazeFace, MTCNN misses a face cut by the frame until the face has
    room around it)."""

    def __init__(self, max_side: int) -> None:
        try:
            from mtcnn import MTCNN
        except ImportError:
            raise ModelFileError("the mtcnn detector needs the mtcnn package: "
                                 "pip install mtcnn") from None
        self._mtcnn = MTCNN()
        self.max_side = max(max_side, MTCNN_MAX_SIDE)

    def __call__(self, image: np.ndarray, pad: float = 0.0) -> list[Detection]:
        small, scale = downscale(image, self.max_side)
        border = int(round(pad * max(small.shape[:2])))
        if border:
            small = cv2.copyMakeBorder(small, border, border, border, border,
                                       cv2.BORDER_CONSTANT, value=0)
        pnet, rnet, onet = MTCNN_THRESHOLDS
        found = self._mtcnn.detect_faces(
            small, threshold_pnet=pnet, threshold_rnet=rnet, threshold_onet=onet)
        detections = []
        for face in found:
            x, y, w, h = face["box"]
            x, y = x - border, y - border
            # MTCNN's box runs from the forehead; dlib's landmark model was fitted to boxes
            # from the brows to the chin: move the top down and widen to that shape.
            x0, y0, x1, y1 = x - 0.05 * w, y + 0.12 * h, x + 1.05 * w, y + h
            detections.append(Detection((x0 / scale, y0 / scale, x1 / scale, y1 / scale),
                                        float(face["confidence"]), "mtcnn"))
        return detections


def build(finder: FaceFinder) -> Mtcnn:
    return Mtcnn(finder.detection_max_side)
