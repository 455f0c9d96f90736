"""The training input pipeline: pair folders -> ``tf.data``.

The pairs come from ``mask2face.pairs`` (their layout on disk). Augmentation draws its
randomness once per pair and applies it to input, target and mask alike. Targets of the "image"
output carry the true mask as a fourth channel (see ``mask2face.losses``).
"""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from mask2face.augmentation import (BRIGHTNESS_JITTER, CONTRAST_JITTER,  # noqa: F401
                                    DEGRADE_MIN_SCALE, DEGRADE_SHARE, JPEG_QUALITY, JPEG_SHARE,
                                    REFRAME_BOTTOM, REFRAME_SHARE, REFRAME_SIDE_MAX,
                                    SATURATION_JITTER, SCALE_JITTER, SHIFT_JITTER, SHUFFLE_BUFFER,
                                    TURN_JITTER_DEGREES, ZOOM_RANGE, ZOOM_SIDE, eye_row,
                                    fits_in_memory, pair_image_size, split_validation)
from mask2face.errors import UsageError
from mask2face.pairs import EDGE_BAND_PX as MASK_EDGE_BAND_PX
from mask2face.pairs import HOLE_GROWTH_PX, PairSet, hole_fill

log = logging.getLogger(__name__)


def _decode(input_path, output_path, mask_path, size: int, face_path=None):
    def read(path, channels):
        image = tf.io.decode_png(tf.io.read_file(path), channels=channels)
        image = tf.image.resize(image, (size, size), antialias=True)
        return tf.cast(tf.round(image), tf.uint8)
    decoded = read(input_path, 3), read(output_path, 3), grow_mask(read(mask_path, 1))
    return decoded if face_path is None else decoded + (read(face_path, 1),)


def grow_mask(mask: tf.Tensor) -> tf.Tensor:
    """The saved region grown by the drawing's anti-aliasing band (MASK_EDGE_BAND_PX): input and
    target differ there too, so the model must learn to replace it, or the composite output
    keeps a faint line of the mask's edge."""
    width = 2 * MASK_EDGE_BAND_PX + 1
    grown = tf.nn.max_pool2d(tf.cast(mask, tf.float32)[None], width, 1, "SAME")[0]
    return tf.cast(grown, tf.uint8)


def _to_float(masked, clean, mask):
    return (tf.cast(masked, tf.float32) / 255.0, tf.cast(clean, tf.float32) / 255.0,
            tf.cast(mask, tf.float32) / 255.0)


def _degrade(images, draws, seed):
    """Shrink-and-expand and JPEG, the same on every image of a pair."""
    size = tf.shape(images[0])[0]
    scale = DEGRADE_MIN_SCALE + (1.0 - DEGRADE_MIN_SCALE) * draws[0]
    small = tf.maximum(8, tf.cast(tf.cast(size, tf.float32) * scale, tf.int32))

    def soften(image):
        image = tf.image.resize(image, (small, small), antialias=True)
        return tf.clip_by_value(tf.image.resize(image, (size, size)), 0.0, 1.0)
    images = [tf.cond(draws[1] < DEGRADE_SHARE, lambda i=i: soften(i), lambda i=i: i)
              for i in images]
    quality = tf.cast(JPEG_QUALITY[0] + (JPEG_QUALITY[1] - JPEG_QUALITY[0]) * draws[2], tf.int32)

    def compress(image):
        image = tf.image.adjust_jpeg_quality(image, quality)
        return tf.reshape(image, tf.shape(images[0]))
    return [tf.cond(draws[3] < JPEG_SHARE, lambda i=i: compress(i), lambda i=i: i)
            for i in images]


