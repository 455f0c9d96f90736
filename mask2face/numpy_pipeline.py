"""The training input pipeline on NumPy and OpenCV: training without TensorFlow.

``mask2face.data`` builds the pipeline with ``tf.data``; this module draws the same
augmentations (the same shares, ranges and order: flip, photometric jitter, the small move, the
close-up, the reframe, softening and JPEG, unmasked faces, the hole and its spread and fill) with
NumPy and OpenCV, so that a run on Keras's JAX backend needs no TensorFlow at all (a GPU
machine with JAX alone). The moves, close-ups, reframes and holes are tf.data's to float
rounding for the same draws (tested); the draws are NumPy's, so a run is reproducible on this
pipeline but does not draw the same numbers as ``tf.data``.
``training.data_pipeline`` chooses ("auto": this one only where TensorFlow is not installed).

Batches are made in threads (OpenCV and NumPy release the interpreter's lock while they work);
decoded pairs are kept in memory where they fit (``augmentation.fits_in_memory``).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mask2face.augmentation import (BRIGHTNESS_JITTER, CONTRAST_JITTER, DEGRADE_MIN_SCALE,
                                    DEGRADE_SHARE, JPEG_QUALITY, JPEG_SHARE, REFRAME_BOTTOM,
                                    REFRAME_SHARE, REFRAME_SIDE_MAX, SATURATION_JITTER,
                                    SCALE_JITTER, SHIFT_JITTER, TURN_JITTER_DEGREES, ZOOM_RANGE,
                                    ZOOM_SIDE, fits_in_memory)
from mask2face.errors import UsageError
from mask2face.pairs import PairSet, with_edge_band

if TYPE_CHECKING:
    import keras

# Threads that make batches: the machine's cores, up to this many.
MOST_WORKERS = 8


def read_pair(input_path: str, output_path: str, mask_path: str, size: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pair's files as uint8 (S, S, 3) masked, (S, S, 3) clean and (S, S, 1) mask, the mask
    grown by the drawing's anti-aliased band (``data.grow_mask``)."""
    def read(path: str, colour: bool) -> np.ndarray:
        image = cv2.imread(path, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise UsageError(f"{path}: not a readable image")
        if image.shape[0] != size or image.shape[1] != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        return image[..., ::-1] if colour else image[..., None]
    masked, clean, mask = read(input_path, True), read(output_path, True), read(mask_path, False)
    mask = with_edge_band(mask[..., 0])[..., None]
    return np.ascontiguousarray(masked), np.ascontiguousarray(clean), mask


def _warped(images: list[np.ndarray], matrix: np.ndarray) -> list[np.ndarray]:
    """Every image sampled through the same affine ``matrix`` (2 x 3, output pixel to input
    pixel), bilinear, the edge rows and columns repeated beyond the image."""
    out = []
    for image in images:
        size = (image.shape[1], image.shape[0])
        warped = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
        out.append(warped.reshape(image.shape))
    return out


def _move(images: list[np.ndarray], draws: np.ndarray) -> list[np.ndarray]:
    """The same small shift, turn and scale of every image (``data._move``)."""
    size = float(images[0].shape[0])
    angle = draws[0] * TURN_JITTER_DEGREES * np.pi / 180
    scale = np.exp(draws[1] * np.log(1 + SCALE_JITTER))
    dx, dy = draws[2] * SHIFT_JITTER * size, draws[3] * SHIFT_JITTER * size
    centre = size / 2
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    matrix = np.array([[cos, -sin, centre - cos * centre + sin * centre + dx],
                       [sin, cos, centre - sin * centre - cos * centre + dy]], np.float64)
    return _warped(images, matrix)


def _zoom(images: list[np.ndarray], draws: np.ndarray, eyes_row: float) -> list[np.ndarray]:
    """The same enlargement of every image about the eyes' row (``data._zoom``)."""
    size = float(images[0].shape[0])
    zoom = ZOOM_RANGE[0] + (ZOOM_RANGE[1] - ZOOM_RANGE[0]) * draws[0]
    dx = ZOOM_SIDE * size * (2.0 * draws[2] - 1.0)
    centre, eyes = size / 2, eyes_row * size
    matrix = np.array([[1.0 / zoom, 0.0, centre - centre / zoom + dx],
                       [0.0, 1.0 / zoom, eyes - eyes / zoom]], np.float64)
    return _warped(images, matrix)


def _reframe(images: list[np.ndarray], draws: np.ndarray) -> list[np.ndarray]:
    """Every image cut at the same lines, the edge repeated beyond them (``data._reframe``)."""
    size = images[0].shape[0]
    bottom = int(size * (REFRAME_BOTTOM[0] + (REFRAME_BOTTOM[1] - REFRAME_BOTTOM[0]) * draws[0]))
    left = int(size * REFRAME_SIDE_MAX * max(0.0, 2 * draws[1] - 1))
    right = size - int(size * REFRAME_SIDE_MAX * max(0.0, 2 * draws[2] - 1))
    top = int(size * REFRAME_SIDE_MAX * max(0.0, 3 * draws[3] - 2))
    rows = np.clip(np.arange(size), top, max(bottom, top + 1) - 1)
    cols = np.clip(np.arange(size), left, max(right, left + 1) - 1)
    return [image[rows][:, cols] for image in images]


def _degrade(images: list[np.ndarray], draws: np.ndarray) -> list[np.ndarray]:
    """Shrink-and-expand and JPEG, the same on every image of a pair (``data._degrade``)."""
    size = images[0].shape[0]
    if draws[1] < DEGRADE_SHARE:
        small = max(8, int(size * (DEGRADE_MIN_SCALE + (1.0 - DEGRADE_MIN_SCALE) * draws[0])))
        images = [np.clip(cv2.resize(cv2.resize(i, (small, small), interpolation=cv2.INTER_AREA),
                                     (size, size), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
                  for i in images]
    if draws[3] < JPEG_SHARE:
        quality = int(JPEG_QUALITY[0] + (JPEG_QUALITY[1] - JPEG_QUALITY[0]) * draws[2])
        compressed = []
        for image in images:
            pixels = np.round(image * 255.0).astype(np.uint8)[..., ::-1]
            _, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
            compressed.append(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
                              .astype(np.float32) / 255.0)
        images = compressed
    return images


def spread_hole(hole: np.ndarray, sideways: int, down: int) -> np.ndarray:
    """(S, S, 1) ``hole`` grown ``sideways`` pixels to each side and ``down`` pixels down,
    never up (``data.spread_hole``, its random amounts given)."""
    grown = hole[..., 0]
    if sideways > 0:
        grown = cv2.dilate(grown, np.ones((1, 2 * sideways + 1), np.uint8))
    for _ in range(down):
        grown = np.maximum(grown, np.pad(grown[:-1], ((1, 0), (0, 0))))
    return grown[..., None]


def augment(masked: np.ndarray, clean: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            *, unmasked_share: float = 0.0, degrade: bool = True, hole_share: float = 0.0,
            hole_spread: int = 0, zoom_share: float = 0.0, surroundings: bool = False,
            eyes_row: float = 0.38) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random draw per pair, the same flip and photometric change on input and target
    (``data._augment``, without the face outline): uint8 (S, S, 3), (S, S, 3), (S, S, 1) in,
    float32 in [0, 1] out."""
    if rng.random() < 0.5:
        masked, clean, mask = masked[:, ::-1], clean[:, ::-1], mask[:, ::-1]
    masked, clean = masked.astype(np.float32) / 255.0, clean.astype(np.float32) / 255.0
    mask = mask.astype(np.float32) / 255.0
    draws = rng.uniform(-1.0, 1.0, 3)
    brightness = BRIGHTNESS_JITTER * draws[0]
    contrast, saturation = 1.0 + CONTRAST_JITTER * draws[1], 1.0 + SATURATION_JITTER * draws[2]

    def jitter(image):
        image = (image + brightness - 0.5) * contrast + 0.5
        gray = image.mean(axis=-1, keepdims=True)
        return np.clip((image - gray) * saturation + gray, 0.0, 1.0).astype(np.float32)
    masked, clean = jitter(masked), jitter(clean)
    masked, clean, mask = _move([masked, clean, mask], rng.uniform(-1.0, 1.0, 5))
    if zoom_share > 0:
        draws = rng.random(4)
        if draws[3] < zoom_share:
            masked, clean, mask = _zoom([masked, clean, mask], draws, eyes_row)
    mask = np.round(mask)
    draws = rng.random(5)
    if draws[4] < REFRAME_SHARE:
        masked, clean, mask = _reframe([masked, clean, mask], draws)
    draws = rng.random(5)
    if degrade:
        masked, clean = _degrade([masked, clean], draws)
    # Outside the mask the input stays the target exactly, as in the pairs themselves.
    masked = np.where(mask > 0.5, masked, clean)
    if draws[4] < unmasked_share:
        masked, mask = clean, np.zeros_like(mask)
    if hole_share > 0 and rng.random() < hole_share:
        from mask2face.predict import grown_holes, surroundings_fill
        grown = grown_holes(mask[None, ..., 0] > 0.5)[0][..., None]  # the hole predict makes
        if hole_spread > 0:
            sideways, down = rng.integers(0, hole_spread + 1, 2)
            grown = spread_hole(grown, int(sideways), int(down))
        if surroundings:
            masked = surroundings_fill(masked[None], grown[None])[0]
        else:
            masked = masked * (1.0 - grown) + 0.5 * grown
        mask = grown
    return (np.ascontiguousarray(masked, np.float32), np.ascontiguousarray(clean, np.float32),
            np.ascontiguousarray(mask, np.float32))


def pair_batches(pairs: PairSet, image_size: int, batch_size: int, *, training: bool,
                 mask_head: bool, augment_pairs: bool = True, seed: int = 0,
                 workers: int | None = None, **options) -> "keras.utils.PyDataset":
    """A Keras dataset of batches (masked, targets), as ``data.make_dataset`` makes them:
    targets is {"image": rgb+mask, "mask": mask} (just rgb+mask without a mask head).
    ``training``: shuffled anew each epoch and, with ``augment_pairs``, augmented (``options``
    as ``augment`` takes them; ``face_outline`` is the tf.data pipeline's alone)."""
    import keras

    if options.pop("face_outline", False) and options.get("hole_share", 0) > 0 and training:
        raise UsageError("training.face_outline needs the tf.data pipeline (TensorFlow): set "
                         "training.data_pipeline to 'tensorflow', or face_outline to false")
    workers = workers or max(1, min(MOST_WORKERS, os.cpu_count() or 1))

    class PairBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, use_multiprocessing=False,
                             max_queue_size=2 * workers)
            self.epoch = 0
            self.cache: dict[int, tuple] | None = \
                {} if fits_in_memory(len(pairs), image_size) else None
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not training:
                return np.arange(len(pairs))
            return np.random.default_rng([seed, self.epoch]).permutation(len(pairs))

        def _pair(self, i: int) -> tuple:
            if self.cache is not None and i in self.cache:
                return self.cache[i]
            pair = read_pair(pairs.inputs[i], pairs.outputs[i], pairs.masks[i], image_size)
            if self.cache is not None:
                self.cache[i] = pair
            return pair

        def __len__(self) -> int:
            return math.ceil(len(pairs) / batch_size)

        def __getitem__(self, index: int):
            chosen = self.order[index * batch_size:(index + 1) * batch_size]
            rows = []
            for i in chosen:
                masked, clean, mask = self._pair(int(i))
                if training and augment_pairs:
                    rng = np.random.default_rng([seed, self.epoch, int(i)])
                    rows.append(augment(masked, clean, mask, rng, **options))
                else:
                    rows.append((masked.astype(np.float32) / 255.0,
                                 clean.astype(np.float32) / 255.0,
                                 mask.astype(np.float32) / 255.0))
            masked, clean, mask = (np.stack(parts) for parts in zip(*rows))
            image_target = np.concatenate([clean, mask], axis=-1)
            return masked, ({"image": image_target, "mask": mask} if mask_head else image_target)

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return PairBatches()


def load_batch(pairs: PairSet, image_size: int, count: int) -> tuple[np.ndarray, ...]:
    """The first ``count`` pairs as float arrays (masked, clean, mask), for previews
    (``data.load_batch``)."""
    rows = [read_pair(pairs.inputs[i], pairs.outputs[i], pairs.masks[i], image_size)
            for i in range(min(count, len(pairs)))]
    return tuple(np.stack(parts).astype(np.float32) / 255.0 for parts in zip(*rows))
