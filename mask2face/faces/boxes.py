"""What a detector reports (``Detection``) and the box arithmetic shared by the detectors:
overlap, merging, and the downscaled copy detection runs on."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the photo's pixels

# A box lying this much inside an earlier (stronger) or a larger one is a part of that face (an
# eye, a mask's print), not a second face: real faces never sit half inside another face's box.
MAX_INSIDE_SHARE = 0.5


@dataclass
class Detection:
    """One face as a detector found it, before landmarks are fitted."""

    box: Box                         # in dlib's shape (brows to chin), photo pixels
    score: float
    detector: str                    # the component that found it: blaze, hog, mtcnn, cnn
    eyes: np.ndarray | None = None   # (2, 2) the detector's own eye points, image-left first


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def area(box: Box) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def inside_share(a: Box, b: Box) -> float:
    """The share of box a's area that lies inside box b."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    size = area(a)
    return ix * iy / size if size > 0 else 1.0


def merge_detections(found: list[Detection], threshold: float = 0.3) -> list[Detection]:
    """Drop detections that overlap an earlier one or lie mostly inside it (earlier ones win)."""
    kept: list[Detection] = []
    for d in found:
        if all(iou(d.box, k.box) < threshold and inside_share(d.box, k.box) < MAX_INSIDE_SHARE
               for k in kept):
            kept.append(d)
    return kept


def resize_by(image: np.ndarray, scale: float) -> np.ndarray:
    """The image shrunk by ``scale`` with an area filter; a side never rounds to 0 px (a
    20000 x 10 photo shrinks to 800 x 1, not to nothing)."""
    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image shrunk to at most ``max_side`` px (or itself), and the scale applied."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale == 1.0:
        return image, 1.0
    return resize_by(image, scale), scale