def _transform(images, transform):
    """Every image sampled through the same projective ``transform`` (eight numbers, output
    pixel to input pixel), bilinear, with the edge rows and columns repeated beyond the image."""
    return [tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")[0] for image in images]


def _move(images, draws):
    """The same small shift, turn and scale of every image (edges repeated)."""
    size = tf.cast(tf.shape(images[0])[0], tf.float32)
    angle = draws[0] * TURN_JITTER_DEGREES * np.pi / 180
    scale = tf.exp(draws[1] * np.log(1 + SCALE_JITTER))
    dx, dy = draws[2] * SHIFT_JITTER * size, draws[3] * SHIFT_JITTER * size
    centre = size / 2
    # The output pixel (x, y) samples the input at A (x - c) + c + shift: A turns and scales.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    transform = tf.stack([cos, -sin, centre - cos * centre + sin * centre + dx,
                          sin, cos, centre - sin * centre - cos * centre + dy, 0.0, 0.0])
    return _transform(images, transform)


def _zoom(images, draws, eyes_row: float):
    """The same enlargement of every image about ``eyes_row`` (a share of the side from the
    top, ``eye_row``); ``draws``: numbers in [0, 1), ``draws[0]`` sets the zoom, ``draws[2]`` the
    sideways shift, ``draws[1]`` is not used."""
    size = tf.cast(tf.shape(images[0])[0], tf.float32)
    zoom = ZOOM_RANGE[0] + (ZOOM_RANGE[1] - ZOOM_RANGE[0]) * draws[0]
    dx = ZOOM_SIDE * size * (2.0 * draws[2] - 1.0)
    centre, eyes = size / 2, eyes_row * size
    # The output pixel (x, y) samples the input at ((x - c) / zoom + c + dx, (y - e) / zoom + e):
    # the eyes' row e stays where it is.
    transform = tf.stack([1.0 / zoom, 0.0, centre - centre / zoom + dx,
                          0.0, 1.0 / zoom, eyes - eyes / zoom, 0.0, 0.0])
    return _transform(images, transform)


def _reframe(images, draws):
    """Cut every image at the same lines and repeat the edge beyond them, as a crop that
    reaches past the photo's border is filled."""
    size = tf.shape(images[0])[0]
    side = tf.cast(size, tf.float32)
    bottom = tf.cast(side * (REFRAME_BOTTOM[0] + (REFRAME_BOTTOM[1] - REFRAME_BOTTOM[0])
                             * draws[0]), tf.int32)
    left = tf.cast(side * REFRAME_SIDE_MAX * tf.maximum(0.0, 2 * draws[1] - 1), tf.int32)
    right = size - tf.cast(side * REFRAME_SIDE_MAX * tf.maximum(0.0, 2 * draws[2] - 1), tf.int32)
    top = tf.cast(side * REFRAME_SIDE_MAX * tf.maximum(0.0, 3 * draws[3] - 2), tf.int32)
    rows = tf.clip_by_value(tf.range(size), top, tf.maximum(bottom, top + 1) - 1)
    cols = tf.clip_by_value(tf.range(size), left, tf.maximum(right, left + 1) - 1)
    return [tf.gather(tf.gather(image, rows, axis=0), cols, axis=1) for image in images]


