"""Masked photos -> unmasked photos: ``python -m mask2face.predict masked.jpg``.

Every face is found (the masked-face detector), cut with the same eye-levelled transform as in
training, run through the model in batches, and pasted back with the inverse transform only
where the mask was (the model's predicted mask, else the lower face from the landmarks), with a
feathered edge. Every other pixel is the input's. What a face's region is comes from
``mask2face.region``; how its output is laid on the photo, from ``mask2face.paste``.

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
from typing import TYPE_CHECKING, Callable, Sequence

import cv2
import numpy as np

from mask2face.batch import BatchReport, error_line
from mask2face.config import Config, load_config, predict_settings
from mask2face.detectors import detector_argument
from mask2face.errors import ImageReadError, ModelFileError, UsageError
from mask2face.faces import WHOLE_PHOTO, Face, face_crop, face_finder_from_config
from mask2face.faces.finder import whole_photo_refusal
from mask2face.images import (IMAGE_SUFFIXES, UNMASKED, list_photos, luminance, read_photo,
                              save_like, write_image)
from mask2face.landmarks import LEFT_EYE, NOSE_BRIDGE_LOW, RIGHT_EYE, eye_centres, face_area
# Model files live in mask2face.modelfiles, what a face's region is in mask2face.region and how
# its result is laid on the photo in mask2face.paste; their names stay importable from here.
from mask2face.modelfiles import (BUNDLED_MODEL, KerasNetwork, Network, find_model,  # noqa: F401
                                  load_model, load_network, with_generator_output)
from mask2face.pairs import HOLE_GROWTH_PX, hole_fill
from mask2face.paste import (BLOCK_GRAIN_BLUR, BLOCK_GRAIN_SHARE, COLOUR_MOST,  # noqa: F401
                             COLOUR_PULL, GRAIN_SIGMA, HAZE_INSET, HAZE_MARGIN, HAZE_PULL,
                             MONOCHROME_SPREAD, RING_PX, SKIN_CHROMA, SKIN_HUES, FaceResult,
                             _lab, around_faces, block_grain, crop_box, match_photo,
                             matched_to_photo, paste, pasted_region, photo_tone, region_overlay,
                             results_tone, shifted_chroma, skin_chroma, skin_shift, skin_tone,
                             toned, without_haze)
from mask2face.pixelation import Blocks, pixel_blocks
from mask2face.region import (BELOW_CHIN_DELTA, BELOW_CHIN_MARGIN, BORDER_GAP,  # noqa: F401
                              EDGE_FADE, EDGE_LEAST, EDGE_SHARE, EYE_GUARD, EYE_GUARD_INNER,
                              EYE_GUARD_SIDES, LID_RISE, LOOPS_COLOUR_DELTA, LOOPS_UP,
                              LOWER_FACE_GROWTH, MASK_THRESHOLDS, MIN_MASK_SHARE, PLAIN_MASK,
                              PREDICT_FRAMING, SIDE_VIEW, SURE_TOP_REACH, TOP_EDGE_DELTA,
                              TOP_EDGE_NEARER, TOP_EDGE_REACH, below_eyes,
                              below_the_chin_not_the_mask, below_the_sure_top, edge_fade,
                              edges_run_past, eye_columns, eye_guard, eyes_off_the_mask,
                              fade_width, guarded, hysteresis, in_photo, joining,
                              loops_beside_the_eyes, mask_coloured_top,
                              lower_face_area, lower_lid, mask_region, past_the_border,
                              plain_mask_distance, replicated_from, runs_past_crop, side_view,
                              to_the_photos_border, under_the_lids)

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)
# Where a face's region runs past the bottom of its crop with the photo going on (a gaiter, a
# mask worn low), predict looks again through a crop this much wider and lower (widen, lower as
# faces.face_crop takes them) and replaces the mask it finds there below the first crop, joined
# to what the first crop replaced (``continue_below``).
BELOW_FRAMING = (1.5, 0.15)
# ... where the median colour of what it finds there lies within this Lab distance of the
# first crop's mask where it leaves the crop; where it does not, the pixels of it within this
# distance of that colour, joined to where the mask leaves the crop through such pixels (a mask
# going on below the chin over a collar or a coat the head also takes for mask: all of it was
# left before, at a straight seam). Judged blind on the 13 masked dev photos the second step
# changes: better on 9, worse on 1, 3 ties; strict 3 against 0.
BELOW_COLOUR_DELTA = 20.0
# The two outputs cross-fade over this share of the first crop above its bottom, the second's
# colour shifted to the first's there (the median difference where both fill the mask). Across
# the EDGE_FADE band alone, with no shift, a line or step in tone showed across the chin or neck:
# judged blind on the 40 masked dev photos this changed most, better on 19, worse on none (21
# ties), a seam seen on 26 rows before and 10 after. 300 drawn pairs (--seed 1, quick set):
# mask replaced 98.7 -> 98.8 %, changed beyond 4 px 13.4 -> 13.7 %, detail 0.90 -> 0.87.
BELOW_BLEND = 0.1
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
# Eyes fitted again on the result (``Unmasker.guard_refitted_eyes``): a lower lid lower than the
# masked face's fit by more than this (crop pixels) adds the new fit's eye guard. On 300 drawn
# pairs (--seed 1) eyes changed 3.0 -> 2.0 % of faces (1.3 -> 0.7 % off the drawn mask), the
# rest as it was (0.5: 1.7 %, 2: 2.3 %); on the 150 dev photos without masks with masks drawn
# on (--draw-on, seeds 1-3) 6.0 -> 4.7, 5.3 and 3.3 % (off the mask 3.3 -> 2.0, 2.0, 2.0 %).
# Blind at 0.5 on 24 dev photos it changed: better on 1, worse on 2 (more of a mask's top edge
# kept), 21 ties.
REFIT_LID_MARGIN = 1.0
# ... and a second fit whose lid lies lower than the first by more than this share of the eye
# distance is no eye (on the masked dev photos two did: on a nose under a printed mask, where its
# guard kept a dark speck of the mask, and on a cartoon; the largest real shift seen, a mask worn
# to the lids, was 0.6).
REFIT_LID_MOST = 1.0
# ... and where the second fit's eyes lie further than this share of the eye distance from the
# first's (either eye; the share at which the face finder starts to doubt a fit against the
# detector's eyes, EYES_TRUST), neither fit is trusted with the eyes: the region keeps nothing
# between the eyes' outer corners above the top of what the mask head is sure of
# (``below_the_sure_top``). Measured: docs/quality.md, "Nothing above the mask's sure top where
# the fits disagree".
REFIT_DOUBT = 0.25
# The network paints a checkerboard (alternate pixels) on some faces: over a printed mask, where
# it paints the background beside the jaw or a hand. Its amplitude (levels of 255, 5 x 5 mean)
# inside the region is under 1.8 on half the masked dev faces and over 10 on 14 of 480, where it
# shows as coloured dots; from CHECKER_LEVELS on, the output is smoothed there
# (``without_checkerboard``).
CHECKER_LEVELS = 3.0
# ``predict.mirrored_head``: the mask head's second look, at the crop mirrored, counts from the
# nose bridge's lowest point down and below the top of what the first look is sure of (its
# highest within MIRROR_REACH of the crop's side either way), fading in over MIRROR_FADE_PX crop
# rows (``mirrored_masks``).
# Measured: docs/quality.md, "The mask head looks twice".
MIRROR_FADE_PX = 4.0
MIRROR_REACH = 0.06


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
             model_dir: str = "models", settings: dict | None = None) -> "Unmasker":
        """Load a model (see ``modelfiles.find_model``: None or 'bundled' = the shipped model,
        'latest' = the newest run under ``model_dir``, or a run folder or model file) with its
        run's configuration, ``settings`` (keys by name: ``config.predict_settings``, flags) set
        over it."""
        model_file, config_file = find_model(model, model_dir)
        config = load_config(config_file, **(settings or {}))
        unmasker = cls(load_network(model_file), config, detector)
        unmasker.model_file = model_file
        return unmasker

    def run_model(self, crops: np.ndarray, generated: bool = False,
                  faces: np.ndarray | None = None,
                  kept: Callable[[np.ndarray], np.ndarray] | None = None,
                  sources: np.ndarray | None = None,
                  found: Callable[[np.ndarray], np.ndarray] | None = None,
                  mirror_below: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, S, S, 3) float crops -> output images and predicted masks (or None).

        The images are the model's output (kept equal to the input outside its own mask), or
        with ``generated`` its generator's whole image: what predict pastes inside the region
        it decides on (grown and feathered), so that growing the region does replace more.
        ``faces``: each crop's face area (``face_area``, (N, S, S) in [0, 1]), shown to a model
        trained with ``face_outline`` in its hole; None: the whole hole is face. ``kept``: given
        the first pass's masks, (N, S, S) bool of the pixels a hole model's hole leaves out
        before it is grown by HOLE_GROWTH_PX (the eyes predict never replaces, ``eye_guard``).
        ``sources``: (N, S, S) int, ``replicated_from`` each crop: a crop pixel past the
        photo's border that repeats a border pixel in the hole is hole too. ``found``: given the
        first pass's masks, (N, S, S) bool of what predict's region will take for mask
        (``_found``), hole too: where the region takes in more than the head's mask (a plain
        mask's last pixels at the photo's border), the hole pass paints it, not the crop.
        ``mirror_below``: (N,) crop rows; with ``predict.mirrored_head`` the mask head also sees
        each crop mirrored, and below its row (``mirrored_masks``) what it finds either way round
        is mask."""
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
        if masks is not None and mirror_below is not None and self.config.predict.mirrored_head:
            mirrored = run(np.ascontiguousarray(crops[:, :, ::-1]))[2][:, :, ::-1]
            masks = mirrored_masks(masks, mirrored, mirror_below)
        if masks is not None and self.config.training.hole_share > 0:
            # A model trained with holes fills the mask without seeing it: a second pass over
            # the crops with what the first found greyed out, or filled with the colours round it
            # (``hole_surroundings``); its mask head is not asked again.
            holes = masks > MASK_THRESHOLDS[0]
            if found is not None:
                holes |= found(masks)
            if sources is not None:
                # Past the photo's border a crop repeats the border's pixels: where they repeat
                # the mask, they are streaks of its colour, which the fill round the hole (or
                # the network, grey or not) would carry into the face beside the border.
                flat = holes.reshape(len(holes), -1)
                holes = holes | np.take_along_axis(flat, sources.reshape(len(holes), -1),
                                                   axis=1).reshape(holes.shape)
            if kept is not None:
                holes &= ~kept(masks)
            outlined = faces if self.config.training.face_outline else None
            _, filled, _ = run(with_hole(crops, holes, outlined,
                                         self.config.training.hole_surroundings))
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

    def _run_on_faces(self, batch: np.ndarray, crops: Sequence, faces: Sequence[Face],
                      sources: np.ndarray,
                      found: Callable[[np.ndarray], np.ndarray] | None = None,
                      freed: Sequence[np.ndarray] = ()
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """``run_model(batch, generated=True)`` on face crops; a model trained with
        ``face_outline`` is shown, in its hole, the hull of each face's fitted points in its
        crop. A hole model's hole never covers the eyes (``eye_guard``, drawn from the points
        the region will be: ``eyes_off_the_mask``): shown the eyes, it paints the face on
        under them; under a hole over them it painted eyes of its own, and their lower edge,
        below the guard, showed as a dark smear under a real eye. ``sources`` and ``found``
        are ``run_model``'s (``sources``: ``replicated_from`` each crop); ``freed``: each face's
        guarded pixels that are the mask (``under_the_lids``), hole too, filled in by ``found``
        before the hole is made (empty: none)."""
        def guarded_eyes(masks):
            return np.stack([eye_guard((self.size, self.size), self._region_landmarks(f, c, mask),
                                       freed[i] if freed else None) == 0
                             for i, (f, c, mask) in enumerate(zip(faces, crops, masks))])
        options = {}
        if self.config.training.hole_share > 0:
            options["kept"] = guarded_eyes
            options["sources"] = sources
            if found is not None:
                options["found"] = found
        if self.config.training.face_outline:
            options["faces"] = np.stack([face_area(c.to_crop(f.landmarks), self.size)
                                         for c, f in zip(crops, faces)])
        options["mirror_below"] = np.array([c.to_crop(f.landmarks)[NOSE_BRIDGE_LOW, 1]
                                            for c, f in zip(crops, faces)])
        return self.run_model(batch, generated=True, **options)

    @staticmethod
    def _region_landmarks(face: Face, crop, mask: np.ndarray | None) -> np.ndarray:
        """A face's 68 points in its crop as its region is drawn from them: moved onto the
        detector's eyes where the fitted eyes lie on the mask (``eyes_off_the_mask``)."""
        landmarks = crop.to_crop(face.landmarks)
        if mask is not None and face.detector_eyes is not None:
            landmarks = eyes_off_the_mask(landmarks, mask, crop.to_crop(face.detector_eyes))
        return landmarks

    def _region(self, landmarks_in_crop: np.ndarray, predicted: np.ndarray | None,
                feather: float, grow: float, inside: np.ndarray | None = None,
                fade: bool = True, crop: np.ndarray | None = None,
                sources: np.ndarray | None = None, found: np.ndarray | None = None,
                freed: np.ndarray | None = None) -> np.ndarray:
        """Where the output replaces the photo, (S, S) float in [0, 1]; ``feather`` and ``grow``
        are shares of the crop (see PredictConfig); ``inside``: the crop's pixels that lie in
        the photo (``in_photo``; None: all), the only ones a region can run past the crop in;
        without ``fade``, the region before it is faded there (``_faded_past_crop``); with
        ``crop`` (its RGB in [0, 1]), ear loops beside the eyes join the region
        (``loops_beside_the_eyes``), what below the chin is not a plain mask's colour leaves it
        (``below_the_chin_not_the_mask``) and, with ``inside`` too, the gap between a plain
        mask and the photo's border joins it (``to_the_photos_border``); with ``sources``
        (``replicated_from``), the region goes on past the photo's border where it reaches it
        (``past_the_border``); ``found``: ``_found``'s result for these arguments where it is
        already worked out; ``freed``: guarded pixels replaced all the same (``under_the_lids``).
        """
        if predicted is not None:
            if found is None:
                found = self._found(landmarks_in_crop, predicted, crop, inside, sources)
            if not found.any():
                return found.astype(np.float32)
            region = found.astype(np.float32)
        else:
            region = lower_face_area(self.size, landmarks_in_crop)
        region = self._feathered(self._grown(region, grow), feather) \
            * eye_guard(region.shape, landmarks_in_crop, freed)
        if inside is not None:
            # Beyond the photo's border a crop repeats the photo's edge: a mask that reaches the
            # border is replaced to it, and does not run on past the crop there.
            region = region * inside
        return self._faded_past_crop(region, inside) if fade else region

    def _grown(self, region: np.ndarray, grow: float) -> np.ndarray:
        """(S, S) float ``region`` grown by ``grow`` (a share of the crop; 0: as it is)."""
        region = region.astype(np.float32)
        if grow > 0:
            width = max(1, int(round(grow * self.size)))
            region = cv2.dilate(region, cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1)))
        return region

    @staticmethod
    def _found(landmarks_in_crop: np.ndarray, predicted: np.ndarray,
               crop: np.ndarray | None = None, inside: np.ndarray | None = None,
               sources: np.ndarray | None = None) -> np.ndarray:
        """(S, S) bool: what a face's region takes for mask before it is grown, feathered and
        guarded (``_region``, whose arguments these are)."""
        found = mask_region(predicted, landmarks_in_crop)
        if not found.any():
            return found
        if crop is not None:
            found |= loops_beside_the_eyes(found, predicted, landmarks_in_crop, crop)
            found |= mask_coloured_top(found, predicted, landmarks_in_crop, crop)
            found &= ~below_the_chin_not_the_mask(found, predicted, landmarks_in_crop, crop)
            if inside is not None:
                found |= to_the_photos_border(found, predicted, landmarks_in_crop, crop, inside)
        if sources is not None:
            found = past_the_border(found, sources)
        return found

    def _faded_past_crop(self, region: np.ndarray, inside: np.ndarray | None) -> np.ndarray:
        """``region`` faded out along the crop's edges it runs past (``edges_run_past``)
        instead of ending there at a straight seam."""
        edges = edges_run_past(region, inside)
        if any(edges):
            region = region * edge_fade(self.size, edges, inside)
        return region

    def guesses_faces(self) -> bool:
        """Whether a photo in which no detector finds a face is taken as one
        (``predict.whole_photo_face``, and a mask head to tell whether it wears a mask)."""
        return self.config.predict.whole_photo_face and self.config.model.mask_head

    def no_face_note(self, image: np.ndarray) -> str:
        """What a "no face found" report adds: why the photo was not taken as its face."""
        why = whole_photo_refusal(image) if self.guesses_faces() else ""
        return f" (nor taken as a face crop: {why})" if why else ""

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
        if not faces and self.guesses_faces():
            guessed = self.finder.whole_photo(image)
            faces = [guessed] if guessed is not None else []
        self.timing.detect_s += time.perf_counter() - start
        if largest_only:
            faces = faces[:1]  # the finder lists the largest first
        if not faces:
            return []
        start = time.perf_counter()
        margin = self.config.data.crop_margin
        crops = [face_crop(f.landmarks, self.size, margin, *PREDICT_FRAMING) for f in faces]
        batch = np.stack([c.apply(image) for c in crops]).astype(np.float32) / 255.0
        insides = [in_photo(c, image.shape) for c in crops]
        sources = np.stack([replicated_from(c, image.shape) for c in crops])
        founds: list[np.ndarray] = []
        freed: list[np.ndarray] = []

        def found(masks: np.ndarray) -> np.ndarray:
            # What each face's region will take for mask and the mask's top edge under the lids
            # (kept for the regions below), grown as the region is: a hole model's hole too.
            points = [self._region_landmarks(f, c, mask)
                      for f, c, mask in zip(faces, crops, masks)]
            founds[:] = [self._found(landmarks, mask, crop, inside, source)
                         for landmarks, mask, crop, inside, source
                         in zip(points, masks, batch, insides, sources)]
            freed[:] = [under_the_lids(part, mask, landmarks, crop)
                        for part, mask, landmarks, crop in zip(founds, masks, points, batch)]
            return np.stack([self._grown(part, grow) > 0 for part in founds])
        outputs, masks = self._run_on_faces(batch, crops, faces, sources, found, freed)
        self.timing.model_s += time.perf_counter() - start
        self.timing.faces += len(faces)
        results, wholes = [], []  # wholes: each region before its fade past the crop
        for i, (f, c) in enumerate(zip(faces, crops)):
            landmarks = c.to_crop(f.landmarks)
            if side_view(landmarks, f.detector_eyes_apart):
                results.append(FaceResult(f, c, outputs[i], np.zeros_like(outputs[i][..., 0]),
                                          "side view"))
                wholes.append(results[-1].region)
                continue
            mask = None if masks is None else masks[i]
            landmarks = self._region_landmarks(f, c, mask)
            inside = insides[i]
            part, lids = (founds[i], freed[i]) if founds else (None, None)
            if mask is not None and part is None:  # a model without a hole pass
                part = self._found(landmarks, mask, batch[i], inside, sources[i])
                lids = under_the_lids(part, mask, landmarks, batch[i])
            whole = self._region(landmarks, mask, feather, grow, inside, fade=False,
                                 crop=batch[i], sources=sources[i], found=part, freed=lids)
            wholes.append(whole)
            results.append(FaceResult(f, c, outputs[i], self._faded_past_crop(whole, inside),
                                      mask=mask, inside=inside, landmarks=landmarks,
                                      freed=lids))
        if masks is not None and self.config.predict.continue_below:
            self.continue_below(image, results, batch, wholes, feather)
        return results

    def continue_below(self, image: np.ndarray, results: list[FaceResult],
                       first_crops: np.ndarray, wholes: Sequence[np.ndarray],
                       feather: float) -> None:
        """For each face whose region runs past its crop's bottom or a side where the photo goes
        on, look again through a wider, lower crop (BELOW_FRAMING) and set ``below``: the mask
        found there, joined to where the first region left its crop and of that mask's colour
        (BELOW_COLOUR_DELTA), replaced beyond the first crop (over its last BELOW_BLEND, where
        the two outputs cross-fade); the first region is then not faded at those edges.
        ``first_crops``: the (N, S, S, 3) float crops the results were made from, and ``wholes``
        their regions before the fade past the crop, in their order."""
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
        sources = np.stack([replicated_from(c, image.shape) for c in crops])
        outputs, masks = self._run_on_faces(batch, crops, [results[i].face for i in todo],
                                            sources)
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
                past_first = warped(core, into) < 0.5
                beyond = part & past_first
                if beyond.sum() < 10:
                    continue
                colour = _median_lab(first_crops[i][band])
                if np.linalg.norm(_median_lab(batch[k][beyond]) - colour) > BELOW_COLOUR_DELTA:
                    # Not all of it: the pixels within that distance of the band's colour,
                    # joined to the band through such pixels.
                    close = part & (_lab_distances(batch[k], colour) <= BELOW_COLOUR_DELTA)
                    part = joining(close, close & seeds)
                    if (part & past_first).sum() < 10:
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
            region = past_the_border(region, sources[k])
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
        blocks = pixel_blocks(image) if results and self.config.predict.match_blocks else None
        out = self._pasted(image, results, blocks)
        if self.guard_refitted_eyes(out, results):
            out = self._pasted(image, results, blocks)
        self.timing.paste_s += time.perf_counter() - start
        return out, results

    def _pasted(self, image: np.ndarray, results: Sequence[FaceResult],
                blocks: Blocks | None) -> np.ndarray:
        """A copy of ``image`` with every face's result pasted on it (``blocks``: the photo's,
        ``pixel_blocks``, where it is pixelated and the run matches them)."""
        out = image.copy()
        tone = results_tone(image, results)
        for result in results:
            paste(out, result, blocks=blocks, tone=tone)
        return out

    def guard_refitted_eyes(self, unmasked: np.ndarray, results: Sequence[FaceResult]) -> bool:
        """Fit each changed face's 68 points again, on ``unmasked`` (the photo with the results
        pasted) in the face's own box: where a lower lid lies lower there (by over
        REFIT_LID_MARGIN crop pixels, and by no more than REFIT_LID_MOST of the eye distance)
        than on the fit to the masked face, which a mask worn up to the lids or a glasses' rim
        can push up onto the brows (BlazeFace's eyes with it), the face's eyes are guarded by
        both fits: its region (and its second crop's) loses what the new guard covers and
        ``paste`` keeps every photo pixel either guard reaches. Where the two fits' eyes lie over
        REFIT_DOUBT of the eye distance apart, the region also loses what lies between the
        eyes above the top of the mask the head is sure of (``below_the_sure_top``).
        Returns whether any face's region changed (the faces are then to be pasted again)."""
        again = False
        for result in results:
            if not result.changed or result.landmarks is None:
                continue
            refit = result.crop.to_crop(self.finder.landmarks(unmasked, result.face.box))
            lower = lowest_lids(refit) - lowest_lids(result.landmarks)
            centres = eye_centres(result.landmarks)
            distance = float(np.hypot(*(centres[1] - centres[0])))
            apart = np.hypot(*(eye_centres(refit) - centres).T).max() / max(distance, 1.0)
            if apart > REFIT_DOUBT and result.mask is not None:
                # The two fits disagree: neither is trusted with the eyes, and nothing between
                # them above the top of what the head is sure of is replaced.
                taken = mask_region(result.mask, result.landmarks)
                if taken.any():
                    width = max(1, int(round(self.config.predict.feather * self.size)))
                    result.region = (result.region * below_the_sure_top(
                        taken, result.mask, result.landmarks, width)).astype(np.float32)
                    again = True
            most = REFIT_LID_MOST * distance
            if not (lower > REFIT_LID_MARGIN).any() or (lower > most).any():
                continue
            result.guard_landmarks = refit
            if result.freed is not None:
                # The mask's edge freed under the first fit's lids (``under_the_lids``) is freed
                # under the second guard too at an eye whose lid the new fit does not put lower;
                # at one it does, the new guard keeps what it covers.
                moved = (lower > REFIT_LID_MARGIN)[eye_columns(result.landmarks, self.size)]
                result.guard_freed = result.freed & ~moved[None, :]
            parts = [result]
            if result.below is not None:  # the second crop: the same points in its frame
                result.below.guard_landmarks = result.below.crop.to_crop(
                    result.crop.to_photo(refit))
                parts.append(result.below)
            for part in parts:
                part.region = (part.region * eye_guard(part.region.shape, part.guard_landmarks,
                                                       part.guard_freed)).astype(np.float32)
            again = True
        return again


