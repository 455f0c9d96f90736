"""The face detector setting's grammar, checked in one place (the configuration, the command
lines, the web page and ``mask2face.faces`` all use ``parse_detector``).

A setting names detectors (``COMPONENTS``): ``a+b`` runs both and merges their boxes, ``a>b``
runs ``b`` only on photos where ``a`` found nothing; ``auto`` is ``hog>mtcnn``. ``SUGGESTED``
are the settings the documentation measures and the web page offers; any other well-formed one
works too. A new detector is added to ``COMPONENTS`` here and given a ``_detect_<name>`` in
``mask2face.faces``.
"""

from __future__ import annotations

from mask2face.errors import UsageError

COMPONENTS = ("blaze", "hog", "mtcnn", "cnn")
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