def _augment(masked, clean, mask, seed, unmasked_share: float = 0.0, degrade: bool = True,
             hole_share: float = 0.0, hole_spread: int = 0, face=None,
             zoom_share: float = 0.0, surroundings: bool = False, *, eyes_row: float):
    """One random draw per pair: the same flip and photometric change on input and target.

    A share ``unmasked_share`` of the pairs becomes an unmasked face with an empty mask, so the
    mask head learns to leave faces without a mask alone; of the others, a share ``hole_share``
    shows the mask as a grey hole (``with_hole``), and the hole is its mask target; with
    ``hole_spread``, such a hole reaches further sideways and down (``spread_hole``). With
    ``face`` (the face's area, uint8 (S, S, 1)), moved with the pair, the hole is grey over the
    face and OUTSIDE_FACE_GREY beyond it (``training.face_outline``); with ``surroundings``,
    filled with the colours round it (``surroundings_fill``); else mid grey.
    A share ``zoom_share`` of the pairs is enlarged as a close-up's crop shows its face, about
    the eyes' row ``eyes_row`` (``_zoom``, ``eye_row``)."""
    faces = [] if face is None else [face]  # moved with the pair where there is one
    flip = tf.random.stateless_uniform([], seed) < 0.5
    masked, clean, mask, *faces = [
        tf.cond(flip, lambda t=t: tf.image.flip_left_right(t), lambda t=t: t)
        for t in (masked, clean, mask, *faces)]
    masked, clean, mask = _to_float(masked, clean, mask)
    faces = [tf.cast(f, tf.float32) / 255.0 for f in faces]
    draws = tf.random.stateless_uniform([3], seed + 1, -1.0, 1.0)
    brightness = BRIGHTNESS_JITTER * draws[0]
    contrast, saturation = 1.0 + CONTRAST_JITTER * draws[1], 1.0 + SATURATION_JITTER * draws[2]

    def jitter(image):
        # Pixel-wise only, about a fixed grey: a per-image mean would differ between the
        # masked input and its target, and so would the jitter.
        image = image + brightness
        image = (image - 0.5) * contrast + 0.5
        gray = tf.reduce_mean(image, axis=-1, keepdims=True)
        image = (image - gray) * saturation + gray
        return tf.clip_by_value(image, 0.0, 1.0)
    masked, clean = jitter(masked), jitter(clean)
    draws = tf.random.stateless_uniform([5], seed + 3, -1.0, 1.0)
    masked, clean, mask, *faces = _move([masked, clean, mask, *faces], draws)
    if zoom_share > 0:
        draws = tf.random.stateless_uniform([4], seed + 7)
        masked, clean, mask, *faces = tf.cond(
            draws[3] < zoom_share,
            lambda: tuple(_zoom([masked, clean, mask, *faces], draws, eyes_row)),
            lambda: (masked, clean, mask, *faces))
    mask = tf.round(mask)
    draws = tf.random.stateless_uniform([5], seed + 4)
    masked, clean, mask, *faces = tf.cond(
        draws[4] < REFRAME_SHARE, lambda: tuple(_reframe([masked, clean, mask, *faces], draws)),
        lambda: (masked, clean, mask, *faces))
    draws = tf.random.stateless_uniform([5], seed + 2)
    if degrade:
        masked, clean = _degrade([masked, clean], draws, seed)
    # Blur and JPEG blocks reach a few pixels past the mask: outside it, the input stays the
    # target exactly, as in the pairs themselves.
    masked = tf.where(mask > 0.5, masked, clean)
    unmasked = draws[4] < unmasked_share
    masked = tf.where(unmasked, clean, masked)
    mask = tf.where(unmasked, tf.zeros_like(mask), mask)
    if hole_share > 0:
        # The hole is the mask grown a little, and all of it is to be filled: its mask target
        # is the hole, so the composite (and every loss that looks inside the mask) takes the
        # generator's pixels over the grown band too. With the drawn mask as the target, that
        # band was left to the mask head's doubt, the generator was hardly taught there, and
        # predict, which pastes the whole hole, showed an orange seam along the hole's top.
        hole = tf.random.stateless_uniform([], seed + 5) < hole_share
        grown = grown_hole(mask)
        if hole_spread > 0:
            grown = spread_hole(grown, seed + 6, hole_spread)
        if surroundings:  # the pull-push only for the pairs that show a hole
            masked = tf.cond(hole, lambda: surroundings_fill(masked[None], grown[None])[0],
                             lambda: masked)
        else:
            fill = hole_fill(faces[0]) if faces else 0.5
            masked = tf.where(hole, masked * (1.0 - grown) + fill * grown, masked)
        mask = tf.where(hole, grown, mask)
    return masked, clean, mask


