"""Shared test data: the sample photos and what the tests build from them."""

from __future__ import annotations

import inspect
import re
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


# The quick loop, ``pytest -m "not slow"``, leaves out what makes the suite take minutes: a test
# is slow when it starts another Python, trains (or uses a model trained for the tests), runs
# generation end to end, or talks to the running web page. Marked here, from what a test uses, so
# that a new test of that kind is marked without anyone remembering to; ``@pytest.mark.slow``
# marks any other.
SLOW_FIXTURES = {"run64", "run64_mask", "server", "reference", "examples"}
SLOW_CALLS = re.compile(r"subprocess\.|\btrain\(|train_tiny_with_cli|\bgenerate\(|"
                        r"masks_command\(|tiny_run\(|\.fit\(|Unmasker\.load\(BUNDLED")


def pytest_collection_modifyitems(items):
    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.get_closest_marker("slow"):
            continue
        uses = set(getattr(item, "fixturenames", ()))
        if uses & SLOW_FIXTURES or SLOW_CALLS.search(inspect.getsource(function)):
            item.add_marker(pytest.mark.slow)
