"""Errors that mask2face reports to a user as one line (see ``mask2face.cli``)."""


class Mask2FaceError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = 1


class ConfigError(Mask2FaceError):
    """A configuration file or a command-line value is wrong."""

    exit_code = 2


class UsageError(Mask2FaceError):
    """The command was asked for something it cannot do (missing data, missing model, ...)."""

    exit_code = 2


class ImageReadError(Mask2FaceError):
    """A photo could not be read (corrupt, empty, not an image, too large)."""


class ModelFileError(Mask2FaceError):
    """A landmark, detector or trained model file is missing or unusable."""

    exit_code = 2
