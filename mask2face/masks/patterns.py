"""Fabric patterns drawn in the mask's (u, v) texture space, so they follow the mask's shape.

Each pattern is a function ``(u_px, v_px, colors, rng) -> (H, W, 3) float32 in [0, 1]``, where
``u_px`` and ``v_px`` are texel coordinates scaled so that one unit is one face-relative unit
(``period`` texels), and ``colors`` are two or three RGB triples in [0, 1].
"""

from __future__ import annotations

import functools
from typing import Callable

import cv2
import numpy as np

from mask2face.errors import ConfigError, ImageReadError

PatternFn = Callable[[np.ndarray, np.ndarray, list, np.random.Generator], np.ndarray]


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a * (1 - t[..., None]) + b * t[..., None]


def _smoothstep(edge: float, x: np.ndarray, width: float = 0.08) -> np.ndarray:
    return np.clip((x - edge) / width + 0.5, 0, 1)


def check(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
          rng: np.random.Generator) -> np.ndarray:
    t = ((np.floor(u * 2) + np.floor(v * 2)) % 2).astype(np.float32)
    return _mix(colors[0], colors[1], t)


def plaid(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
          rng: np.random.Generator) -> np.ndarray:
    bands_u = (np.sin(u * np.pi * 2) > 0.3).astype(np.float32)
    bands_v = (np.sin(v * np.pi * 2) > 0.3).astype(np.float32)
    thin_u = (np.abs(((u * 2 + 0.25) % 1) - 0.5) < 0.05).astype(np.float32)
    thin_v = (np.abs(((v * 2 + 0.25) % 1) - 0.5) < 0.05).astype(np.float32)
    out = _mix(colors[0], colors[1], 0.5 * bands_u + 0.5 * bands_v)
    return _mix(out, colors[2], np.maximum(thin_u, thin_v) * 0.8)


def stripes(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
            rng: np.random.Generator) -> np.ndarray:
    t = _smoothstep(0.0, np.sin((u + v) * np.pi * 2.5), 0.3)
    return _mix(colors[0], colors[1], t)


def dots(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
         rng: np.random.Generator) -> np.ndarray:
    fu, fv = (u * 2.5) % 1 - 0.5, (v * 2.5 + 0.5 * (np.floor(u * 2.5) % 2)) % 1 - 0.5
    t = 1.0 - _smoothstep(0.22, np.hypot(fu, fv), 0.05)
    return _mix(colors[0], colors[1], t)


def floral(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
           rng: np.random.Generator) -> np.ndarray:
    """Five-petal flowers with centres, on a jittered grid."""
    scale = 1.6
    cu, cv = np.floor(u * scale), np.floor(v * scale)
    seed = rng.integers(0, 1 << 16)
    jitter = np.sin((cu * 12.9898 + cv * 78.233 + seed) * 43758.5453)
    fu = (u * scale) % 1 - 0.5 + 0.12 * jitter
    fv = (v * scale) % 1 - 0.5 - 0.12 * jitter
    r, angle = np.hypot(fu, fv), np.arctan2(fv, fu) + jitter
    petal_edge = 0.18 + 0.12 * np.abs(np.cos(angle * 2.5))
    petals = 1.0 - _smoothstep(0.0, r - petal_edge, 0.04)
    centre = 1.0 - _smoothstep(0.07, r, 0.03)
    out = _mix(colors[0], colors[1], petals)
    return _mix(out, colors[2], centre)


def zigzag(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
           rng: np.random.Generator) -> np.ndarray:
    tri = np.abs((u * 3) % 2 - 1) * 0.35
    t = _smoothstep(0.0, np.sin((v * 3 + tri) * np.pi * 2), 0.4)
    return _mix(colors[0], colors[1], t)


