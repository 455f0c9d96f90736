"""The procedural mask kinds: each draws an RGBA texture over the face's (u, v) sheet.

A kind is a ``MaskKind`` (in ``KINDS``): ``draw(spec, shape, rng) -> (rgb, alpha, shading)`` in
texture space, its palette, the straps or loops it wants drawn in photo space, and how it is
worn. A new kind is a drawing function and one ``MaskKind`` line here (and its name in
``mask2face.config.MASK_KINDS``, which the configuration checks without loading this module).
Colours are RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from mask2face.masks.patterns import render_pattern

if TYPE_CHECKING:
    from mask2face.masks.spec import MaskSpec

# What a kind draws in texture space: RGB (H, W, 3), alpha (H, W) and shading (H, W), floats.
Drawn = tuple[np.ndarray, np.ndarray, np.ndarray]

PALETTES = {
    "surgical": {"blue": "#7fb3d8", "white": "#eceeee", "green": "#8fc7ae", "black": "#2b2c30",
                 "pink": "#f0b7c7"},
    "n95": {"white": "#f0eee6", "grey": "#cfd1d2", "cream": "#e6dcc3", "black": "#333335"},
    "kn95": {"white": "#f3f3f1", "black": "#2c2c2e", "grey": "#bfc3c7", "pink": "#efc6d0"},
    "cloth": {"red": "#b23c3c", "navy": "#2c3d66", "black": "#232325", "grey": "#7c7f85",
              "beige": "#d6c4a3", "teal": "#2f8a8a", "purple": "#6a4a8b", "mustard": "#cfa53d",
              "olive": "#5a6a3a"},
    "gas": {"charcoal": "#2e3032", "olive": "#4a5531", "black": "#1d1d1f", "slate": "#3a4550"},
}
# Filter cartridge colours of real respirators: magenta (P100), dull yellow, grey, blue, olive.
GAS_ACCENTS = ["#a8406e", "#b8a542", "#7d8288", "#56709c", "#6b7048"]
PATTERN_PARTNERS = ["#f2efe6", "#1f1f22", "#c9a23a", "#7a1f2b", "#2e5d8c", "#e58fa3", "#4f7f4f"]


def hex_to_unit(color: str) -> np.ndarray:
    from mask2face.config import parse_hex_color
    return np.asarray(parse_hex_color(color), np.float32) / 255.0


def _uv(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    return (u + 0.5) / w, (v + 0.5) / h


def _edge_alpha(inside_distance_px: np.ndarray) -> np.ndarray:
    """Alpha from the distance to the outline in texels (positive inside): a one-texel ramp."""
    return np.clip(inside_distance_px + 0.5, 0.0, 1.0).astype(np.float32)


def _superellipse_alpha(u, v, shape, power: float, v_centre: float = 0.5) -> np.ndarray:
    """Alpha of |2u-1|^p + |(v - c)/(1-c)|^p <= 1, with an anti-aliased edge."""
    h, w = shape
    du = np.abs(2 * u - 1)
    dv = np.abs(np.where(v > v_centre, (v - v_centre) / (1 - v_centre), (v_centre - v) / v_centre))
    level = du ** power + dv ** power
    # Distance to the outline, approximately, in texels.
    grad = np.maximum(np.hypot(power * du ** (power - 1) * 2 / w,
                               power * dv ** (power - 1) / (h * max(v_centre, 1 - v_centre))),
                      1e-6)
    return _edge_alpha((1 - level) / grad)


def _rect_alpha(u, v, shape) -> np.ndarray:
    h, w = shape
    distance = np.minimum(np.minimum(u * w, (1 - u) * w), np.minimum(v * h, (1 - v) * h))
    return _edge_alpha(distance - 1.0)


def _ridge(x: np.ndarray, at: float, width: float) -> np.ndarray:
    return np.exp(-((x - at) / width) ** 2)


def _base_shading(u, v) -> np.ndarray:
    """Rounded over the face: darker towards the cheeks and under the chin."""
    return (0.8 + 0.2 * np.sin(np.pi * u) ** 0.6) * (1.0 - 0.12 * v ** 3)


def contrasting(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pattern partner that stands out from ``base``: a partner as close as mustard to
    mustard would draw a plain mask where a pattern was asked for."""
    partners = [hex_to_unit(c) for c in PATTERN_PARTNERS]
    far = [c for c in partners if np.linalg.norm(c - base) >= MIN_PATTERN_CONTRAST]
    choices = far or partners
    return choices[int(rng.integers(len(choices)))]


# Least RGB distance (of 1.0 per channel) between a pattern's colours and the mask's own.
MIN_PATTERN_CONTRAST = 0.35