def mirrored_masks(masks: np.ndarray, mirrored: np.ndarray, below: np.ndarray) -> np.ndarray:
    """(N, S, S) the mask head's probabilities ``masks`` joined (the larger of the two) with
    ``mirrored`` (the head's on the mirrored crops, mirrored back) below each crop's row
    ``below`` (the nose bridge's lowest point) and below the top of what the first look is sure
    of (over MASK_THRESHOLDS[1]) in each column, the highest within MIRROR_REACH of the side
    either way (where the first look found none in a column, the nearest column's), fading in
    over MIRROR_FADE_PX rows under that line. Seen one way round, the head misses the far side
    of some masks, a corner at the bottom, an ear loop, that it finds the other way round; the
    mask's top edge, near the eyes, is the first look's: mirrored, a tilted face's mask rises
    higher on the other side, and the fitted lids can lie above the real ones."""
    size = masks.shape[1]
    rows = np.arange(size, dtype=np.float32)[:, None]
    columns = np.arange(size)
    reach = max(1, int(round(MIRROR_REACH * size)))
    out = np.array(masks, copy=True)
    for k in range(len(masks)):
        sure = masks[k] > MASK_THRESHOLDS[1]
        found = sure.any(axis=0)
        line = np.full(size, float(below[k]), np.float32)
        if found.any():
            tops = np.interp(columns, columns[found], np.argmax(sure, axis=0)[found])
            padded = np.pad(tops, reach, mode="edge")
            highest = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1).min(axis=1)
            line = np.maximum(line, highest.astype(np.float32))
        weight = np.clip((rows - line[None, :]) / MIRROR_FADE_PX, 0.0, 1.0)
        out[k] = np.maximum(masks[k], mirrored[k] * weight)
    return out


