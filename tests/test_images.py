"""Results written like their photos: mode, alpha, depth, colour profile, EXIF, JPEG tables."""

import numpy as np
import pytest
from PIL import Image, ImageCms

from mask2face.images import read_photo, save_like

SIZE = (96, 80)  # width, height


def photo_array(seed=0):
    rng = np.random.default_rng(seed)
    # Smooth content, as photos are: noise would make JPEG re-encoding look worse than it is.
    small = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(SIZE, Image.BICUBIC))


def fake_unmask(rgb):
    """Change a 'face' block, as predict changes only the faces."""
    out = rgb.copy()
    out[20:50, 30:60] = 255 - out[20:50, 30:60]
    changed = np.zeros(rgb.shape[:2], bool)
    changed[20:50, 30:60] = True
    return out, changed


def roundtrip(tmp_path, image, name, out_name=None, **save):
    source = tmp_path / name
    image.save(source, **save)
    photo = read_photo(source)
    result, changed = fake_unmask(photo.rgb)
    target = tmp_path / (out_name or f"out_{name}")
    save_like(target, result, photo)
    return source, target, photo, changed


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "I;16", "RGB"])
def test_lossless_formats_keep_mode_and_every_pixel_outside_the_face(tmp_path, mode):
    rgb = photo_array()
    if mode == "I;16":
        image = Image.fromarray((rgb[..., 0].astype(np.uint16) * 257 + 3), "I;16")
    elif mode in ("RGBA", "LA"):
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
        alpha[:, :20] = 0      # transparent: must not turn white
        alpha[:, 20:30] = 128
        base = Image.fromarray(rgb).convert("RGB" if mode == "RGBA" else "L")
        image = Image.merge(mode, [*base.split(), Image.fromarray(alpha)])
    else:
        image = Image.fromarray(rgb).convert(mode)
    source, target, photo, changed = roundtrip(tmp_path, image, "photo.png")
    with Image.open(source) as a, Image.open(target) as b:
        assert b.mode == a.mode and b.size == a.size
        before, after = np.asarray(a), np.asarray(b)
    assert np.array_equal(after[~changed], before[~changed])
    assert not np.array_equal(after[changed], before[changed])


def test_tiff_and_lossless_webp_stay_bit_identical_outside_the_face(tmp_path):
    rgb = photo_array(1)
    for name, save in (("p.tiff", {"compression": "tiff_lzw"}), ("p.webp", {"lossless": True})):
        source, target, _, changed = roundtrip(tmp_path, Image.fromarray(rgb), name, **save)
        with Image.open(source) as a, Image.open(target) as b:
            assert np.array_equal(np.asarray(b.convert("RGB"))[~changed],
                                  np.asarray(a.convert("RGB"))[~changed]), name
            if name.endswith("tiff"):
                assert b.info.get("compression") == "tiff_lzw"


def jpeg_with_metadata(tmp_path, subsampling):
    rgb = photo_array(2)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees to view
    exif[0x010F] = "mask2face test camera"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(path, quality=72, subsampling=subsampling, exif=exif.tobytes(),
                              icc_profile=icc)
    return path, icc


@pytest.mark.parametrize("subsampling", [0, 2])
def test_jpeg_keeps_quality_subsampling_profile_and_exif_with_orientation_1(tmp_path,
                                                                            subsampling):
    from PIL import JpegImagePlugin
    source, icc = jpeg_with_metadata(tmp_path, subsampling)
    photo = read_photo(source)
    assert photo.rgb.shape == (SIZE[0], SIZE[1], 3)  # EXIF orientation applied on reading
    result, changed = fake_unmask(photo.rgb)
    target = tmp_path / "out.jpg"
    save_like(target, result, photo)
    with Image.open(source) as a, Image.open(target) as b:
        assert JpegImagePlugin.get_sampling(b) == JpegImagePlugin.get_sampling(a)
        assert b.quantization == a.quantization  # the input's quality
        assert b.info.get("icc_profile") == icc
        exif = b.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "mask2face test camera"
    # Far from the changed block, re-encoding with the photo's own tables moves pixels little.
    after = np.asarray(Image.open(target)).astype(int)
    far = np.ones(changed.shape, bool)
    block = 16 if subsampling == 2 else 8  # 4:2:0 codes colour in 16 px blocks
    far[20 - block:50 + block, 30 - block:60 + block] = False  # the block and its JPEG blocks
    assert np.abs(after[far] - photo.rgb[far].astype(int)).max() <= 12


def test_a_photo_saved_in_another_format_takes_that_formats_defaults(tmp_path):
    rgb = photo_array(3)
    alpha = np.full(rgb.shape[:2], 200, np.uint8)
    image = Image.merge("RGBA", [*Image.fromarray(rgb).split(), Image.fromarray(alpha)])
    _, target, _, _ = roundtrip(tmp_path, image, "photo.png", out_name="as.jpg")
    with Image.open(target) as b:
        assert b.format == "JPEG" and b.mode == "RGB"
    # And a photo written without its source: plain RGB.
    save_like(tmp_path / "plain.png", rgb)
    with Image.open(tmp_path / "plain.png") as b:
        assert b.mode == "RGB" and np.array_equal(np.asarray(b), rgb)


def test_predict_keeps_alpha_and_gray_end_to_end(tmp_path):
    """Through the command: an RGBA PNG keeps its alpha (a transparent border stays
    transparent, not white), a gray photo comes back gray."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    from mask2face.images import sample_photos
    photo = sample_photos()["astronaut"]
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    rgba = Image.merge("RGBA", [*Image.fromarray(photo).split(), Image.fromarray(alpha)])
    rgba.save(tmp_path / "cut.png")
    Image.fromarray(photo).convert("L").save(tmp_path / "gray.png")
    bundled = ROOT / "mask2face" / "pretrained" / "lfw128"
    if not (bundled / "model.keras").exists():
        pytest.skip("no bundled model")
    result = subprocess.run([sys.executable, "-m", "mask2face.predict", "cut.png", "gray.png",
                             "-o", "out", "--model", str(bundled)], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(tmp_path / "out" / "cut.png") as b:
        assert b.mode == "RGBA"
        assert np.array_equal(np.asarray(b)[..., 3], alpha)
        assert np.array_equal(np.asarray(b)[:, :40], np.asarray(rgba)[:, :40])
    with Image.open(tmp_path / "out" / "gray.png") as b:
        assert b.mode == "L" and b.size == (photo.shape[1], photo.shape[0])


def test_exif_orientation_written_as_1_so_viewers_do_not_turn_it_twice(tmp_path):
    source, _ = jpeg_with_metadata(tmp_path, 2)
    photo = read_photo(source)
    target = tmp_path / "out.png"
    save_like(target, photo.rgb, photo)
    with Image.open(target) as b:
        assert b.getexif().get(0x0112) == 1
        assert b.size == (SIZE[1], SIZE[0])  # upright, as read


def test_max_image_pixels_above_pillows_own_limit_is_honoured(tmp_path):
    """Pillow alone refuses images over 2 x 89.5 M pixels; a larger max_image_pixels wins."""
    from PIL import Image as PILImage

    from mask2face.errors import ImageReadError
    from mask2face.images import read_image
    path = tmp_path / "wide.png"
    PILImage.new("L", (20000, 9500)).save(path)  # 190 M pixels, tiny on disk
    with pytest.raises(ImageReadError, match="over the limit of 100000"):
        read_image(path, max_pixels=100_000)
    image = read_image(path, max_pixels=200_000_000)
    assert image.shape == (9500, 20000, 3)
    assert PILImage.MAX_IMAGE_PIXELS == 89478485  # Pillow's own limit is back
