"""Shared test data: the sample photos and what the tests build from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mask2face.images import sample_photos

ROOT = Path(__file__).resolve().parents[1]
MASKTHEFACE = ROOT.parent / "shared" / "maskthefaces"


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return sample_photos()


@pytest.fixture(scope="session")
def finder():
    from mask2face.faces import get_face_finder
    return get_face_finder()


@pytest.fixture(scope="session")
def sample_faces(photos, finder):
    """name -> (photo, its one Face)."""
    return {name: (photo, finder.find(photo)[0]) for name, photo in photos.items()}


@pytest.fixture
def templates_path() -> Path:
    if not (MASKTHEFACE / "masks" / "masks.cfg").exists():
        pytest.skip("MaskTheFace template folder not present beside the project")
    return MASKTHEFACE
