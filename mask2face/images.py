"""Reading any photo a user may have as RGB uint8, and writing images safely."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mask2face.errors import ImageReadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 100_000_000
# Quality of a JPEG or lossy WebP written when the input's own cannot be read.
DEFAULT_QUALITY = 95
EXIF_ORIENTATION = 0x0112


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


@dataclass
class Photo:
    """A photo as read: the RGB array the models see, and what is needed to write a result
    back in the photo's own kind (``save_like``)."""

    rgb: np.ndarray                      # (H, W, 3) uint8, EXIF orientation applied
    native: Image.Image                  # the decoded image in its own mode, same orientation
    format: str | None = None            # "JPEG", "PNG", "WEBP", "TIFF", ...
    save_options: dict = field(default_factory=dict)  # icc_profile, exif, dpi, and the
    # format's own: JPEG quantization tables and subsampling, WebP lossless, TIFF compression


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Grayscale, palette, RGBA (composited on white), 16-bit and CMYK images are converted.

    Args:
        path: the image file.
        max_pixels: larger images are refused before they are decoded.

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated or too large.
    """
    return read_photo(path, max_pixels).rgb


def read_photo(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Like ``read_image``, keeping the photo's mode, alpha, depth and metadata for
    ``save_like``."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file")
        with warnings.catch_warnings(), _pillow_limit():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageReadError(f"{path}: {width}x{height} pixels is over the limit of "
                                         f"{max_pixels} (max_image_pixels)")
                image.load()
                native = ImageOps.exif_transpose(image)  # a turned copy (or None: upright)
                native = image.copy() if native is None or native is image else native
                options = _save_options(image, path)  # after: it sets orientation to 1
                return Photo(to_rgb_array(native), native, image.format, options)
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


@contextlib.contextmanager
def _pillow_limit():
    """Pillow refuses images over twice its own limit (179 M pixels) when it opens them, before
    mask2face sees their size: while reading, Pillow's check is off and mask2face's own (right
    after opening, from the header, before decoding) is the one that holds."""
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def _save_options(image: Image.Image, path: Path) -> dict:
    """What to write a result with so that it stays the photo's kind: its colour profile, its
    EXIF (orientation set to 1, as the pixels are already turned upright), its resolution, and
    per format the JPEG quantization tables (the input's quality) and chroma subsampling, WebP
    losslessness, TIFF compression."""
    options = {}
    if image.info.get("icc_profile"):
        options["icc_profile"] = image.info["icc_profile"]
    if image.info.get("dpi"):
        options["dpi"] = image.info["dpi"]
    exif = image.getexif()
    if len(exif):
        if EXIF_ORIENTATION in exif:
            exif[EXIF_ORIENTATION] = 1
        options["exif"] = exif.tobytes()
    if image.format == "JPEG":
        from PIL import JpegImagePlugin
        if getattr(image, "quantization", None):
            options["qtables"] = image.quantization
        sampling = JpegImagePlugin.get_sampling(image)
        if sampling >= 0:
            options["subsampling"] = sampling
    elif image.format == "WEBP":
        with open(path, "rb") as handle:
            head = handle.read(4096)
        options["lossless"] = b"VP8L" in head
        if options["lossless"]:
            options["quality"] = 100
    elif image.format == "TIFF" and image.info.get("compression"):
        options["compression"] = image.info["compression"]
    return options


_LUMA = np.array([19595, 38470, 7471], np.uint32)  # Pillow's RGB -> L weights, out of 65536


def _gray(rgb: np.ndarray) -> np.ndarray:
    """RGB -> gray exactly as Pillow converts (a gray pixel (v, v, v) gives v back)."""
    return ((rgb.astype(np.uint32) @ _LUMA + 0x8000) >> 16).astype(np.uint8)


def result_like(photo: Photo, result: np.ndarray, fmt: str) -> Image.Image:
    """The result (RGB uint8, same size as the photo) as an image of the photo's own mode
    where ``fmt`` can hold it: pixels the result did not change keep the photo's exact values
    (alpha, gray, 16-bit depth included)."""
    native, mode = photo.native, photo.native.mode
    changed = np.any(result != photo.rgb, axis=2)
    can_hold = {"JPEG": ("RGB", "L", "CMYK"), "PNG": ("RGB", "RGBA", "L", "LA", "I;16"),
                "WEBP": ("RGB", "RGBA"), "TIFF": ("RGB", "RGBA", "L", "LA", "I;16", "CMYK"),
                "BMP": ("RGB", "L")}.get(fmt, ("RGB",))
    if mode in ("RGB", "RGBA") and mode in can_hold:
        array = np.array(native)
        array[changed, :3] = result[changed]
        return Image.fromarray(array, mode)
    if mode in ("L", "LA") and mode in can_hold:
        array = np.array(native)
        gray = _gray(result[changed])
        if mode == "L":
            array[changed] = gray
        else:
            array[changed, 0] = gray
        return Image.fromarray(array, mode)
    if mode.startswith("I;16") and "I;16" in can_hold:
        array = np.array(native).astype(np.uint16)
        array[changed] = _gray(result[changed]).astype(np.uint16) * 257
        return Image.fromarray(array, "I;16")
    if mode == "CMYK" and "CMYK" in can_hold:
        array = np.array(native)
        array[changed] = np.array(Image.fromarray(result).convert("CMYK"))[changed]
        return Image.fromarray(array, "CMYK")
    if mode in ("RGBA", "LA", "PA") and "RGBA" in can_hold:
        alpha = np.array(native.convert("RGBA"))[..., 3]
        return Image.fromarray(np.dstack([result, alpha]), "RGBA")
    if mode in ("L", "LA", "I", "F", "1") or mode.startswith("I;16"):
        if "L" in can_hold:
            return Image.fromarray(_gray(result), "L")
    return Image.fromarray(result, "RGB")


def save_like(path: str | os.PathLike, result: np.ndarray, photo: Photo | None = None) -> None:
    """Write a result in the format its suffix names, as close to ``photo`` as that format
    allows: its mode, alpha, depth, colour profile and EXIF (orientation 1), JPEG at its
    quantization tables and subsampling (else quality 95), WebP lossless if it was.

    Args:
        path: where to write (atomically).
        result: (H, W, 3) uint8 RGB, the photo's size.
        photo: the photo it came from (``read_photo``); None writes plain RGB.
    """
    fmt = _format_of(path)
    if photo is None or result.shape != photo.rgb.shape:
        image, options = Image.fromarray(np.ascontiguousarray(result)), {}
    else:
        image, options = result_like(photo, result, fmt), dict(photo.save_options)
    keep = {"icc_profile", "exif", "dpi"}
    if fmt == "JPEG":
        same = photo is not None and photo.format == "JPEG"
        keep |= {"qtables", "subsampling"} if same else set()
        if not (same and "qtables" in options):
            options["quality"] = DEFAULT_QUALITY
            keep.add("quality")
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
    elif fmt == "WEBP":
        same = photo is not None and photo.format == "WEBP"
        if not (same and options.get("lossless")):
            options.update(lossless=False, quality=DEFAULT_QUALITY)
        keep |= {"lossless", "quality"}
    elif fmt == "TIFF":
        keep.add("compression")
    elif fmt == "BMP":
        keep = set()
    _write(path, image, fmt, {k: v for k, v in options.items() if k in keep})


def write_image(path: str | os.PathLike, array: np.ndarray, **save_options) -> None:
    """Write an RGB or grayscale uint8 array, in the format its suffix names, atomically."""
    _write(path, Image.fromarray(np.ascontiguousarray(array)), _format_of(path), save_options)


def _format_of(path: str | os.PathLike) -> str:
    """The Pillow format a file's suffix names (PNG for an unknown one)."""
    return Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")


def _write(path: str | os.PathLike, image: Image.Image, fmt: str, options: dict) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
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