def grown_hole(mask):
    """The mask grown by HOLE_GROWTH_PX (a square): the hole ``with_hole`` greys out. Works on
    one mask or a batch."""
    batched = len(mask.shape) == 4
    m = mask if batched else mask[None]
    width = 2 * HOLE_GROWTH_PX + 1
    grown = tf.nn.max_pool2d(tf.cast(m, tf.float32), width, 1, "SAME")
    return grown if batched else grown[0]


def spread_hole(hole, seed, spread: int):
    """One (S, S, 1) hole grown further by a random number of pixels from 0 to ``spread`` to
    each side and, drawn apart, down (never up, where the eyes are). Predict's holes are the
    mask its head found on a real photo, which often stands off the cheeks and reaches past
    the jaw's outline into the background; a drawn mask follows the jaw, so without this the
    model hardly ever has to paint the background beside the face and the face's edge inside
    a hole, and on real photos it blurs the two together."""
    amounts = tf.random.stateless_uniform([2], seed, 0, spread + 1, dtype=tf.int32)
    hole = tf.cast(hole, tf.float32)[None]

    def sideways(h):
        return tf.nn.max_pool2d(h, (1, 3), 1, "SAME")

    def down(h):
        return tf.maximum(h, tf.pad(h[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]]))
    for step, amount in ((sideways, amounts[0]), (down, amounts[1])):
        _, hole = tf.while_loop(lambda i, h, n=amount: i < n,
                                lambda i, h, grow=step: (i + 1, grow(h)), (tf.constant(0), hole))
    return hole[0]


