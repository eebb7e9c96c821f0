"""Face backends; importing this package registers them.

- ``landmarks``: dlib face detector + 68 landmarks, AUs by geometry (no download).
- ``openface``: imports OpenFace 2 FeatureExtraction CSV output.

Both modules import only numpy/pandas at import time; dlib loads on first use.
"""

from extractors.face import landmarks, openface
from extractors.face import pyfeat_backend  # noqa: F401  (registers "pyfeat")

__all__ = ["landmarks", "openface"]
