"""mask2face: train and run models that remove face masks from photos.

Importing the package is cheap: TensorFlow is imported only by the modules that need it
(``mask2face.model``, ``mask2face.train``, ...), so ``--help`` and configuration errors answer fast.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) is not for our users;
# set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# ONNX Runtime (which runs exported models) reports usage to Microsoft unless told not to (its
# Linux wheels carry the collector, and write a session file into $TMPDIR at import). mask2face
# works offline: it is told not to. Set ORT_DISABLE_TELEMETRY=0 yourself to allow it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
