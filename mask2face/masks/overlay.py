"""Put a mask on a face: ``apply_mask(image, landmarks, spec, rng) -> (masked, region)``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mask2face.errors import ConfigError, UsageError
from mask2face.pairs import EDGE_BAND_PX
from mask2face.masks import kinds as procedural
from mask2face.masks.geometry import (EYE_CLEARANCE, Sheet, face_sheet, sheet_bbox,
                                      warp_sheet_texture)
from mask2face.masks.patterns import PATTERNS, PRINTS, check_pattern

if TYPE_CHECKING:
    from mask2face.config import MasksConfig
    from mask2face.masks.templates import Template, TemplateSet

# Pixels further than EDGE_BAND_PX (the pair format's) from the drawn region keep their value.
# Edge blur sigmas are given for a face of this scale (eyes to chin, px), about a 256 px crop.
REFERENCE_FACE_SCALE = 110.0
# A respirator's face piece seals over the nose bridge: higher than a fabric mask.
GAS_TOP_LIFT = 0.03
# Filter cartridge colours of real respirators: magenta (P100), dull yellow, grey, blue, olive.
GAS_ACCENTS = ["#a8406e", "#b8a542", "#7d8288", "#56709c", "#6b7048"]
# How far the variety of a random mask reaches at mask_variety = 1 (see spec_from_config).
FIT_TOP_LIFT = (-0.01, 0.06)   # over the nose, share of the face scale
FIT_CHIN_DROP = (0.04, 0.25)   # below the chin: a mask worn loose hangs well under it
FIT_WIDEN = (0.02, 0.1)        # past the jaw line at the sides
RANDOM_COLOR_SHARE = 0.35      # of procedural masks: any colour, not the kind's palette
EXTRA_PATTERN_SHARE = 0.15     # of surgical, KN95 and N95 masks: a fabric pattern
PRINT_SHARE = 0.3              # of masks: a print (word, badge or large drawing)
LIGHT_MAX = 0.35               # light from one side: shade changes by up to this across
CREASES_MAX = 0.08             # creases and folds in the shading
# Masks that look like skin are the ones a mask head learns least from neat masks: a share of
# procedural masks takes a beige, tan, brown or pale-yellow colour (HSV ranges, 0..1).
SKIN_TONE_SHARE = 0.15
SKIN_TONE_HSV = ((0.02, 0.14), (0.15, 0.65), (0.3, 0.95))
# Sheer and clear masks (thin fabric, plastic): the face shows through at this opacity.
SHEER_SHARE = 0.06
SHEER_OPACITY = (0.45, 0.8)
# Masks pulled up to the eyes: real N95s and cloth masks often reach the lower eyelids and cover
# the nose bridge between the eyes, where a mask head trained on masks that stop a clearance
# below the eyes left a band of the mask in place.
HIGH_SHARE = 0.2
HIGH_TOP_LIFT = (0.06, 0.14)
HIGH_EYE_CLEARANCE = (0.02, 0.035)
HIGH_CHEEK_LIFT = (0.05, 0.15)


@dataclass
class MaskSpec:
    """One mask to draw. ``color`` is RGB in [0, 1]."""

    kind: str
    color: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.7, 0.85], np.float32))
    color_name: str = ""
    pattern: str = ""
    pattern_weight: float = 0.5
    valve: bool = False
    accent: str = "#c2406e"
    edge_blur: float = 0.6
    template: Template | None = None  # a MaskTheFace template, for template kinds
    top_lift: float = 0.0    # fit on the face: see geometry.face_sheet
    chin_drop: float = 0.07
    widen: float = 0.04
    eye_clearance: float = EYE_CLEARANCE
    cheek_lift: float = 0.0
    print_kind: str = ""     # "", or one of patterns.PRINTS
    light: float = 0.0       # strength of light from one side
    creases: float = 0.0     # strength of creases
    opacity: float = 1.0     # below 1: a sheer or clear mask, the face showing through
    finish_seed: int = 0     # seed of the print, light and creases

    def describe(self) -> dict:
        """The JSON-able description written to the manifest."""
        out = {k: v for k, v in asdict(self).items() if k not in ("color", "template")}
        out["color"] = "#" + "".join(f"{int(round(c * 255)):02x}" for c in self.color)
        return out


def known_kinds(templates: TemplateSet | None = None) -> list[str]:
    names = list(procedural.KINDS)
    if templates is not None:
        names += templates.names()
    return names


def check_kind(kind: str, templates: TemplateSet | None = None) -> None:
    if kind != "random" and kind not in known_kinds(templates):
        hint = "" if templates is not None else \
            " (MaskTheFace template names need mask_templates_path)"
        raise ConfigError(f"mask_type = {kind!r}: unknown mask kind; known: random, "
                          f"{', '.join(known_kinds(templates))}{hint}")


def spec_from_config(masks_config: MasksConfig, rng: np.random.Generator,
                     templates: TemplateSet | None = None) -> MaskSpec:
    """Draw a MaskSpec for one face: fixed where the configuration fixes it, random elsewhere.

    Args:
        masks_config: a ``MasksConfig``.
        rng: the face's random generator (same seed, same mask).
        templates: a ``TemplateSet`` when mask_templates_path is set.
    """
    c = masks_config
    check_kind(c.mask_type, templates)
    check_pattern(c.mask_pattern)
    kind = c.mask_type
    if kind == "random":
        options = known_kinds(templates)
        kind = options[int(rng.integers(len(options)))]
    spec = MaskSpec(kind=kind, edge_blur=c.mask_edge_blur)
    if templates is not None and kind in templates.names():
        spec.template = templates.get(kind)
        palette = {"natural": "#ffffff"}
    else:
        palette = procedural.PALETTES[kind]
    name = list(palette)[int(rng.integers(len(palette)))]
    spec.color_name, spec.color = name, procedural.hex_to_unit(palette[name])
    if c.mask_color:
        weight = c.mask_color_weight
        spec.color = spec.color * (1 - weight) + procedural.hex_to_unit(c.mask_color) * weight
        spec.color_name = c.mask_color
    if c.mask_pattern:
        spec.pattern, spec.pattern_weight = c.mask_pattern, c.mask_pattern_weight
    elif c.mask_type == "random" and kind == "cloth" and rng.random() < 0.7:
        spec.pattern = list(PATTERNS)[int(rng.integers(len(PATTERNS)))]
        spec.pattern_weight = float(rng.uniform(0.6, 1.0))
    spec.valve = kind == "n95" and bool(rng.random() < 0.4)
    spec.accent = GAS_ACCENTS[int(rng.integers(len(GAS_ACCENTS)))]
    if c.mask_variety > 0:
        _vary(spec, c, rng, c.mask_variety)
    return spec


def _set_hsv_color(spec: MaskSpec, hsv: np.ndarray) -> None:
    """Give the mask the colour of an OpenCV HSV triple (uint8), named #rrggbb."""
    rgb = cv2.cvtColor(hsv.reshape(1, 1, 3), cv2.COLOR_HSV2RGB)[0, 0]
    spec.color = rgb.astype(np.float32) / 255.0
    spec.color_name = "#" + "".join(f"{int(x):02x}" for x in rgb)


