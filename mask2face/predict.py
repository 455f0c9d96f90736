"""Masked photos -> unmasked photos: ``python -m mask2face.predict masked.jpg``.

Every face is found (the masked-face detector), cut with the same eye-levelled transform as in
training, run through the model in batches, and pasted back with the inverse transform only
where the mask was (the model's predicted mask, else the lower face from the landmarks), with a
feathered edge. Every other pixel is the input's.

From Python::

    unmasker = Unmasker.load("models/20260101-120000")
    result = unmasker.unmask(image)          # RGB uint8 in, RGB uint8 out
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from mask2face.batch import BatchReport, error_line
from mask2face.config import Config, load_config
from mask2face.detectors import detector_argument
from mask2face.errors import ImageReadError, ModelFileError, UsageError
from mask2face.faces import Face, FaceCrop, align_to_eyes, face_crop, face_finder_from_config
from mask2face.images import (IMAGE_SUFFIXES, UNMASKED, list_photos, luminance, read_photo,
                              save_like, write_image)
from mask2face.landmarks import (BROWS, CHIN, EYES, JAW, LEFT_EYE, LOWER_FACE, NOSE_BASE,
                                 NOSE_TIP, RIGHT_EYE, eye_centres)
# Model files live in mask2face.modelfiles; these names stay importable from here.
from mask2face.modelfiles import (BUNDLED_MODEL, KerasNetwork, Network, find_model,  # noqa: F401
                                  load_model, load_network, with_generator_output)
from mask2face.pairs import HOLE_GROWTH_PX
from mask2face.pixelation import Blocks, in_blocks, pixel_blocks

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

# How far beyond the lower face a predicted mask may reach, as a share of a training crop
# (predict's crops are PREDICT_FRAMING wider: the reach stays the same on the face), never above
# the eyes' top (below). The lower face is the one predict fits on the masked photo, not the true
# one: measured on 300 held-out LFW pairs with drawn masks (landmarks found on the masked crop),
# 5.8 % of the true mask lay further out at 0.16 and was left unreplaced although the mask head
# had found it; at 0.3 with the eye line, 0.8 % (0.3 % without the line, which let a mask head
# that fires on sunglasses replace the eyes). The 150 real photos without masks stay as untouched
# as at 0.16 (146).
# Above the eyes' top only ear loops of the mask's colour beside the eyes are replaced
# (LOOPS_UP, below). Tried before (on 300 held-out drawn pairs, --seed 1): trusting the
# prediction there, beside the jaw's width up to the brows' top where it joins the mask below,
# raised thin mask parts replaced from 93.7 to 95.7 %; but on real photos the head's prediction
# there is as often an ear, hair or the background as a loop: judged blind on the 32 dev photos
# it changed most, better on 13, worse on 10, with an ear erased or hair and background smeared
# on 8 (none the other way). Keeping only its thin parts (an opening of 5 or 7 px) or its
# confident ones (over 0.5 or 0.7) took away as much from the photos where it helped as from
# those where it harmed. Trusting it beside the eye guard up to 0.3 eye distances, whatever its
# colour: thin parts 93.9 -> 95.8 % on 300 pairs of the quick set, blind 2 / 1 / 37, but an ear or
# hair smeared on 4 of the 16 dev photos it changed most, looked at side by side.
LOWER_FACE_GROWTH = 0.3
# What is never replaced (eye_guard): each eye and everything above it down to its lower lid's
# line (and EYE_GUARD crop rows more), and beside it, across EYE_GUARD_SIDES of the eye distance
# on the temple's side and EYE_GUARD_INNER on the nose's, down to its corners' height: every crop
# pixel and every photo pixel that touches it keeps its value (``guarded``, in eye_guard and
# paste). Until the photo's pixels were guarded themselves, the crop's guard reached a row and a
# column further (rounded up to whole crop rows, then widened by a pixel for the warp), which
# kept up to 2 crop pixels (3-5 photo pixels) of a mask's top edge under the lids: on the first
# 200 masked dev photos, 1,718 of the 3,119 crop pixels that the mask head took for mask inside
# the guard lay in that margin. A box over each eye down to its lowest lid point kept
# the mask's top edge under the corners: judged blind on the 32 dev photos where the two differed
# most, the lid's line was better on 25 and the box on 1; with the lid's line, the lowest row of an
# eye's pixels was softened on some (8 and 10 of 32 in two judgings, one clearly); one row more of
# guard (EYE_GUARD 1) softened none but left more mask (better on 6 against 24, and against the
# box 11 against 12). Eyes changed on 300 drawn pairs stays 0.3 % (0.7 % on pairs with masks
# pulled up to the eyes, as with the box). Before the box, one box over both eyes half an eye
# distance wider on each side left a mask's top edge across the nose bridge on most dev photos;
# 0.15 of the eye distance on the nose's side guarded most of the bridge, 0.05 left less mask on
# 13 of 21 photos and more on 2.
EYE_GUARD = 0
EYE_GUARD_SIDES = 0.15
EYE_GUARD_INNER = 0.05
# Ear loops above the eyes' top (loops_beside_the_eyes): beside the eye guard's width, up to
# LOOPS_UP eye distances above the eyes' top, what the head takes for mask, joined to the mask,
# within LOOPS_COLOUR_DELTA (Lab) of the mask's own colour and nearer it than the forehead's.
# Without the colour, on real photos the head's prediction there is as often an ear, hair or the
# background as a loop (above: 8 of 32 harmed). With it, 300 held-out drawn pairs (--seed 1):
# thin parts replaced 94.2 -> 96.1 %, changed beyond 4 px 13.5 -> 13.7 %, eyes changed 2.7 %
# either way; judged blind on the 40 masked dev photos it changed most (of 55), better on 4 (a
# light-blue or white loop gone by the eye or the ear), worse on none, 36 ties, harm seen on 6
# either way and none only with it.
LOOPS_UP = 0.3
LOOPS_COLOUR_DELTA = 25.0
# Below the chin (below_the_chin_not_the_mask): from BELOW_CHIN_MARGIN of the crop under the
# fitted chin down, the head's mask stays mask only where it is within BELOW_CHIN_DELTA (Lab,
# lightness counted half) of the colour of a plain mask (one whose body over the mouth and chin
# lies within LOOPS_COLOUR_DELTA of its median on PLAIN_MASK of its pixels; a print or a two-tone
# mask is left as the head has it). The head takes a collar, a shirt or the neck joined to a mask's
# bottom edge for a mask hanging low. Judged blind on the dev photos it changes by over 100
# pixels (21): better on 4, worse on 3, 14 ties; at 25 units (54 such photos, 40 judged) better
# on 7, worse on 5, 28 ties, harm named 6 against 9, with more of the mask's shaded bottom edge
# left. 300 drawn pairs (--seed 1): changed beyond 4 px 13.7 -> 13.2 % (median), mask replaced
# unchanged (98.4 % mean).
BELOW_CHIN_MARGIN = 0.03
BELOW_CHIN_DELTA = 35.0
PLAIN_MASK = 0.8
# Where a plain mask's region stops short of the photo's border (the head is less sure of a
# mask's last pixels at the border, and a crop repeats the border's pixels beyond it), the gap
# joins the region below the nose: its pixels within BORDER_GAP of the crop from the region and
# the border together (a bridge between them, not a band along the border) that are within
# LOOPS_COLOUR_DELTA of the mask's colour (lightness counted half) and that join both. Blind on
# 40 of the 171 dev photos it changes by over 8 levels on 100 pixels: better on 2, worse on
# none, 38 ties (the mask's blue corner at a bottom edge gone, 0339); a first version along the
# whole border, 2 / 0 / 38 likewise, took bands of a collar or a wall along drawn pairs' borders.
# On 300 drawn pairs: changed beyond 4 px 13.2 -> 14.4 % (median), the rest unchanged.
BORDER_GAP = 0.06
# Matching a paste's grain to its photo (match_photo): the grain is measured on the face within
# 3 x RING_PX crop pixels around the region; the blur that gives the added noise its grain size
# (photo pixels).
RING_PX = 3
GRAIN_SIGMA = 0.5
# ... and to its skin's colour: the paste's chroma (a*, b* of CIELAB) is moved COLOUR_PULL of the
# way from its median over the repainted face to the median over the skin in that ring, by at
# most COLOUR_MOST. Skin is what lies within SKIN_HUES (degrees in the a*-b* plane, red 0,
# yellow 90) with a chroma over SKIN_CHROMA: a grey or blue background, a shadow, a white or
# coloured remnant of the mask in the ring are not taken for the person's skin.
COLOUR_PULL = 0.75
COLOUR_MOST = 6.0
SKIN_HUES = (15.0, 90.0)
SKIN_CHROMA = 4.0
# ... and where the repainted face keeps a local haze of the mask's or the background's colour
# (without_haze, before the grain): inside the face's outline, less a band HAZE_INSET photo pixels
# wide, each pixel whose chroma falls short of the skin's along the skin's hue (by more than
# HAZE_MARGIN) is pulled towards the skin's by HAZE_PULL times the share it falls short by.
# Blind on 40 of the 83 dev photos it changes by over 8 levels on 100 pixels: better on 5, worse
# on 1, 34 ties (0.8 against 0.5 on 29 photos: 1 / 0 / 28). 150 held-out drawn pairs: per-pixel
# chroma error in the mask 7.43 -> 7.40 (mean), 13.63 -> 13.54 (90th percentile), PSNR in the
# mask 18.42 dB either way. Pulled only along the skin's hue, a blue haze turned purple.
HAZE_PULL = 0.5
HAZE_MARGIN = 4.0
HAZE_INSET = 4
# In a pixelated photo the grain is the blocks' own (block_grain): the spread left after a blur
# over BLOCK_GRAIN_BLUR blocks is measured on the skin around the region and on the repainted
# face, and BLOCK_GRAIN_SHARE of what the face lacks is added as noise made of the photo's
# blocks. (The skin's spread is partly its features' edges, which the blocks of random noise are
# not: the whole of it gave the face a confetti of light and dark blocks; a third, set by eye on
# four dev photos, was judged blind on 40 others against none: better on 19, worse on 6, 15 ties;
# then 0.15 against that third, on 40 of the 86 dev photos whose results differ most: better on
# 23, worse on 10, 7 ties, passing as unedited 20 against 11; the third read as a speckle where
# the photo is soft.)
BLOCK_GRAIN_BLUR = 1.5
BLOCK_GRAIN_SHARE = 0.15
# A black-and-white or toned (sepia) photo: one whose pixels outside the pasted regions lie
# within MONOCHROME_SPREAD CIELAB units of their median a*, b* (90th percentile of the distance)
# gets a paste of that one colour, its lightness the generator's; the generator paints every
# face in colour. Grey and toned photos among 2,168 (the dev photos and every 13th LFW and 12th
# UTKFace photo): 0.0-0.1 grey, up to 3.0 toned; the least colourful colour photos 4.6 and more.
MONOCHROME_SPREAD = 4.0
# The mask head's probability: a region grows from where it is over the second threshold
# through everything connected to it over the first.
MASK_THRESHOLDS = (0.2, 0.5)
# A face whose nose tip lies closer than this share of the jaw's width to the jaw's edge is a
# side view and is left as it is: the model paints a frontal lower face. In 335 LFW faces (the
# training photos) the nose tip lay between 0.18 and 0.86 of the width for 99 % (0.5 % beyond
# 0.16 from either edge); 0.12 is past what the model learnt from.
SIDE_VIEW = 0.12
# A region over more than this share of the crop's bottom row (or a side column) means the mask
# goes on past the crop: the face is reported as partly unmasked. The share is of the stretch of
# that edge that lies in the photo, and at least EDGE_LEAST of the crop: a tilted face's crop
# whose corner lies past the photo's bottom has half its bottom row in the photo, and a mask over
# most of that half went on below the crop unreplaced (judged blind on the 27 dev photos this
# changes: better on 8, worse on 1, 18 ties; every piece gone 17 against 13).
EDGE_SHARE = 0.25
EDGE_LEAST = 0.1
# Where a region runs past the crop (over EDGE_SHARE of its bottom row or a side column: a
# gaiter, a mask hanging low, a close-up), the paste fades out over this share of the crop at
# the edges it runs past instead of ending at a straight seam. Only there: on 300 held-out
# drawn pairs the fade costs replaced mask (mean 97.2 -> 96.4 % at 0.03 on every edge of such
# faces, 95.6 % at 0.06), since drawn masks hanging low end at the crop's bottom.
EDGE_FADE = 0.03
# Where a face's region runs past the bottom of its crop with the photo going on (a gaiter, a
# mask worn low), predict looks again through a crop this much wider and lower (widen, lower as
# faces.face_crop takes them) and replaces the mask it finds there below the first crop, joined
# to what the first crop replaced (``continue_below``).
BELOW_FRAMING = (1.5, 0.15)
# ... where the median colour of what it finds there lies within this Lab distance of the
# first crop's mask where it leaves the crop.
BELOW_COLOUR_DELTA = 20.0
# The two outputs cross-fade over this share of the first crop above its bottom, the second's
# colour shifted to the first's there (the median difference where both fill the mask). Across
# the EDGE_FADE band alone, with no shift, a line or step in tone showed across the chin or neck:
# judged blind on the 40 masked dev photos this changed most, better on 19, worse on none (21
# ties), a seam seen on 26 rows before and 10 after. 300 drawn pairs (--seed 1, quick set):
# mask replaced 98.7 -> 98.8 %, changed beyond 4 px 13.4 -> 13.7 %, detail 0.90 -> 0.87.
BELOW_BLEND = 0.1
# A face whose predicted mask covers less of its lower face than this is left as it is.
MIN_MASK_SHARE = 0.1
# Predict frames each face a little wider and lower than a training crop (widen, lower as
# faces.face_crop takes them), within the shift and scale jitter the model trained with, so that
# a mask reaching below the chin lies inside the crop. Measured end to end by
# ``benchmarks/real_masks.py --pairs`` on 300 held-out LFW pairs with drawn masks: the mask left
# unreplaced 9.8 % -> 5.1 %, PSNR inside it 17.6 -> 18.3 dB (with the generator pasted, below);
# of the 150 real photos without masks 146 stay untouched instead of 148 (a microphone, a chin).
PREDICT_FRAMING = (1.08, 0.03)
# A hole model (``hole_share``) with ``predict.hole_shading``: inside its hole, this many crop
# pixels in from the edge, the light and shade come from the pass that saw the mask
# (``with_shading``). Measured on the first 150 of evaluate's held-out pairs through predict
# (texc4h, the shipped model): identity distance to the clean face 0.501 with the hole pass
# alone, 0.489 with this margin, 0.496 with 8 px; judged blind on 40 dev photos against the hole
# pass alone, better on 11, worse on 15, 14 ties. The whole hole (no margin; texc4i3, 0.491)
# brought a whitish or grey halo of the mask along the jaw and cheeks and lost by eye 10 to 22.
# Off by default since a second blind round on 40 other dev photos: the hole pass alone better on
# 26, worse on 4 (10 ties), a cast or haze on 11 rows against 23; on 300 drawn pairs it costs
# identity (0.481 -> 0.494, same person 92.0 -> 89.0 %; the masked photo: 0.497, 92.7 %).
SHADING_MARGIN_PX = 4
# The network paints a checkerboard (alternate pixels) on some faces: over a printed mask, where
# it paints the background beside the jaw or a hand. Its amplitude (levels of 255, 5 x 5 mean)
# inside the region is under 1.8 on half the masked dev faces and over 10 on 14 of 480, where it
# shows as coloured dots; from CHECKER_LEVELS on, the output is smoothed there
# (``without_checkerboard``).
CHECKER_LEVELS = 3.0


@dataclass
class FaceResult:
    face: Face
    crop: FaceCrop
    output: np.ndarray       # the generator's (S, S, 3) float image (see run_model)
    region: np.ndarray       # (S, S) float in [0, 1]: where the output replaces the photo
    left_because: str = ""   # why a face was left as it is before its mask was looked at
    mask: np.ndarray | None = None  # (S, S) the mask head's probability, where it has one
    inside: np.ndarray | None = None  # (S, S) the crop's pixels in the photo (in_photo)
    landmarks: np.ndarray | None = None  # (68, 2) in the crop: what the region was drawn from
    below: "FaceResult | None" = None  # the mask replaced past the crop, below or beside it
    # (continue_below)

    @property
    def changed(self) -> bool:
        return bool(self.region.max() > 0)

    @property
    def outcome(self) -> str:
        """'unmasked', or why the face was left as it is."""
        if self.changed:
            if self.reaches_crop_edge:
                return "partly unmasked: the mask reaches past the face's crop"
            return "unmasked"
        return f"left untouched: {self.left_because or 'no mask predicted'}"

    @property
    def reaches_crop_edge(self) -> bool:
        """Whether the replaced region runs into the crop's bottom or side edge over more than
        EDGE_SHARE of it (``edges_run_past``): a gaiter or bandana going on below what the
        model saw."""
        if self.below is not None:
            return self.below.reaches_crop_edge
        return runs_past_crop(self.region, self.inside)


@dataclass
class Timing:
    detect_s: float = 0.0
    model_s: float = 0.0
    paste_s: float = 0.0
    faces: int = 0


class Unmasker:
    """A trained model with its run's configuration, loaded once: image in, image out."""

    def __init__(self, model: "Network | keras.Model", config: Config,
                 detector: str | None = None) -> None:
        """``model``: a loaded network (``modelfiles.load_network``) or a Keras model."""
        self.network = model if isinstance(model, Network) else KerasNetwork(model)
        self.model = self.network.model  # the Keras model, where it runs through Keras
        self.model_file: Path | None = None
        self.config = config
        self.size = self.network.size
        if self.size != config.data.image_size:
            raise ModelFileError(f"model input is {self.size} px but its config.json says "
                                 f"{config.data.image_size}")
        self.finder = face_finder_from_config(config.faces, config.predict.detector(detector))
        self.timing = Timing()

    @classmethod
    def load(cls, model: str | Path | None = None, detector: str | None = None,
             model_dir: str = "models") -> "Unmasker":
        """Load a model (see ``modelfiles.find_model``: None or 'bundled' = the shipped model,
        'latest' = the newest run under ``model_dir``, or a run folder or model file)."""
        model_file, config_file = find_model(model, model_dir)
        config = load_config(config_file)
        unmasker = cls(load_network(model_file), config, detector)
        unmasker.model_file = model_file
        return unmasker

    def run_model(self, crops: np.ndarray, generated: bool = False
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, S, S, 3) float crops -> output images and predicted masks (or None).

        The images are the model's output (kept equal to the input outside its own mask), or
        with ``generated`` its generator's whole image: what predict pastes inside the region
        it decides on (grown and feathered), so that growing the region does replace more."""
        def run(crops):
            # One pass: the composite, the generator's whole image (the composite where the
            # network has no separate one) and the mask.
            images, whole, masks = [], [], []
            step = self.config.predict.predict_batch_size
            for start in range(0, len(crops), step):
                out = self.network(crops[start:start + step])
                images.append(out["image"])
                whole.append(out["generated"] if "generated" in out else out["image"])
                if "mask" in out:
                    masks.append(out["mask"][..., 0])
            return (np.concatenate(images), np.concatenate(whole),
                    np.concatenate(masks) if masks else None)
        images, seen, masks = run(crops)
        if masks is not None and self.config.training.hole_share > 0:
            # A model trained with holes fills the mask without seeing it: a second pass over
            # the crops with what the first found greyed out (its mask head is not asked again).
            holes = masks > MASK_THRESHOLDS[0]
            _, filled, _ = run(with_hole(crops, holes))
            if self.config.predict.hole_shading:
                filled = with_shading(filled, seen, holes)
            if generated:
                # Outside its hole the generator's image is not trained (the composite keeps
                # the input there) and drifts: a tinted rim where the feathered paste reached
                # past the hole. The crop's own pixels are pasted there instead.
                weight = hole_weight(holes)[..., None]
                return weight * without_checkerboard(filled) + (1.0 - weight) * crops, masks
            # The composite as the network makes it, with the first pass's mask.
            images = masks[..., None] * filled + (1.0 - masks[..., None]) * crops
        return (without_checkerboard(seen) if generated else images), masks

    def _region(self, landmarks_in_crop: np.ndarray, predicted: np.ndarray | None,
                feather: float, grow: float, inside: np.ndarray | None = None,
                fade: bool = True, crop: np.ndarray | None = None) -> np.ndarray:
        """Where the output replaces the photo, (S, S) float in [0, 1]; ``feather`` and ``grow``
        are shares of the crop (see PredictConfig); ``inside``: the crop's pixels that lie in
        the photo (``in_photo``; None: all), the only ones a region can run past the crop in;
        without ``fade``, the region before it is faded there (``_faded_past_crop``); with
        ``crop`` (its RGB in [0, 1]), ear loops beside the eyes join the region
        (``loops_beside_the_eyes``), what below the chin is not a plain mask's colour leaves it
        (``below_the_chin_not_the_mask``) and, with ``inside`` too, the gap between a plain
        mask and the photo's border joins it (``to_the_photos_border``)."""
        if predicted is not None:
            found = mask_region(predicted, landmarks_in_crop)
            if not found.any():
                return found.astype(np.float32)
            if crop is not None:
                found |= loops_beside_the_eyes(found, predicted, landmarks_in_crop, crop)
                found &= ~below_the_chin_not_the_mask(found, predicted, landmarks_in_crop, crop)
                if inside is not None:
                    found |= to_the_photos_border(found, predicted, landmarks_in_crop, crop,
                                                  inside)
            region = found.astype(np.float32)
        else:
            region = lower_face_area(self.size, landmarks_in_crop)
        if grow > 0:
            width = max(1, int(round(grow * self.size)))
            region = cv2.dilate(region, cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1)))
        region = self._feathered(region, feather) * eye_guard(region.shape, landmarks_in_crop)
        if inside is not None:
            # Beyond the photo's border a crop repeats the photo's edge: a mask that reaches the
            # border is replaced to it, and does not run on past the crop there.
            region = region * inside
        return self._faded_past_crop(region, inside) if fade else region

    def _faded_past_crop(self, region: np.ndarray, inside: np.ndarray | None) -> np.ndarray:
        """``region`` faded out along the crop's edges it runs past (``edges_run_past``)
        instead of ending there at a straight seam."""
        edges = edges_run_past(region, inside)
        if any(edges):
            region = region * edge_fade(self.size, edges, inside)
        return region

    def predict_faces(self, image: np.ndarray, *, feather: float | None = None,
                      grow: float | None = None,
                      largest_only: bool | None = None) -> list[FaceResult]:
        """Find the faces and run the model on each; the options default to the run's
        ``predict`` settings (feather, region_grow, largest_face_only)."""
        p = self.config.predict
        feather = p.feather if feather is None else feather
        grow = p.region_grow if grow is None else grow
        largest_only = p.largest_face_only if largest_only is None else largest_only
        start = time.perf_counter()
        faces = self.finder.find(image)
        self.timing.detect_s += time.perf_counter() - start
        if largest_only:
            faces = faces[:1]  # the finder lists the largest first
        if not faces:
            return []
        start = time.perf_counter()
        margin = self.config.data.crop_margin
        crops = [face_crop(f.landmarks, self.size, margin, *PREDICT_FRAMING) for f in faces]
        batch = np.stack([c.apply(image) for c in crops]).astype(np.float32) / 255.0
        outputs, masks = self.run_model(batch, generated=True)
        self.timing.model_s += time.perf_counter() - start
        self.timing.faces += len(faces)
        results, wholes = [], []  # wholes: each region before its fade past the crop
        for i, (f, c) in enumerate(zip(faces, crops)):
            landmarks = c.to_crop(f.landmarks)
            if side_view(landmarks):
                results.append(FaceResult(f, c, outputs[i], np.zeros_like(outputs[i][..., 0]),
                                          "side view"))
                wholes.append(results[-1].region)
                continue
            mask = None if masks is None else masks[i]
            if mask is not None and f.detector_eyes is not None:
                landmarks = eyes_off_the_mask(landmarks, mask, c.to_crop(f.detector_eyes))
            inside = in_photo(c, image.shape)
            whole = self._region(landmarks, mask, feather, grow, inside, fade=False,
                                 crop=batch[i])
            wholes.append(whole)
            results.append(FaceResult(f, c, outputs[i], self._faded_past_crop(whole, inside),
                                      mask=mask, inside=inside, landmarks=landmarks))
        if masks is not None and self.config.predict.continue_below:
            self.continue_below(image, results, batch, wholes, feather)
        return results

    def continue_below(self, image: np.ndarray, results: list[FaceResult],
                       first_crops: np.ndarray, wholes: Sequence[np.ndarray],
                       feather: float) -> None:
        """For each face whose region runs past its crop's bottom or a side where the photo goes
        on, look again through a wider, lower crop (BELOW_FRAMING) and set ``below``: the mask
        found there, joined to where the first region left its crop, replaced beyond the first
        crop (over its last BELOW_BLEND, where the two outputs cross-fade); the first region is
        then not faded at those edges. ``first_crops``: the (N, S, S, 3) float crops the results
        were made from, and ``wholes`` their regions before the fade past the crop, in their
        order."""
        runs_past = [edges_run_past(whole, r.inside) for whole, r in zip(wholes, results)]
        todo = [i for i, r in enumerate(results) if r.mask is not None and r.inside is not None
                and r.changed and any(runs_past[i])]
        if not todo:
            return
        margin = self.config.data.crop_margin
        crops = [face_crop(results[i].face.landmarks, self.size, margin, *BELOW_FRAMING)
                 for i in todo]
        batch = np.stack([c.apply(image) for c in crops]).astype(np.float32) / 255.0
        start = time.perf_counter()
        outputs, masks = self.run_model(batch, generated=True)
        self.timing.model_s += time.perf_counter() - start
        size = self.size
        blend = max(fade_width(size), int(round(BELOW_BLEND * size)))
        reach = int(round(0.05 * size))

        def warped(weights, into, border=cv2.BORDER_CONSTANT):
            return cv2.warpAffine(weights.astype(np.float32), into, (size, size),
                                  flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
        for k, (i, c, output, mask) in enumerate(zip(todo, crops, outputs, masks)):
            r, whole = results[i], wholes[i]
            into = _compose(c.matrix, r.crop.inverse)  # the first crop's pixels -> this crop's
            # The first crop's blend band, as columns and rows of this crop (the crops are
            # levelled alike): (left, top) and (right, bottom) of its inner edge.
            (x0, y0), (x1, y1) = c.to_crop(r.crop.to_photo(np.array(
                [[blend, blend], [size - 1.0 - blend, size - 1.0 - blend]])))
            landmarks = c.to_crop(r.crop.to_photo(r.landmarks))
            found = hysteresis(mask, MASK_THRESHOLDS) & below_eyes(size, landmarks)
            _, labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
            region = np.zeros((size, size), bool)
            went = [False, False, False]
            for e, runs in enumerate(runs_past[i]):
                if not runs:
                    continue
                edge = tuple(e == j for j in range(3))
                core = edge_fade(size, edge, r.inside)
                band = (whole > 0.5) & (core < 1)  # where the region leaves the first crop
                seeds = warped(band, into) > 0
                joined = np.unique(labels[found & seeds])
                part = np.isin(labels, joined[joined > 0])
                if band.sum() < 10 or not part.any():
                    continue
                # It goes on past that edge from the first crop's blend band, never back into
                # the crop, and no wider than where it left it: not out over a shirt or a
                # neighbour beside it.
                rows, columns = np.nonzero(seeds)
                if e == 0:
                    part[:max(int(np.floor(y1)), 0)] = False
                    part[:, :max(columns.min() - reach, 0)] = False
                    part[:, columns.max() + reach + 1:] = False
                else:
                    if e == 1:
                        part[:, max(int(np.ceil(x0)) + 1, 0):] = False
                    else:
                        part[:, :max(int(np.floor(x1)), 0)] = False
                    part[:max(rows.min() - reach, 0)] = False
                    part[rows.max() + reach + 1:] = False
                # ... and it is the same mask: its colour (median, Lab) beyond the first crop
                # is that of the band where it left it (a dark coat under a face the head
                # mistook for a mask is not).
                beyond = part & (warped(core, into) < 0.5)
                if beyond.sum() < 10:
                    continue
                if _colour_distance(first_crops[i][band], batch[k][beyond]) > BELOW_COLOUR_DELTA:
                    continue
                region |= part
                went[e] = True
            if not any(went):
                continue
            inside = in_photo(c, image.shape)
            # Across the first crop's last BELOW_BLEND at the edges the mask went on past, the
            # two outputs cross-fade, the second's colour shifted to the first's there (two
            # crops fill the same mask in different tones: a line showed across a thinner blend).
            cross = warped(edge_fade(size, tuple(went), r.inside, blend), into)
            both = region & (cross > 0) & (cross < 1) & (warped(whole, into) > 0.5)
            if both.sum() >= 10:
                first_output = warped(r.output, into, cv2.BORDER_REPLICATE)
                shift = np.median(first_output[both] - output[both], axis=0)
                output = np.clip(output + shift, 0.0, 1.0)
            region = self._feathered(region.astype(np.float32), feather) * inside
            region = self._faded_past_crop(region, inside) * eye_guard(region.shape, landmarks)
            if (region * (1.0 - cross)).max() <= 0:
                continue
            # The first region keeps its whole weight to the edges the mask goes on past here
            # (all along them: faded where the second crop found nothing beyond, more of the
            # mask was left at the crop's edge on the dev photos that changed), and fades out
            # as before at an edge it runs past that the mask found here does not.
            left = tuple(runs and not done for runs, done in zip(runs_past[i], went))
            if any(left):
                whole = whole * edge_fade(size, left, r.inside)
            r.region = whole.astype(np.float32)
            region = region * (1.0 - cross)
            r.below = FaceResult(r.face, c, output, region.astype(np.float32), mask=mask,
                                 inside=inside, landmarks=landmarks)

    def _feathered(self, region: np.ndarray, feather: float) -> np.ndarray:
        """``region`` with a soft edge ``feather`` (a share of the crop) wide, in [0, 1]."""
        feather = feather * self.size
        if feather > 0:
            # Grow by half the feather width first, so most of the soft edge lies outside the
            # mask (whose predicted outline already reaches the 2 px band the head trained on):
            # at the mask's own border the output weighs ~99 %, and nothing changes further
            # than about a feather width from it.
            width = max(1, int(round(feather / 2)))
            region = cv2.dilate(region, cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1)))
            region = cv2.GaussianBlur(region, (0, 0), feather / 4)
        return np.clip(region, 0.0, 1.0)

    def unmask(self, image: np.ndarray) -> np.ndarray:
        """A new RGB uint8 image with every face's mask removed (unchanged if no face).

        Pixels outside the replaced regions keep their exact value.
        """
        return self.unmask_faces(image)[0]

    def unmask_faces(self, image: np.ndarray, **options) -> tuple[np.ndarray, list[FaceResult]]:
        """Like ``unmask``, also returning what was found for each face; ``options`` as
        ``predict_faces`` takes them."""
        results = self.predict_faces(image, **options)
        start = time.perf_counter()
        out = image.copy()
        blocks = pixel_blocks(image) if results and self.config.predict.match_blocks else None
        tone = results_tone(image, results)
        for result in results:
            paste(out, result, blocks=blocks, tone=tone)
        self.timing.paste_s += time.perf_counter() - start
        return out, results