def lowest_lids(landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(2,) the lowest point of each eye's lower lid line (``lower_lid``), crop rows."""
    return np.array([lower_lid(landmarks_in_crop[eye])[:, 1].max()
                     for eye in (LEFT_EYE, RIGHT_EYE)])


def _median_lab(pixels: np.ndarray) -> np.ndarray:
    """(3,) the median Lab colour of RGB pixels in [0, 1] (N, 3)."""
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2Lab)
    return np.median(lab.reshape(-1, 3), axis=0)


def _lab_distances(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """(H, W) Lab distance of each pixel of ``image`` (RGB in [0, 1]) from ``colour`` (Lab)."""
    lab = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2Lab)
    return np.linalg.norm(lab - colour, axis=-1)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affine: ``inner`` then ``outer``."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return a[:2]


def with_hole(crops: np.ndarray, masks: np.ndarray, faces: np.ndarray | None = None,
              surroundings: bool = False) -> np.ndarray:
    """(N, S, S, 3) crops with each (N, S, S) bool mask, grown by HOLE_GROWTH_PX (a square, as
    training grows its holes), filled with mid grey: what a model trained with ``hole_share``
    learnt to fill. With ``faces`` ((N, S, S) face areas in [0, 1], for a model trained with
    ``face_outline``), mid grey over the face and OUTSIDE_FACE_GREY beyond it; with
    ``surroundings`` (``hole_surroundings``), the colours round the hole spread into it."""
    holes = grown_holes(masks)[..., None]
    if surroundings:
        return surroundings_fill(crops, holes)
    fill = 0.5 if faces is None else hole_fill(faces[..., None])
    return crops * (1.0 - holes) + fill * holes