def _vary(spec: MaskSpec, c: MasksConfig, rng: np.random.Generator, variety: float) -> None:
    """Real masks are worn high and low, loose and tight, come in every colour, carry prints
    and are lit from the side: a mask head trained only on neat masks misses them. ``variety``
    (0..1) scales how far each draw reaches from the neat mask."""
    def towards(neat: float, span: tuple[float, float]) -> float:
        return neat + variety * (float(rng.uniform(*span)) - neat)
    spec.top_lift = towards(spec.top_lift, FIT_TOP_LIFT)
    spec.chin_drop = towards(spec.chin_drop, FIT_CHIN_DROP)
    spec.widen = towards(spec.widen, FIT_WIDEN)
    procedural_kind = spec.template is None
    if procedural_kind and not c.mask_color and rng.random() < RANDOM_COLOR_SHARE * variety:
        hue, sat = float(rng.uniform(0, 1)), float(rng.uniform(0, 1)) ** 1.5
        value = float(rng.uniform(0.12, 1.0))
        _set_hsv_color(spec, np.array([hue * 179, sat * 255, value * 255], np.uint8))
    if procedural_kind and not c.mask_pattern and spec.kind in ("surgical", "kn95", "n95") \
            and rng.random() < EXTRA_PATTERN_SHARE * variety:
        spec.pattern = list(PATTERNS)[int(rng.integers(len(PATTERNS)))]
        spec.pattern_weight = float(rng.uniform(0.5, 1.0))
    if rng.random() < PRINT_SHARE * variety:
        spec.print_kind = PRINTS[int(rng.integers(len(PRINTS)))]
    spec.light = float(rng.uniform(0, LIGHT_MAX)) * variety
    spec.creases = float(rng.uniform(0, CREASES_MAX)) * variety
    spec.finish_seed = int(rng.integers(1 << 31))
    # Drawn after the others, so that adding them changed no earlier draw.
    if procedural_kind and not c.mask_color and rng.random() < SKIN_TONE_SHARE * variety:
        (h0, h1), (s0, s1), (v0, v1) = SKIN_TONE_HSV
        _set_hsv_color(spec, np.array([rng.uniform(h0, h1) * 179, rng.uniform(s0, s1) * 255,
                                       rng.uniform(v0, v1) * 255]).round().astype(np.uint8))
    if rng.random() < SHEER_SHARE * variety:
        spec.opacity = float(rng.uniform(*SHEER_OPACITY))
    # Pulled up to the eyes (a respirator's face piece is not: it sits where it sits).
    if rng.random() < HIGH_SHARE * variety and spec.kind != "gas":
        spec.top_lift = float(rng.uniform(*HIGH_TOP_LIFT))
        spec.eye_clearance = float(rng.uniform(*HIGH_EYE_CLEARANCE))
        spec.cheek_lift = float(rng.uniform(*HIGH_CHEEK_LIFT))


