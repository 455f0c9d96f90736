"""What every ``python -m mask2face.<command>`` shares: flags, logging and exit codes.

Exit codes: 0 done, 1 some inputs failed (the rest were still done), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
import threading
from typing import Callable, Sequence

from mask2face.errors import Mask2FaceError, UsageError

log = logging.getLogger("mask2face")


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations (``--fea`` is not taken for ``--feather``), and with a
    "did you mean" for a misspelt option."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str):
        match = re.match(r"unrecognized arguments: (.*)", message)
        if match:
            known = [o for action in self._actions for o in action.option_strings]
            hints = []
            for word in match.group(1).split():
                close = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
                if word.startswith("-") and close:
                    hints.append(f"{word}: did you mean {close[0]}?")
            if hints:
                message = f"{message} ({'; '.join(hints)})"
        super().error(message)


def make_parser(module: str, description: str) -> Parser:
    """The parser of ``python -m mask2face.<module>``, named as it was started: ``mask2face
    <stage>`` from the ``mask2face`` command, else ``python -m mask2face.<module>``."""
    from mask2face import __version__
    started = sys.argv[0] if sys.argv and sys.argv[0].startswith("mask2face ") else None
    parser = Parser(prog=started or f"python -m mask2face.{module}", description=description)
    parser.add_argument("--version", action="version", version=f"mask2face {__version__}")
    return parser


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="MODEL",
                        help="'bundled' (the shipped model: the default, unless the "
                             "configuration's predict.model names another), 'latest' (the "
                             "newest run under training.model_dir), a run folder or a model "
                             "file")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="configuration file (default: ./configuration.json if present)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--verbose", action="store_true",
                        help="everything, TensorFlow's own start-up lines included")


def overrides(args: argparse.Namespace, keys: Sequence[str]) -> dict:
    """The configuration keys that were given on the command line (None = not given)."""
    return {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}


# TensorFlow's C++ log lines (absl: "I0000 00:00:... port.cc:153] oneDNN custom operations are
# on", "E0000 ... failed call to cuInit", "remapper failed") and absl's notice before them. They
# do not heed TF_CPP_MIN_LOG_LEVEL in TensorFlow 2.21, and on a terminal they look like failures.
NATIVE_NOISE = re.compile(rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [^\]\n]+\] "
                          rb"|WARNING: All log messages before absl::InitializeLog\(\))")


class NativeLogFilter:
    """Pass the process's stderr (file descriptor 2, which C++ writes to directly) through a
    pipe and drop TensorFlow's C++ log lines; everything else goes on as it came, progress bars
    included."""

    def __init__(self) -> None:
        sys.stderr.flush()
        self._terminal = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._read = read
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        pending = b""
        while True:
            chunk = os.read(self._read, 65536)
            if not chunk:
                break
            pending += chunk
            out = []
            while True:
                end = re.search(rb"[\r\n]", pending)
                if not end:
                    break
                line, pending = pending[:end.end()], pending[end.end():]
                if not NATIVE_NOISE.match(line):
                    out.append(line)
            # A partial line that cannot start a C++ log line (a progress bar) goes on now.
            if pending and pending[:1] not in (b"I", b"W", b"E", b"F"):
                out.append(pending)
                pending = b""
            if out:
                os.write(self._terminal, b"".join(out))
        if pending and not NATIVE_NOISE.match(pending):
            os.write(self._terminal, pending)

    def close(self) -> None:
        """Give fd 2 back to the terminal and forward what is still in the pipe."""
        sys.stderr.flush()
        os.dup2(self._terminal, 2)  # the pipe's last writer here is gone: the pump sees EOF
        self._thread.join(timeout=2.0)
        os.close(self._terminal)


# Packages of the extras (pyproject.toml): a stage that needs one the install lacks says which
# extra brings it, in one line.
EXTRAS = {"keras": "train", "tensorflow": "train", "tensorboard": "train", "mtcnn": "train",
          "skimage": "train", "matplotlib": "train", "onnx": "train", "jax": "jax",
          "gradio": "app", "pytest": "dev"}


def installed(name: str) -> bool:
    """Whether the package ``name`` can be imported (without importing it)."""
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # in sys.modules as None: blocked
        return False


def missing_package(name: str) -> str:
    top = name.split(".")[0]
    extra = EXTRAS[top]
    line = (f"this needs {name}, which is not installed: pip install \"mask2face[{extra}]\" "
            f"(from a clone: pip install \".[{extra}]\")")
    if top == "tensorflow" and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" \
            and installed("jax"):  # Keras's default backend is TensorFlow; JAX is there
        line += "; or set KERAS_BACKEND=jax to run on JAX, which is installed"
    return line


def require(*packages: str) -> None:
    """Stop with one line naming the extra to install when a package is missing, before a
    command has done (or written) anything."""
    for name in packages:
        if not installed(name):
            raise UsageError(missing_package(name))


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    if not verbose:  # JAX says at INFO which accelerators it looked for and did not find
        logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


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
    setup_logging(getattr(args, "quiet", False), getattr(args, "verbose", False))
    quiet_native = not getattr(args, "verbose", False) and os.environ.get(
        "MASK2FACE_NATIVE_LOGS") != "1"
    native = NativeLogFilter() if quiet_native and _is_real_fd(2) else None
    try:
        return command(args)
    except Mask2FaceError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:
        if EXTRAS.get((e.name or "").split(".")[0]) is None:
            raise
        print(f"{parser.prog}: error: {missing_package(e.name)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None) or on_interrupt
        print(f"{parser.prog}: interrupted; {hint}", file=sys.stderr)
        return 130
    finally:
        if native is not None:
            native.close()


def _is_real_fd(fd: int) -> bool:
    try:
        os.fstat(fd)
        return sys.stderr is not None and sys.stderr.fileno() == fd
    except (OSError, ValueError, AttributeError):  # no fd 2, or stderr replaced (a notebook)
        return False
