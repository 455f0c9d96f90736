"""Masks drawn onto faces from their 68 landmarks.

``apply_mask(image, landmarks, spec, rng)`` returns the masked image and the exact region;
``spec_from_config`` draws a ``MaskSpec`` from the configuration. Kinds: surgical, n95, kn95,
cloth, gas (``kinds.KINDS``, a ``MaskKind`` each), and the templates of a MaskTheFace folder
(``mask_templates_path``).

    spec.py       MaskSpec and spec_from_config: what to draw on one face
    kinds.py      the procedural kinds: drawing, palette, straps, how each is worn
    patterns.py   fabric patterns and prints
    templates.py  MaskTheFace templates
    geometry.py   the face's (u, v) sheet the mask is drawn over, following the head's pose
    overlay.py    apply_mask: texture warped onto the face, straps, light, the exact region
    photos.py     the masks command's work on photo files (__main__.py: the command)
"""

from mask2face.masks.kinds import KINDS, PALETTES, MaskKind
from mask2face.masks.overlay import apply_mask
from mask2face.masks.patterns import PATTERNS
from mask2face.masks.spec import MaskSpec, check_kind, known_kinds, spec_from_config
from mask2face.masks.templates import TemplateSet, load_templates

__all__ = ["KINDS", "PALETTES", "PATTERNS", "MaskKind", "MaskSpec", "TemplateSet", "apply_mask",
           "check_kind", "known_kinds", "load_templates", "spec_from_config"]