def _lighting(image_patch: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The face's low-frequency brightness under the mask, around 1.0 (the mask is lit as the
    skin under it was)."""
    gray = cv2.cvtColor(image_patch, cv2.COLOR_RGB2GRAY).astype(np.float32) + 1.0
    h, w = gray.shape
    small = cv2.resize(gray, (max(w // 16, 2), max(h // 16, 2)), interpolation=cv2.INTER_AREA)
    light = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    mean = float(light[support].mean()) if support.any() else float(light.mean())
    return np.clip(light / max(mean, 1.0), 0.6, 1.35) ** 0.7


def _texture_shape(sheet: Sheet) -> tuple[int, int]:
    g = sheet.grid
    width = np.hypot(*(g[0, -1] - g[0, 0])) + np.hypot(*(g[-1, -1] - g[-1, 0]))
    height = np.hypot(*(g[-1, g.shape[1] // 2] - g[0, g.shape[1] // 2]))
    return int(np.clip(height, 24, 600)), int(np.clip(width / 2 * 1.1, 32, 720))


def _draw_straps(rgb: np.ndarray, alpha: np.ndarray, sheet: Sheet, anchors, color: np.ndarray,
                 offset: np.ndarray) -> None:
    """Loops or straps from the sheet's sides to the ears, drawn in place (photo space), under
    the mask body."""
    thickness = max(1, int(round(sheet.scale * 0.014)))
    lines = np.zeros(alpha.shape, np.uint8)
    t = np.linspace(0, 1, 16)[:, None]
    for side, ear in ((0, sheet.ears[0]), (1, sheet.ears[1])):
        for u, v in anchors:
            start = sheet.point(u if side == 0 else 1 - u, v)
            # A gentle curve: the control point sits between, bowed away from the face.
            bow = (1 if side == 0 else -1) * (1 if v > 0.5 else -1)
            mid = (start + ear) / 2 + (ear - start)[::-1] * np.array([1, -1]) * 0.1 * bow
            curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * mid + t ** 2 * ear - offset
            cv2.polylines(lines, np.round(curve * 16).astype(np.int32)[None], False, 255,
                          thickness, cv2.LINE_AA, shift=4)
    ys, xs = np.nonzero(lines)
    a = lines[ys, xs].astype(np.float32) / 255.0
    body = alpha[ys, xs]
    under = a * (1 - body)
    total = np.maximum(body + under, 1e-6)
    rgb[ys, xs] = (rgb[ys, xs] * body[:, None] + color * 0.92 * under[:, None]) / total[:, None]
    alpha[ys, xs] = body + under


def apply_mask(image: np.ndarray, landmarks: np.ndarray, spec: MaskSpec,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw a mask on a face.

    Args:
        image: (H, W, 3) uint8 RGB photo or crop.
        landmarks: (68, 2) points of the face in ``image`` pixels.
        spec: what to draw (``spec_from_config``).
        rng: random generator for texture details.

    Returns:
        The masked image (a new array) and the region, (H, W) uint8, 255 where the mask covers
        the face. Pixels further than two pixels from the region are unchanged.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}")
    if spec.template is not None:
        from mask2face.masks.templates import render_template
        sheet = face_sheet(landmarks, spec.top_lift, spec.chin_drop, spec.widen,
                           spec.eye_clearance, spec.cheek_lift)
        bbox = sheet_bbox(sheet, image.shape)
        rgb, alpha = render_template(spec, landmarks, sheet, bbox)
        rgb, shade = procedural.finish(spec, rgb, np.ones(rgb.shape[:2], np.float32))
        rgb = rgb * shade[..., None]
    elif spec.kind in procedural.KINDS:
        lift = spec.top_lift + (GAS_TOP_LIFT if spec.kind == "gas" else 0.0)
        sheet = face_sheet(landmarks, lift, spec.chin_drop, spec.widen, spec.eye_clearance,
                           spec.cheek_lift)
        bbox = sheet_bbox(sheet, image.shape)
        shape = _texture_shape(sheet)
        tex_rgb, tex_alpha, shade = procedural.KINDS[spec.kind](spec, shape, rng)
        tex_rgb, shade = procedural.finish(spec, tex_rgb, shade)
        texture = np.dstack([tex_rgb * np.asarray(shade, np.float32)[..., None], tex_alpha])
        warped = warp_sheet_texture(np.ascontiguousarray(texture, np.float32), sheet, bbox)
        rgb, alpha = warped[..., :3], warped[..., 3].copy()
        straps_color = spec.color if spec.kind != "gas" else np.array([0.12, 0.12, 0.12])
        _draw_straps(rgb, alpha, sheet, procedural.STRAPS[spec.kind], straps_color,
                     np.array(bbox[:2], np.float64))
    else:
        raise UsageError(f"unknown mask kind {spec.kind!r}; known: {', '.join(known_kinds())}")
    return _composite(image, rgb, alpha, bbox, spec, sheet)


def _main_piece(region: np.ndarray) -> np.ndarray:
    """The largest connected piece: specks (a strap's anti-aliased tip, a template's stray
    pixels) are not drawn at all, so the region stays exactly what was drawn."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), 8)
    if count <= 2:
        return region
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def _composite(image, rgb, alpha, bbox, spec: MaskSpec, sheet: Sheet):
    x0, y0, x1, y1 = bbox
    alpha = np.clip(alpha, 0.0, 1.0)
    if spec.edge_blur > 0:
        sigma = spec.edge_blur * max(1.0, sheet.scale / REFERENCE_FACE_SCALE)
        alpha = cv2.GaussianBlur(alpha, (0, 0), min(sigma, 2.0))
    region_patch = _main_piece(alpha >= 0.5)
    # Nothing beyond the anti-aliasing band changes: alpha is cut there.
    band = cv2.dilate(region_patch.astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                (2 * EDGE_BAND_PX + 1, 2 * EDGE_BAND_PX + 1)))
    alpha = np.where(band > 0, alpha, 0.0).astype(np.float32) * spec.opacity
    patch = image[y0:y1, x0:x1]
    light = _lighting(patch, region_patch)
    colour = np.clip(rgb * light[..., None], 0.0, 1.0) * 255.0
    blended = patch.astype(np.float32) * (1 - alpha[..., None]) + colour * alpha[..., None]
    out = image.copy()
    changed = alpha > 0
    out_patch = out[y0:y1, x0:x1]
    out_patch[changed] = np.clip(np.round(blended[changed]), 0, 255).astype(np.uint8)
    region = np.zeros(image.shape[:2], np.uint8)
    region[y0:y1, x0:x1] = region_patch.astype(np.uint8) * 255
    return out, region
