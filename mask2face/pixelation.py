"""Pixelated photos: a small image enlarged by repeating its pixels, so that the photo is made
of blocks a few pixels wide. The model repaints a lower face as a smooth image; pasted into such
a photo as it is, it is a soft face under blocky eyes. ``pixel_blocks`` finds the blocks' size
and ``in_blocks`` gives a repainted patch blocks of that size, laid on the photo's own grid.

Where the blocks come from does not matter (nearest-neighbour enlarging, a mosaic filter, a
thumbnail shown big, resized again after); what is looked for is the boundaries between
neighbouring pixels (a step of more than BLOCK_STEP levels, the largest of the steps beside it)
recurring at one distance along the rows and the columns far more often than at the distances
below it. In a photo of natural detail they recur at every distance about as often. The size
those recurrences give is then made exact by laying grids of sizes near it along the photo.
A pixelated photo saved again as a JPEG has ripples inside its blocks that pass for boundaries:
where no grid shows, steps of more than JPEG_BLOCK_STEPS are looked at instead, and the blocks
found so are laid with the same step.
A photo turned after it was pixelated has its grid at a slant: the turn is found, the blocks are
measured on the photo turned upright, and the patch is laid in blocks turned the same way.
Blocks of two or three pixels at a slant (a small photo enlarged pixel by pixel, then turned) are
found in the spectrum of the boundaries instead: a grid there is two sharp peaks at right angles.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

# A boundary between two neighbouring pixels: a step over this many levels (0-255, the largest
# over R, G, B). Below it, JPEG's ripples inside a block.
BLOCK_STEP = 8
# A pixelated photo saved again as a JPEG (as photos are shared) has ripples past BLOCK_STEP inside
# its blocks, and a grid found with it drowns in them: of the 308 masked dev photos found pixelated
# with it, 235 are still found saved at quality 90 and 135 at quality 75. Where none is found, the
# boundaries are looked for again over these steps in turn: 281 and 233 found (218 and 171 with
# both sizes within 5 % of the photo's own), and 6 more of the dev photos as they are (0038, 0127,
# 0185, 0218, 0231, 0474: blocks of 2.8-9.6 px, looked at: pixelated); none more among the 150 bare
# dev photos, 500 LFW and 500 UTKFace photos, as they are or saved at quality 90 or 75. Steps over
# 24 tried after 16 found 266 at quality 75, but took up to 9 UTKFace photos, one more LFW photo
# and a bare dev photo for pixelated too. A grid found only so must be of blocks at most
# BLOCK_ASPECT times as wide as high (or as high as wide): a blurred photo enlarged from a small
# JPEG shows that JPEG's 8 px cells as blocks of two sizes (3.4 by 6.2 px on one UTKFace photo of
# 500); the dev photos' blocks are at most 1.50.
JPEG_BLOCK_STEPS = (16,)
BLOCK_ASPECT = 1.5
# Block sizes looked for (photo pixels); under 3 the paste's smoothness barely shows.
BLOCK_SIZES = (3, 16)
# A photo is pixelated when boundaries recur at and beside the block size at least BLOCK_PEAK
# times as often as they would at random, and at it BLOCK_CONTRAST times as often as at the
# least frequent shorter distance. On the development photos: 256 of the 500 masked ones (blocks
# of 3.4 to 8.0 px, 10th to 90th percentile), none of the 150 bare ones, nor of 500 LFW or 500
# UTKFace photos, nor of 600 pairs' masked crops.
BLOCK_PEAK = 2.0
BLOCK_CONTRAST = 3.0
# The step between the block sizes tried when one is made exact (grid_size).
SIZE_STEP = 0.02
# Lines of a photo looked at each way, at most about.
SAMPLED_LINES = 512
# A photo turned after it was pixelated (a face levelled, a scan set straight) has its blocks at a
# slant: the turns tried (degrees, each way, in steps of ANGLE_STEP, then a quarter of that
# around the best), on at most ANGLE_SIDE x ANGLE_SIDE pixels from the photo's middle; under
# MIN_ANGLE the grid is taken as upright.
MAX_ANGLE = 30.0
ANGLE_STEP = 2.0
ANGLE_SIDE = 192
MIN_ANGLE = 1.0
# Small blocks at a slant (``small_grid``): the sizes looked for (pixels); how many times the
# spectrum's median over those sizes the grid's two peaks must both reach; the share of the photo
# looked at, from its top (a face's eyes and brows: a mask's weave lower down can repeat at these
# sizes), at most SMALL_SIDE pixels square from its middle. On the development photos: 52 more
# of the 500 masked ones (2.2 to 3.4 px), none of the 150 bare ones, 500 LFW, 500 UTKFace photos
# or 600 pairs' masked crops (the highest of theirs reaches 63).
SMALL_SIZES = (2.2, 4.0)
SMALL_PEAK = 100.0
SMALL_TOP = 0.45
SMALL_SIDE = 320
# The peak gives the size to a few hundredths of a pixel; grid_size looks this far around it.
SMALL_WITHIN = 0.1


class Blocks(NamedTuple):
    """A pixelated photo's blocks: width and height in photo pixels, the turn of their grid
    (degrees, counter-clockwise as ``cv2.getRotationMatrix2D`` turns: the photo turned by it
    has its blocks upright), and the step between neighbouring pixels (levels) that marks a
    boundary between two of them in this photo (``boundaries``)."""
    width: float
    height: float
    angle: float = 0.0
    step: int = BLOCK_STEP


def boundaries(image: np.ndarray, axis: int, step: int = BLOCK_STEP) -> np.ndarray:
    """(H, W - 1) for ``axis`` 1 (along rows) or (H - 1, W) for ``axis`` 0: bool, whether the
    step between each pixel and the next exceeds ``step`` in any channel and is the largest
    of the steps beside it along the line. A pixelated photo enlarged again, or resampled, has
    its blocks' edges spread over two steps; the larger one alone marks where the edge is."""
    steps = np.abs(np.diff(image.astype(np.int16), axis=axis))
    if steps.ndim == 3:
        steps = steps.max(axis=2)
    steps = np.moveaxis(steps, axis, -1)
    before = np.zeros_like(steps)
    before[..., 1:] = steps[..., :-1]
    after = np.zeros_like(steps)
    after[..., :-1] = steps[..., 1:]
    edges = (steps > step) & (steps >= before) & (steps > after)
    return np.moveaxis(edges, -1, axis)


