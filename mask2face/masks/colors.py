"""Named colours and hex parsing for masks."""

from __future__ import annotations

import re

from mask2face.errors import ConfigError

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_hex_color(text: str, name: str = "colour") -> tuple[int, int, int]:
    """'#1e90ff' -> (30, 144, 255).

    Raises:
        ConfigError: the text is not six hex digits.
    """
    match = _HEX.match(text.strip())
    if not match:
        raise ConfigError(f"{name} = {text!r}: expected a colour like #1e90ff")
    value = match.group(1)
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))
