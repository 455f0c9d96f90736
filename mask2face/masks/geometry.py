"""Where a mask sits on a face: a (u, v) sheet stretched between two curves from the landmarks.

u runs from the left cheek (0) over the nose bridge to the right cheek (1); v runs from the top
edge (0, just under the eyes and over the nose bridge) to the bottom edge (1, along the jaw and
under the chin). Because both curves come from the 68 landmarks, the sheet follows the head's
roll and turn: a turned head's far side is narrower, as its landmarks are.

A texture drawn in (u, v) is warped into the photo piecewise-affinely, touching only the pixels
of the face's bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mask2face import landmarks as regions
from mask2face.landmarks import check_landmarks, mask_axes

GRID_U = 16  # sheet cells across
GRID_V = 6   # sheet cells down


def _resample(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a polyline."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, dist[-1], count)
    return np.stack([np.interp(targets, dist, points[:, i]) for i in (0, 1)], axis=1)


def _smooth(points: np.ndarray, per_segment: int = 8) -> np.ndarray:
    """A Catmull-Rom curve through the points."""
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1:i + 3]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1][None])
    return np.vstack(out)


@dataclass
class Sheet:
    """The mask's (u, v) sheet on the face, in photo pixels."""

    grid: np.ndarray  # (GRID_V + 1, GRID_U + 1, 2) photo points of the sheet
    ears: np.ndarray  # (2, 2) where loops and straps go: left ear, right ear
    scale: float      # face scale in pixels (eyes to chin)
    turn: float       # -1..1: > 0 when the image-left half of the face is the wider

    def point(self, u: float, v: float) -> np.ndarray:
        """Photo point of (u, v), bilinear within the grid."""
        gu, gv = u * GRID_U, v * GRID_V
        i, j = min(int(gv), GRID_V - 1), min(int(gu), GRID_U - 1)
        fu, fv = gu - j, gv - i
        g = self.grid
        top = g[i, j] * (1 - fu) + g[i, j + 1] * fu
        bottom = g[i + 1, j] * (1 - fu) + g[i + 1, j + 1] * fu
        return top * (1 - fv) + bottom * fv


EYE_CLEARANCE = 0.06  # the top edge's least distance below the lower eyelids (face scale)


def face_sheet(landmarks: np.ndarray, top_lift: float = 0.0, chin_drop: float = 0.07,
               widen: float = 0.04, eye_clearance: float = EYE_CLEARANCE,
               cheek_lift: float = 0.0) -> Sheet:
    """The sheet for a mask on these landmarks.

    Args:
        landmarks: (68, 2) photo points.
        top_lift: raise the top edge over the nose by this share of the face scale.
        chin_drop: how far below the jaw the bottom edge runs, as a share of the face scale.
        widen: how far outside the jaw line the sides run, as a share of the nose-to-jaw
            distance.
        eye_clearance: the top edge stays at least this far (share of the face scale) below
            the lower eyelids; a mask worn high comes up to them.
        cheek_lift: raise the top edge over the cheeks (under the eyes) by this share of the
            face scale.
    """
    lm = check_landmarks(landmarks)
    across, down, scale = mask_axes(lm)
    nose_tip = lm[regions.NOSE_TIP]

    nose = lm[regions.NOSE_BRIDGE_MID] * 0.35 + lm[regions.NOSE_BRIDGE_LOW] * 0.65 \
        - down * top_lift * scale
    # Keep the top edge under the lower eyelids, however the landmarks are bent.
    def below_eye(point: np.ndarray, eye: np.ndarray) -> np.ndarray:
        lowest = max(float((p - point) @ down) for p in eye)
        clearance = eye_clearance * scale
        push = lowest + clearance
        return point + down * push if push > 0 else point

    left_eye, right_eye = lm[regions.LEFT_EYE], lm[regions.RIGHT_EYE]
    left_top, right_top = lm[regions.CHEEK_LEFT], lm[regions.CHEEK_RIGHT]
    lifted = down * cheek_lift * scale
    left_cheek = below_eye(0.5 * (left_top + nose) - lifted, left_eye)
    right_cheek = below_eye(0.5 * (right_top + nose) - lifted, right_eye)
    left_top, right_top = below_eye(left_top, left_eye), below_eye(right_top, right_eye)
    top = _smooth(np.array([left_top, left_cheek, nose, right_cheek, right_top]))

    jaw = lm[regions.JAW_LOWER].copy()
    outward = jaw - nose_tip
    # The chin drops fully, the jaw's sides hardly (indices 2..14 of the jaw line).
    weights = np.interp(np.arange(2, 15), [2, 5, regions.CHIN, 11, 14],
                        [0.02, 0.05, 1.0, 0.05, 0.02])
    jaw = jaw + outward * widen + down * chin_drop * scale * weights[:, None]
    bottom = _smooth(jaw)

    n = GRID_U + 1
    top_pts, bottom_pts = _resample(top, n), _resample(bottom, n)
    vs = np.linspace(0.0, 1.0, GRID_V + 1)[:, None, None]
    grid = top_pts[None] * (1 - vs) + bottom_pts[None] * vs

    ears = np.array([lm[regions.JAW_LEFT_TOP] - across * 0.04 * scale - down * 0.05 * scale,
                     lm[regions.JAW_RIGHT_TOP] + across * 0.04 * scale - down * 0.05 * scale])
    jaw_left, jaw_right = lm[regions.JAW_LOWER][0], lm[regions.JAW_LOWER][-1]
    left_width = float(np.hypot(*(nose_tip - jaw_left)))
    right_width = float(np.hypot(*(jaw_right - nose_tip)))
    turn = (left_width - right_width) / max(left_width + right_width, 1e-6)
    return Sheet(grid, ears, scale, turn)