def _pool2(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) averaged over 2 x 2 blocks (H and W even; as ``data._pool2``)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _up2(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) enlarged twice by linear interpolation between pixel centres, the edges
    held (as ``data._up2``)."""
    def along(x, axis):
        before = np.concatenate([x.take([0], axis), x.take(range(x.shape[axis] - 1), axis)], axis)
        after = np.concatenate([x.take(range(1, x.shape[axis]), axis), x.take([-1], axis)], axis)
        both = np.stack([0.75 * x + 0.25 * before, 0.75 * x + 0.25 * after], axis + 1)
        shape = list(x.shape)
        shape[axis] *= 2
        return both.reshape(shape)
    return along(along(x, 1), 2)


def surroundings_fill(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) float images with each (N, S, S, 1) hole (1 = hole) filled by pull-push from
    the pixels round it: what a model trained with ``training.hole_surroundings`` sees in its
    hole (``data.surroundings_fill``, the same on tensors, tested)."""
    images, holes = np.asarray(images, np.float32), np.asarray(holes, np.float32)
    known = 1.0 - holes
    levels = [(images * known, known)]
    while levels[-1][1].shape[1] % 2 == 0 and levels[-1][1].shape[1] > 1:
        colour, weight = levels[-1]
        levels.append((_pool2(colour), _pool2(weight)))
    colour, weight = levels[-1]
    estimate = np.where(weight > 0, colour / np.maximum(weight, 1e-6), 0.5)
    for colour, weight in reversed(levels[:-1]):
        estimate = colour + (1.0 - weight) * _up2(estimate)
    return (images * known + estimate * holes).astype(np.float32)


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