def both_in(valid: np.ndarray, axis: int) -> np.ndarray:
    """``boundaries``' shape for ``axis``: whether a pixel and the next along it both lie in
    ``valid`` (the pixels that belong to a turned photo: a step from one to the canvas beyond is
    no block's edge)."""
    return valid[:, 1:] & valid[:, :-1] if axis == 1 else valid[1:] & valid[:-1]


def block_size(lines: np.ndarray) -> float | None:
    """The period (pixels, fractional) at which the boundaries of ``lines`` (R, L) bool, each a
    line of boundaries, recur, or None where they do not recur at one size in BLOCK_SIZES."""
    smallest, largest = BLOCK_SIZES
    edges = lines.astype(np.float32)
    density = float(edges.mean()) if edges.size else 0.0
    if density <= 0 or edges.shape[1] <= 2 * largest:
        return None
    # How often a boundary has another one ``lag`` pixels on, against chance.
    recur = np.zeros(largest + 2)
    for lag in range(1, largest + 2):
        recur[lag] = float((edges[:, lag:] * edges[:, :-lag]).mean()) / density ** 2
    peak = recur[2:largest + 1].max()
    # The block size: the first distance at which boundaries recur often (their multiples recur
    # as often, and a size between two whole pixels shows at the two: 3.5 at 3 and 4, fully at
    # 7; 5.9 at 5, 6 and 7, fully at 12), the mean over it and its two neighbours, above the
    # least often shorter one (the valley).
    lag = next(k for k in range(2, largest + 1) if recur[k] >= 0.25 * peak
               and recur[k] + max(recur[k - 1], recur[k + 1]) >= 0.5 * peak)
    if lag < smallest:
        return None
    valley = recur[2:lag].min()
    around = recur[lag - 1:lag + 2]
    if around.sum() < BLOCK_PEAK or around.max() < BLOCK_CONTRAST * valley:
        return None
    weights = np.maximum(around - valley, 0.0)
    return float((np.arange(lag - 1, lag + 2) * weights).sum() / weights.sum())


def pixel_blocks(photo: np.ndarray) -> Blocks | None:
    """The blocks an RGB (or grey) uint8 ``photo`` is made of, or None where it is not
    pixelated in both directions. Their size is measured along the grid: where the grid lies at
    a slant, on the photo turned upright. Boundaries are steps over BLOCK_STEP, or, where no
    grid shows so, over each of JPEG_BLOCK_STEPS in turn (blocks no more than BLOCK_ASPECT
    times as wide as high, or as high as wide)."""
    blocks = blocks_at(photo, BLOCK_STEP)
    for step in JPEG_BLOCK_STEPS:
        if blocks is not None:
            break
        blocks = blocks_at(photo, step)
        if blocks is not None and max(blocks.width, blocks.height) > \
                BLOCK_ASPECT * min(blocks.width, blocks.height):
            blocks = None
    return blocks