def eyes_off_the_mask(landmarks_in_crop: np.ndarray, mask: np.ndarray,
                      detector_eyes_in_crop: np.ndarray) -> np.ndarray:
    """The landmarks the region is drawn from: a fitted eye whose centre the mask head takes
    for mask (over its own MASK_THRESHOLDS[1]) is no eye. dlib's fit slides down onto a mask's
    dark top edge or binding, and the eye guard, drawn from the fitted lids, then keeps that
    edge: a bar of mask across the repainted face. There the 68 points move (``align_to_eyes``)
    onto the detector's own eye points, when those are off the mask; otherwise they stay."""
    def on_mask(points):
        size = mask.shape[0]
        columns, rows = (np.clip(np.round(points).astype(int), 0, size - 1).T)
        return mask[rows, columns] > MASK_THRESHOLDS[1]
    if not on_mask(eye_centres(landmarks_in_crop)).any() or on_mask(detector_eyes_in_crop).any():
        return landmarks_in_crop
    return align_to_eyes(landmarks_in_crop, detector_eyes_in_crop).astype(np.float64)


def _colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Lab distance between the median colours of two sets of RGB pixels in [0, 1] (N, 3)."""
    def median_lab(pixels):
        lab = cv2.cvtColor(pixels.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2Lab)
        return np.median(lab.reshape(-1, 3), axis=0)
    return float(np.linalg.norm(median_lab(a) - median_lab(b)))


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affine: ``inner`` then ``outer``."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return a[:2]


def side_view(landmarks_in_crop: np.ndarray) -> bool:
    """Whether a face is turned further than the model was made for: its nose tip lies within
    SIDE_VIEW of the jaw's width from the jaw's edge (eye-levelled crop; 0.5 = frontal)."""
    jaw = landmarks_in_crop[JAW, 0]
    left, right = jaw.min(), jaw.max()
    if right - left < 1e-6:
        return True
    where = (landmarks_in_crop[NOSE_TIP, 0] - left) / (right - left)
    return bool(min(where, 1.0 - where) < SIDE_VIEW)


def with_hole(crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) crops with each (N, S, S) bool mask, grown by HOLE_GROWTH_PX (a square, as
    training grows its holes), filled with mid grey: what a model trained with ``hole_share``
    learnt to fill."""
    holes = grown_holes(masks)[..., None]
    return crops * (1.0 - holes) + 0.5 * holes


