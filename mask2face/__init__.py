"""mask2face: train and run models that remove face masks from photos.

Importing the package is cheap: TensorFlow is imported only by the modules that need it
(``mask2face.model``, ``mask2face.train``, ...), so ``--help`` and configuration errors answer fast.
"""

__version__ = "0.1.0"