# ---------------------------------------------------------------------- command line

def plan_outputs(inputs: Sequence[str], output: str | None = None,
                 suffix: str = "_unmasked", folder: str = "unmasked") -> list[tuple[Path, Path]]:
    """(photo, file to write) for photos and folders, checked before any work is done.

    One photo in: the output is a file (default ``<name><suffix>.<ext>`` in the current folder),
    or, where ``output`` is a folder (one that exists, a name ending in "/", or a new name
    without a suffix), the photo's own name in that folder. Several photos or a folder: a
    folder (default ``folder``) mirroring the input tree; photos already inside that output
    folder are never read as inputs.

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
        target = Path(output) if output else Path(f"{photo.stem}{suffix}{photo.suffix}")
        if output and (output.endswith(("/", os.sep)) or target.is_dir()
                       or not (target.suffix or target.exists())):
            target = target / photo.name  # "-o results": a folder, as for several photos
        plan = [(photo, target)]
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


def took_whole_photo(results: Sequence[FaceResult]) -> bool:
    """Whether no detector found a face and the photo was taken as one
    (``predict.whole_photo_face``)."""
    return any(r.face.detector == WHOLE_PHOTO for r in results)


def whole_photo_note(results: Sequence[FaceResult]) -> str:
    """What a report adds where the photo was taken as its face; "" otherwise."""
    return " (no detector found one: the whole photo taken as the face)" \
        if took_whole_photo(results) else ""


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
    whole_photo: int = 0  # photos taken as their face, where no detector found one

    def counts(self) -> dict:
        outcomes = [o for found in self.faces.values() for o in found]
        unmasked, partly = count_unmasked(outcomes)
        return {**super().counts(), "faces": len(outcomes), "unmasked": unmasked,
                "partly": partly, "whole_photo": self.whole_photo}


# Why predict passes over a photo without failing it.
RESULT_EXISTS = "result exists (--overwrite replaces it)"


def predict_files(unmasker: Unmasker, inputs: Sequence[str], output: str | None = None,
                  side_by_side: bool = False, overwrite: bool = False,
                  save_region: bool = False, label: bool = True) -> PredictReport:
    """Unmask photos and folders (see ``plan_outputs`` for where results go).

    A result file that exists already is left alone (the photo is skipped) unless ``overwrite``.
    ``save_region`` also writes each result's replaced region (``region_path``: 255 where the
    output replaced the photo wholly, 0 where the photo is untouched). ``label``: each result in
    which a face was changed says in its XMP that it was made by mask2face (IPTC digital source
    type compositeWithTrainedAlgorithmicMedia).
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
                raise ImageReadError(f"{photo}: no face found{unmasker.no_face_note(image)}")
            report.whole_photo += took_whole_photo(results)
            outcomes = report.faces[str(photo)] = [r.outcome for r in results]  # even if
            # writing fails. A photo whose faces were all left as they were is no composite.
            kind = UNMASKED if label and any(r.changed for r in results) else None
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
            log.info("%s -> %s: %d face%s%s, %d unmasked%s", photo, target, len(results),
                     "s" * (len(results) != 1), whole_photo_note(results), changed,
                     "".join(f"; 1 {o}" for o in notes))
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
    log.info("%d written, %d failed; faces: %d found%s, %d unmasked (%d partly: the mask goes on "
             "past the face's crop), %d left untouched", counts["written"], counts["failed"],
             counts["faces"], f" ({report.whole_photo} of them the whole photo: no detector "
             f"found one)" if report.whole_photo else "", counts["unmasked"], counts["partly"],
             counts["faces"] - counts["unmasked"])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, add_model_argument, make_parser, run_command

    parser = make_parser("predict", "Remove face masks from photos.")
    parser.add_argument("inputs", nargs="+", metavar="PHOTO_OR_FOLDER")
    add_model_argument(parser)
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="file for one photo (a name without a suffix is a folder), "
                             "folder for several (default: <name>_unmasked.<ext> / "
                             "unmasked/)")
    parser.add_argument("--side-by-side", action="store_true", help="write input | output")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace results that exist already (default: skip those photos)")
    parser.add_argument("--save-region", action="store_true",
                        help="also write each result's replaced region as <result>_region.png "
                             "(white = replaced, grey = blended with the photo, black = kept)")
    parser.add_argument("--no-label", dest="label", action="store_false",
                        help="do not record in each result's XMP that mask2face made it (IPTC "
                             "digital source type compositeWithTrainedAlgorithmicMedia)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="faces per model call")
    parser.add_argument("--detector", type=detector_argument, metavar="D",
                        help="face detector, e.g. blaze>mtcnn (default: predict_face_detector, "
                             "the configuration's where it sets one, else the model's)")
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
        # The configuration's predict keys (those off their defaults), then the flags, over the
        # model's run settings.
        settings = {**predict_settings(config),
                    **{key: value for key, value in flags.items() if value is not None}}
        unmasker = Unmasker.load(config.predict.chosen_model(args.model), args.detector,
                                 config.training.model_dir, settings)
        log.info("model: %s (%s)", unmasker.model_file, unmasker.network.runtime)
        report = predict_files(unmasker, args.inputs, args.output, args.side_by_side,
                               args.overwrite, args.save_region, args.label)
        report.print_failures()
        print(json.dumps({**report.counts(), "model": str(unmasker.model_file)}))
        return report.exit_code

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