def _pool2(x):
    """(N, H, W, C) averaged over 2 x 2 blocks (H and W even)."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def _up2(x):
    """(N, H, W, C) enlarged twice by linear interpolation between pixel centres, the edges
    held (``predict._up2`` to the float rounding)."""
    def along(x, axis):
        n = x.shape[axis]
        first = tf.gather(x, [0], axis=axis)
        last = tf.gather(x, [n - 1], axis=axis)
        before = tf.concat([first, tf.gather(x, tf.range(n - 1), axis=axis)], axis)
        after = tf.concat([tf.gather(x, tf.range(1, n), axis=axis), last], axis)
        even, odd = 0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after
        both = tf.stack([even, odd], axis=axis + 1)
        shape = tf.concat([tf.shape(x)[:axis], [2 * n], tf.shape(x)[axis + 1:]], 0)
        return tf.reshape(both, shape)
    return along(along(x, 1), 2)


def surroundings_fill(images, holes):
    """(N, S, S, 3) images with each (N, S, S, 1) hole (1 = hole) filled by pull-push: the
    pixels round it averaged over ever coarser 2 x 2 blocks, then spread back in finer and
    finer, so that each hole pixel takes the colours nearest it, smoothly (beside the jaw the
    background's, over the middle of the face the skin's). ``predict.surroundings_fill`` is
    the same on NumPy arrays (tested)."""
    known = 1.0 - holes
    levels = [(images * known, known)]
    while levels[-1][1].shape[1] % 2 == 0 and levels[-1][1].shape[1] > 1:
        colour, weight = levels[-1]
        levels.append((_pool2(colour), _pool2(weight)))
    colour, weight = levels[-1]
    estimate = tf.where(weight > 0, colour / tf.maximum(weight, 1e-6), 0.5)
    for colour, weight in reversed(levels[:-1]):
        estimate = colour + (1.0 - weight) * _up2(estimate)
    return images * known + estimate * holes


def with_hole(image, mask, face=None, surroundings: bool = False):
    """The image with the mask (grown by HOLE_GROWTH_PX) filled with mid grey (``hole_fill``
    with ``face``, the face's area; with ``surroundings``, ``surroundings_fill``): what
    predict's second pass shows a model trained with ``hole_share``. Works on one image or a
    batch."""
    grown = grown_hole(mask)
    if surroundings:
        batched = len(image.shape) == 4
        filled = surroundings_fill(image if batched else image[None],
                                   grown if batched else grown[None])
        return filled if batched else filled[0]
    return image * (1.0 - grown) + (0.5 if face is None else hole_fill(face)) * grown


def make_dataset(pairs: PairSet, image_size: int, batch_size: int, *, training: bool,
                 mask_head: bool, augment: bool = True, seed: int = 0,
                 cache: bool | None = None, unmasked_share: float = 0.0,
                 degrade: bool = True, hole_share: float = 0.0,
                 hole_spread: int = 0, face_outline: bool = False,
                 zoom_share: float = 0.0, hole_surroundings: bool = False,
                 crop_margin: float = 0.3) -> tf.data.Dataset:
    """A batched dataset of (masked, targets) where targets is {"image": rgb+mask, "mask": mask}
    (or just rgb+mask when the model has no mask head).

    Args:
        pairs: the pair files.
        image_size: side the images are resized to (the pairs' own size when they match).
        batch_size: images per batch.
        training: shuffle, repeat-safe and augment.
        mask_head: whether the model has a "mask" output.
        augment: flips, photometric jitter, softening and JPEG (training only).
        seed: the seed of shuffling and augmentation.
        cache: keep decoded pairs in memory; None decides from their size.
        unmasked_share: share of training pairs shown as unmasked faces with an empty mask
            (with ``augment``).
        degrade: softening and JPEG as part of ``augment``.
        hole_share: share of the masked training pairs shown with a grey hole.
        hole_spread: such a hole grows up to this many more pixels sideways and down.
        face_outline: a hole is filled with two greys, over the face's area (``pairs.faces``,
            needed) and beyond it (``hole_fill``).
        zoom_share: share of the training pairs enlarged as a close-up (``_zoom``).
        hole_surroundings: a hole is filled with the colours round it (``surroundings_fill``).
        crop_margin: the margin the pairs' crops were cut with (``data.crop_margin``): where
            their eyes lie, which a close-up keeps in place (``eye_row``).
    """
    if face_outline and hole_surroundings:
        raise UsageError("training.face_outline and training.hole_surroundings fill the hole "
                         "in two different ways: set one of them")
    if face_outline and hole_share > 0 and pairs.faces is None:
        raise UsageError("training.face_outline needs each pair's face area: make them with "
                         "'python -m mask2face.face_areas PAIRS_FOLDER'")
    outlined = face_outline and hole_share > 0 and training and augment
    if outlined:
        ds = tf.data.Dataset.from_tensor_slices((pairs.inputs, pairs.outputs, pairs.masks,
                                                 pairs.faces))
        ds = ds.map(lambda i, o, m, f: _decode(i, o, m, image_size, f),
                    num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = tf.data.Dataset.from_tensor_slices((pairs.inputs, pairs.outputs, pairs.masks))
        ds = ds.map(lambda i, o, m: _decode(i, o, m, image_size),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if cache is None:
        cache = fits_in_memory(len(pairs), image_size)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(len(pairs), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    if training and augment:
        row = eye_row(crop_margin)
        seeds = tf.data.Dataset.random(seed=seed).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda pair, s: _augment(*pair[:3], tf.cast(s % (2 ** 31 - 1), tf.int32),
                                     unmasked_share, degrade, hole_share,
                                     hole_spread, pair[3] if outlined else None,
                                     zoom_share, hole_surroundings, eyes_row=row),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)

    def targets(masked, clean, mask):
        image_target = tf.concat([clean, mask], axis=-1)
        return masked, ({"image": image_target, "mask": mask} if mask_head else image_target)
    ds = ds.map(targets, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load_batch(pairs: PairSet, image_size: int, count: int) -> tuple[np.ndarray, ...]:
    """The first ``count`` pairs as float arrays (masked, clean, mask), for previews."""
    ds = make_dataset(pairs.subset(range(min(count, len(pairs)))), image_size, count,
                      training=False, mask_head=True, cache=False)
    masked, targets = next(iter(ds))
    return masked.numpy(), targets["image"].numpy()[..., :3], targets["mask"].numpy()