def blocks_at(photo: np.ndarray, step: int) -> Blocks | None:
    """``pixel_blocks`` with boundaries at steps over ``step`` levels."""
    sizes = upright_sizes(photo, step=step)
    if sizes is None:
        return small_grid(photo, step)
    angle = grid_angle(photo, step)
    if abs(angle) >= MIN_ANGLE:
        turned, valid = turned_upright(photo, angle)
        along = upright_sizes(turned, valid, step)
        if along is not None:
            return Blocks(along[0], along[1], angle, step)
    return Blocks(sizes[0], sizes[1], 0.0, step)


def small_grid(photo: np.ndarray, step: int = BLOCK_STEP) -> Blocks | None:
    """Blocks of SMALL_SIZES at a slant in ``photo``, or None. Their boundaries along the rows
    and along the columns recur along the grid's two directions: the spectrum of the boundaries
    has a sharp peak at the block size in each, at right angles. Peaks along the photo's axes
    are not looked at (JPEG's 8 px blocks have them at 8 / 3 px)."""
    band_rows = max(int(photo.shape[0] * SMALL_TOP), 4 * BLOCK_SIZES[1])
    y0 = max(0, (band_rows - SMALL_SIDE) // 2)
    x0 = max(0, (photo.shape[1] - SMALL_SIDE) // 2)
    top = photo[y0:min(band_rows, y0 + SMALL_SIDE), x0:x0 + SMALL_SIDE]
    if min(top.shape[:2]) < 8 * SMALL_SIZES[1]:  # too few blocks to show a grid
        return None
    power = 0.0
    for axis in (1, 0):
        lines = boundaries(top, axis, step)[:top.shape[0] - 1, :top.shape[1] - 1].astype(
            np.float32)
        window = np.outer(np.hanning(lines.shape[0]), np.hanning(lines.shape[1]))
        power = power + np.abs(np.fft.fft2((lines - lines.mean()) * window)) ** 2
    power = np.fft.fftshift(power)
    h, w = power.shape
    fx, fy = np.meshgrid((np.arange(w) - w // 2) / w, (np.arange(h) - h // 2) / h)
    radius = np.hypot(fx, fy)
    band = (radius > 1 / SMALL_SIZES[1]) & (radius < 1 / SMALL_SIZES[0])
    background = float(np.median(power[band])) if band.any() else 0.0
    if background <= 0:
        return None
    turn = (np.degrees(np.arctan2(fy, fx)) + 45) % 90 - 45
    looked = np.where(band & (np.abs(turn) >= MIN_ANGLE) & (fy >= 0), power, 0.0)

    def near(y, x):  # a bin and its neighbours
        return slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2)

    best, at = 0.0, (0, 0)
    for index in np.argsort(looked.ravel())[::-1][:8]:  # the highest; each with its partner
        y, x = divmod(int(index), w)
        # The partner: the peak at right angles, as far out (blocks as wide as high; on the
        # dev photos, letting them be 5 % wider or higher found 33 more, judged no better).
        py, px = int(round(fx[y, x] * h)) + h // 2, int(round(-fy[y, x] * w)) + w // 2
        if 0 <= py < h and 0 <= px < w:
            both = float(min(power[y, x], power[near(py, px)].max()))
            if both > best:
                best, at = both, (y, x)
    if best < SMALL_PEAK * background:
        return None
    # The peak's place to a fraction of a bin (the mean over it and its neighbours, by power):
    # the grid's turn and the blocks' size, made exact along each way on the photo turned upright.
    cell = near(*at)
    weights = power[cell] / power[cell].sum()
    peak_x, peak_y = float((fx[cell] * weights).sum()), float((fy[cell] * weights).sum())
    angle = float((np.degrees(np.arctan2(peak_y, peak_x)) + 45) % 90 - 45)
    if abs(angle) < MIN_ANGLE:  # a peak of the axes' own, spilt into the bins beside them
        return None
    size = 1.0 / np.hypot(peak_x, peak_y)
    turned, valid = turned_upright(photo, angle)
    sizes = []
    for image, inside in ((turned, valid), (np.swapaxes(turned, 0, 1), valid.T)):
        looked_at = both_in(inside, 1)
        sizes.append(grid_size(boundaries(image, 1, step) & looked_at, size, looked_at,
                               SMALL_WITHIN))
    return Blocks(sizes[0], sizes[1], angle, step)


def upright_sizes(photo: np.ndarray, valid: np.ndarray | None = None, step: int = BLOCK_STEP
                  ) -> tuple[float, float] | None:
    """(width, height) of upright blocks in ``photo`` (``valid``: the pixels that belong to it,
    where it was turned), or None; boundaries at steps over ``step``."""
    def along_rows(photo, valid):  # (of a transposed photo: along its columns)
        # (every few rows of a large photo say as much)
        stride = max(1, photo.shape[0] // SAMPLED_LINES)
        lines = boundaries(photo[::stride], 1, step)
        looked = None
        if valid is not None:
            looked = both_in(valid[::stride], 1)
            lines = lines & looked
        size = block_size(lines)
        return None if size is None else grid_size(lines, size, looked)
    across = along_rows(photo, valid)
    if across is None:
        return None
    down = along_rows(np.swapaxes(photo, 0, 1), None if valid is None else valid.T)
    return None if down is None else (across, down)


def grid_angle(photo: np.ndarray, step: int = BLOCK_STEP) -> float:
    """The turn (degrees) that sets the grid of a pixelated ``photo`` upright: the one under
    which its boundaries (at steps over ``step``) gather most in single columns and rows (the
    spread of each column's and row's share of boundaries, against their mean, the largest)."""
    h, w = photo.shape[:2]
    top, left = max(0, (h - ANGLE_SIDE) // 2), max(0, (w - ANGLE_SIDE) // 2)
    middle = np.ascontiguousarray(photo[top:top + ANGLE_SIDE, left:left + ANGLE_SIDE])
    if middle.ndim == 3:  # (one channel is turned and compared three times as fast)
        middle = middle.max(axis=2)

    def gathered(angle):
        turned, valid = turned_upright(middle, angle, grow=False)
        score = 0.0
        for axis in (1, 0):
            looked = both_in(valid, axis)
            found = (boundaries(turned, axis, step) & looked).sum(axis=1 - axis).astype(
                np.float64)
            seen = looked.sum(axis=1 - axis).astype(np.float64)
            enough = seen > 0.5 * max(seen.max(), 1.0)
            rate = found[enough] / seen[enough]
            if rate.size < 2 or rate.mean() <= 0:
                return 0.0
            score += float(rate.std() / rate.mean())
        return score
    coarse = np.arange(-MAX_ANGLE, MAX_ANGLE + 1e-9, ANGLE_STEP)
    best = float(coarse[int(np.argmax([gathered(a) for a in coarse]))])
    fine = best + np.arange(-0.75, 0.75 + 1e-9, ANGLE_STEP / 4)
    return float(fine[int(np.argmax([gathered(a) for a in fine]))])


def turned_upright(image: np.ndarray, angle: float, grow: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``angle`` degrees about its middle, and the turned pixels that lie in
    it (bool, a pixel in from its edge). With ``grow`` the canvas is large enough to hold the
    whole turned image; without, it keeps ``image``'s size."""
    matrix, size = turn_matrix(image.shape, angle, grow)
    turned = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpAffine(np.ones(image.shape[:2], np.uint8), matrix, size,
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
    return turned, cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0


def turn_matrix(shape, angle: float, grow: bool = True) -> tuple[np.ndarray, tuple[int, int]]:
    """The 2 x 3 matrix that turns an image of ``shape`` by ``angle`` degrees about its middle,
    and the (width, height) of the canvas it is turned onto (``turned_upright``)."""
    h, w = shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    if not grow:
        return matrix, (w, h)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    width, height = int(np.ceil(w * cos + h * sin)) + 2, int(np.ceil(w * sin + h * cos)) + 2
    matrix[:, 2] += [(width - w) / 2.0, (height - h) / 2.0]
    return matrix, (width, height)


def grid_size(lines: np.ndarray, size: float, looked: np.ndarray | None = None,
              within: float = 0.5) -> float:
    """``size`` made exact: the block size within ``within`` pixels of it whose grid, laid along
    the photo, meets the boundaries of ``lines`` (R, L) most often (``looked``: where a
    boundary could be seen; None: everywhere). The recurrences give the size to about a tenth
    of a pixel; over a face 20 blocks wide that drifts by two pixels."""
    counts = lines.sum(axis=0).astype(np.float64)
    seen = (np.full(len(counts), lines.shape[0]) if looked is None
            else looked.sum(axis=0).astype(np.float64))
    candidates = np.arange(max(size - within, 2.0), size + within + 1e-9, SIZE_STEP)
    rates = np.array([grid_fit(counts, seen, candidate)[0] for candidate in candidates])
    best = candidates[rates >= rates.max() - 1e-9]  # sizes that meet the same pixels: the middle
    return float(best[len(best) // 2])


def grid_fit(counts: np.ndarray, seen: np.ndarray, size: float) -> tuple[float, float]:
    """How well (the share of boundaries found on it) and where (0 to ``size``) a grid of
    boundaries every ``size`` pixels lies along a line at best: ``counts`` (L,) boundaries found
    after each pixel, out of ``seen`` (L,) looked at."""
    rate = counts / np.maximum(seen, 1)
    starts = np.arange(0.0, size, 0.25)
    at = np.round(starts[:, None] + size * np.arange(int(len(rate) / size) + 1)).astype(int)
    valid = at <= len(rate) - 1
    valid[valid] = seen[at[valid]] > 0
    found = np.where(valid, rate[np.minimum(at, len(rate) - 1)], 0.0).sum(axis=1)
    looked = valid.sum(axis=1)
    means = np.where(looked >= 2, found / np.maximum(looked, 1), -1.0)
    best = int(np.argmax(means))
    return float(means[best]), float(starts[best])


def cell_edges(size: float, phase: float, length: int) -> np.ndarray:
    """The first pixel of each block along a line of ``length`` (0 and ``length`` included)."""
    starts = np.round(np.arange(phase - size, length + size, size)).astype(int) + 1
    return np.unique(np.clip(np.concatenate([[0], starts, [length]]), 0, length))


def in_blocks(image: np.ndarray, photo: np.ndarray, seen: np.ndarray,
              blocks: Blocks | tuple[float, float]) -> np.ndarray:
    """``image`` (H, W, C float: a patch to paste over ``photo``, H x W uint8, the same pixels)
    with each block replaced by its mean, on the photo's own grid: blocks of ``blocks``
    (``pixel_blocks``; upright where it has no angle), placed where the photo's boundaries lie
    among the pixels marked ``seen`` (H, W bool: the photo as it is, not what the patch will
    cover). A slanted grid is laid on the patch turned upright, and the blocks turned back."""
    blocks = Blocks(*blocks)
    if abs(blocks.angle) < MIN_ANGLE:
        return upright_blocks(image, photo, seen, np.ones(seen.shape, bool),
                              (blocks.width, blocks.height), blocks.step)
    matrix, size = turn_matrix(photo.shape, blocks.angle)
    turned_photo, valid = turned_upright(photo, blocks.angle)
    turned_seen = cv2.warpAffine(seen.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    turned_image = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    turned_image = turned_image.reshape(size[1], size[0], -1)  # (one channel: cv2 drops it)
    # Every pixel of the patch counts towards its block's mean (the canvas's corners beyond it
    # do not); a block with none of them (a corner of the canvas) keeps the turned patch, so
    # that turning back, the patch's edge does not reach into an empty block's black.
    patch = cv2.warpAffine(np.ones(photo.shape[:2], np.uint8), matrix, size,
                           flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0) > 0
    means = upright_blocks(turned_image, turned_photo, turned_seen & valid, patch,
                           (blocks.width, blocks.height), blocks.step)
    back = cv2.warpAffine(means, matrix, photo.shape[1::-1],
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return back.reshape(image.shape).astype(image.dtype)


def upright_blocks(image: np.ndarray, photo: np.ndarray, seen: np.ndarray, valid: np.ndarray,
                   blocks: tuple[float, float], step: int = BLOCK_STEP) -> np.ndarray:
    """``in_blocks`` for an upright grid; ``valid``: the pixels of ``image`` that count towards
    a block's mean (a turned patch's canvas holds others); ``step``: the photo's boundaries'."""
    def starts(photo, seen, size):  # the blocks' first columns (of a transposed photo: rows)
        looked = both_in(seen, 1)
        found = boundaries(photo, 1, step) & looked
        return cell_edges(size, grid_fit(found.sum(axis=0), looked.sum(axis=0), size)[1],
                          seen.shape[1])
    xs = starts(photo, seen, blocks[0])
    ys = starts(np.swapaxes(photo, 0, 1), seen.T, blocks[1])
    weight = valid.astype(np.float64)[..., None]
    sums = np.add.reduceat(np.add.reduceat(image * weight, ys[:-1], axis=0), xs[:-1], axis=1)
    counts = np.add.reduceat(np.add.reduceat(weight, ys[:-1], axis=0), xs[:-1], axis=1)
    means = sums / np.maximum(counts, 1e-9)

    def spread(cells):
        return np.repeat(np.repeat(cells, np.diff(ys), axis=0), np.diff(xs), axis=1)
    return np.where(spread(counts) > 0, spread(means), image).astype(image.dtype)
