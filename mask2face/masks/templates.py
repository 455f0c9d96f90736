"""Masks from a MaskTheFace template folder that a user already has.

The folder holds ``masks.cfg`` (one section per template: ``template`` = its PNG, and six anchor
points ``mask_a`` .. ``mask_f`` in template pixels) and the PNGs with alpha. ``mask_a`` ..
``mask_c`` run along the top edge from the left cheek over the nose bridge to the right cheek,
``mask_d`` .. ``mask_f`` along the bottom from the left jaw under the chin to the right jaw.
mask2face maps them onto the same places of its face sheet with a perspective warp, and picks a
``_left`` / ``_right`` variant when the head is turned.
"""

from __future__ import annotations

import configparser
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from mask2face.errors import ConfigError
from mask2face.masks.geometry import Sheet

if TYPE_CHECKING:
    from mask2face.masks.spec import MaskSpec

PREFIX = "template:"
ANCHORS = ("mask_a", "mask_b", "mask_c", "mask_d", "mask_e", "mask_f")
# Where each anchor sits on the sheet, as (u, v).
ANCHOR_UV = ((0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (0.0, 1.0), (0.5, 1.0), (1.0, 1.0))
# Past this share of width difference between the face's halves, a turned variant is used.
TURN_THRESHOLD = 0.15


@dataclass
class Template:
    name: str
    rgba: np.ndarray      # (H, W, 4) float32 in [0, 1]
    anchors: np.ndarray   # (6, 2) template pixels
    variants: dict = field(default_factory=dict)  # "left" / "right" -> Template


class TemplateSet:
    """The templates of one MaskTheFace ``masks/`` folder, read once."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        masks_dir = path if (path / "masks.cfg").exists() else path / "masks"
        cfg_file = masks_dir / "masks.cfg"
        if not cfg_file.exists():
            raise ConfigError(f"mask_templates_path = {str(path)!r}: no masks.cfg in it or in "
                              f"its masks/ folder")
        parser = configparser.ConfigParser()
        try:
            parser.read(cfg_file)
        except configparser.Error as e:
            raise ConfigError(f"{cfg_file}: malformed: {e}") from None
        self.root = masks_dir.parent
        # Sections without keys ("empty", "inpaint") are MaskTheFace modes, not templates.
        templates = {name: self._read(parser, name, cfg_file) for name in parser.sections()
                     if len(parser[name])}
        if not templates:
            raise ConfigError(f"{cfg_file}: no template sections")
        self._base = {}
        for name, template in templates.items():
            for side in ("left", "right"):
                if name.endswith("_" + side):
                    continue
                variant = templates.get(f"{name}_{side}")
                if variant is not None:
                    template.variants[side] = variant
            if not name.endswith(("_left", "_right")):
                self._base[name] = template

    def _read(self, parser: configparser.ConfigParser, name: str, cfg_file: Path) -> Template:
        section = parser[name]
        where = f"{cfg_file} [{name}]"
        if "template" not in section:
            raise ConfigError(f"{where}: missing 'template'")
        anchors = []
        for key in ANCHORS:
            if key not in section:
                raise ConfigError(f"{where}: missing '{key}'")
            try:
                x, y = (float(p) for p in section[key].split(","))
            except ValueError:
                raise ConfigError(f"{where}: {key} = {section[key]!r} is not 'x, y'") from None
            anchors.append((x, y))
        file = self.root / section["template"].strip()
        if not file.exists():
            file = cfg_file.parent / "templates" / Path(section["template"].strip()).name
        try:
            with Image.open(file) as image:
                rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
        except (OSError, ValueError) as e:
            raise ConfigError(f"{where}: cannot read template image {file}: {e}") from None
        return Template(name, rgba, np.asarray(anchors, np.float64))

    def names(self) -> list[str]:
        """Kind names of the templates: ``template:<section>``."""
        return [PREFIX + name for name in self._base]

    def get(self, kind: str) -> Template:
        return self._base[kind.removeprefix(PREFIX)]


@functools.lru_cache(maxsize=4)
def load_templates(path: str) -> TemplateSet | None:
    """The TemplateSet of ``mask_templates_path`` (None when the key is empty), read once."""
    return TemplateSet(path) if path else None


def choose_variant(template: Template, turn: float) -> Template:
    """The ``_left`` variant (narrow image-left side) for a face whose image-left half is the
    narrower, ``_right`` for the mirror case, else the frontal template."""
    if turn < -TURN_THRESHOLD and "left" in template.variants:
        return template.variants["left"]
    if turn > TURN_THRESHOLD and "right" in template.variants:
        return template.variants["right"]
    return template


def render_template(spec: MaskSpec, landmarks: np.ndarray, sheet: Sheet,
                    bbox: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp the spec's template onto the face: (rgb, alpha) of the bbox."""
    from mask2face.masks.patterns import render_pattern

    template = choose_variant(spec.template, sheet.turn)
    x0, y0, x1, y1 = bbox
    targets = np.array([sheet.point(u, v) for u, v in ANCHOR_UV]) - np.array([x0, y0])
    rgba, anchors = template.rgba, template.anchors
    shrink = np.hypot(*(targets[2] - targets[0])) / np.hypot(*(anchors[2] - anchors[0]))
    if shrink < 0.5:  # pre-shrink with an area filter: warpPerspective alone would alias
        factor = shrink * 1.5
        rgba = cv2.resize(rgba, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        anchors = anchors * factor
    homography, _ = cv2.findHomography(anchors, targets, 0)
    if homography is None:
        raise ConfigError(f"template {template.name}: anchors do not define a warp")
    rgb = rgba[..., :3] * np.asarray(spec.color, np.float32)
    if spec.pattern:
        h, w = rgb.shape[:2]
        luma = rgba[..., :3].mean(axis=2, keepdims=True)
        pattern = render_pattern(spec.pattern, (h, w), w / 6, [spec.color, [1, 1, 1],
                                                                [0.2, 0.2, 0.2]],
                                 np.random.default_rng(0))
        rgb = rgb * (1 - spec.pattern_weight) + pattern * luma * spec.pattern_weight
    texture = np.ascontiguousarray(np.dstack([rgb, rgba[..., 3]]), np.float32)
    warped = cv2.warpPerspective(texture, homography, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped[..., :3], warped[..., 3].copy()