def _fabric(base: np.ndarray, spec, shape, rng, period: float) -> np.ndarray:
    rgb = np.broadcast_to(base, shape + (3,)).astype(np.float32)
    if spec.pattern:
        partner, third = contrasting(base, rng), contrasting(base, rng)
        pattern = render_pattern(spec.pattern, shape, period, [base, partner, third], rng)
        rgb = rgb * (1 - spec.pattern_weight) + pattern * spec.pattern_weight
    return rgb


def finish(spec: MaskSpec, rgb: np.ndarray, shade: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a photographed mask has beyond its kind: a print, light from one side and creases.
    Drawn from ``spec.finish_seed`` so that the same spec draws the same mask."""
    h, w = shade.shape
    rng = np.random.default_rng(spec.finish_seed)
    if spec.print_kind:
        from mask2face.masks.patterns import render_print
        colors = [contrasting(spec.color, rng) for _ in range(3)]
        ink, alpha = render_print(spec.print_kind, (h, w), colors, rng)
        rgb = rgb * (1 - alpha[..., None]) + ink * alpha[..., None]
    u, v = _uv((h, w))
    if spec.light:
        angle = rng.uniform(0, 2 * np.pi)
        slope = np.cos(angle) * (2 * u - 1) + np.sin(angle) * (2 * v - 1)
        shade = shade * (1 + spec.light * slope)
    if spec.creases:
        noise = rng.normal(0, 1, (max(h // 10, 2), max(w // 10, 2))).astype(np.float32)
        smooth = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
        folds = np.sin(v * rng.uniform(6, 14) + u * rng.uniform(-3, 3) + smooth)
        shade = shade * (1 + spec.creases * (0.6 * folds + 0.4 * smooth))
    return rgb, shade


def surgical(spec: MaskSpec, shape: tuple[int, int], rng: np.random.Generator) -> Drawn:
    u, v = _uv(shape)
    h, w = shape
    alpha = _rect_alpha(u, v, shape)
    shade = _base_shading(u, v)
    for at in (0.33, 0.52, 0.71):  # pleats: a shadow under each fold, light above it
        shade = shade - 0.22 * _ridge(v, at, 0.018) + 0.07 * _ridge(v, at - 0.05, 0.04)
    binding = np.maximum(np.maximum(v < 0.07, v > 0.93), np.maximum(u < 0.03, u > 0.97))
    shade = shade * np.where(binding, 0.93, 1.0)
    stitches = binding & ((np.floor(u * w / 3) + np.floor(v * h / 3)) % 2 == 0)
    shade = shade * np.where(stitches, 0.96, 1.0)
    wire = (np.abs(u - 0.5) < 0.12) & (v > 0.015) & (v < 0.055)
    shade = shade + np.where(wire, 0.08, 0.0)
    rgb = _fabric(spec.color, spec, shape, rng, period=w / 6)
    return rgb, alpha, shade


def n95(spec: MaskSpec, shape: tuple[int, int], rng: np.random.Generator) -> Drawn:
    u, v = _uv(shape)
    h, w = shape
    alpha = _superellipse_alpha(u, v, shape, 2.3, v_centre=0.45)
    r = np.hypot(2 * u - 1, (v - 0.45) / 0.55)
    shade = 0.72 + 0.36 * (1 - np.clip(r, 0, 1) ** 2)  # domed cup
    shade = shade + 0.1 * _ridge(np.hypot(u - 0.4, v - 0.35), 0, 0.18)  # highlight
    shade = shade - 0.12 * _ridge(r, 0.92, 0.04)  # moulded rim
    rgb = _fabric(spec.color, spec, shape, rng, period=w / 6)
    if spec.valve:
        d = np.hypot((u - 0.7) * w, (v - 0.6) * h) / (0.11 * w)
        valve = d < 1.0
        rgb = np.where(valve[..., None], rgb * 0.55 + 0.05, rgb)
        shade = shade - 0.25 * _ridge(d, 1.0, 0.08) - 0.15 * (valve & (np.sin(d * 14) > 0.5))
    return rgb, alpha, shade


def kn95(spec: MaskSpec, shape: tuple[int, int], rng: np.random.Generator) -> Drawn:
    u, v = _uv(shape)
    h, w = shape
    # Folded flat: the bottom corners are cut away towards the chin.
    cut = v - (1 - 0.55 * np.clip(np.abs(2 * u - 1) - 0.3, 0, None))
    alpha = np.minimum(_rect_alpha(u, v, shape), _edge_alpha(-cut * h))
    side = np.where(u < 0.5, 1.0, 0.86)  # the two halves catch the light differently
    shade = _base_shading(u, v) * side
    shade = shade - 0.3 * _ridge(u, 0.5, 0.006) + 0.06 * _ridge(u, 0.49, 0.02)  # centre seam
    fold = 0.42 + 0.1 * np.abs(2 * u - 1)
    shade = shade - 0.1 * _ridge(v, fold, 0.015)
    rim = np.minimum(np.minimum(u, 1 - u) * w, v * h) < 0.03 * w
    shade = shade * np.where(rim, 0.92, 1.0)
    rgb = _fabric(spec.color, spec, shape, rng, period=w / 6)
    return rgb, alpha, shade


def cloth(spec: MaskSpec, shape: tuple[int, int], rng: np.random.Generator) -> Drawn:
    u, v = _uv(shape)
    h, w = shape
    alpha = _superellipse_alpha(u, v, shape, 3.5, v_centre=0.45)
    shade = _base_shading(u, v) - 0.12 * _ridge(u, 0.5, 0.01)  # centre seam
    weave = rng.normal(0.0, 0.025, shape).astype(np.float32)
    rgb = _fabric(spec.color, spec, shape, rng, period=w / 5)
    return rgb, alpha, shade + weave


def gas(spec: MaskSpec, shape: tuple[int, int], rng: np.random.Generator) -> Drawn:
    """A half-face respirator: a moulded rubber face piece, two filter cartridges low on the
    cheeks (a dark rim, a lighter filter face with a grid of holes) and an exhalation valve."""
    u, v = _uv(shape)
    h, w = shape
    alpha = _superellipse_alpha(u, v, shape, 2.6, v_centre=0.42)
    r = np.hypot(2 * u - 1, (v - 0.42) / 0.58)
    shade = 0.72 + 0.4 * (1 - np.clip(r, 0, 1) ** 2) + 0.15 * _ridge(np.hypot(u - 0.42, v - 0.3),
                                                                     0, 0.1)
    shade = shade + rng.normal(0.0, 0.015, shape).astype(np.float32)  # matte rubber
    rgb = np.broadcast_to(spec.color, shape + (3,)).astype(np.float32).copy()
    cartridge = hex_to_unit(spec.accent)
    radius = 0.15 * w
    for cu in (0.2, 0.8):
        d = np.hypot((u - cu) * w, (v - 0.68) * h * 1.15) / radius
        inside = d < 1.0
        face = d < 0.78
        rgb = np.where(inside[..., None], np.where(face[..., None], cartridge, rgb * 0.8), rgb)
        # A cylinder seen from the front: lit on the upper side, its rim in shadow.
        lit = 1.05 - 0.25 * np.clip((v - 0.68) * h / radius, -1, 1)
        holes = face & (d < 0.65) & \
            (np.hypot(((u * w) % (0.05 * w)) - 0.025 * w, ((v * h) % (0.05 * w)) - 0.025 * w)
             < 0.011 * w)
        shade = np.where(inside, lit - 0.3 * _ridge(d, 0.78, 0.04) - 0.25 * holes, shade)
        shade = shade - 0.3 * _ridge(d, 1.0, 0.05)
    valve = np.hypot((u - 0.5) * w, (v - 0.76) * h) < 0.07 * w
    shade = np.where(valve, shade * 0.8 - 0.15 * (np.sin(u * w * 1.6) > 0.6), shade)
    return rgb, alpha, shade


Draw = Callable[["MaskSpec", tuple[int, int], np.random.Generator], Drawn]


@dataclass(frozen=True)
class MaskKind:
    """A procedural mask kind: how it is drawn and how it is worn."""

    name: str
    draw: Draw
    palette: dict[str, str]                  # its usual colours, by name
    straps: tuple[tuple[float, float], ...]  # sheet (u, v) where loops or straps leave for the ears
    strap_rgb: tuple[float, float, float] | None = None  # None = the mask's own colour
    top_lift: float = 0.0                    # always added to the fit's top lift (face scale)
    pattern_share: float = 0.0               # of random masks of this kind: a fabric pattern
    extra_patterns: bool = False             # mask_variety may give it a fabric pattern
    valve_share: float = 0.0                 # of masks of this kind: an exhalation valve
    pulled_up: bool = True                   # mask_variety may pull it up to the eyes


KINDS: dict[str, MaskKind] = {k.name: k for k in (
    MaskKind("surgical", surgical, PALETTES["surgical"], ((0.01, 0.05), (0.01, 0.95)),
             extra_patterns=True),
    MaskKind("n95", n95, PALETTES["n95"], ((0.06, 0.22), (0.04, 0.7)), extra_patterns=True,
             valve_share=0.4),
    MaskKind("kn95", kn95, PALETTES["kn95"], ((0.02, 0.06), (0.03, 0.5)), extra_patterns=True),
    MaskKind("cloth", cloth, PALETTES["cloth"], ((0.03, 0.2), (0.02, 0.72)), pattern_share=0.7),
    # A respirator's face piece seals over the nose bridge, higher than a fabric mask, with
    # dark rubber straps; it is not pulled up (it sits where it sits).
    MaskKind("gas", gas, PALETTES["gas"], ((0.05, 0.25), (0.05, 0.65)),
             strap_rgb=(0.12, 0.12, 0.12), top_lift=0.03, pulled_up=False),
)}