def grown_holes(masks: np.ndarray) -> np.ndarray:
    """(N, S, S) bool masks grown by HOLE_GROWTH_PX (a square, as training grows its holes):
    the holes ``with_hole`` greys out, as float32 0/1."""
    width = 2 * HOLE_GROWTH_PX + 1
    kernel = np.ones((width, width), np.uint8)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in masks]).astype(np.float32)


def with_shading(filled: np.ndarray, seen: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) ``filled`` (the hole pass's image) with its light and shade (luminance)
    taken from ``seen`` (the pass that saw the mask) inside each hole's interior: the hole
    (``grown_holes``) shrunk by SHADING_MARGIN_PX and softened over half that; colour (Cr, Cb)
    stays the hole pass's everywhere. Adding the same amount to R, G and B moves Y alone."""
    width = 2 * SHADING_MARGIN_PX + 1
    kernel = np.ones((width, width), np.uint8)
    inner = np.stack([cv2.GaussianBlur(cv2.erode(hole, kernel), (0, 0), SHADING_MARGIN_PX / 2)
                      * hole for hole in grown_holes(holes)])
    shifted = filled + (inner * (luminance(seen) - luminance(filled)))[..., None]
    return np.clip(shifted, 0.0, 1.0).astype(filled.dtype)


def without_checkerboard(images: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) float images in [0, 1] with the checkerboard the network paints on some
    faces (a pattern of alternate pixels: magenta and yellow dots over a printed mask, grey or
    blue dots where it paints the background beside the jaw, 2 px apart) smoothed away where it
    shows: where the pattern's amplitude (the image filtered by [[1, -1], [-1, 1]] / 4, its
    largest over R, G, B, averaged over 5 x 5 pixels) passes CHECKER_LEVELS, the image blends
    into its [1, 2, 1] binomial blur (which has no such pattern), wholly from twice that.
    Elsewhere the images are returned as they are."""
    pattern = np.array([[1, -1], [-1, 1]], np.float32) / 4
    binomial = np.array([1, 2, 1], np.float32) / 4
    out = []
    for image in np.asarray(images, np.float32):
        amplitude = cv2.blur(np.abs(cv2.filter2D(image * 255.0, -1, pattern,
                                                 borderType=cv2.BORDER_REFLECT)).max(axis=2),
                             (5, 5))
        weight = np.clip(amplitude / CHECKER_LEVELS - 1.0, 0.0, 1.0)[..., None]
        if weight.any():
            smooth = cv2.sepFilter2D(image, -1, binomial, binomial,
                                     borderType=cv2.BORDER_REFLECT)
            image = image * (1.0 - weight) + smooth * weight
        out.append(image)
    return np.stack(out).astype(np.asarray(images).dtype)


def hole_weight(holes: np.ndarray) -> np.ndarray:
    """(N, S, S) bool masks -> float weights of the filled image in what predict pastes for a
    hole model: 1 inside the hole (``with_hole``'s, grown by HOLE_GROWTH_PX), 0 outside it,
    falling to about a half over the hole's last two pixels so that its edge blends into the
    crop."""
    return np.stack([cv2.GaussianBlur(hole, (0, 0), 1.0) * hole for hole in grown_holes(holes)])


def in_photo(crop: FaceCrop, shape: Sequence[int]) -> np.ndarray:
    """(S, S) float32: 1 where a crop pixel's centre lies in the photo of ``shape`` or less than
    one crop pixel past its border, else 0. The paste's bilinear warp reads those last crop
    pixels for the photo's outermost rows and columns: without them a mask that reaches the
    border kept a faint line of itself there, weighed down by the zeros beyond."""
    ys, xs = np.mgrid[0:crop.size, 0:crop.size]
    points = crop.to_photo(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64))
    h, w = shape[:2]
    reach = 0.5 + crop.photo_scale  # the photo's edge, then one crop pixel
    inside = (points[:, 0] > -reach) & (points[:, 0] < w - 1 + reach) & \
        (points[:, 1] > -reach) & (points[:, 1] < h - 1 + reach)
    return inside.reshape(crop.size, crop.size).astype(np.float32)


def edges_run_past(region: np.ndarray, inside: np.ndarray | None = None
                   ) -> tuple[bool, bool, bool]:
    """(bottom, left, right): whether the region covers more than EDGE_SHARE of the stretch of
    that edge of the crop where the photo goes on past it (``inside``: ``in_photo``; None:
    everywhere), and at least EDGE_LEAST of the crop; looked at just inside the fade, so a
    faded region answers the same. A mask cut by the photo's own border, as in a tight
    portrait, ends there: it does not run past the crop."""
    size = region.shape[0]
    k = fade_width(size)
    if inside is None:
        inside = np.ones(region.shape, np.float32)
    edges = ((region[-1 - k], inside[-1]), (region[:, k], inside[:, 0]),
             (region[:, -1 - k], inside[:, -1]))
    runs = []
    for edge, goes_on in edges:
        covered = int(np.count_nonzero((edge * goes_on) > 0.5))
        runs.append(covered > EDGE_SHARE * np.count_nonzero(goes_on > 0)
                    and covered >= EDGE_LEAST * size)
    return tuple(runs)


def runs_past_crop(region: np.ndarray, inside: np.ndarray | None = None) -> bool:
    return any(edges_run_past(region, inside))


def fade_width(size: int) -> int:
    return max(1, int(round(EDGE_FADE * size)))


def edge_fade(size: int, edges: tuple[bool, bool, bool] = (True, True, True),
              inside: np.ndarray | None = None, width: int | None = None) -> np.ndarray:
    """(S, S) weights: 0 on the crop's bottom row and side columns (those of ``edges``:
    bottom, left, right), rising linearly to 1 at EDGE_FADE of the crop (or ``width`` crop
    pixels) inside them (the top, above the eyes, is never pasted); with ``inside``
    (``in_photo``), only from the stretches of those edges that lie in the photo (where the
    photo ends first, the region ends with it), by the distance to them, so the fade rounds off
    where such a stretch ends."""
    if inside is None:
        inside = np.ones((size, size), np.float32)
    cut = np.zeros((size, size), bool)  # the stretches of the crop's edges the fade starts from
    bottom, left, right = edges
    if bottom:
        cut[-1] |= inside[-1] > 0
    if left:
        cut[:, 0] |= inside[:, 0] > 0
    if right:
        cut[:, -1] |= inside[:, -1] > 0
    if not cut.any():
        return np.ones((size, size), np.float32)
    distance = cv2.distanceTransform((~cut).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    width = fade_width(size) if width is None else width
    return np.clip(distance / width, 0.0, 1.0).astype(np.float32)


def lower_face_area(size: int, landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(S, S) float32: 1 inside the lower face (the hull of LOWER_FACE's landmarks), else 0."""
    area = np.zeros((size, size), np.float32)
    hull = cv2.convexHull(landmarks_in_crop[LOWER_FACE].astype(np.float32))
    cv2.fillConvexPoly(area, np.round(hull).astype(np.int32), 1.0)
    return area


