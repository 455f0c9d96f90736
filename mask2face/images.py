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

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
DEFAULT_MAX_PIXELS = 100_000_000
# Quality of a JPEG or lossy WebP written when the input's own cannot be read.
DEFAULT_QUALITY = 95
EXIF_ORIENTATION = 0x0112
# TIFF tags a result keeps: description, make, model, software, date, artist, copyright.
TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)
TIFF_XMP_TAG = 700
# Every result says what it is (IPTC's digital source type, in its XMP): an unmasked photo is
# a composite with trained algorithmic media, a photo with a drawn mask a composite with
# synthetic elements. ``save_like(..., source_type=None)`` leaves the label out.
IPTC_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
UNMASKED = IPTC_TYPES + "compositeWithTrainedAlgorithmicMedia"
DRAWN_MASK = IPTC_TYPES + "compositeSynthetic"
# PNG chunks of a 16-bit colour photo carried over to its result (before its image data).
PNG_KEPT_CHUNKS = (b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"eXIf", b"tEXt", b"zTXt",
                   b"iTXt", b"tIME")


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
    # and descriptive tags
    deep: np.ndarray | None = None       # a 16-bit colour PNG's own (H, W, 3 or 4) uint16 RGB(A)
    xmp: bytes = b""                     # the photo's own XMP packet, if any
    png_chunks: list = field(default_factory=list)  # a 16-bit PNG's metadata chunks, as read


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
                frames = getattr(image, "n_frames", 1)
                if frames > 1:
                    kind = {"GIF": "an animated GIF", "TIFF": "a multi-page TIFF"}.get(
                        image.format, f"a {image.format} file")
                    raise ImageReadError(f"{path}: {kind} of {frames} "
                                         f"{'pages' if image.format == 'TIFF' else 'frames'}: "
                                         f"mask2face unmasks single images; split it first "
                                         f"(nothing was written for it)")
                image.load()
                upright = image.getexif().get(EXIF_ORIENTATION, 1) == 1
                xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
                native = ImageOps.exif_transpose(image)  # a turned copy (or None: upright)
                native = image.copy() if native is None or native is image else native
                options = _save_options(image, path)  # after: it sets orientation to 1
                photo = Photo(to_rgb_array(native), native, image.format, options,
                              xmp=xmp.encode() if isinstance(xmp, str) else bytes(xmp))
        if photo.format == "PNG" and upright and _png_depth(path) == (16, True):
            photo.deep, photo.png_chunks = _read_deep_png(path)
            photo.rgb = ((photo.deep[..., :3].astype(np.uint32) + 128) // 257).astype(np.uint8)
            if photo.deep.shape[2] == 4:  # composited on white, as every RGBA photo is
                alpha = photo.deep[..., 3:].astype(np.float32) / 65535.0
                photo.rgb = np.round(photo.rgb * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
        return photo
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: cannot decode image ({e})") from None


def _png_depth(path: Path) -> tuple[int, bool]:
    """(bit depth, whether it is colour) from a PNG's header."""
    with open(path, "rb") as handle:
        head = handle.read(26)
    return head[24], head[25] in (2, 6)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG file's chunks as (type, data), in order."""
    import struct
    chunks, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks.append((kind, data[at + 8:at + 8 + length]))
        at += 12 + length
    return chunks


def _png_file(chunks: list[tuple[bytes, bytes]]) -> bytes:
    import struct
    import zlib
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        out.append(struct.pack(">I", len(body)) + kind + body
                   + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return b"".join(out)


def _read_deep_png(path: Path) -> tuple[np.ndarray, list[tuple[bytes, bytes]]]:
    """A 16-bit colour PNG's own pixels (uint16 RGB or RGBA: Pillow reads them as 8-bit) and
    its metadata chunks."""
    import cv2
    data = path.read_bytes()
    deep = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if deep is None or deep.dtype != np.uint16 or deep.ndim != 3:
        raise ImageReadError(f"{path}: cannot decode its 16-bit colour")
    deep = cv2.cvtColor(deep, cv2.COLOR_BGRA2RGBA if deep.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return deep, [c for c in _png_chunks(data) if c[0] in PNG_KEPT_CHUNKS]


def provenance_xmp(source_type: str = UNMASKED, own: bytes = b"") -> bytes:
    """An XMP packet saying the image was made with mask2face: IPTC's digital source type and
    the software (xmp:CreatorTool). ``own``, the photo's own packet, is kept, with these two
    properties set in it."""
    import re

    from mask2face import __version__
    tool = f"mask2face {__version__}"
    description = (f'<rdf:Description rdf:about="" '
                   f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
                   f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
                   f'Iptc4xmpExt:DigitalSourceType="{source_type}" '
                   f'xmp:CreatorTool="{tool}"/>')
    text = own.decode("utf-8", "replace") if own else ""
    if "</rdf:RDF>" in text:
        # The photo's own values of the two properties (attribute or element) give way.
        for name in ("Iptc4xmpExt:DigitalSourceType", "xmp:CreatorTool"):
            text = re.sub(rf'\s{name}="[^"]*"', "", text)
            text = re.sub(rf"<{name}>.*?</{name}>", "", text, flags=re.S)
            text = re.sub(rf"<{name}\s*/>", "", text)
        text = text.replace("</rdf:RDF>", description + "</rdf:RDF>", 1)
    else:
        text = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
                '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
                '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                f'{description}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
    return text.encode("utf-8")


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
    if image.format == "TIFF":
        # A TIFF's "EXIF" as Pillow gives it is the page's own directory (sample format, bits,
        # strips): written back, it overrides the result's and makes a file no reader opens.
        # Its descriptive tags are kept instead.
        tags = getattr(image, "tag_v2", {})
        info = {tag: tags[tag] for tag in TIFF_DESCRIPTIVE_TAGS if tag in tags}
        if info:
            options["tiffinfo"] = info
        if image.info.get("compression"):
            options["compression"] = image.info["compression"]
        return options
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
    return options


_LUMA = np.array([19595, 38470, 7471], np.uint32)  # Pillow's RGB -> L weights, out of 65536


def luminance(images: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB -> (...) luminance (Y of YCrCb, ITU-R BT.601 weights)."""
    return images @ np.array([0.299, 0.587, 0.114], np.float32)


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
    if mode == "P" and fmt in ("GIF", "PNG") and "transparency" not in native.info:
        # Palette kept: unchanged pixels keep their index, changed ones take the nearest
        # colour of the photo's own palette (re-quantizing would move pixels far from the face).
        array = np.array(native)
        nearest = Image.fromarray(result).quantize(palette=native, dither=Image.Dither.NONE)
        array[changed] = np.array(nearest)[changed]
        image = Image.fromarray(array, "P")
        image.putpalette(native.getpalette())
        return image
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


def save_like(path: str | os.PathLike, result: np.ndarray, photo: Photo | None = None,
              source_type: str | None = UNMASKED) -> None:
    """Write a result in the format its suffix names, as close to ``photo`` as that format
    allows: its mode, alpha, depth (16-bit colour PNG too), colour profile, EXIF (orientation
    1) and XMP, JPEG at its quantization tables and subsampling (else quality 95), WebP
    lossless if it was, a GIF's palette.

    Args:
        path: where to write (atomically).
        result: (H, W, 3) uint8 RGB, the photo's size.
        photo: the photo it came from (``read_photo``); None writes plain RGB.
        source_type: IPTC's digital source type recorded in the file's XMP (JPEG, PNG, WebP,
            TIFF) with mask2face as the software: UNMASKED (the default) or DRAWN_MASK; None
            records nothing (the photo's own XMP is still kept).
    """
    fmt = _format_of(path)
    same_size = photo is not None and result.shape == photo.rgb.shape
    own_xmp = photo.xmp if photo is not None else b""
    xmp = provenance_xmp(source_type, own_xmp) if source_type else own_xmp
    if same_size and photo.deep is not None and fmt == "PNG":
        atomic_write(path, _deep_png(photo, result, xmp))
        return
    if not same_size:
        image, options = Image.fromarray(np.ascontiguousarray(result)), {}
    else:
        image, options = result_like(photo, result, fmt), dict(photo.save_options)
    keep = {"icc_profile", "exif", "dpi"}
    if xmp and fmt in ("JPEG", "WEBP"):
        options["xmp"] = xmp
        keep.add("xmp")
    elif xmp and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=False)
        options["pnginfo"] = info
        keep.add("pnginfo")
    elif xmp and fmt == "TIFF":
        options["tiffinfo"] = {**options.get("tiffinfo", {}), TIFF_XMP_TAG: xmp}
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
        keep |= {"compression", "tiffinfo"}
    elif fmt == "BMP":
        keep = set()
    _write(path, image, fmt, {k: v for k, v in options.items() if k in keep})


def _deep_png(photo: Photo, result: np.ndarray, xmp: bytes) -> bytes:
    """A 16-bit colour PNG's result: its own 16-bit values wherever the result kept the
    photo's pixels, the result (x 257) where it changed them; its metadata chunks, and the XMP."""
    import cv2
    deep = photo.deep.copy()
    changed = np.any(result != photo.rgb, axis=2)
    deep[changed, :3] = result[changed].astype(np.uint16) * 257
    bgr = cv2.cvtColor(deep, cv2.COLOR_RGBA2BGRA if deep.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise OSError("OpenCV could not encode the 16-bit PNG")
    chunks = _png_chunks(encoded.tobytes())
    kept = [c for c in photo.png_chunks
            if not (xmp and c[0] == b"iTXt" and c[1].startswith(b"XML:com.adobe.xmp\0"))]
    if xmp:
        kept.append((b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    return _png_file(chunks[:1] + kept + [c for c in chunks[1:] if c[0] not in PNG_KEPT_CHUNKS])


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


def contact_sheet(tiles: list[np.ndarray], columns: int = 8) -> np.ndarray:
    """Tiles of one size in rows of ``columns`` (the last row padded with black)."""
    blank = np.zeros_like(tiles[0])
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    return np.vstack([np.hstack(row + [blank] * (columns - len(row))) for row in rows])
