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
"""

from __future__ import annotations

import numpy as np

# A boundary between two neighbouring pixels: a step over this many levels (0-255, the largest
# over R, G, B). Below it, JPEG's ripples inside a block.
BLOCK_STEP = 8
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


def boundaries(image: np.ndarray, axis: int) -> np.ndarray:
    """(H, W - 1) for ``axis`` 1 (along rows) or (H - 1, W) for ``axis`` 0: bool, whether the
    step between each pixel and the next exceeds BLOCK_STEP in any channel and is the largest
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
    edges = (steps > BLOCK_STEP) & (steps >= before) & (steps > after)
    return np.moveaxis(edges, -1, axis)


def block_size(lines: np.ndarray) -> float | None:
    """The period (pixels, fractional) at which the boundaries of ``lines`` (R, L) bool, each a
    line of boundaries, recur, or None where they do not recur at one size in BLOCK_SIZES."""
    smallest, largest = BLOCK_SIZES
    edges = lines.astype(np.float32)
    density = float(edges.mean())
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


def pixel_blocks(photo: np.ndarray) -> tuple[float, float] | None:
    """(width, height) of the blocks an RGB (or grey) uint8 ``photo`` is made of, in photo
    pixels, or None where it is not pixelated in both directions."""
    # (every few rows and columns of a large photo say as much)
    rows = photo[::max(1, photo.shape[0] // SAMPLED_LINES)]
    columns = photo[:, ::max(1, photo.shape[1] // SAMPLED_LINES)]
    sizes = []
    for lines in (boundaries(rows, 1), boundaries(columns, 0).T):
        size = block_size(lines)
        if size is None:
            return None
        sizes.append(grid_size(lines, size))
    return sizes[0], sizes[1]


def grid_size(lines: np.ndarray, size: float) -> float:
    """``size`` made exact: the block size within half a pixel of it whose grid, laid along
    the photo, meets the boundaries of ``lines`` (R, L) most often. The recurrences give the
    size to about a tenth of a pixel; over a face 20 blocks wide that drifts by two pixels."""
    counts = lines.sum(axis=0).astype(np.float64)
    seen = np.full(len(counts), lines.shape[0])
    candidates = np.arange(max(size - 0.5, 2.0), size + 0.5 + 1e-9, SIZE_STEP)
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
              blocks: tuple[float, float]) -> np.ndarray:
    """``image`` (H, W, C float: a patch to paste over ``photo``, H x W uint8, the same pixels)
    with each block replaced by its mean, on the photo's own grid: blocks of ``blocks`` (width,
    height; ``pixel_blocks``), placed where the photo's boundaries lie among the pixels marked
    ``seen`` (H, W bool: the photo as it is, not what the patch will cover)."""
    def starts(photo, seen, size):  # the blocks' first columns (of a transposed photo: rows)
        looked = seen[:, 1:] & seen[:, :-1]
        found = boundaries(photo, 1) & looked
        return cell_edges(size, grid_fit(found.sum(axis=0), looked.sum(axis=0), size)[1],
                          seen.shape[1])
    xs = starts(photo, seen, blocks[0])
    ys = starts(np.swapaxes(photo, 0, 1), seen.T, blocks[1])
    sums = np.add.reduceat(np.add.reduceat(image, ys[:-1], axis=0), xs[:-1], axis=1)
    counts = np.outer(np.diff(ys), np.diff(xs))[..., None]
    means = sums / counts
    return np.repeat(np.repeat(means, np.diff(ys), axis=0), np.diff(xs), axis=1).astype(image.dtype)
