"""Where a face's mask is: the region predict replaces, drawn on the face's crop.

From the mask head's probability and the 68 landmarks fitted on the masked face: what the head
takes for mask on the lower face and below the eyes' top (``mask_region``), the ear loops of the
mask's colour beside the eyes (``loops_beside_the_eyes``), less a collar or a neck below the
chin that is not a plain mask's colour (``below_the_chin_not_the_mask``), plus a plain mask's
last pixels at the photo's border (``to_the_photos_border``) and its top edge the head left
out, found by its colour (``mask_coloured_top``); never what the eye guard keeps
(``eye_guard`` on the crop, ``guarded`` for any pixel; less the mask's top edge where the fitted
lids sit on it, ``under_the_lids``), nor, where predict's two fits of a face disagree, what
lies between the eyes above the mask the head is sure of (``below_the_sure_top``).
``mask2face.predict`` grows, feathers and fades the region and pastes through it;
docs/quality.md says why each step is as it is.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from mask2face.faces import FaceCrop, align_to_eyes
from mask2face.landmarks import (BROWS, CHIN, EYES, JAW, LEFT_EYE, LOWER_FACE, NOSE_TIP,
                                 RIGHT_EYE, eye_centres)

# Predict frames each face a little wider and lower than a training crop (widen, lower as
# faces.face_crop takes them), within the shift and scale jitter the model trained with, so that
# a mask reaching below the chin lies inside the crop. Measured end to end by
# ``benchmarks/real_masks.py --pairs`` on 300 held-out LFW pairs with drawn masks: the mask left
# unreplaced 9.8 % -> 5.1 %, PSNR inside it 17.6 -> 18.3 dB (with the generator pasted, below);
# of the 150 real photos without masks 146 stay untouched instead of 148 (a microphone, a chin).
PREDICT_FRAMING = (1.08, 0.03)
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
# The guard follows the fitted lids, and a fit can be off the eyes (BlazeFace's eyes on a small,
# tilted or downcast face, which the 68 points follow). Where predict's two fits disagree
# (``Unmasker.guard_refitted_eyes``, REFIT_DOUBT), nothing is replaced between the eyes' outer
# corners (fitted, grown by half a pixel) more than SURE_TOP_REACH crop pixels above the top of
# what the head is sure of (over MASK_THRESHOLDS[1]) in that column or within a feather's width
# beside it, fading to none over that reach (``below_the_sure_top``): the pixels the head half
# believes in (hysteresis), and the feather, no longer climb onto a lid the guard misses. The
# mask's corners and loops beside the eyes stay whole. Applied to every face, it left a mask's
# top edge under the eyes (docs/quality.md, "Nothing above the mask's sure top where the fits
# disagree").
SURE_TOP_REACH = 2.0
# The mask worn up to the lids (under_the_lids): the lids are fitted on the masked face, and where
# the mask comes up to them the fitted lower lid sits on the mask's edge, so that the guard kept a
# line of the mask under the eye (named by reviewers in every round of session 36). Each column
# of the guard gives up, from its lowest pixel upwards, the pixels the head is sure of where the
# mask goes on below the guard, LID_RISE of the eye distance at most, at an eye where the head
# does not take what lies LID_RISE above the upper lid for mask. Judged blind on real dev photos
# (docs/quality.md, "The mask worn up to the lids"): against none, better on 8 and 4 of 40, worse
# on none, with a limit at the line between the eye's corners; that limit then taken away, better
# on 19 and 19, worse on 3 and 0 (an inner eye corner or a lid's lower edge painted darker); 0.2
# in place of 0.1 (fits that sit low on the mask) better on 6 of the 16 photos it changes, worse
# on none. The eye figures off the drawn masks do not move.
LID_RISE = 0.2
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
# A plain mask's top edge by its colour (session 38): the head leaves out a white fold under an
# eye's corner or a stiff mask's tip on the nose bridge, and is unsure (0.2-0.9) of the soft top
# edge the fitted lids sit on. The mask's colour is its median where the head is sure, over the
# nose (TOP_EDGE_BODY eye distances below the eyes' lowest point; nearer the eyes it was the skin
# under them or a glasses' rim on drawn masks, and the edge "found" there took the lids); a pixel
# is the mask's (mask_coloured) within TOP_EDGE_DELTA (Lab, lightness counted half) of it and
# under TOP_EDGE_NEARER times as far from it as from the forehead's, for a plain mask
# (PLAIN_MASK) that is not the skin's colour itself (its median within LOOPS_COLOUR_DELTA of the
# forehead's). Such pixels join the region up to TOP_EDGE_REACH eye distances from it, from the
# eyes' top to the nose tip, inside the face's hull and outside the eye guard
# (mask_coloured_top), and in the guard those the head gives over MASK_THRESHOLDS[0] are freed
# as its sure ones are (under_the_lids; an eye's white is a white mask's colour, and the head
# does not take it for mask). Judged blind on the dev photos it changes: better on 4 and 13 of
# 40, worse on 1 and 4; the eye figures on drawn masks do not move (docs/quality.md, "The mask's
# top edge by its colour").
TOP_EDGE_REACH = 0.12
TOP_EDGE_DELTA = 12.0
TOP_EDGE_NEARER = 0.6
TOP_EDGE_BODY = (0.3, 0.9)
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
# joins the region below the eyes: its pixels within BORDER_GAP of the crop from the region and
# the border together (a bridge between them, not a band along the border) that are within
# LOOPS_COLOUR_DELTA of the mask's colour (lightness counted half) and that join both. Blind on
# 40 of the 171 dev photos it changes by over 8 levels on 100 pixels: better on 2, worse on
# none, 38 ties (the mask's blue corner at a bottom edge gone, 0339); a first version along the
# whole border, 2 / 0 / 38 likewise, took bands of a collar or a wall along drawn pairs' borders.
# On 300 drawn pairs: changed beyond 4 px 13.2 -> 14.4 % (median), the rest unchanged. Until
# session 36 only below the nose, and the gap, outside the head's mask and so outside a hole
# model's hole, was pasted back as it was (docs/quality.md, "What the region takes in is hole
# too"); from the eyes' lowest point down, a mask's upper corner at a photo's side gone too, judged
# blind against below the nose: better on 6 and 11, worse on 2 and 5, strict 17 against 13 and 14
# against 14 (40 drawn at random from the 160 dev photos it changes, and the 40 it changes most).
BORDER_GAP = 0.06
# The mask head's probability: a region grows from where it is over the second threshold
# through everything connected to it over the first.
MASK_THRESHOLDS = (0.2, 0.5)
# A face whose nose tip lies closer than this share of the jaw's width to the jaw's edge is a
# side view and is left as it is: the model paints a frontal lower face. In 335 LFW faces (the
# training photos) the nose tip lay between 0.18 and 0.86 of the width for 99 % (0.5 % beyond
# 0.16 from either edge); 0.12 is past what the model learnt from.
SIDE_VIEW = 0.12
# ... unless the face detector's own eyes (BlazeFace's) lie at least this share of its box's width
# apart: the eyes of a frontal face are, and a 68-point fit pulled sideways by a mask's print or a
# hand is then no side view. On the 616 faces BlazeFace finds in the real dev photos (masked and
# bare) the share lay between 0.38 and 0.49 for 90 % of them (median 0.46); a face turned by 45
# degrees brings its eyes' distance down by cos 45 over a box that narrows less (about 0.38), and a
# profile's far below.
FRONTAL_EYES = 0.4
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
# A face whose predicted mask covers less of its lower face than this is left as it is.
MIN_MASK_SHARE = 0.1
# ... and so is one where the head is sure (SURE_LEVEL or more) of less than MIN_SURE_SHARE of what
# it takes for mask: on a real mask it is sure of nearly all of it, on what it half believes to
# be one (a microphone before a mouth, a man's mouth and upper lip) of patches. On the real dev
# photos: every one of the 480 masked faces the head finds is sure of 0.45 or more of its region
# (0.6 or more but for a banana held over a mouth; median 0.89), the least sure of 300 drawn pairs
# 0.44 and of the same made pixelated photos 0.38; of the four bare photos it changed, two are
# at 0.10 and 0.28 (left alone now), a microphone at 0.61 and tape over a mouth at 0.85. The
# line lies in the gap, between 0.28 and 0.38.
SURE_LEVEL = 0.9
MIN_SURE_SHARE = 0.33


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


def side_view(landmarks_in_crop: np.ndarray, detector_eyes_apart: float | None = None) -> bool:
    """Whether a face is turned further than the model was made for: its nose tip lies within
    SIDE_VIEW of the jaw's width from the jaw's edge (eye-levelled crop; 0.5 = frontal), unless
    ``detector_eyes_apart`` (the detector's eyes' distance over its box's width, where it gives
    eyes) is FRONTAL_EYES or more."""
    if detector_eyes_apart is not None and detector_eyes_apart >= FRONTAL_EYES:
        return False
    jaw = landmarks_in_crop[JAW, 0]
    left, right = jaw.min(), jaw.max()
    if right - left < 1e-6:
        return True
    where = (landmarks_in_crop[NOSE_TIP, 0] - left) / (right - left)
    return bool(min(where, 1.0 - where) < SIDE_VIEW)


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


def replicated_from(crop: FaceCrop, shape: Sequence[int]) -> np.ndarray:
    """(S, S) int: for each crop pixel, the flat index (row * S + column) of the crop pixel whose
    colour it shows: itself where its centre lies in the photo of ``shape``; beyond the photo's
    border, where the crop repeats the border's pixels (``FaceCrop.apply``), the crop pixel over
    the border pixel it repeats (where that lies outside the crop too, the nearest crop pixel
    in the photo to it that the lookup reaches)."""
    size = crop.size
    ys, xs = np.mgrid[0:size, 0:size]
    points = crop.to_photo(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64))
    h, w = shape[:2]
    clipped = np.stack([np.clip(points[:, 0], 0, w - 1), np.clip(points[:, 1], 0, h - 1)],
                       axis=1)
    back = np.clip(np.round(crop.to_crop(clipped)), 0, size - 1).astype(np.int64)
    inside = np.all(points == clipped, axis=1)
    source = np.where(inside, np.arange(size * size), back[:, 1] * size + back[:, 0])
    # A border pixel outside the crop: its nearest crop pixel can lie past the border too (a
    # turned crop's corner); follow the lookup on until it lands in the photo.
    for _ in range(size):
        onward = source[source]
        if np.array_equal(onward, source):
            break
        source = onward
    return source.reshape(size, size)


def past_the_border(region: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(S, S) bool ``region`` gone on past the photo's border where it reaches it: each crop
    pixel past the border is in it where the border pixel it repeats is (``sources``:
    ``replicated_from``). The mask head leaves the crop's repeated pixels out, and a region
    that stopped at the border faded out over the photo's last pixels as it was feathered,
    keeping a faint line of the mask there."""
    return region | region.ravel()[sources]


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
    none of it where that covers less than MIN_MASK_SHARE of the lower face, or where the head
    is sure (SURE_LEVEL or more) of less than MIN_SURE_SHARE of it."""
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
    if not region.any() or region.sum() < MIN_MASK_SHARE * lower_face.sum() \
            or (predicted[region] >= SURE_LEVEL).mean() < MIN_SURE_SHARE:
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
    forehead = _forehead(size, landmarks_in_crop)
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


def mask_coloured_top(region: np.ndarray, predicted: np.ndarray,
                      landmarks_in_crop: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: what ``region`` (``mask_region``'s) gains at a plain mask's top edge where the
    head left it out (a white fold under an eye's corner, a stiff mask's tip on the nose bridge):
    from the eyes' top down to the nose tip, within TOP_EDGE_REACH eye distances of the region,
    inside the face (the hull of its landmarks) and outside the eye guard, the pixels of the
    mask's colour (``top_edge_colours``) that join the region through such pixels."""
    size = region.shape[0]
    none = np.zeros((size, size), bool)
    colours = top_edge_colours(region, predicted, landmarks_in_crop, crop)
    if colours is None:
        return none
    centres = eye_centres(landmarks_in_crop)
    reach = TOP_EDGE_REACH * float(np.hypot(*(centres[1] - centres[0])))
    to_region = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2,
                                      cv2.DIST_MASK_PRECISE)
    face = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(face, np.round(cv2.convexHull(
        landmarks_in_crop.astype(np.float32))).astype(np.int32), 1)
    edge = ~region & (to_region <= reach) & (face > 0) & mask_coloured(*colours) \
        & below_eyes(size, landmarks_in_crop) & (eye_guard(region.shape, landmarks_in_crop) > 0)
    edge[int(np.floor(landmarks_in_crop[NOSE_TIP, 1])):] = False
    if not edge.any():
        return none
    return joining(edge, region)