def camo(u: np.ndarray, v: np.ndarray, colors: list[np.ndarray],
         rng: np.random.Generator) -> np.ndarray:
    h, w = u.shape
    noise = rng.random((max(h // 12, 2), max(w // 12, 2))).astype(np.float32)
    blob = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    out = _mix(colors[0], colors[1], _smoothstep(0.45, blob, 0.05))
    return _mix(out, colors[2], _smoothstep(0.7, blob, 0.05))


PATTERNS: dict[str, PatternFn] = {
    "check": check, "plaid": plaid, "stripes": stripes, "dots": dots,
    "floral": floral, "zigzag": zigzag, "camo": camo,
}


@functools.lru_cache(maxsize=16)
def _pattern_image(path: str) -> np.ndarray:
    from mask2face.images import read_image
    try:
        return read_image(path).astype(np.float32) / 255.0
    except ImageReadError as e:
        raise ConfigError(f"mask_pattern: cannot use pattern image: {e}") from None


def is_pattern_path(pattern: str) -> bool:
    return pattern not in PATTERNS and ("/" in pattern or "." in pattern)


def check_pattern(pattern: str) -> None:
    """Raise ConfigError for an unknown pattern name or an unreadable pattern image."""
    if not pattern or pattern in PATTERNS:
        return
    if is_pattern_path(pattern):
        _pattern_image(pattern)
        return
    raise ConfigError(f"mask_pattern = {pattern!r}: unknown pattern; known: "
                      f"{', '.join(PATTERNS)}, or the path of an image")


def render_pattern(pattern: str, shape: tuple[int, int], period: float, colors: list,
                   rng: np.random.Generator) -> np.ndarray:
    """A pattern texture of ``shape`` (H, W); ``period`` texels make one pattern unit."""
    h, w = shape
    if is_pattern_path(pattern):
        check_pattern(pattern)
        return cv2.resize(_pattern_image(pattern), (w, h), interpolation=cv2.INTER_AREA)
    check_pattern(pattern)
    v, u = np.mgrid[0:h, 0:w].astype(np.float32) / period
    colors = [np.asarray(c, np.float32) for c in colors]
    return PATTERNS[pattern](u, v, colors, rng).astype(np.float32)


# Prints: what real masks carry on top of their fabric (a brand's word, a badge, a big drawing).
PRINTS = ("text", "badge", "drawing")
PRINT_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def render_print(kind: str, shape: tuple[int, int], colors: list,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A print over a mask texture of ``shape``: (rgb, alpha), each (H, W[, 3]) float32.

    ``text`` is a random word or two, ``badge`` a small emblem, ``drawing`` large shapes and
    strokes over much of the mask (cartoon animals, skulls and flowers on real masks)."""
    h, w = shape
    canvas = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    colors = [tuple(float(x) for x in np.asarray(c, np.float32)) for c in colors]

    def ink(draw) -> None:
        layer = np.zeros((h, w), np.uint8)
        color = colors[int(rng.integers(len(colors)))]
        draw(layer)
        a = layer.astype(np.float32) / 255.0
        canvas[:] = canvas * (1 - a[..., None]) + np.asarray(color, np.float32) * a[..., None]
        alpha[:] = np.maximum(alpha, a)

    if kind == "text":
        for _ in range(int(rng.integers(1, 3))):
            word = "".join(rng.choice(list(PRINT_LETTERS), int(rng.integers(2, 9))))
            font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                                   cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX]))
            (tw, th), _ = cv2.getTextSize(word, font, 1.0, 2)
            scale = w * rng.uniform(0.25, 0.8) / max(tw, 1)
            thick = max(1, int(round(scale * rng.uniform(1.0, 3.0))))
            x = int(rng.uniform(0.05, 0.95) * w - tw * scale / 2)
            y = int(rng.uniform(0.3, 0.85) * h + th * scale / 2)
            ink(lambda layer: cv2.putText(layer, word, (x, y), font, scale, 255, thick,
                                          cv2.LINE_AA))
    elif kind == "badge":
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.35, 0.75) * h
        r = rng.uniform(0.05, 0.12) * w
        sides = int(rng.integers(3, 9))
        angles = rng.uniform(0, 2 * np.pi) + np.arange(sides) * 2 * np.pi / sides
        polygon = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
        ink(lambda layer: cv2.fillPoly(layer, [np.round(polygon).astype(np.int32)], 255,
                                       cv2.LINE_AA))
        ink(lambda layer: cv2.circle(layer, (int(cx), int(cy)), max(1, int(r * 0.45)), 255, -1,
                                     cv2.LINE_AA))
    else:  # drawing
        for _ in range(int(rng.integers(3, 9))):
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.15, 0.9) * h
            axes = (int(rng.uniform(0.04, 0.25) * w), int(rng.uniform(0.04, 0.3) * h))
            angle = float(rng.uniform(0, 180))
            if rng.random() < 0.6:
                ink(lambda layer: cv2.ellipse(layer, (int(cx), int(cy)), axes, angle, 0, 360,
                                              255, -1, cv2.LINE_AA))
            else:  # a stroke: a mouth, teeth, a whisker
                points = np.stack([np.linspace(cx - axes[0], cx + axes[0], 6),
                                   cy + rng.uniform(-1, 1, 6) * axes[1] * 0.5], 1)
                thick = max(1, int(rng.uniform(0.01, 0.04) * w))
                ink(lambda layer: cv2.polylines(layer, [np.round(points).astype(np.int32)],
                                                False, 255, thick, cv2.LINE_AA))
    return canvas, alpha