def mask_region(predicted: np.ndarray, landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: where the mask head's probability ``predicted`` (S, S) is taken as mask;
    none of it where that covers less than MIN_MASK_SHARE of the lower face."""
    size = predicted.shape[0]
    lower_face = lower_face_area(size, landmarks_in_crop)
    # A mask can only be on the lower face (grown: masks reach under the chin and the fitted
    # lower face of a masked face is a guess), below the eyes' top: the prediction is trusted
    # there and nowhere else; eye_guard keeps the eyes out.
    reach = max(1, int(round(LOWER_FACE_GROWTH * size / PREDICT_FRAMING[0])))
    allowed = cv2.dilate(lower_face, cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
    # Hysteresis: the parts the head is less sure of (ear loops, straps, a mask's thin edge)
    # count where they join what it is sure of.
    region = hysteresis(predicted, MASK_THRESHOLDS) & allowed & below_eyes(size, landmarks_in_crop)
    if region.sum() < MIN_MASK_SHARE * lower_face.sum():
        # No mask on this face (or no face at all: a detector's false positive).
        return np.zeros(region.shape, bool)
    return region


def loops_beside_the_eyes(region: np.ndarray, predicted: np.ndarray,
                          landmarks_in_crop: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: what a face's ``region`` (``mask_region``'s) gains above the eyes' top, where
    ear loops and straps run up beside the eyes to the ears: beside the eye guard's width, up to
    LOOPS_UP eye distances above the eyes' top, the pixels the head takes for mask (hysteresis)
    that join the region and whose colour (Lab, ``crop`` RGB in [0, 1]) lies within
    LOOPS_COLOUR_DELTA of the mask's own (its median where the head is sure) and nearer it than
    the forehead's (above the brows between the eyes): not an ear, and not hair unless it is the
    mask's colour."""
    size = region.shape[0]
    extra = np.zeros((size, size), bool)
    # (what the head takes for mask over the eyes, sunglasses, neither sets the mask's colour
    # nor joins a loop to it)
    region = region & (eye_guard(region.shape, landmarks_in_crop) > 0)
    centres = eye_centres(landmarks_in_crop)
    distance = float(np.hypot(*(centres[1] - centres[0])))
    top = float(landmarks_in_crop[EYES, 1].min())
    first, last = max(0, int(np.floor(top - LOOPS_UP * distance))), max(0, int(np.floor(top)))
    brows = float(landmarks_in_crop[BROWS, 1].min())
    forehead = np.zeros((size, size), bool)
    forehead[max(0, int(brows - 0.3 * distance)):max(0, int(brows - 0.05 * distance)),
             max(0, int(centres[0][0])):max(0, int(centres[1][0]))] = True
    body = region & (predicted > MASK_THRESHOLDS[1])
    if last <= first or body.sum() < 20 or forehead.sum() < 10:
        return extra
    lo = lower_lid(landmarks_in_crop[LEFT_EYE])[0, 0] - EYE_GUARD_SIDES * distance
    hi = lower_lid(landmarks_in_crop[RIGHT_EYE])[-1, 0] + EYE_GUARD_SIDES * distance
    columns = np.arange(size)
    beside = (columns + 0.5 < lo) | (columns - 0.5 > hi)
    band = np.zeros((size, size), bool)
    band[first:last, beside] = True
    lab = cv2.cvtColor(crop.astype(np.float32), cv2.COLOR_RGB2Lab)
    to_mask = np.linalg.norm(lab - np.median(lab[body], axis=0), axis=2)
    to_skin = np.linalg.norm(lab - np.median(lab[forehead], axis=0), axis=2)
    candidates = band & hysteresis(predicted, MASK_THRESHOLDS) & \
        (to_mask < LOOPS_COLOUR_DELTA) & (to_mask < to_skin)
    if not candidates.any():
        return extra
    return joining(candidates, region)


def plain_mask_distance(crop: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """(S, S) float: each pixel's CIELAB distance from the mask's median colour over ``body``
    (``crop`` RGB in [0, 1]; lightness counted half, so that the mask in its own shadow is still
    near it), or None where the mask is not plain (under PLAIN_MASK of its body within
    LOOPS_COLOUR_DELTA of that median): a print's or a two-tone mask's colour says little."""
    lab = cv2.cvtColor(crop.astype(np.float32), cv2.COLOR_RGB2Lab)
    to_mask = np.linalg.norm((lab - np.median(lab[body], axis=0))
                             * np.array([0.5, 1.0, 1.0], np.float32), axis=2)
    if (to_mask[body] < LOOPS_COLOUR_DELTA).mean() < PLAIN_MASK:
        return None
    return to_mask


def joining(pieces: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``pieces`` (S, S) bool, less those not joined (8-neighbour, through them) to ``region``."""
    _, labels = cv2.connectedComponents((pieces | region).astype(np.uint8), connectivity=8)
    joined = np.unique(labels[region])
    return pieces & np.isin(labels, joined[joined > 0])


def below_the_chin_not_the_mask(region: np.ndarray, predicted: np.ndarray,
                                landmarks_in_crop: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: what ``region`` (``mask_region``'s) loses below the chin: from
    BELOW_CHIN_MARGIN of the crop under the fitted chin down, the pixels further than
    BELOW_CHIN_DELTA from a plain mask's colour (its median where the head is sure, between the
    nose tip and the chin; ``crop`` RGB in [0, 1], Lab with lightness counted half, so that the
    mask's underside in its own shadow is still the mask) and what they cut off from the region
    above: a neck, a collar or a shirt the head took for a mask hanging low. Nothing where the
    mask is not plain (PLAIN_MASK of its body within LOOPS_COLOUR_DELTA of its median)."""
    size = region.shape[0]
    none = np.zeros((size, size), bool)
    chin = float(landmarks_in_crop[CHIN, 1])
    nose = float(landmarks_in_crop[NOSE_TIP, 1])
    first = int(np.ceil(chin + BELOW_CHIN_MARGIN * size))
    if first >= size:
        return none
    rows = np.arange(size)[:, None]
    body = region & (predicted > MASK_THRESHOLDS[1]) & (rows > nose) & (rows < chin)
    if body.sum() < 20:
        return none
    to_mask = plain_mask_distance(crop, body)
    if to_mask is None:
        return none
    matched = cv2.dilate((to_mask < BELOW_CHIN_DELTA).astype(np.uint8), np.ones((3, 3), np.uint8))
    kept = region.copy()
    kept[first:] &= matched[first:] > 0
    # ... and what is left below joins the region above.
    _, labels = cv2.connectedComponents(kept.astype(np.uint8), connectivity=8)
    above = np.unique(labels[:first][kept[:first]])
    kept &= np.isin(labels, above[above > 0])
    return region & ~kept


def to_the_photos_border(region: np.ndarray, predicted: np.ndarray,
                         landmarks_in_crop: np.ndarray, crop: np.ndarray,
                         inside: np.ndarray) -> np.ndarray:
    """(S, S) bool: what ``region`` (``mask_region``'s) gains between a plain mask's edge and the
    photo's border (BORDER_GAP): the mask's last pixels at the border that the head left out.
    ``crop`` RGB in [0, 1]; ``inside``: ``in_photo`` (the crop's own edges, where the photo goes
    on, are no border)."""
    size = region.shape[0]
    none = np.zeros((size, size), bool)
    body = region & (predicted > MASK_THRESHOLDS[1])
    if body.sum() < 20:
        return none
    to_mask = plain_mask_distance(crop, body)
    if to_mask is None:
        return none
    photo = np.pad(inside > 0, 1, constant_values=True).astype(np.uint8)
    to_border = cv2.distanceTransform(photo, cv2.DIST_L2, 3)[1:-1, 1:-1]
    to_region = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
    gap = (inside > 0) & ~region & (to_border + to_region <= BORDER_GAP * size + 2) \
        & (to_mask < LOOPS_COLOUR_DELTA) & (eye_guard(region.shape, landmarks_in_crop) > 0)
    gap[:int(np.ceil(landmarks_in_crop[NOSE_BASE, 1].mean()))] = False
    if not gap.any():
        return none
    # ... the pieces of it that join the region and reach the border.
    gap = joining(gap, region)
    _, pieces = cv2.connectedComponents(gap.astype(np.uint8), connectivity=8)
    reach = np.unique(pieces[gap & (to_border <= 1.5)])
    return gap & np.isin(pieces, reach[reach > 0])


def below_eyes(size: int, landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: the rows from the eyes' top (their highest landmark) down."""
    below = np.zeros((size, size), bool)
    below[max(0, int(np.floor(landmarks_in_crop[EYES, 1].min()))):] = True
    return below


def hysteresis(probability: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """Pixels over the low threshold that are connected (8-neighbour) to one over the high."""
    low, high = thresholds
    weak = (probability > low).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    if count <= 1:
        return weak > 0
    strong = np.unique(labels[(probability > high) & (weak > 0)])
    return np.isin(labels, strong[strong > 0])


def eye_guard(shape: Sequence[int], landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(S, S) float weight that a region is multiplied by: 0 on the crop pixels that reach an
    eye's guarded area (``guarded``), 1 elsewhere. The paste's bilinear warp still reads these
    zeros for the photo's pixels just past the area; ``paste`` zeroes the photo's own pixels
    that reach it, so nothing guarded is ever replaced whatever the photo's scale."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    inside = guarded(points, landmarks_in_crop, 0.5).reshape(shape[:2])
    return (~inside).astype(np.float32)


def guarded(points: np.ndarray, landmarks_in_crop: np.ndarray, half_pixel: float) -> np.ndarray:
    """(N,) bool: whether a pixel centred at each of ``points`` (N, 2), crop coordinates, that
    reaches ``half_pixel`` crop pixels each way, touches what is never replaced: each eye and
    everything above it (brow, glasses' rim, forehead) down to its lower eyelid (and EYE_GUARD
    rows more): under the eye, the lid's line from corner to corner; beside it, across
    EYE_GUARD_SIDES of the eye distance on the temple's side and EYE_GUARD_INNER on the nose's,
    the corner's height. The nose bridge between the eyes, the cheek under the eye's corners and
    the temples beside them, where a mask's top edge and ear loops run, stay replaceable. The
    crop is eye-levelled."""
    centres = eye_centres(landmarks_in_crop)
    distance = float(np.hypot(*(centres[1] - centres[0])))
    side, inner = EYE_GUARD_SIDES * distance, EYE_GUARD_INNER * distance
    x, y = points[:, 0], points[:, 1]
    touched = np.zeros(len(points), bool)
    for eye, (left, right) in ((LEFT_EYE, (side, inner)), (RIGHT_EYE, (inner, side))):
        floor = lower_lid(landmarks_in_crop[eye])  # (x, y) from the image-left corner
        across = (x + half_pixel >= floor[0, 0] - left) & (x - half_pixel <= floor[-1, 0] + right)
        # The lid's line (held level beyond the corners), its lowest over the pixel's width.
        line = np.max([np.interp(x + dx, floor[:, 0], floor[:, 1])
                       for dx in (-half_pixel, 0.0, half_pixel)], axis=0) + EYE_GUARD
        touched |= across & (y - half_pixel <= line)
    return touched


def lower_lid(eye: np.ndarray) -> np.ndarray:
    """(4, 2) the lower eyelid's line of one eye's six landmarks (dlib's order: a corner, two
    upper lid points, the other corner, two lower lid points), from its image-left corner to its
    image-right corner."""
    line = np.asarray(eye, np.float64)[[0, 5, 4, 3]]
    return line[np.argsort(line[:, 0], kind="stable")]


def paste(photo: np.ndarray, result: FaceResult, match: bool = True,
          blocks: Blocks | None = None, tone: np.ndarray | None = None,
          shift: np.ndarray | None = None) -> None:
    """Blend a face's output into the photo in place, only where its region is > 0; only the
    face's bounding box is warped. ``match`` gives the output the photo's grain first
    (``match_photo``), with ``blocks`` (a pixelated photo's, ``pixel_blocks``) its blocks
    (``in_blocks``) and with ``tone`` (a monochrome photo's, ``photo_tone``) its one colour.
    ``shift``: the chroma shift to give the output instead of one measured
    (``matched_to_photo``); the face's second crop (``result.below``) is pasted with the first's."""
    inverse = result.crop.inverse
    x0, y0, x1, y1 = crop_box(result.crop, photo.shape)
    if x1 <= x0 or y1 <= y0:
        return
    shifted = inverse.copy()
    shifted[:, 2] -= [x0, y0]
    box = (int(x1 - x0), int(y1 - y0))
    alpha = cv2.warpAffine(result.region.astype(np.float32), shifted, box, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    eyes = None
    if result.landmarks is not None and alpha.any():
        # The eye guard on the photo's own pixels: a photo pixel that reaches the guarded area
        # (its half-diagonal, in crop pixels) keeps its value, however the warp mixed weights.
        ys, xs = np.mgrid[y0:y1, x0:x1]
        points = result.crop.to_crop(np.stack([xs.ravel(), ys.ravel()], axis=1))
        eyes = guarded(points, result.landmarks,
                       0.5 * np.sqrt(2.0) / result.crop.photo_scale).reshape(alpha.shape)
        alpha[eyes] = 0.0
    generated = cv2.warpAffine(result.output.astype(np.float32), shifted, box,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = photo[y0:y1, x0:x1]
    changed = alpha > 1e-3
    if not changed.any():
        return
    generated = generated * 255.0
    if match:
        face = np.zeros(alpha.shape, np.uint8)
        hull = cv2.convexHull(np.round(result.face.landmarks - [x0, y0]).astype(np.int32))
        cv2.fillConvexPoly(face, hull, 1)
        if eyes is not None:
            # Eyes, lashes and brows are no skin's grain: measured on them, the noise added to
            # a face repainted under a mask worn up to the lids was a speckle the photo did not
            # have (judged blind on the 40 dev photos it changed most: without them better on
            # 29, worse on 2, 9 ties; a speckle seen on 2 results against 29).
            face[eyes] = 0
        visible = None
        if result.mask is not None:  # what the head thinks may be mask is no reference
            visible = cv2.warpAffine(result.mask.astype(np.float32), shifted, box,
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=0) <= MASK_THRESHOLDS[0]
        scale = result.crop.photo_scale
        generated, shift = matched_to_photo(region, generated, alpha, scale, face > 0, visible,
                                            blocks=blocks, tone=tone, shift=shift)
    a = alpha[changed][:, None]
    blended = region[changed].astype(np.float32) * (1 - a) + generated[changed] * a
    region[changed] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    if result.below is not None:
        paste(photo, result.below, match, blocks, tone, shift)


def match_photo(photo: np.ndarray, generated: np.ndarray, alpha: np.ndarray,
                scale: float, face: np.ndarray | None = None,
                visible: np.ndarray | None = None, seed: int = 0,
                blocks: Blocks | None = None, tone: np.ndarray | None = None) -> np.ndarray:
    """``matched_to_photo``'s image."""
    return matched_to_photo(photo, generated, alpha, scale, face, visible, seed, blocks,
                            tone)[0]


def matched_to_photo(photo: np.ndarray, generated: np.ndarray, alpha: np.ndarray,
                     scale: float, face: np.ndarray | None = None,
                     visible: np.ndarray | None = None, seed: int = 0,
                     blocks: Blocks | None = None, tone: np.ndarray | None = None,
                     shift: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """The generator's image (float, 0-255, warped onto ``photo``'s pixels) with the photo's
    grain: where the photo's own finest detail (the Laplacian of the visible face around the
    mask, inside ``face``: the face's outline, less what the eye guard keeps (eyes, lids,
    brows and the forehead above them), whose lashes and hairs are no skin's grain; at the
    photo's resolution) is stronger than the image's (a 128 px output scaled up to a large face
    is smooth), fine noise that adds what is missing is added to the image's luminance.

    ``scale`` is photo pixels per crop pixel; the ring of face the grain is measured on is
    RING_PX crop pixels times it around the region. ``visible`` (where given) marks the photo
    pixels that may serve as a reference: not a part of the mask left outside the region.
    ``tone`` (``photo_tone``: the photo is black and white or toned) gives the image that colour
    last, its lightness kept.

    Returns the image and the chroma shift ``skin_tone`` gave it (``skin_shift``; None where
    too little skin is seen). Given a ``shift``, that one is applied instead of one measured:
    a face's second crop (``continue_below``) takes its first crop's, whose tone it was matched
    to where they meet, and whose ring of skin it mostly lacks below the chin.

    A haze of the mask's or the background's colour inside the face's outline is first pulled
    towards the skin's chroma (``without_haze``), and the colour as a whole is then moved
    towards the visible skin's (``skin_tone``). Carrying the low-frequency difference between
    photo and image on a ring around the region into it pixel by pixel (a seam correction)
    tinted the lower face grey or green on the dev sheets wherever the ring held a remnant of
    the mask, the background or a shadow.
    """
    outside = (alpha <= 1e-3).astype(np.uint8)
    inside = 1 - outside
    ring_width = max(2, int(round(RING_PX * max(scale, 0.5))))
    source = photo.astype(np.float32)

    # Grain: the standard deviation of the luminance's Laplacian (the finest detail), estimated
    # from its lower quartile of magnitudes (|x| of a normal variable has its 25th percentile at
    # 0.3186 sigma): edges, lashes and a strap left in the ring are the upper values and do not
    # count. Noise is scaled so that its own Laplacian adds what the image lacks.
    def laplacian(gray):
        return cv2.Laplacian(gray, cv2.CV_32F, ksize=1)

    def grain(image, where):
        values = np.abs(laplacian(luminance(image))[where])
        return float(np.percentile(values, 25)) / 0.3186 if values.size else 0.0
    skin = cv2.dilate(inside, cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * 3 * ring_width + 1,) * 2)) > 0
    skin &= outside > 0
    if face is not None:
        skin &= face
    if visible is not None:
        skin &= visible
    core = alpha > 0.98
    enough = skin.sum() >= 50 and core.sum() >= 50
    target = skin_chroma(source, skin) if enough else None  # the skin's colour, for both steps
    if enough and face is not None:
        generated = without_haze(generated, target, face & (alpha > 0.5))
    if blocks is not None:
        # A smooth face under the blocky eyes of a pixelated photo stood out on every such dev
        # photo; made of the photo's blocks it reads as the same photo.
        seen = outside > 0
        generated = in_blocks(generated, photo, seen, blocks)
        if enough:
            generated = block_grain(source, generated, skin, core, seen, blocks, seed)
    elif enough:
        wanted, has = grain(source, skin), grain(generated, core)
        missing = np.sqrt(max(wanted ** 2 - has ** 2, 0.0))
        if missing > 0.5:
            noise = np.random.default_rng(seed).standard_normal(alpha.shape).astype(np.float32)
            noise = cv2.GaussianBlur(noise, (0, 0), GRAIN_SIGMA)
            noise *= missing / max(float(laplacian(noise).std()), 1e-6)
            generated = generated + noise[..., None]
    if shift is None and enough:
        shift = skin_shift(generated, target, core)
    generated = shifted_chroma(generated, shift)
    return (generated if tone is None else toned(generated, tone)), shift


def photo_tone(photo: np.ndarray, pasted: np.ndarray | None = None,
               around: np.ndarray | None = None) -> np.ndarray | None:
    """The a*, b* (CIELAB) of a monochrome ``photo`` (RGB uint8): a black-and-white one (0, 0)
    or a toned one (sepia, cyanotype): its pixels outside ``pasted`` (bool, where predict
    replaces it; None: none) and inside ``around`` (bool, ``around_faces``: the faces' crops;
    None: everywhere) lie within MONOCHROME_SPREAD of their median a*, b* (90th percentile of
    the distance). None for a colour photo. (Looked at around the faces, a small face in colour
    in a large grey scene, snow or a concrete street, is not taken for a grey photo.)"""
    seen = np.ones(photo.shape[:2], bool) if around is None else around.copy()
    if pasted is not None:
        seen &= ~pasted
    seen = photo[seen]
    if len(seen) < 100:
        return None
    seen = seen[::max(1, len(seen) // 100_000)]  # a sample is as good and stays fast
    if np.all(seen[:, 0] == seen[:, 1]) and np.all(seen[:, 1] == seen[:, 2]):
        return np.zeros(2, np.float32)
    ab = _lab(seen.reshape(-1, 1, 3).astype(np.float32)).reshape(-1, 3)[:, 1:]
    middle = np.median(ab, axis=0)
    if np.percentile(np.hypot(*(ab - middle).T), 90) >= MONOCHROME_SPREAD:
        return None
    return middle.astype(np.float32)


def results_tone(image: np.ndarray, results: Sequence[FaceResult]) -> np.ndarray | None:
    """The tone (``photo_tone``) ``results`` are pasted into ``image`` with: looked for around
    the faces that are changed, outside what they replace; None where none is changed."""
    changed = [r for r in results if r.changed]
    if not changed:
        return None
    return photo_tone(image, pasted_region(image.shape, changed) > 0,
                      around_faces(image.shape, changed))


def crop_box(crop: FaceCrop, shape: Sequence[int]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1: the bounding box in a photo of ``shape`` of ``crop`` warped back onto it
    (clipped to the photo; empty where it lies outside), where ``paste`` works."""
    size = crop.size
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
    points = crop.to_photo(corners)
    x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 1, [shape[1], shape[0]])
    return int(x0), int(y0), int(x1), int(y1)


def around_faces(shape: Sequence[int], results: Sequence[FaceResult]) -> np.ndarray:
    """(H, W) bool for a photo of ``shape``: the bounding boxes of the faces' crops (and of their
    second crops), where ``paste`` works (``crop_box``)."""
    around = np.zeros(shape[:2], bool)
    for result in results:
        while result is not None:
            x0, y0, x1, y1 = crop_box(result.crop, shape)
            around[y0:max(y0, y1), x0:max(x0, x1)] = True
            result = result.below
    return around


def toned(generated: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """``generated`` (float RGB, 0-255) in one colour: ``tone``'s a*, b* (``photo_tone``), its
    lightness kept; grey (R = G = B, the luminance) where the tone is (0, 0)."""
    if not np.any(tone):
        grey = (generated.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.float32)
        return np.repeat(grey[..., None], 3, axis=-1)
    lab = _lab(generated)
    lab[..., 1:] = tone
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0


def block_grain(photo: np.ndarray, generated: np.ndarray, skin: np.ndarray, core: np.ndarray,
                seen: np.ndarray, blocks: Blocks, seed: int = 0) -> np.ndarray:
    """A pixelated photo's blocks differ from their neighbours by the face's fine detail; the
    blocks of a smooth repaint barely do. Noise made of the photo's blocks is added to the
    luminance of ``generated`` (already in blocks) so that what is left of it after a blur over
    a few blocks matches what is left of the photo's ``skin``."""
    sigma = BLOCK_GRAIN_BLUR * max(blocks[0], blocks[1])

    def detail(image, where):  # a robust spread: the median of the magnitudes, as for a normal
        gray = luminance(image.astype(np.float32))
        rest = gray - cv2.GaussianBlur(gray, (0, 0), sigma)
        return float(np.median(np.abs(rest[where]))) / 0.6745
    missing = np.sqrt(max(detail(photo, skin) ** 2 - detail(generated, core) ** 2, 0.0))
    if missing <= 0.5:
        return generated
    noise = np.random.default_rng(seed).standard_normal((*skin.shape, 1)).astype(np.float32)
    noise = in_blocks(noise, photo, seen, blocks)
    noise *= BLOCK_GRAIN_SHARE * missing / max(detail(np.repeat(noise, 3, axis=2), core), 1e-6)
    return generated + noise


def _lab(image: np.ndarray) -> np.ndarray:
    """Float RGB (0-255) -> CIELAB."""
    return cv2.cvtColor(np.clip(image, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def skin_chroma(photo: np.ndarray, around: np.ndarray) -> np.ndarray | None:
    """The median chroma (a*, b* of CIELAB) of the skin among the pixels ``around`` (bool) of
    ``photo`` (RGB, 0-255): those within SKIN_HUES with a chroma over SKIN_CHROMA (a grey or blue
    background, a shadow, a white or coloured remnant of the mask are not the person's skin);
    None where fewer than 50 are."""
    seen = _lab(photo[around].reshape(-1, 1, 3)).reshape(-1, 3)
    hue = np.degrees(np.arctan2(seen[:, 2], seen[:, 1]))
    skin = (np.hypot(seen[:, 1], seen[:, 2]) > SKIN_CHROMA) \
        & (hue > SKIN_HUES[0]) & (hue < SKIN_HUES[1])
    if skin.sum() < 50:
        return None
    return np.array([np.median(seen[skin, c]) for c in (1, 2)], np.float32)


def skin_tone(generated: np.ndarray, target: np.ndarray | None,
              core: np.ndarray) -> np.ndarray:
    """``generated`` (float RGB, 0-255) with its chroma moved towards the skin's (``target``:
    ``skin_chroma`` of the photo around it): COLOUR_PULL of the way from its median over
    ``core`` (the repainted face), by at most COLOUR_MOST; as it is where too little skin is
    seen (None). The generator paints the lower face greyer, or in the mask's tint, or yellower
    than the person's own skin; on 150 held-out drawn pairs the distance between the repainted
    and the real lower face's median chroma falls from 4.87 to 3.98 (CIELAB units)."""
    return shifted_chroma(generated, skin_shift(generated, target, core))


def skin_shift(generated: np.ndarray, target: np.ndarray | None,
               core: np.ndarray) -> np.ndarray | None:
    """The a*, b* shift ``skin_tone`` gives ``generated``: COLOUR_PULL of the way from its median
    over ``core`` to ``target``, at most COLOUR_MOST long; None where ``target`` is None."""
    if target is None:
        return None
    painted = _lab(generated[core].reshape(-1, 1, 3)).reshape(-1, 3)
    shift = target - np.median(painted[:, 1:], axis=0).astype(np.float32)
    return shift * COLOUR_PULL * min(1.0, COLOUR_MOST / max(float(np.hypot(*shift)), 1e-6))


def shifted_chroma(generated: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    """``generated`` (float RGB, 0-255) with ``shift`` added to every pixel's a*, b* (CIELAB);
    as it is where None."""
    if shift is None:
        return generated
    painted = _lab(generated)
    painted[..., 1:] += shift
    return cv2.cvtColor(painted, cv2.COLOR_LAB2RGB) * 255.0


def without_haze(generated: np.ndarray, target: np.ndarray | None,
                 where: np.ndarray) -> np.ndarray:
    """``generated`` (float RGB, 0-255) with the chroma of its pixels ``where`` (the repainted
    face inside the face's outline) that falls short of the skin's along the skin's own hue (a
    grey, white, bluish or greenish haze of the mask or the background) pulled towards the
    skin's (``target``: ``skin_chroma`` of the photo around it; None: as it is): by HAZE_PULL
    times the share it falls short by, less HAZE_MARGIN. Lips, redder or more saturated than
    the skin, and the lightness stay as they are; so does a band HAZE_INSET photo pixels wide
    inside the outline (a jaw's edge against a background is no haze)."""
    length = 0.0 if target is None else float(np.hypot(*target))
    if length < SKIN_CHROMA or not where.any():
        return generated
    painted = _lab(generated)
    ab = painted[..., 1:].copy()
    short = np.clip((length - ab @ (target / length) - HAZE_MARGIN) / length, 0.0, 1.0)
    inner = cv2.erode(where.astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * HAZE_INSET + 1,) * 2)) > 0
    weight = cv2.GaussianBlur(np.where(inner, HAZE_PULL * short, 0.0).astype(np.float32),
                              (0, 0), 1.0)[..., None]
    painted[..., 1:] = ab * (1.0 - weight) + target * weight
    return cv2.cvtColor(painted, cv2.COLOR_LAB2RGB) * 255.0


def pasted_region(shape: Sequence[int], results: Sequence[FaceResult]) -> np.ndarray:
    """(H, W) float in [0, 1] for a photo of ``shape``: each face's region as paste lays it
    onto the photo (1 where the output replaces the photo wholly)."""
    def white(result: FaceResult) -> FaceResult:  # its output all 1, as is what it pastes past
        return FaceResult(result.face, result.crop, np.ones(result.output.shape, np.float32),
                          result.region, landmarks=result.landmarks,
                          below=None if result.below is None else white(result.below))
    weight = np.zeros((shape[0], shape[1], 3), np.uint8)
    for result in results:
        paste(weight, white(result), match=False)
    return weight[..., 0].astype(np.float32) / 255.0


def region_overlay(photo: np.ndarray, results: Sequence[FaceResult],
                   color: Sequence[int] = (255, 0, 0), opacity: float = 0.6) -> np.ndarray:
    """A copy of the photo with every face's pasted region tinted ``color`` (at ``opacity``
    where the region is whole): where predict replaced the photo, for a person to judge."""
    alpha = pasted_region(photo.shape, results)[..., None] * opacity
    tinted = photo.astype(np.float32) * (1 - alpha) + np.asarray(color, np.float32) * alpha
    return np.round(tinted).astype(np.uint8)


# ---------------------------------------------------------------------- command line

def plan_outputs(inputs: Sequence[str], output: str | None = None,
                 suffix: str = "_unmasked", folder: str = "unmasked") -> list[tuple[Path, Path]]:
    """(photo, file to write) for photos and folders, checked before any work is done.

    One photo in: the output is a file (default ``<name><suffix>.<ext>`` in the current folder).
    Several photos or a folder: a folder (default ``folder``) mirroring the input tree; photos
    already inside that output folder are never read as inputs.

    Raises:
        UsageError: no photos, a loop of symbolic links, a folder output named like a file, or
            an output that would overwrite an input photo.
    """
    for given in inputs:
        try:
            Path(given).resolve()
        except (RuntimeError, OSError) as e:  # Python 3.11 says RuntimeError, 3.13 OSError
            raise UsageError(f"{given}: a loop of symbolic links ({e})") from None
    items = list_photos(inputs)
    single = len(items) == 1 and not Path(inputs[0]).is_dir()
    if not single:
        root = Path(output or folder)
        if root.suffix.lower() in IMAGE_SUFFIXES:
            raise UsageError(f"-o {root}: several photos or a folder go to a folder, not to "
                             f"one {root.suffix} file")
        inside = root.resolve()
        if any(Path(given).is_dir() and Path(given).resolve() == inside for given in inputs):
            raise UsageError(f"-o {root} is an input folder: writing there would replace its "
                             f"photos; choose another -o")
        items = [(photo, relative) for photo, relative in items
                 if inside not in photo.resolve().parents]
    if not items:
        raise UsageError("no photos given (or the folders hold none)")
    if single:
        photo = items[0][0]
        plan = [(photo, Path(output) if output else Path(f"{photo.stem}{suffix}{photo.suffix}"))]
    else:
        plan = [(photo, root / relative) for photo, relative in items]
    for folder in {target.parent for _, target in plan}:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write to {folder}: permission denied (nothing was done)")
    sources = {photo.resolve() for photo, _ in plan}
    claimed: dict[Path, Path] = {}
    unique = []
    for photo, target in plan:
        if target.resolve() in sources:
            raise UsageError(f"{target} is an input photo: writing there would replace it; "
                             f"choose another -o")
        first = claimed.setdefault(target.resolve(), photo)
        if first.resolve() == photo.resolve():
            if first is photo:  # the same photo given twice is done once
                unique.append((photo, target))
            continue
        raise UsageError(f"{first} and {photo} would both be written to {target}: give them "
                         f"different names, or unmask them in separate runs")
    return unique


def count_unmasked(outcomes: Sequence[str]) -> tuple[int, int]:
    """(faces changed, of which partly unmasked) among faces' outcomes (``FaceResult.outcome``)."""
    partly = sum(o.startswith("partly") for o in outcomes)
    return outcomes.count("unmasked") + partly, partly


def region_path(target: Path) -> Path:
    """Where ``--save-region`` writes a result's replaced region: beside it, as a PNG."""
    return target.with_name(f"{target.stem}_region.png")


@dataclass
class PredictReport(BatchReport):
    """A predict batch: the photos' outcomes, and what was done with each face."""

    faces: dict[str, list[str]] = field(default_factory=dict)  # photo -> FaceResult.outcome each

    def counts(self) -> dict:
        outcomes = [o for found in self.faces.values() for o in found]
        unmasked, partly = count_unmasked(outcomes)
        return {**super().counts(), "faces": len(outcomes), "unmasked": unmasked,
                "partly": partly}


# Why predict passes over a photo without failing it.
RESULT_EXISTS = "result exists (--overwrite replaces it)"


def predict_files(unmasker: Unmasker, inputs: Sequence[str], output: str | None = None,
                  side_by_side: bool = False, overwrite: bool = False,
                  save_region: bool = False, label: bool = True) -> PredictReport:
    """Unmask photos and folders (see ``plan_outputs`` for where results go).

    A result file that exists already is left alone (the photo is skipped) unless ``overwrite``.
    ``save_region`` also writes each result's replaced region (``region_path``: 255 where the
    output replaced the photo wholly, 0 where the photo is untouched). ``label``: each result's
    XMP says it was made by mask2face (IPTC digital source type
    compositeWithTrainedAlgorithmicMedia).
    A photo that fails for any reason (no face in it too) is reported and the batch goes on.
    """
    from tqdm.auto import tqdm

    plan = plan_outputs(inputs, output)
    report = PredictReport()
    for photo, target in tqdm(plan, unit="photo", disable=None if len(plan) > 1 else True):
        if target.exists() and not overwrite:
            report.skip(target, RESULT_EXISTS)
            continue
        try:
            source = read_photo(photo, unmasker.config.faces.max_image_pixels)
            image = source.rgb
            out, results = unmasker.unmask_faces(image)
            if not results:
                raise ImageReadError(f"{photo}: no face found")
            outcomes = report.faces[str(photo)] = [r.outcome for r in results]  # even if
            kind = UNMASKED if label else None                                   # writing fails
            if side_by_side:
                save_like(target, np.hstack([image, out]), source_type=kind)
            else:
                save_like(target, out, source, kind)  # the photo's own mode, alpha, metadata
            if save_region:
                weight = pasted_region(image.shape, results)
                write_image(region_path(target), np.round(weight * 255).astype(np.uint8))
            report.written.append(str(target))
            changed, _ = count_unmasked(outcomes)  # partly unmasked counts, as in the summary
            notes = [o for o in outcomes if o != "unmasked"]
            log.info("%s -> %s: %d face%s, %d unmasked%s", photo, target, len(results),
                     "s" * (len(results) != 1), changed, "".join(f"; 1 {o}" for o in notes))
        except ImageReadError as e:
            report.fail(photo, str(e))  # listed once, with the others, when the batch ends
        except PermissionError as e:
            report.fail(photo, f"{photo}: cannot write {e.filename or target}: permission denied")
        except Exception as e:  # one odd photo must not stop the batch
            log.debug("failed on %s", photo, exc_info=True)
            report.fail(photo, error_line(photo, e))
    if report.skipped:
        skipped = report.skipped_count
        log.info("%d result%s already there, left as %s (--overwrite replaces them)",
                 skipped, "s" * (skipped != 1), "they are" if skipped > 1 else "it is")
    counts = report.counts()
    log.info("%d written, %d failed; faces: %d found, %d unmasked (%d partly: the mask goes on "
             "past the face's crop), %d left untouched", counts["written"], counts["failed"],
             counts["faces"], counts["unmasked"], counts["partly"],
             counts["faces"] - counts["unmasked"])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, add_model_argument, make_parser, run_command

    parser = make_parser("predict", "Remove face masks from photos.")
    parser.add_argument("inputs", nargs="+", metavar="PHOTO_OR_FOLDER")
    add_model_argument(parser)
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file for one photo, folder for several (default: "
                             "<name>_unmasked.<ext> / unmasked/)")
    parser.add_argument("--side-by-side", action="store_true", help="write input | output")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace results that exist already (default: skip those photos)")
    parser.add_argument("--save-region", action="store_true",
                        help="also write each result's replaced region as <result>_region.png "
                             "(white = replaced)")
    parser.add_argument("--no-label", dest="label", action="store_false",
                        help="do not record in each result's XMP that mask2face made it (IPTC "
                             "digital source type compositeWithTrainedAlgorithmicMedia)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="faces per model call")
    parser.add_argument("--detector", type=detector_argument, metavar="D",
                        help="face detector, e.g. blaze>mtcnn (default: the model's "
                             "predict_face_detector)")
    parser.add_argument("--feather", type=float, metavar="F",
                        help="width of the blended edge, share of the face crop")
    parser.add_argument("--grow", type=float, metavar="G", dest="region_grow",
                        help="grow the predicted mask region by this share of the face crop")
    parser.add_argument("--largest-face", action="store_true", default=None,
                        dest="largest_face_only", help="unmask only the largest face")
    add_config_argument(parser)

    def command(args: argparse.Namespace) -> int:
        plan_outputs(args.inputs, args.output)  # bad inputs and outputs fail before the model loads
        flags = dict(predict_batch_size=args.batch_size, feather=args.feather,
                     region_grow=args.region_grow, largest_face_only=args.largest_face_only)
        config = load_config(args.config, **flags)  # checks the flags too
        unmasker = Unmasker.load(config.predict.chosen_model(args.model), args.detector,
                                 config.training.model_dir)
        log.info("model: %s (%s)", unmasker.model_file, unmasker.network.runtime)
        unmasker.config.override(**flags)
        report = predict_files(unmasker, args.inputs, args.output, args.side_by_side,
                               args.overwrite, args.save_region, args.label)
        report.print_failures()
        print(json.dumps({**report.counts(), "model": str(unmasker.model_file)}))
        return report.exit_code

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
