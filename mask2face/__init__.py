"""mask2face: train and run models that remove face masks from photos.

Importing the package is cheap: TensorFlow is imported only by the modules that need it
(``mask2face.model``, ``mask2face.train``, ...), so ``--help`` and configuration errors answer fast.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) is not for our users;
# set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
