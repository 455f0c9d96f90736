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


def xmp_of(path):
    """The XMP packet of a JPEG, PNG, WebP or TIFF, parsed (the XML must be well formed)."""
    import xml.etree.ElementTree as ET
    image = Image.open(path)
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or \
        getattr(image, "tag_v2", {}).get(700)
    assert raw, f"{path} has no XMP"
    text = raw.decode() if isinstance(raw, bytes) else raw
    text = text[text.index("<x:xmpmeta"):text.index("</x:xmpmeta>") + len("</x:xmpmeta>")]
    return ET.fromstring(text), text


@pytest.mark.parametrize("name", ["a.jpg", "a.png", "a.webp", "a.tif"])
def test_results_say_they_were_made_by_mask2face_and_keep_the_photos_own_xmp(tmp_path, name):
    from mask2face import __version__
    from mask2face.images import UNMASKED
    own = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
           'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
           'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="a camera">'
           '<dc:title>holiday</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    image = Image.fromarray(photo_array())
    source = tmp_path / name
    if name.endswith(".png"):
        from PIL.PngImagePlugin import PngInfo
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", own.decode())
        image.save(source, pnginfo=info)
    elif name.endswith(".tif"):
        image.save(source, tiffinfo={700: own})
    else:
        image.save(source, xmp=own)
    photo = read_photo(source)
    out, _ = fake_unmask(photo.rgb)
    save_like(tmp_path / f"out_{name}", out, photo)
    root, text = xmp_of(tmp_path / f"out_{name}")
    assert f'DigitalSourceType="{UNMASKED}"' in text
    assert f'CreatorTool="mask2face {__version__}"' in text and "a camera" not in text
    assert "<dc:title>holiday</dc:title>" in text  # the photo's own XMP is kept
    save_like(tmp_path / f"plain_{name}", out, photo, source_type=None)
    assert "DigitalSourceType" not in xmp_of(tmp_path / f"plain_{name}")[1]


def test_sixteen_bit_colour_png_keeps_its_depth(tmp_path):
    """48- and 64-bit PNGs (which Pillow reads as 8-bit) keep every 16-bit value outside the
    face; the face's pixels are the result's x 257."""
    import cv2
    rng = np.random.default_rng(3)
    for channels in (3, 4):
        deep = rng.integers(0, 65536, (SIZE[1], SIZE[0], channels), dtype=np.uint16)
        cv2.imwrite(str(tmp_path / "deep.png"), deep[..., [2, 1, 0, 3][:channels]])
        photo = read_photo(tmp_path / "deep.png")
        out, changed = fake_unmask(photo.rgb)
        save_like(tmp_path / "out.png", out, photo)
        back = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
        assert back.dtype == np.uint16 and back.shape == deep.shape
        back = back[..., [2, 1, 0, 3][:channels]]
        np.testing.assert_array_equal(back[~changed], deep[~changed])
        np.testing.assert_array_equal(back[changed][:, :3], out[changed].astype(np.uint16) * 257)
        assert Image.open(tmp_path / "out.png").size == SIZE  # Pillow opens it too


def test_animated_gif_and_multi_page_tiff_are_refused_not_cut(tmp_path):
    from mask2face.errors import ImageReadError
    a, b = Image.fromarray(photo_array(1)), Image.fromarray(photo_array(2))
    a.save(tmp_path / "anim.gif", save_all=True, append_images=[b])
    a.save(tmp_path / "pages.tif", save_all=True, append_images=[b])
    with pytest.raises(ImageReadError, match="animated GIF of 2 frames"):
        read_photo(tmp_path / "anim.gif")
    with pytest.raises(ImageReadError, match="multi-page TIFF of 2 pages"):
        read_photo(tmp_path / "pages.tif")


def test_a_gif_keeps_its_palette_and_every_pixel_outside_the_face(tmp_path):
    from mask2face.images import list_photos
    Image.fromarray(photo_array()).quantize(32).save(tmp_path / "a.gif")
    assert [p.name for p, _ in list_photos([tmp_path])] == ["a.gif"]  # found in a folder
    photo = read_photo(tmp_path / "a.gif")
    out, changed = fake_unmask(photo.rgb)
    save_like(tmp_path / "out.gif", out, photo)
    back = Image.open(tmp_path / "out.gif")
    assert back.mode == "P"
    np.testing.assert_array_equal(np.array(back)[~changed], np.array(photo.native)[~changed])


@pytest.mark.parametrize("writer", ["opencv", "opencv-pages", "pillow-tags", "tifffile-like"])
def test_tiff_results_open_in_pillow_and_opencv(tmp_path, writer):
    """TIFFs as OpenCV writes them (LZW; its sample format tag once made results no reader
    opened), as Pillow writes them with descriptive tags, and with the tags tifffile writes."""
    import cv2
    rgb = photo_array()
    source = tmp_path / "in.tif"
    if writer == "opencv":
        cv2.imwrite(str(source), rgb[..., ::-1])
    elif writer == "opencv-pages":
        cv2.imwritemulti(str(source), [rgb[..., ::-1]])  # one page, written as a sequence
    elif writer == "pillow-tags":
        Image.fromarray(rgb).save(source, compression="tiff_deflate",
                                  tiffinfo={270: "a description", 305: "a scanner"})
    else:  # tifffile's usual tags: a JSON description, software, sample format, planar config
        Image.fromarray(rgb).save(source, tiffinfo={270: '{"shape": [80, 96, 3]}',
                                                    305: "tifffile.py", 339: (1, 1, 1),
                                                    284: 1})
    photo = read_photo(source)
    out, changed = fake_unmask(photo.rgb)
    save_like(tmp_path / "out.tif", out, photo)
    with Image.open(tmp_path / "out.tif") as back:
        np.testing.assert_array_equal(np.array(back.convert("RGB")), out)
        if writer == "pillow-tags":
            assert back.tag_v2.get(270) == "a description"
    opened = cv2.imread(str(tmp_path / "out.tif"))
    assert opened is not None
    np.testing.assert_array_equal(opened[..., ::-1], out)
