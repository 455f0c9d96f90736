"""Put a mask on a face: ``apply_mask(image, landmarks, spec, rng) -> (masked, region)``."""

from __future__ import annotations

import cv2
import numpy as np

from mask2face.errors import UsageError
from mask2face.pairs import EDGE_BAND_PX
from mask2face.masks import kinds as procedural
from mask2face.masks.geometry import Sheet, face_sheet, sheet_bbox, warp_sheet_texture
from mask2face.masks.spec import MaskSpec, known_kinds

# Pixels further than EDGE_BAND_PX (the pair format's) from the drawn region keep their value.
# Edge blur sigmas are given for a face of this scale (eyes to chin, px), about a 256 px crop.
REFERENCE_FACE_SCALE = 110.0


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
        kind = procedural.KINDS[spec.kind]
        sheet = face_sheet(landmarks, spec.top_lift + kind.top_lift, spec.chin_drop, spec.widen,
                           spec.eye_clearance, spec.cheek_lift)
        bbox = sheet_bbox(sheet, image.shape)
        shape = _texture_shape(sheet)
        tex_rgb, tex_alpha, shade = kind.draw(spec, shape, rng)
        tex_rgb, shade = procedural.finish(spec, tex_rgb, shade)
        texture = np.dstack([tex_rgb * np.asarray(shade, np.float32)[..., None], tex_alpha])
        warped = warp_sheet_texture(np.ascontiguousarray(texture, np.float32), sheet, bbox)
        rgb, alpha = warped[..., :3], warped[..., 3].copy()
        straps_color = spec.color if kind.strap_rgb is None else np.array(kind.strap_rgb)
        _draw_straps(rgb, alpha, sheet, kind.straps, straps_color, np.array(bbox[:2], np.float64))
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
