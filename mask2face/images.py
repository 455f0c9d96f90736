"""Reading any photo a user may have as RGB uint8, and writing images safely."""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mask2face.errors import ImageReadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
DEFAULT_MAX_PIXELS = 100_000_000


def list_photos(paths: Sequence[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """(photo, path relative to an output folder) for files and folders (recursive, sorted)."""
    out = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for photo in sorted(path.rglob("*")):
                if photo.is_file() and photo.suffix.lower() in IMAGE_SUFFIXES:
                    out.append((photo, photo.relative_to(path)))
        else:
            out.append((path, Path(path.name)))
    return out


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Grayscale, palette, RGBA (composited on white), 16-bit and CMYK images are converted.

    Args:
        path: the image file.
        max_pixels: larger images are refused before they are decoded.

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated or too large.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageReadError(f"{path}: {width}x{height} pixels is over the limit of "
                                         f"{max_pixels} (max_image_pixels)")
                image.load()
                return to_rgb_array(ImageOps.exif_transpose(image))
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: cannot decode image ({e})") from None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image).astype(np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def write_image(path: str | os.PathLike, array: np.ndarray, **save_options) -> None:
    """Write an RGB or grayscale uint8 array, in the format its suffix names, atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format=fmt, **save_options)
    atomic_write(path, buffer.getvalue())


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes under a temporary name (``.tmp-*``) and rename it into place, so a reader
    never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sample_photos() -> dict[str, np.ndarray]:
    """The two real face photos that the dependencies ship (used by tests, demo, benchmarks)."""
    from matplotlib import cbook
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = np.asarray(Image.open(handle).convert("RGB"))
    return {"astronaut": data.astronaut(), "grace_hopper": hopper}