def top_edge_colours(region: np.ndarray, predicted: np.ndarray, landmarks_in_crop: np.ndarray,
                     crop: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each crop pixel's distance (CIELAB, lightness counted half; ``crop`` RGB in [0, 1]) from a
    plain mask's colour and from the forehead's (``_forehead``), or None where the mask is not
    plain, is the skin's colour or too little of either is seen. The mask's colour is its median
    where the head is sure (SURE_LEVEL) over the nose, TOP_EDGE_BODY eye distances below the eyes'
    lowest point (the fitted nose tip of a masked face may lie anywhere under the mask, and the
    head's region just under the eyes may be skin or a glasses' rim); plain: PLAIN_MASK of it
    within LOOPS_COLOUR_DELTA of that median; the skin's colour: within LOOPS_COLOUR_DELTA of the
    forehead's."""
    size = region.shape[0]
    centres = eye_centres(landmarks_in_crop)
    distance = float(np.hypot(*(centres[1] - centres[0])))
    low = float(landmarks_in_crop[EYES, 1].max())
    rows = np.arange(size)[:, None]
    body = region & (predicted >= SURE_LEVEL) & (rows >= low + TOP_EDGE_BODY[0] * distance) \
        & (rows <= low + TOP_EDGE_BODY[1] * distance)
    forehead = _forehead(size, landmarks_in_crop)
    if body.sum() < 20 or forehead.sum() < 10:
        return None
    lab = cv2.cvtColor(crop.astype(np.float32), cv2.COLOR_RGB2Lab)
    to_mask = _plain_distance(lab, body)
    if to_mask is None:
        return None
    to_skin = _shade_distance(lab, np.median(lab[forehead], axis=0))
    if np.median(to_skin[body]) < LOOPS_COLOUR_DELTA:
        return None
    return to_mask, to_skin


def mask_coloured(to_mask: np.ndarray, to_skin: np.ndarray) -> np.ndarray:
    """(S, S) bool: the pixels within TOP_EDGE_DELTA of the mask's colour and under
    TOP_EDGE_NEARER times as far from it as from the skin's (``top_edge_colours``)."""
    return (to_mask < TOP_EDGE_DELTA) & (to_mask < TOP_EDGE_NEARER * to_skin)


def _forehead(size: int, landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: the forehead above the brows between the eyes, the face's own skin colour."""
    centres = eye_centres(landmarks_in_crop)
    distance = float(np.hypot(*(centres[1] - centres[0])))
    brows = float(landmarks_in_crop[BROWS, 1].min())
    forehead = np.zeros((size, size), bool)
    forehead[max(0, int(brows - 0.3 * distance)):max(0, int(brows - 0.05 * distance)),
             max(0, int(centres[0][0])):max(0, int(centres[1][0]))] = True
    return forehead


def plain_mask_distance(crop: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """(S, S) float: each pixel's CIELAB distance from the mask's median colour over ``body``
    (``crop`` RGB in [0, 1]; lightness counted half, so that the mask in its own shadow is still
    near it), or None where the mask is not plain (under PLAIN_MASK of its body within
    LOOPS_COLOUR_DELTA of that median): a print's or a two-tone mask's colour says little."""
    return _plain_distance(cv2.cvtColor(crop.astype(np.float32), cv2.COLOR_RGB2Lab), body)


def _plain_distance(lab: np.ndarray, body: np.ndarray) -> np.ndarray | None:
    """``plain_mask_distance`` on the crop's CIELAB ``lab``."""
    to_mask = _shade_distance(lab, np.median(lab[body], axis=0))
    if (to_mask[body] < LOOPS_COLOUR_DELTA).mean() < PLAIN_MASK:
        return None
    return to_mask


def _shade_distance(lab: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """(S, S) float: each pixel's CIELAB distance from ``colour`` with lightness counted half, so
    that a colour in its own shadow is still near it."""
    return np.linalg.norm((lab - colour) * np.array([0.5, 1.0, 1.0], np.float32), axis=2)


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
    photo's border (BORDER_GAP), below the eyes' lowest point: the mask's last pixels at the
    border that the head left out. ``crop`` RGB in [0, 1]; ``inside``: ``in_photo`` (the
    crop's own edges, where the photo goes on, are no border)."""
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
    gap[:int(np.ceil(landmarks_in_crop[EYES, 1].max()))] = False  # below the eyes only
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


def eye_guard(shape: Sequence[int], landmarks_in_crop: np.ndarray,
              freed: np.ndarray | None = None) -> np.ndarray:
    """(S, S) float weight that a region is multiplied by: 0 on the crop pixels that reach an
    eye's guarded area (``guarded``), 1 elsewhere. The paste's bilinear warp still reads these
    zeros for the photo's pixels just past the area; ``paste`` zeroes the photo's own pixels
    that reach it, so nothing guarded is ever replaced whatever the photo's scale. ``freed``:
    (S, S) bool crop pixels taken out of the guard (``under_the_lids``)."""
    inside = _guarded_crop(shape, landmarks_in_crop)
    if freed is not None:
        inside &= ~freed
    return (~inside).astype(np.float32)


def _guarded_crop(shape: Sequence[int], landmarks_in_crop: np.ndarray) -> np.ndarray:
    """(S, S) bool: the crop pixels that reach an eye's guarded area (``guarded``)."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    return guarded(points, landmarks_in_crop, 0.5).reshape(shape[:2])


def under_the_lids(found: np.ndarray, predicted: np.ndarray,
                   landmarks_in_crop: np.ndarray, crop: np.ndarray | None = None) -> np.ndarray:
    """(S, S) bool: the guarded crop pixels (``eye_guard``) that are the mask's top edge, worn up
    to the lids: in each column the guard reaches, the pixels from the guard's lowest upwards
    that the head is sure of (SURE_LEVEL or more) or, with ``crop`` (RGB in [0, 1]), that are a
    plain mask's colour (``mask_coloured``) and over its low threshold (MASK_THRESHOLDS[0]),
    where the pixel below the guard is mask
    (``found``, what the region takes for mask), at most LID_RISE of the eye distance of them;
    nothing at an eye where the head takes for mask what lies that far above its upper lid (at or
    over MASK_THRESHOLDS[1] within a pixel of either of its points raised so).
    The lids are fitted on the masked face, and where the mask comes up to them the fit's lower
    lid sits on the mask's edge: the guard kept that edge, a line of the mask under the eye."""
    size = found.shape[0]
    inside = _guarded_crop(found.shape, landmarks_in_crop)
    freed = np.zeros_like(inside)
    centres = eye_centres(landmarks_in_crop)
    most = int(np.floor(LID_RISE * float(np.hypot(*(centres[1] - centres[0])))))
    rows = np.arange(size)
    # Only where the head tells the eye from the mask: an eye where it takes for mask what lies
    # LID_RISE above its upper lid too (dark glasses, a head that says mask everywhere) frees
    # nothing. (A fit on the mask's top edge has the real eye above it, which the head does not
    # take for mask.)
    probability = predicted.astype(np.float32)
    seen = np.array([max(float(cv2.getRectSubPix(probability, (3, 3),
                                                 (float(x), float(y) - most)).max())
                         for x, y in landmarks_in_crop[eye][1:3]) < MASK_THRESHOLDS[1]
                     for eye in (LEFT_EYE, RIGHT_EYE)])
    seen_above = seen[eye_columns(landmarks_in_crop, size)]
    mask_like = predicted >= SURE_LEVEL
    if crop is not None:
        colours = top_edge_colours(found, predicted, landmarks_in_crop, crop)
        if colours is not None:
            # ... and where the head half believes in it: an eye's white is a white mask's
            # colour, and the head does not take it for mask.
            mask_like = mask_like | (mask_coloured(*colours) & (predicted > MASK_THRESHOLDS[0]))
    for x in np.flatnonzero(inside.any(axis=0)):
        floor = int(rows[inside[:, x]].max())
        if floor + 1 >= size or not found[floor + 1, x] or not seen_above[x]:
            continue
        for y in range(floor, max(-1, floor - most), -1):
            if not inside[y, x] or not mask_like[y, x]:
                break
            freed[y, x] = True
    return freed


def eye_columns(landmarks_in_crop: np.ndarray, size: int) -> np.ndarray:
    """(S,) int: the eye each crop column belongs to, 0 for the image-left eye (LEFT_EYE), 1 for
    the image-right one: the side of the point halfway between their centres it lies on."""
    return (np.arange(size) >= eye_centres(landmarks_in_crop)[:, 0].mean()).astype(np.int64)


def guarded(points: np.ndarray, landmarks_in_crop: np.ndarray, half_pixel: float,
            freed: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: whether a pixel centred at each of ``points`` (N, 2), crop coordinates, that
    reaches ``half_pixel`` crop pixels each way, touches what is never replaced: each eye and
    everything above it (brow, glasses' rim, forehead) down to its lower eyelid (and EYE_GUARD
    rows more): under the eye, the lid's line from corner to corner; beside it, across
    EYE_GUARD_SIDES of the eye distance on the temple's side and EYE_GUARD_INNER on the nose's,
    the corner's height. The nose bridge between the eyes, the cheek under the eye's corners and
    the temples beside them, where a mask's top edge and ear loops run, stay replaceable. The
    crop is eye-levelled. With ``freed`` ((S, S) bool crop pixels taken out of the guard,
    ``under_the_lids``), a pixel that reaches freed crop pixels and no other guarded one is not
    guarded."""
    touched = _touches_the_lids(points, landmarks_in_crop, half_pixel)
    if freed is None or not freed.any():
        return touched
    # Only the pixels near the freed ones can be spared.
    ys, xs = np.nonzero(freed)
    reach = half_pixel + 1.0
    near_freed = touched & (points[:, 0] >= xs.min() - reach) & (points[:, 0] <= xs.max() + reach) \
        & (points[:, 1] >= ys.min() - reach) & (points[:, 1] <= ys.max() + reach)
    which = np.flatnonzero(near_freed)
    # Which crop pixels each such pixel reaches: samples across its width at most one crop
    # pixel apart hit every crop pixel it overlaps.
    kept = _guarded_crop(freed.shape, landmarks_in_crop) & ~freed
    steps = np.linspace(-half_pixel, half_pixel, int(np.ceil(2 * half_pixel)) + 1)
    reaches_kept = np.zeros(len(which), bool)
    reaches_freed = np.zeros(len(which), bool)
    size = np.array(freed.shape[1::-1])
    for dx in steps:
        for dy in steps:
            at = np.floor(points[which] + [dx, dy] + 0.5).astype(np.int64)
            ok = ((at >= 0) & (at < size)).all(axis=1)
            reaches_kept[ok] |= kept[at[ok, 1], at[ok, 0]]
            reaches_kept[~ok] = True  # past the crop: as the lid's line says
            reaches_freed[ok] |= freed[at[ok, 1], at[ok, 0]]
    spared = np.zeros(len(points), bool)
    spared[which] = reaches_freed & ~reaches_kept
    return touched & ~spared


def _touches_the_lids(points: np.ndarray, landmarks_in_crop: np.ndarray,
                      half_pixel: float) -> np.ndarray:
    """``guarded`` without ``freed``."""
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


def below_the_sure_top(region: np.ndarray, predicted: np.ndarray,
                       landmarks_in_crop: np.ndarray, width: int) -> np.ndarray:
    """(S, S) float weight a feathered region is multiplied by: between the eyes' outer corners,
    1 from the highest pixel of ``region`` (``mask_region``'s) the head is sure of in each
    column (the highest within ``width`` columns either side), falling to 0 over SURE_TOP_REACH
    rows above it; 1 everywhere else. A column with nothing sure near it keeps nothing there."""
    size = region.shape[0]
    sure = region & (predicted > MASK_THRESHOLDS[1])
    top = np.where(sure.any(axis=0), sure.argmax(axis=0), 2 * size).astype(np.float32)[None, :]
    top = cv2.erode(top, np.ones((1, 2 * max(0, width) + 1), np.uint8),
                    borderType=cv2.BORDER_REPLICATE)
    rows = np.arange(size, dtype=np.float32)[:, None]
    weight = np.clip(1.0 - (top - rows) / SURE_TOP_REACH, 0.0, 1.0)
    columns = np.arange(size)
    lo = landmarks_in_crop[LEFT_EYE, 0].min() - 0.5
    hi = landmarks_in_crop[RIGHT_EYE, 0].max() + 0.5
    weight[:, (columns < lo) | (columns > hi)] = 1.0
    return weight


def lower_lid(eye: np.ndarray) -> np.ndarray:
    """(4, 2) the lower eyelid's line of one eye's six landmarks (dlib's order: a corner, two
    upper lid points, the other corner, two lower lid points), from its image-left corner to its
    image-right corner."""
    line = np.asarray(eye, np.float64)[[0, 5, 4, 3]]
    return line[np.argsort(line[:, 0], kind="stable")]
