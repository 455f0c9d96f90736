"""``mask2face <stage> ...`` (installed as the ``mask2face`` command; also ``python -m mask2face``):
each stage is the same ``main(argv)`` as ``python -m mask2face.<stage>``."""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import Sequence

# stage -> (module with main(argv), what it does)
STAGES = {
    "predict": ("mask2face.predict", "remove face masks from photos"),
    "faces": ("mask2face.faces.__main__", "the faces found in photos"),
    "masks": ("mask2face.masks.__main__", "put masks on your own photos, or preview them"),
    "generate": ("mask2face.generate", "make masked / clean / mask-region pairs"),
    "face_areas": ("mask2face.face_areas", "each pair's face area (for training.face_outline)"),
    "glasses": ("mask2face.glasses", "a pairs folder's copy with glasses drawn on some pairs"),
    "pack": ("mask2face.pack", "some pairs in one small file to train elsewhere, or unpacked"),
    "train": ("mask2face.train", "train the model on pairs"),
    "evaluate": ("mask2face.evaluate", "measure a model on test pairs"),
    "demo": ("mask2face.demo", "the whole pipeline offline on the sample photos"),
    "app": ("mask2face.app", "a local web page to unmask photos (needs the app extra)"),
    "export": ("mask2face.export", "write a model to run without Keras (ONNX)"),
    "config": ("mask2face.config", "check a configuration file"),
}


def usage() -> str:
    width = max(map(len, STAGES))
    lines = ["usage: mask2face <stage> [options]  ('mask2face <stage> --help' for its options)",
             "", "stages:"]
    lines += [f"  {name:{width}s}  {about}" for name, (_, about) in STAGES.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from mask2face import __version__
        print(f"mask2face {__version__}")
        return 0
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        close = difflib.get_close_matches(stage, STAGES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(f"mask2face: unknown stage {stage!r}{hint}\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[stage][0])
    sys.argv[0] = f"mask2face {stage}"
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
