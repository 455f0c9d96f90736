"""The 68 facial landmarks (the iBUG 300-W scheme that dlib's model fits): named regions, the
check every user of landmarks makes, and the two frames a face is measured in.

"Left" and "right" are the image's: ``LEFT_EYE`` is the eye on the image's left (the person's
right eye). Every module that reads landmarks by index uses the names here.
"""

from __future__ import annotations

import numpy as np

from mask2face.errors import UsageError

COUNT = 68
JAW = slice(0, 17)            # ear to ear along the jaw, image-left first
JAW_LEFT_TOP, JAW_RIGHT_TOP = 0, 16   # where the jaw line meets the ears
CHEEK_LEFT, CHEEK_RIGHT = 1, 15       # the jaw line's highest points under the ears
JAW_LOWER = slice(2, 15)      # the jaw from below the ears round the chin
CHIN = 8
BROWS = slice(17, 27)
NOSE_BRIDGE_TOP, NOSE_BRIDGE_MID, NOSE_BRIDGE_LOW, NOSE_TIP = 27, 28, 29, 30
NOSE_BASE = slice(31, 36)     # nostrils, image-left to image-right
NOSTRIL_LEFT, NOSTRIL_RIGHT = 31, 35
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
EYES = slice(LEFT_EYE.start, RIGHT_EYE.stop)  # both eyes
MOUTH = slice(48, 68)
# The lower face, where a mask sits: the jaw line from cheek to cheek and a line under the
# eyes through the nose (a convex hull of these points).
LOWER_FACE = [*range(CHEEK_LEFT, CHEEK_RIGHT + 1), NOSTRIL_RIGHT, NOSE_BRIDGE_LOW, NOSTRIL_LEFT]


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The landmarks as a (68, 2) float64 array; UsageError for any other shape or a NaN."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (COUNT, 2) or not np.all(np.isfinite(landmarks)):
        raise UsageError(f"expected {COUNT} finite (x, y) landmarks, got shape "
                         f"{landmarks.shape}")
    return landmarks


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """(2, 2): the centres of the image-left and the image-right eye."""
    landmarks = np.asarray(landmarks)
    return np.stack([landmarks[LEFT_EYE].mean(axis=0), landmarks[RIGHT_EYE].mean(axis=0)])


def crop_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The frame a face crop is cut in: (centre, unit x-axis along the eyes, face scale).

    The scale follows the FFHQ alignment: the larger of twice the eye distance and 1.8 times
    the eye-to-mouth distance, so it holds for turned heads and for faces under a mask.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye = eye_centres(landmarks)
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


def mask_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The frame a mask is drawn in: unit vectors across (image-left eye to image-right eye)
    and down (eyes to chin) the face, and the eyes-to-chin distance.

    Unlike ``crop_frame`` it follows the face as it is, turned or tilted, so that a mask lies
    on the real chin and cheeks."""
    left_eye, right_eye = eye_centres(landmarks)
    across = right_eye - left_eye
    down = landmarks[CHIN] - (left_eye + right_eye) / 2
    scale = float(np.hypot(*down))
    across = across / max(np.hypot(*across), 1e-6)
    down = down / max(scale, 1e-6)
    return across, down, scale


def face_area(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Where the face is in a (size, size) crop: the 68 points' convex hull (brows to chin,
    ear to ear), drawn anti-aliased to an 8-bit level, as float32 in [0, 1]. A model trained
    with ``face_outline`` learnt its hole from these areas (``python -m mask2face.face_areas``
    writes them for the pairs); predict draws the same for the points it fits."""
    import cv2

    hull = cv2.convexHull(check_landmarks(landmarks).astype(np.float32))
    area = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(area, np.round(hull * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    return area.astype(np.float32) / 255.0
