"""What mask to draw on a face: ``MaskSpec``, and ``spec_from_config`` that draws one from the
configuration (fixed where it fixes a setting, random elsewhere, with ``mask_variety``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mask2face.errors import ConfigError
from mask2face.masks import kinds as procedural
from mask2face.masks.geometry import EYE_CLEARANCE
from mask2face.masks.patterns import PATTERNS, PRINTS, check_pattern

if TYPE_CHECKING:
    from mask2face.config import MasksConfig
    from mask2face.masks.templates import Template, TemplateSet

# How far the variety of a random mask reaches at mask_variety = 1 (see spec_from_config).
FIT_TOP_LIFT = (-0.01, 0.06)   # over the nose, share of the face scale
FIT_CHIN_DROP = (0.04, 0.25)   # below the chin: a mask worn loose hangs well under it
FIT_WIDEN = (0.02, 0.1)        # past the jaw line at the sides
RANDOM_COLOR_SHARE = 0.35      # of procedural masks: any colour, not the kind's palette
EXTRA_PATTERN_SHARE = 0.15     # of kinds with extra_patterns: a fabric pattern
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


# How a MaskTheFace template is worn (its drawing is the template's: this record's is not used):
# no pattern, no valve, pulled up like a fabric mask.
TEMPLATE_KIND = procedural.MaskKind("template", procedural.surgical, {}, ())


def _kind(name: str) -> procedural.MaskKind:
    return procedural.KINDS.get(name, TEMPLATE_KIND)


def _chance(rng: np.random.Generator, share: float) -> bool:
    """True with probability ``share``; nothing is drawn when it is 0, so a kind without the
    feature leaves every later draw of its mask as it was."""
    return bool(share) and bool(rng.random() < share)


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
        palette = procedural.KINDS[kind].palette
    name = list(palette)[int(rng.integers(len(palette)))]
    spec.color_name, spec.color = name, procedural.hex_to_unit(palette[name])
    if c.mask_color:
        weight = c.mask_color_weight
        spec.color = spec.color * (1 - weight) + procedural.hex_to_unit(c.mask_color) * weight
        spec.color_name = c.mask_color
    if c.mask_pattern:
        spec.pattern, spec.pattern_weight = c.mask_pattern, c.mask_pattern_weight
    elif c.mask_type == "random" and _chance(rng, _kind(kind).pattern_share):
        spec.pattern = list(PATTERNS)[int(rng.integers(len(PATTERNS)))]
        spec.pattern_weight = float(rng.uniform(0.6, 1.0))
    spec.valve = _chance(rng, _kind(kind).valve_share)
    spec.accent = procedural.GAS_ACCENTS[int(rng.integers(len(procedural.GAS_ACCENTS)))]
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
    if procedural_kind and not c.mask_pattern and _kind(spec.kind).extra_patterns \
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
    # Pulled up to the eyes (not every kind is: see MaskKind.pulled_up).
    if rng.random() < HIGH_SHARE * variety and _kind(spec.kind).pulled_up:
        spec.top_lift = float(rng.uniform(*HIGH_TOP_LIFT))
        spec.eye_clearance = float(rng.uniform(*HIGH_EYE_CLEARANCE))
        spec.cheek_lift = float(rng.uniform(*HIGH_CHEEK_LIFT))
