"""Test data built from the sample photos: photo folders, fake datasets, a local file server."""

from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from mask2face.images import sample_photos


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two photos in one, a left of b, the shorter padded with black at the bottom."""
    h = max(a.shape[0], b.shape[0])
    return np.hstack([np.pad(a, ((0, h - a.shape[0]), (0, 0), (0, 0))),
                      np.pad(b, ((0, h - b.shape[0]), (0, 0), (0, 0)))])


def variants(photo: np.ndarray, count: int, seed: int = 0, width: int = 320) -> list[Image.Image]:
    """Varied copies of a face photo: crops, flips, small rotations, colour changes, sizes."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(photo)
    out = []
    for i in range(count):
        image = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else base
        image = image.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
        w, h = image.size
        dx, dy = rng.integers(0, w // 10, 2)
        image = image.crop((dx, dy, w - w // 10 + dx, h - h // 10 + dy))
        array = np.asarray(image).astype(np.float32) * rng.uniform(0.8, 1.15, 3)
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
        scale = width * rng.uniform(0.8, 1.3) / image.size[0]
        out.append(image.resize((int(image.size[0] * scale), int(image.size[1] * scale))))
    return out


def make_people(root: Path, per_person: int = 3, people: int = 4, width: int = 320) -> Path:
    """A folder of "people" (one sub-folder each) made from the two sample photos."""
    photos = list(sample_photos().values())
    for person in range(people):
        folder = root / f"person{person}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(variants(photos[person % 2], per_person, seed=person,
                                           width=width)):
            image.save(folder / f"photo{i}.{['jpg', 'png', 'JPG'][i % 3]}")
    return root


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support; ``cut_after`` stops the first answer halfway."""

    cut_after: int | None = None
    requests: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.requests.append(self.headers.get("Range"))
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if type(self).cut_after is not None:
            body = body[:type(self).cut_after]
            type(self).cut_after = None
            self.wfile.write(body)
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@contextmanager
def serve(folder: Path, cut_after: int | None = None):
    """An HTTP server on 127.0.0.1 serving ``folder``; yields (base URL, handler class)."""
    handler = type("Handler", (_RangeHandler,), {"cut_after": cut_after, "requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(folder), **k))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
