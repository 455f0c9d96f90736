"""The training run's own Keras callbacks, importable and testable on their own (``train``
builds the list; this module imports Keras, so ``train --help`` does not wait for it)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import keras
import numpy as np

from mask2face.adversarial import generator_of
from mask2face.images import atomic_write, write_image

log = logging.getLogger("mask2face.train")

# The figures a user watches in the epoch line (every metric is in history.csv).
EPOCH_FIGURES = (("loss", "loss {:.4f}"), ("val_loss", "val loss {:.4f}"),
                 ("val_image_psnr", "val PSNR {:.2f} dB"), ("val_image_ssim", "val SSIM {:.3f}"),
                 ("val_mask_mask_iou", "val mask IoU {:.3f}"))


class Preview(keras.callbacks.Callback):
    """input | target | output rows for a fixed set of validation pairs, each epoch, as
    ``<run>/previews/epoch_NNN.png``."""

    def __init__(self, run: Path, masked: np.ndarray, clean: np.ndarray) -> None:
        super().__init__()
        self.run, self.masked, self.clean = Path(run), masked, clean

    def on_epoch_end(self, epoch, logs=None):
        output = self.model(self.masked, training=False)
        image = output["image"] if isinstance(output, dict) else output
        rows = [np.hstack([m, c, np.asarray(o)])
                for m, c, o in zip(self.masked, self.clean, image)]
        grid = (np.clip(np.vstack(rows), 0, 1) * 255).round().astype(np.uint8)
        write_image(self.run / "previews" / f"epoch_{epoch + 1:03d}.png", grid)


class EpochLine(keras.callbacks.Callback):
    """One short line per ``every`` epochs (and the last, also when stopped early): the figures
    a user watches, not Keras's 300-character line of every metric."""

    def __init__(self, epochs: int, every: int = 1) -> None:
        super().__init__()
        self.epochs, self.every = epochs, every
        self.last = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.last = (epoch + 1, logs or {}, time.perf_counter() - self.started)
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            self.say(*self.last)

    def on_train_end(self, logs=None):
        if self.last and self.last[0] % self.every and self.last[0] != self.epochs:
            self.say(*self.last)

    def say(self, done: int, logs: dict, seconds: float) -> None:
        figures = [text.format(logs[key]) for key, text in EPOCH_FIGURES if key in logs]
        log.info("epoch %d/%d (%.0f s): %s", done, self.epochs, seconds, ", ".join(figures))


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model when ``monitor`` improves (every epoch when it is None), to a temporary
    file that then replaces model.keras (a kill leaves the old or the new model, never half of
    one); the best value is kept in best.json beside it, so a resumed run still knows what to
    beat. Only the generator is saved."""

    def __init__(self, run: Path, monitor: str | None) -> None:
        super().__init__()
        self.run, self.monitor = Path(run), monitor
        self.path, self.record = self.run / "model.keras", self.run / "best.json"
        self.best = float("inf")

    def on_train_begin(self, logs=None):
        if self.record.exists() and self.path.exists():
            try:
                self.best = float(json.loads(self.record.read_text())[self.monitor or "latest"])
            except (ValueError, KeyError):
                pass  # unreadable: the next epoch sets it again

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor) if self.monitor else -float(epoch)
        if value is None or not value < self.best:
            return
        partial = self.run / ".model.partial.keras"
        generator_of(self.model).save(partial)
        os.replace(partial, self.path)
        self.best = float(value)
        atomic_write(self.record, json.dumps({self.monitor or "latest": self.best,
                                              "epoch": epoch}).encode())
