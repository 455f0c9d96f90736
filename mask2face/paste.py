"""A face's result laid back onto its photo so that it looks like the photo.

``paste`` warps a face's output into the photo only where its region is, keeping every photo
pixel the eye guard reaches; ``matched_to_photo`` first gives the output the photo's grain (or
a pixelated photo's blocks), pulls a haze of the mask's or the background's colour towards the
skin and moves its colour towards the visible skin's; a black-and-white or toned photo gets a
paste in its own tone (``results_tone``). ``pasted_region`` and ``region_overlay`` show where a
photo was replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

from mask2face.faces import Face, FaceCrop
from mask2face.images import luminance
from mask2face.landmarks import BROWS, LEFT_EYE, RIGHT_EYE
from mask2face.pixelation import Blocks, in_blocks
from mask2face.region import MASK_THRESHOLDS, guarded, runs_past_crop

# Matching a paste's grain to its photo (match_photo): the grain is measured on the face within
# 3 x RING_PX crop pixels around the region; the blur that gives the added noise its grain size
# (photo pixels).
RING_PX = 3
GRAIN_SIGMA = 0.5
# ... and checked on the forehead (``forehead``: FOREHEAD eye distances above the brows): the ring
# round a mask worn up to the eyes can hold little skin but glasses' rims, a nose bridge, hair
# strands or the face's outline, whose edges the lower quartile no longer leaves out (on a 113 px
# drawn pair, a ring that was all glasses asked for a grain of 36 levels where the forehead has 4
# and the clean face under the mask 9.6; the face came out a speckle of light and dark dots). The
# forehead alone is too smooth a guide (stubble, pores and a noisy photo's mottle show on the
# lower face more than above the brows). Measured against the clean face under the mask
# (benchmarks/paste_references.py) on 299 drawn pairs and 150 real photos with drawn masks, the
# ring's figure is 1.35 / 1.41 times the clean face's (median), the forehead's 0.70 / 0.61,
# their geometric mean 0.97 / 0.89 (within 1.5 times on 86 / 75 %, against 59 / 54 % for the
# ring's). So the grain asked for is the geometric mean of the two where the forehead shows
# GRAIN_MIN_PIXELS and is the smoother; the ring's where a fringe or a hat makes the forehead's
# figure the larger.
FOREHEAD = (0.12, 0.6)
GRAIN_MIN_PIXELS = 50
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
    guard_landmarks: np.ndarray | None = None  # (68, 2) in the crop: a second fit (on the
    # result, ``Unmasker.guard_refitted_eyes``) whose eyes are guarded too
    freed: np.ndarray | None = None  # (S, S) bool: guarded crop pixels that are the mask's top
    # edge worn up to the lids, replaced all the same (``under_the_lids``)
    guard_freed: np.ndarray | None = None  # (S, S) bool: those of them the second fit's guard
    # spares too (at an eye whose lid it does not put lower)

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
class PasteFrame:
    """Where ``paste`` lays a face's result on a photo: the bounding box ``x0, y0, x1, y1`` of its
    crop warped back (clipped to the photo), the affine map ``to_box`` from crop to box pixels,
    the weight ``alpha`` (box-sized) with every pixel the eye guard reaches at 0, and those
    pixels ``eyes`` (None where the result has no landmarks or replaces nothing)."""

    box: tuple[int, int, int, int]
    to_box: np.ndarray
    alpha: np.ndarray
    eyes: np.ndarray | None

    def warped(self, image: np.ndarray, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
        """A crop-sized float image warped into the box."""
        return _warped(image, self.to_box, self.box, border)


def _warped(image: np.ndarray, to_box: np.ndarray, box: tuple[int, int, int, int],
            border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.warpAffine(image.astype(np.float32), to_box, (int(x1 - x0), int(y1 - y0)),
                          flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def paste_frame(shape: Sequence[int], result: FaceResult) -> PasteFrame | None:
    """The ``PasteFrame`` of ``result`` on a photo of ``shape``; None where its crop lies
    outside the photo."""
    x0, y0, x1, y1 = crop_box(result.crop, shape)
    if x1 <= x0 or y1 <= y0:
        return None
    to_box = result.crop.inverse.copy()
    to_box[:, 2] -= [x0, y0]
    alpha = _warped(result.region, to_box, (x0, y0, x1, y1))
    eyes = None
    if result.landmarks is not None and alpha.any():
        # The eye guard on the photo's own pixels: a photo pixel that reaches the guarded area
        # (its half-diagonal, in crop pixels) keeps its value, however the warp mixed weights.
        ys, xs = np.mgrid[y0:y1, x0:x1]
        points = result.crop.to_crop(np.stack([xs.ravel(), ys.ravel()], axis=1))
        half = 0.5 * np.sqrt(2.0) / result.crop.photo_scale
        eyes = guarded(points, result.landmarks, half, result.freed).reshape(alpha.shape)
        alpha[eyes] = 0.0
        if result.guard_landmarks is not None:  # the eyes fitted again on the result
            alpha[guarded(points, result.guard_landmarks, half,
                          result.guard_freed).reshape(alpha.shape)] = 0.0
    return PasteFrame((x0, y0, x1, y1), to_box, alpha, eyes)


def paste_references(frame: PasteFrame, result: FaceResult
                     ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """What a paste's grain, colour and tone are measured on (``matched_to_photo``), box-sized
    bool: the face (its 68 points' hull) less what the eye guard keeps, the pixels the mask
    head does not take for mask (None where it has no head), and the forehead (``forehead``)
    that is kept and not taken for mask."""
    x0, y0 = frame.box[:2]
    face = np.zeros(frame.alpha.shape, np.uint8)
    hull = cv2.convexHull(np.round(result.face.landmarks - [x0, y0]).astype(np.int32))
    cv2.fillConvexPoly(face, hull, 1)
    if frame.eyes is not None:
        # Eyes, lashes and brows are no skin's grain: measured on them, the noise added to a
        # face repainted under a mask worn up to the lids was a speckle the photo did not have
        # (judged blind on the 40 dev photos it changed most: without them better on 29, worse
        # on 2, 9 ties; a speckle seen on 2 results against 29).
        face[frame.eyes] = 0
    brow = forehead(frame.alpha.shape, result.face.landmarks - [x0, y0]) & (frame.alpha <= 1e-3)
    visible = None
    if result.mask is not None:  # what the head thinks may be mask is no reference
        visible = frame.warped(result.mask) <= MASK_THRESHOLDS[0]
        brow &= visible
    return face > 0, visible, brow


def paste(photo: np.ndarray, result: FaceResult, match: bool = True,
          blocks: Blocks | None = None, tone: np.ndarray | None = None,
          shift: np.ndarray | None = None, face_tone: bool = True) -> None:
    """Blend a face's output into the photo in place, only where its region is > 0; only the
    face's bounding box is warped (``paste_frame``). ``match`` gives the output the photo's
    grain first (``match_photo``), with ``blocks`` (a pixelated photo's, ``pixel_blocks``) its
    blocks (``in_blocks``) and with ``tone`` (a monochrome photo's, ``photo_tone``) its one
    colour. ``shift``: the chroma shift to give the output instead of one measured
    (``matched_to_photo``); the face's second crop (``result.below``) is pasted with the first's.
    Without ``tone``, a face with no colour in a colour photo is pasted in its own tone
    (``grey_face_tone``) unless ``face_tone`` is off."""
    frame = paste_frame(photo.shape, result)
    if frame is None:
        return
    x0, y0, x1, y1 = frame.box
    alpha = frame.alpha
    region = photo[y0:y1, x0:x1]
    changed = alpha > 1e-3
    if not changed.any():
        return
    generated = frame.warped(result.output, cv2.BORDER_REPLICATE) * 255.0
    if match:
        face, visible, brow = paste_references(frame, result)
        generated, shift, tone = matched_to_photo(region, generated, alpha,
                                                  result.crop.photo_scale, face, visible,
                                                  blocks=blocks, tone=tone, shift=shift,
                                                  face_tone=face_tone, brow=brow)
    a = alpha[changed][:, None]
    blended = region[changed].astype(np.float32) * (1 - a) + generated[changed] * a
    region[changed] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    if result.below is not None:
        paste(photo, result.below, match, blocks, tone, shift, face_tone)


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
                     shift: np.ndarray | None = None, face_tone: bool = False,
                     brow: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The generator's image (float, 0-255, warped onto ``photo``'s pixels) with the photo's
    grain: where the photo's own finest detail (the Laplacian of the visible face around the
    mask, inside ``face``: the face's outline, less what the eye guard keeps (eyes, lids,
    brows and the forehead above them), whose lashes and hairs are no skin's grain; at the
    photo's resolution) is stronger than the image's (a 128 px output scaled up to a large face
    is smooth), fine noise that adds what is missing is added to the image's luminance.

    ``scale`` is photo pixels per crop pixel; the ring of face the grain is measured on is
    RING_PX crop pixels times it around the region. ``visible`` (where given) marks the photo
    pixels that may serve as a reference: not a part of the mask left outside the region.
    ``brow`` (bool: the forehead, kept and not taken for mask, ``paste_references``) is where
    the grain is measured too (``asked_grain``).
    ``tone`` (``photo_tone``: the photo is black and white or toned) gives the image that colour
    last, its lightness kept; without it, ``face_tone`` looks for a face with no colour in a
    colour photo (``grey_face_tone``, on the same ring of skin) and gives the image its tone.

    Returns the image, the chroma shift ``skin_tone`` gave it (``skin_shift``; None where too
    little skin is seen) and the tone it was given or found (None: in colour). Given a
    ``shift``, that one is applied instead of one measured: a face's second crop
    (``continue_below``) takes its first crop's shift and tone, whose colour it was matched to
    where they meet, and whose ring of skin it mostly lacks below the chin.

    A haze of the mask's or the background's colour inside the face's outline is first pulled
    towards the skin's chroma (``without_haze``), and the colour as a whole is then moved
    towards the visible skin's (``skin_tone``). Carrying the low-frequency difference between
    photo and image on a ring around the region into it pixel by pixel (a seam correction)
    tinted the lower face grey or green on the dev sheets wherever the ring held a remnant of
    the mask, the background or a shadow.
    """
    outside = (alpha <= 1e-3).astype(np.uint8)
    source = photo.astype(np.float32)

    # Noise is scaled so that its own Laplacian adds the grain (``grain_level``) the image lacks.
    def laplacian(gray):
        return cv2.Laplacian(gray, cv2.CV_32F, ksize=1)
    skin = skin_ring(alpha, scale, face, visible)
    if tone is None and face_tone:
        # A face with no colour in a colour photo is pasted in its own tone; the generator
        # paints every face in colour.
        tone = grey_face_tone(photo, skin)
    core = alpha > 0.98
    enough = skin.sum() >= GRAIN_MIN_PIXELS and core.sum() >= GRAIN_MIN_PIXELS
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
        wanted, has = asked_grain(source, skin, brow), grain_level(generated, core)
        missing = np.sqrt(max(wanted ** 2 - has ** 2, 0.0))
        if missing > 0.5:
            noise = np.random.default_rng(seed).standard_normal(alpha.shape).astype(np.float32)
            noise = cv2.GaussianBlur(noise, (0, 0), GRAIN_SIGMA)
            noise *= missing / max(float(laplacian(noise).std()), 1e-6)
            generated = generated + noise[..., None]
    if shift is None and enough:
        shift = skin_shift(generated, target, core)
    generated = shifted_chroma(generated, shift)
    return (generated if tone is None else toned(generated, tone)), shift, tone


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


def grain_level(image: np.ndarray, where: np.ndarray) -> float:
    """An image's grain over ``where`` (bool): the standard deviation of its luminance's
    Laplacian (the finest detail), estimated from its lower quartile of magnitudes (|x| of a
    normal variable has its 25th percentile at 0.3186 sigma): edges, lashes and a strap left
    there are the upper values and do not count. 0 where ``where`` is empty."""
    values = np.abs(cv2.Laplacian(luminance(image.astype(np.float32)), cv2.CV_32F,
                                  ksize=1)[where])
    return float(np.percentile(values, 25)) / 0.3186 if values.size else 0.0


def asked_grain(photo: np.ndarray, skin: np.ndarray, brow: np.ndarray | None = None) -> float:
    """The grain a paste asks for (``grain_level`` of ``photo``): the ring of skin's, checked
    on the forehead ``brow`` where it shows GRAIN_MIN_PIXELS: where the forehead is the smoother,
    the geometric mean of the two."""
    ring = grain_level(photo, skin)
    if brow is None or brow.sum() < GRAIN_MIN_PIXELS:
        return ring
    return min(ring, float(np.sqrt(ring * grain_level(photo, brow))))


def forehead(shape: Sequence[int], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: the forehead of a face whose 68 ``landmarks`` (x, y) lie in an image of
    ``shape``: the band from FOREHEAD[0] to FOREHEAD[1] eye distances above the brows, square
    to the eye line (where a matched paste's grain is checked, ``matched_to_photo``)."""
    left, right = landmarks[LEFT_EYE].mean(axis=0), landmarks[RIGHT_EYE].mean(axis=0)
    distance = float(np.hypot(*(right - left)))
    band = np.zeros(tuple(shape[:2]), np.uint8)
    if distance < 1e-6:
        return band > 0
    across = (right - left) / distance
    up = np.array([across[1], -across[0]])  # image rows grow downwards
    brows = landmarks[BROWS].astype(np.float64)
    outline = np.concatenate([brows + up * FOREHEAD[0] * distance,
                              (brows + up * FOREHEAD[1] * distance)[::-1]])
    cv2.fillPoly(band, [np.round(outline).astype(np.int32)], 1)
    return band > 0


def skin_ring(alpha: np.ndarray, scale: float, face: np.ndarray | None = None,
              visible: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: the face round a paste's region (``alpha`` > 0), 3 x RING_PX crop pixels
    wide (``scale``: photo pixels per crop pixel), inside ``face`` and ``visible`` where given
    (``matched_to_photo``): where its grain, colour and tone are measured."""
    outside = alpha <= 1e-3
    ring_width = max(2, int(round(RING_PX * max(scale, 0.5))))
    skin = cv2.dilate((~outside).astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * 3 * ring_width + 1,) * 2)) > 0
    skin &= outside
    if face is not None:
        skin &= face
    if visible is not None:
        skin &= visible
    return skin


def grey_face_tone(photo: np.ndarray, skin: np.ndarray) -> np.ndarray | None:
    """The tone (a*, b*) of a face with no colour in a colour photo (a face painted white, a
    black-and-white face pasted on a coloured background): its visible skin ``skin`` (bool, at
    least 50 pixels of ``photo``, RGB uint8) lies within MONOCHROME_SPREAD of its median a*, b*
    as a monochrome photo's pixels do (``photo_tone``), and that median has a chroma under
    SKIN_CHROMA, under any skin's colour (``skin_chroma``). None for a face in colour."""
    if skin.sum() < 50:
        return None
    tone = photo_tone(photo, around=skin)
    if tone is None or np.hypot(*tone) >= SKIN_CHROMA:
        return None
    return tone


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
        return replace(result, output=np.ones(result.output.shape, np.float32),
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