def sheet_bbox(sheet: Sheet, shape: tuple[int, ...], pad: float = 4.0) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) inside the image covering the sheet and the ears."""
    pts = np.vstack([sheet.grid.reshape(-1, 2), sheet.ears])
    x0, y0 = np.floor(pts.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0) + pad).astype(int)
    h, w = shape[:2]
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def warp_sheet_texture(texture: np.ndarray, sheet: Sheet,
                       bbox: tuple[int, int, int, int]) -> np.ndarray:
    """Warp an (H, W, C) float32 texture laid over the sheet into the bbox, piecewise-affinely.

    Outside the sheet the result is 0 (plus a two-pixel extrapolated band so that the
    texture's own soft edge, not the triangle edge, decides the outline).
    """
    x0, y0, x1, y1 = bbox
    th, tw = texture.shape[:2]
    grid = sheet.grid - np.array([x0, y0])
    ids = np.full((y1 - y0, x1 - x0), -1, dtype=np.int32)
    # Every cell's corners in the texture (src) and in the bbox (dst); two triangles a cell.
    j, i = np.meshgrid(np.arange(GRID_U), np.arange(GRID_V))
    j, i = j.ravel(), i.ravel()
    corners = [(0, 0), (1, 0), (1, 1), (0, 1)]
    src = np.stack([np.stack([(j + dj) / GRID_U * tw - 0.5, (i + di) / GRID_V * th - 0.5], -1)
                    for dj, di in corners], 1)
    dst = np.stack([grid[i + di, j + dj] for dj, di in corners], 1)
    triangles = [0, 1, 2], [0, 2, 3]
    src = np.concatenate([src[:, t] for t in triangles])  # (T, 3, 2)
    dst = np.concatenate([dst[:, t] for t in triangles])
    # Affine maps dst -> src, all at once: [x y 1] @ M = [u v].
    ones = np.ones(dst.shape[:2] + (1,))
    # pinv, not solve: a triangle squeezed flat by a strongly turned head must not fail.
    affines = (np.linalg.pinv(np.concatenate([dst, ones], 2)) @ src).transpose(0, 2, 1)
    fixed = np.ascontiguousarray(np.round(dst * 16), dtype=np.int32)
    for number, triangle in enumerate(fixed):
        cv2.fillConvexPoly(ids, triangle, number, lineType=cv2.LINE_8, shift=4)
    # Extend the triangle ids two pixels outwards so the texture's soft edge is sampled.
    empty = ids < 0
    grown = cv2.dilate((ids + 1).astype(np.uint16), np.ones((5, 5), np.uint8)).astype(np.int32) - 1
    ids = np.where(empty, grown, ids)
    affines = affines.astype(np.float32)
    map_x = np.full(ids.shape, -10.0, np.float32)
    map_y = np.full(ids.shape, -10.0, np.float32)
    ys, xs = np.nonzero(ids >= 0)
    a = affines[ids[ys, xs]]
    xs_f, ys_f = xs.astype(np.float32), ys.astype(np.float32)
    map_x[ys, xs] = a[:, 0, 0] * xs_f + a[:, 0, 1] * ys_f + a[:, 0, 2]
    map_y[ys, xs] = a[:, 1, 0] * xs_f + a[:, 1, 1] * ys_f + a[:, 1, 2]
    warped = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if warped.ndim == 2:
        warped = warped[:, :, None]
    return warped
