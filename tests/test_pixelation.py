"""Pixelated photos: their blocks are found, and a repainted patch is laid on the photo's grid."""

import cv2
import numpy as np
import pytest

from mask2face.pixelation import Blocks, in_blocks, pixel_blocks


def small_image(height, width, seed=0):
    """A small colour image whose neighbouring pixels mostly differ by more than a few levels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("factor", [6.0, 5.3, 3.5])
def test_a_pixelated_photos_blocks_are_found(factor):
    small = small_image(40, 36)
    photo = cv2.resize(small, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    blocks = pixel_blocks(photo)
    assert blocks is not None
    assert abs(blocks[0] - factor) < 0.35 and abs(blocks[1] - factor) < 0.35, blocks


def test_block_sizes_are_found_to_a_fraction_of_a_pixel(photos):
    """A pixelated photo resized again (its blocks' edges spread over two pixels) and saved as
    JPEG: its blocks are found, and their size to within 0.05 px, so that laid over a face 20
    blocks wide the grid drifts by less than a pixel."""
    for photo in photos.values():
        for size in (4, 6):
            small = cv2.resize(photo, None, fx=1 / size, fy=1 / size,
                               interpolation=cv2.INTER_AREA)
            pixelated = cv2.resize(small, None, fx=size, fy=size,
                                   interpolation=cv2.INTER_NEAREST)
            for factor in (1.3, 0.75):
                again = cv2.resize(pixelated, None, fx=factor, fy=factor,
                                   interpolation=cv2.INTER_LINEAR)
                ok, data = cv2.imencode(".jpg", again, [cv2.IMWRITE_JPEG_QUALITY, 85])
                blocks = pixel_blocks(cv2.imdecode(data, cv2.IMREAD_COLOR))
                assert blocks is not None, (size, factor)
                assert np.allclose(blocks[:2], size * factor, atol=0.05), (size, factor, blocks)
                assert blocks.angle == 0.0
    # Blocks of different widths and heights, neither a whole number of pixels.
    photo = cv2.resize(small_image(38, 31), (224, 224), interpolation=cv2.INTER_NEAREST)
    assert np.allclose(pixel_blocks(photo)[:2], (224 / 31, 224 / 38), atol=0.05)


def pixelated_and_turned(photo, size, turn, side=480):
    """``photo`` made ``side`` px square of blocks ``side / int(side / size)`` px wide, and a
    smooth copy (float), both turned by ``turn`` degrees and cut to their middle 320 px."""
    small = cv2.resize(photo, (int(side / size),) * 2, interpolation=cv2.INTER_AREA)
    pixelated = cv2.resize(small, (side, side), interpolation=cv2.INTER_NEAREST)
    smooth = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    matrix = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), turn, 1.0)

    def turned(image):
        return cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)[80:-80, 80:-80]
    return turned(pixelated), turned(smooth).astype(np.float32)


def test_a_grid_at_a_slant_is_found_and_followed(photos):
    """A photo turned after it was pixelated (a face levelled): the turn of its grid is found,
    the blocks' size is measured along it, and a smooth copy laid into a hole in it is made of
    blocks lying the same way: far nearer the pixelated photo than upright blocks are."""
    for photo in photos.values():
        size, turn = 6, 12.0
        pixelated, smooth = pixelated_and_turned(photo, size, turn)
        blocks = pixel_blocks(pixelated)
        assert blocks is not None
        assert abs(blocks.angle + turn) < 0.5, blocks  # turned back by it, the grid is upright
        assert np.allclose(blocks[:2], size, atol=0.1), blocks
        seen = np.ones(pixelated.shape[:2], bool)
        seen[100:220, 90:230] = False  # the hole
        hole = ~seen

        def off(image):  # mean difference from the pixelated photo in the hole
            return float(np.abs(image[hole] - pixelated[hole].astype(np.float32)).mean())
        along = off(in_blocks(smooth, pixelated, seen, blocks))
        upright = off(in_blocks(smooth, pixelated, seen, Blocks(blocks.width, blocks.height)))
        assert along < 0.6 * upright, (along, upright)
        assert along < 0.6 * off(smooth)
        # A flat patch stays flat to its edges: no block of the turned canvas is left empty.
        flat = np.full(smooth.shape, 120.0, np.float32)
        np.testing.assert_allclose(in_blocks(flat, pixelated, seen, blocks), flat, atol=0.01)
        # ... and a patch of one channel keeps its shape.
        np.testing.assert_allclose(in_blocks(flat[..., :1], pixelated, seen, blocks),
                                   flat[..., :1], atol=0.01)


def test_small_blocks_at_a_slant_are_found(photos):
    """A small photo enlarged 2.5 and 2.8 times pixel by pixel, then turned (blocks too small for
    the recurrences): the grid's turn and size are found from the boundaries' spectrum, closely
    enough that the blocks laid into a hole follow the photo's."""
    for photo in photos.values():
        for size, turn in ((2.5, 12.0), (2.8, 15.0)):
            pixelated, smooth = pixelated_and_turned(photo, size, turn)
            blocks = pixel_blocks(pixelated)
            assert blocks is not None, (size, turn)
            assert abs(blocks.angle + turn) < 0.2, (size, turn, blocks)
            assert np.allclose(blocks[:2], 480 / int(480 / size), atol=0.03), (size, blocks)
            seen = np.ones(pixelated.shape[:2], bool)
            seen[100:220, 90:230] = False
            hole = ~seen

            def off(image):
                return float(np.abs(image[hole] - pixelated[hole].astype(np.float32)).mean())
            assert off(in_blocks(smooth, pixelated, seen, blocks)) < 0.7 * off(smooth), size


def test_a_pixelated_photo_saved_as_a_rough_jpeg_is_found_at_a_larger_step(photos):
    """JPEG's ripples inside the blocks of a pixelated photo saved at quality 60 pass BLOCK_STEP
    and hide the grid there; looked for again among steps over JPEG_BLOCK_STEPS[0], it is found
    and a smooth patch laid into a hole follows it. Blocks found only so must be about as wide
    as high (BLOCK_ASPECT): 4 x 7 px blocks are not taken, 5 x 5 and 6 x 5 are."""
    from mask2face.pixelation import BLOCK_STEP, JPEG_BLOCK_STEPS, blocks_at
    photo = photos["astronaut"]

    def saved(image, quality=60):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)

    def pixelated(width, height):
        small = cv2.resize(photo, (photo.shape[1] // width, photo.shape[0] // height),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (small.shape[1] * width, small.shape[0] * height),
                          interpolation=cv2.INTER_NEAREST)
    for width, height in ((5, 5), (6, 5)):
        rough = saved(pixelated(width, height))
        assert blocks_at(rough, BLOCK_STEP) is None
        blocks = pixel_blocks(rough)
        assert blocks is not None and blocks.step == JPEG_BLOCK_STEPS[0], blocks
        assert np.allclose(blocks[:2], (width, height), atol=0.05), blocks
        smooth = cv2.resize(photo, rough.shape[1::-1], interpolation=cv2.INTER_AREA).astype(
            np.float32)
        seen = np.ones(rough.shape[:2], bool)
        seen[200:330, 180:340] = False
        hole = ~seen

        def off(image):
            return float(np.abs(image[hole] - rough[hole].astype(np.float32)).mean())
        assert off(in_blocks(smooth, rough, seen, blocks)) < 0.7 * off(smooth)
    wide = saved(pixelated(4, 7))
    assert blocks_at(wide, JPEG_BLOCK_STEPS[0]) is not None and pixel_blocks(wide) is None
    assert pixel_blocks(saved(photo, 50)) is None


def test_natural_photos_are_not_pixelated(sample_faces):
    for photo, _ in sample_faces.values():
        assert pixel_blocks(photo) is None
        # ... nor enlarged smoothly, nor with JPEG's 8 px blocks.
        assert pixel_blocks(cv2.resize(photo, None, fx=3, fy=3,
                                       interpolation=cv2.INTER_LINEAR)) is None
        ok, data = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 30])
        assert ok and pixel_blocks(cv2.imdecode(data, cv2.IMREAD_COLOR)) is None
        # ... nor turned (its edges' stairs are not a grid).
        matrix = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2), 10.0, 1.0)
        assert pixel_blocks(cv2.warpAffine(photo, matrix, photo.shape[1::-1],
                                           borderMode=cv2.BORDER_REFLECT)) is None
    assert pixel_blocks(np.full((200, 200, 3), 90, np.uint8)) is None  # no boundaries at all
    # Pixelated in one direction only (a photo stretched sideways) is not taken for blocks.
    small = small_image(200, 40)
    assert pixel_blocks(cv2.resize(small, (240, 200), interpolation=cv2.INTER_NEAREST)) is None


