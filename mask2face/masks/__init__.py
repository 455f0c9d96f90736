"""Masks drawn onto faces from their 68 landmarks.

``apply_mask(image, landmarks, spec, rng)`` returns the masked image and the exact region;
``spec_from_config`` draws a ``MaskSpec`` from the configuration. Kinds: surgical, n95, kn95,
cloth, gas, and the templates of a MaskTheFace folder (``mask_templates_path``).
"""

from mask2face.masks.kinds import KINDS, PALETTES
from mask2face.masks.overlay import MaskSpec, apply_mask, check_kind, known_kinds, spec_from_config
from mask2face.masks.patterns import PATTERNS
from mask2face.masks.templates import TemplateSet, load_templates

__all__ = ["KINDS", "PALETTES", "PATTERNS", "MaskSpec", "TemplateSet", "apply_mask",
           "check_kind", "known_kinds", "load_templates", "spec_from_config"]
