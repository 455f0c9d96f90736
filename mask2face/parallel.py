"""Worker processes that work from a plain script, a notebook and a command alike.

Workers are started with "spawn" (safe beside TensorFlow's threads). A spawned child normally
imports the parent's main script again, so a user's script without an
``if __name__ == "__main__":`` guard would start generating (and spawning) once more in every
child. mask2face's worker functions live in its own modules, so the children do not need the
user's script: it is hidden from them while the pool starts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from typing import Callable, Iterator


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__")
             if main is not None and hasattr(main, name)}
    try:
        for name in saved:
            setattr(main, name, None) if name == "__spec__" else delattr(main, name)
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def spawn_pool(workers: int, initializer: Callable, initargs: tuple):
    """A started ``multiprocessing.Pool`` of spawned workers that never re-run the caller's
    main script."""
    with _main_script_hidden():
        return multiprocessing.get_context("spawn").Pool(workers, initializer, initargs)