def test_a_patch_is_laid_on_the_photos_own_grid():
    """in_blocks: a smooth patch over a pixelated photo whose grid starts off the patch's
    corner becomes constant over each of the photo's blocks, the block's mean."""
    size, left, top = 6, 2, 4
    photo = cv2.resize(small_image(30, 30), None, fx=size, fy=size,
                       interpolation=cv2.INTER_NEAREST)[top:, left:]
    height, width = photo.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    patch = np.stack([xs, ys, xs + ys], axis=-1)
    seen = np.ones((height, width), bool)
    seen[40:120, 40:120] = False  # what the patch will cover
    out = in_blocks(patch, photo, seen, (float(size), float(size)))
    assert out.shape == patch.shape and out.dtype == patch.dtype
    # The photo's blocks: columns from size - left on, rows from size - top on, every size.
    for y0 in range(size - top, height - size, size):
        for x0 in range(size - left, width - size, size):
            cell = out[y0:y0 + size, x0:x0 + size]
            np.testing.assert_allclose(cell, patch[y0:y0 + size, x0:x0 + size].mean(axis=(0, 1))
                                       + 0 * cell, atol=1e-3)


def test_paste_into_a_pixelated_photo_keeps_every_pixel_outside_the_region(sample_faces):
    """paste with blocks: the repainted face is made of blocks, and no pixel the region does
    not reach changes."""
    from mask2face.faces import face_crop
    from mask2face.landmarks import EYES
    from mask2face.predict import PREDICT_FRAMING, FaceResult, paste
    photo, face = sample_faces["astronaut"]
    size = 5
    small = cv2.resize(photo, None, fx=1 / size, fy=1 / size, interpolation=cv2.INTER_AREA)
    photo = cv2.resize(small, None, fx=size, fy=size, interpolation=cv2.INTER_NEAREST)
    blocks = pixel_blocks(photo)
    assert blocks is not None and abs(blocks[0] - size) < 0.35
    crop = face_crop(face.landmarks, 128, 0.3, *PREDICT_FRAMING)
    lm = crop.to_crop(face.landmarks)
    region = np.zeros((128, 128), np.float32)
    region[int(np.ceil(lm[EYES, 1].max())) + 4:110, 20:108] = 1.0
    region = cv2.GaussianBlur(region, (0, 0), 2)
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32) / 128
    output = np.stack([xs, ys, 0.5 + 0 * xs], axis=-1)  # smooth
    result = FaceResult(face, crop, output, region, landmarks=lm)
    out, smooth = photo.copy(), photo.copy()
    paste(out, result, blocks=blocks)
    paste(smooth, result)
    weight = cv2.warpAffine(region, crop.inverse, photo.shape[1::-1])
    np.testing.assert_array_equal(out[weight == 0], photo[weight == 0])
    core = cv2.erode((weight > 0.999).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert core.sum() > 2000

    def steps(image):  # share of neighbouring pixels in the core that differ
        return float((np.abs(np.diff(image.astype(int), axis=1)).max(axis=2) > 0)[
            core[:, 1:] & core[:, :-1]].mean())
    assert steps(smooth) > 0.5
    assert steps(out) < 1.5 / size
