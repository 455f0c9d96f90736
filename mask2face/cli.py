"""What every ``python -m mask2face.<command>`` shares: flags, logging and exit codes.

Exit codes: 0 done, 1 some inputs failed (the rest were still done), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from mask2face.errors import Mask2FaceError

log = logging.getLogger("mask2face")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="configuration file (default: ./configuration.json if present)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")


def overrides(args: argparse.Namespace, keys: Sequence[str]) -> dict:
    """The configuration keys that were given on the command line (None = not given)."""
    return {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}


def setup_logging(quiet: bool = False) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(message)s", stream=sys.stderr)


def run_command(parser: argparse.ArgumentParser,
                command: Callable[[argparse.Namespace], int],
                argv: Sequence[str] | None = None,
                on_interrupt: str = "run the same command again to continue") -> int:
    """Parse arguments, run ``command`` and turn known errors into one line and an exit code.

    Args:
        on_interrupt: what to tell the user after Ctrl-C, unless the command has put a more
            precise ``interrupt_hint`` on ``args`` (train: the run folder to resume).
    """
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    try:
        return command(args)
    except Mask2FaceError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None) or on_interrupt
        print(f"{parser.prog}: interrupted; {hint}", file=sys.stderr)
        return 130
