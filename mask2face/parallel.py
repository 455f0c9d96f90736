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
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

from mask2face.errors import Mask2FaceError, UsageError

LOCK_FILE = ".mask2face.lock"


class WorkerLost(Mask2FaceError):
    """A worker process died (killed, out of memory) before finishing its photos."""


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Hide a main *script* (a file run as ``python script.py``) from spawned children. A main
    module run with ``-m`` (``python -m mask2face.generate``) stays: children import it by
    name, guarded, and may need its functions."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None) if getattr(main, "__spec__", None) is None else None
    if script is None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = script


def _die_with_parent(parent: int, initializer: Callable, *initargs) -> None:
    """A worker's first step: ask the kernel to kill it when its parent dies (Linux), so that a
    ``kill -9`` of the command leaves no worker (nor, their pipes closed, multiprocessing's
    resource tracker) running on; then the real initializer."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
    initializer(*initargs)


def map_spawned(function: Callable, tasks: Iterable, workers: int, initializer: Callable,
                initargs: tuple, chunksize: int = 4) -> Iterator:
    """``function`` over ``tasks`` in spawned worker processes, results in task order.

    Raises:
        WorkerLost: a worker died; the results yielded before it are complete.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # Never more processes than CPU cores, nor than there are chunks of work for.
    chunks = -(-len(tasks) // chunksize) if hasattr(tasks, "__len__") else workers
    workers = max(1, min(workers, os.cpu_count() or 1, chunks))

    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_die_with_parent,
                                   initargs=(os.getpid(), initializer, *initargs))
    try:
        with _main_script_hidden():  # the workers start with the first tasks
            results = executor.map(function, tasks, chunksize=chunksize)
        yield from results
    except BrokenProcessPool:
        raise WorkerLost("a worker process died (killed, or out of memory)") from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


class WorkerState:
    """What a worker process builds once and uses for every photo: the configuration, the face
    finder and the mask templates. ``worker`` is this process's (the main process's too, where
    the work runs without workers)."""

    def __init__(self) -> None:
        self.config = None
        self.finder = None
        self.templates = None

    def start(self, config_dict: dict, detector: str | None = None) -> None:
        """A worker's initializer (picklable, as spawned processes need): build the state."""
        from mask2face.config import from_dict
        from mask2face.faces import face_finder_from_config
        from mask2face.masks import load_templates

        self.config = from_dict(config_dict)
        self.finder = face_finder_from_config(self.config.faces, detector)
        self.templates = load_templates(self.config.masks.mask_templates_path)


worker = WorkerState()


def start_worker(config_dict: dict, detector: str | None = None) -> None:
    """``worker.start`` as a module-level function, for ``map_spawned``'s initializer."""
    worker.start(config_dict, detector)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an OS lock on ``folder`` for as long as a run writes there: a second run into the
    same folder stops with one line naming the process that holds it. The OS drops the lock when
    its process ends, killed or not, so nothing stale is left behind.

    Raises:
        UsageError: another process holds the folder.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not guarded there
        yield
        return
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_FILE, "a+")
    except OSError as e:
        raise UsageError(f"cannot write to {folder}: {e.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise UsageError(f"{folder} is in use by another mask2face run (process {holder}): "
                         f"wait for it to end, or choose another folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
