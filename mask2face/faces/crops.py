"""The square, eye-levelled crop of a face that the model sees, and its way back to the photo."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mask2face.faces.boxes import resize_by
from mask2face.landmarks import check_landmarks, crop_frame


@dataclass
class FaceCrop:
    """A square crop of a face: ``matrix`` maps photo pixels to crop pixels."""

    matrix: np.ndarray  # (2, 3) float64 similarity transform
    size: int

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)

    @property
    def photo_scale(self) -> float:
        """Photo pixels per crop pixel."""
        return float(np.hypot(*self.inverse[:, 0]))

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
