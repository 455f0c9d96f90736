"""What training's augmentation draws, and the pairs' split: one definition for both input
pipelines (``mask2face.data`` on ``tf.data``, ``mask2face.numpy_pipeline`` on NumPy and
OpenCV). Nothing here needs TensorFlow.
"""

from __future__ import annotations

import os
import zlib

from mask2face.pairs import PairSet

# Cache decoded pairs in memory when they take less than this share of the machine's memory.
CACHE_MEMORY_SHARE = 0.25
# Shuffle this many decoded pairs at a time: hundreds of batches' worth, and 470 MB at 128 px,
# which a laptop holds.
SHUFFLE_BUFFER = 4096
# Decoded bytes per pixel of a pair: input and target RGB (3 + 3) and the mask (1).
PAIR_BYTES_PER_PIXEL = 7


def fits_in_memory(count: int, size: int) -> bool:
    """Whether ``count`` decoded pairs of ``size`` px take less than CACHE_MEMORY_SHARE of the
    machine's memory (4 GB assumed where it cannot be read): both pipelines keep them then."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 4 << 30
    return count * size * size * PAIR_BYTES_PER_PIXEL < memory * CACHE_MEMORY_SHARE


# Photometric jitter, the same on input and target: brightness shifts by up to 0.08 (of 1.0),
# contrast and saturation scale by up to 15 % and 20 %: the spread of exposure and colour
# between LFW's news photos, small enough that a face keeps its skin tone.
BRIGHTNESS_JITTER = 0.08
CONTRAST_JITTER = 0.15
SATURATION_JITTER = 0.2

# Real photos are softer and more compressed than LFW's: a share of the pairs is shrunk (to
# between this share of its side and full size) and re-expanded, and a share JPEG-compressed,
# identically on input and target, so the model sees low-resolution, blocky faces too.
DEGRADE_SHARE = 0.5
DEGRADE_MIN_SCALE = 0.35
JPEG_SHARE = 0.5
JPEG_QUALITY = (30, 95)

# Predict cuts a face out of the photo aligned by its eyes, which are found only so well: the
# pairs are moved by up to this share of their side, turned by up to this many degrees and
# scaled by up to this factor either way, identically on input, target and mask.
SHIFT_JITTER = 0.04
TURN_JITTER_DEGREES = 6.0
SCALE_JITTER = 0.12
# In a tight close-up the crop reaches past the photo and predict fills that part by repeating
# the photo's edge rows and columns. A share of the pairs is cut the same way: the bottom at
# 70-100 % of the side, each other side by up to this share.
REFRAME_SHARE = 0.3
REFRAME_BOTTOM = (0.7, 1.0)
REFRAME_SIDE_MAX = 0.15

# In a close-up the crop predict cuts is filled by the face, and a mask runs on to the crop's
# bottom and sides (or past the photo's border, whose rows a crop repeats). ``zoom_share`` of the
# pairs is enlarged by ZOOM_RANGE about the eyes' row (where a training crop cut with the run's
# ``crop_margin`` has them, ``eye_row``: 0.38 of the side down for the default 0.3) and a point
# up to ZOOM_SIDE of the side either way of the middle (edges repeated), identically on input,
# target and mask. Predict's crop is cut from the fitted eyes, so its eyes lie on that row
# whatever the photo: a pair enlarged about a point below the middle (up to session 40) moved
# the eyes and the mask's top edge up the crop by as much as 0.3 of its side, and the head so
# trained took more just under the eyes for mask (docs/model.md, "Close-ups about the eyes").
ZOOM_RANGE = (1.15, 1.5)
ZOOM_SIDE = 0.03


def eye_row(crop_margin: float) -> float:
    """The row a training crop cut with ``crop_margin`` has its eyes on, as a share of its side
    from the top (``glasses.usual_eyes``)."""
    from mask2face.glasses import usual_eyes
    return float(usual_eyes(1, crop_margin)[0, 1])


def split_validation(pairs: PairSet, fraction: float, seed: int) -> tuple[PairSet, PairSet | None]:
    """Hold out ``fraction`` of the identities (nobody in both); None when there are too few."""
    identities = sorted(set(pairs.identities))
    if fraction <= 0 or len(identities) < 2:
        return pairs, None
    # A stable hash, so the split does not change when pairs are added.
    ranked = sorted(identities, key=lambda i: zlib.crc32(f"{seed}:{i}".encode()))
    held = set(ranked[:max(1, int(round(len(identities) * fraction)))])
    train = [i for i, ident in enumerate(pairs.identities) if ident not in held]
    val = [i for i, ident in enumerate(pairs.identities) if ident in held]
    if not train:
        return pairs, None
    return pairs.subset(train), pairs.subset(val)


def pair_image_size(pairs: PairSet) -> int:
    """The side of the pairs' images (read from the first one)."""
    from PIL import Image
    with Image.open(pairs.inputs[0]) as image:
        return int(image.size[0])
