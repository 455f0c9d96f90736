"""dlib's model files: from the face-recognition-models package, or a path the user sets.

Their licences differ: the 68-point landmark model was trained on iBUG 300-W (non-commercial
use only); the detector and recognition models are public domain.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mask2face.errors import ModelFileError

LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
CNN_FILE = "mmod_human_face_detector.dat"


def packaged_model_path(name: str) -> Path | None:
    """A model file from the face-recognition-models package, located without importing it
    (its __init__ imports pkg_resources, which new setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    return path if path.exists() else None


def resolve_model_file(configured: str, name: str, key: str) -> Path:
    """The configured path if set, else the packaged file; one clear error if neither exists."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelFileError(f"{key} = {configured!r}: file not found")
        return path
    path = packaged_model_path(name)
    if path is None:
        raise ModelFileError(
            f"dlib model {name} not found: run 'pip install face-recognition-models' or "
            f"download it from dlib.net/files and set {key} to its path")
    return path
