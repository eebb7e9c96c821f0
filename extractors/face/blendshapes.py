"""MediaPipe blendshapes to FACS action units: the one documented table.

MediaPipe's Face Landmarker scores 52 ARKit-style blendshapes in 0-1. Most have a
FACS counterpart (Melinda Ozel's ARKit-to-FACS sheet, py-feat's
``blendshape_region_map.json``); the table below says which, how the left and right
halves are combined, and how a score becomes a 0-5 intensity:

    intensity = clip(5 * (score - rest) / (full - rest), 0, 5)

``rest`` is the score of a resting face (median over the neutral frames of py-feat's
test videos and images), ``full`` the score of a maximal action. ``full`` is set so
that a held, clearly posed action reads "pronounced" (2.5-3.5): the held angry
still (py-feat's ``15-f13-anc-ph.jpg`` as a 4 s clip, VIDEO mode, 4 faces sought)
gives browDown 0.42, which maps to 2.5; 0.6 maps to 3.7. The stills set the scale,
so their levels are calibration, not validation; which face ranks highest is.

Left and right are averaged everywhere (a unilateral action reads at half
strength): the max of the two would turn a wink into a blink and one-sided
landmark jitter into an action.

Not every row is emitted. ``EMITTED`` holds the AUs that tracked on real data
(``benchmarks/validate_face_aus.py``, figures in docs/backends.md, face section):

=====  ==================  =======  ====  ====  ==========================================
AU     blendshape(s)       combine  rest  full  status (benchmarks/validate_face_aus.py)
=====  ==================  =======  ====  ====  ==========================================
AU01   browInnerUp         -        0.10  0.75  emitted: stills, on the surprised face only
AU02   browOuterUp L/R     mean     0.12  0.50  emitted, low confidence: stills, surprised
                                                 highest but happy 0.7; noisy on video
AU04   browDown L/R        mean     0.03  0.80  emitted: stills, angry highest (2.5)
AU05   eyeWide L/R         mean     0.02  0.60  not emitted: 0.2 on the surprised face
AU06   cheekSquint L/R     mean     0.00  0.50  not emitted: 0 on every face (dead)
AU07   eyeSquint L/R       mean     0.38  0.90  not emitted: higher on the smile than anger
AU09   noseSneer L/R       mean     0.00  0.50  not emitted: 0 on every face (dead)
AU10   mouthUpperUp L/R    mean     0.05  0.95  not emitted: 0 on the disgusted face
AU12   mouthSmile L/R      mean     0.02  1.00  emitted: video r = 0.86 vs dlib AU12
AU14   mouthDimple L/R     mean     0.01  0.45  not emitted: no reference shows it
AU15   mouthFrown L/R      mean     0.02  0.35  emitted, low confidence: stills, disgusted
AU17   mouthShrugLower     -        0.02  0.40  emitted: stills, angry highest (2.8)
AU20   mouthStretch L/R    mean     0.03  0.60  not emitted: no reference shows it
AU24   mouthPress L/R      mean     0.05  0.60  not emitted: 0.6 on anger, 1.6 on a smile
AU26   jawOpen             -        0.03  0.70  emitted, low confidence: video r = 0.22
AU43   eyeBlink L/R        mean     0.30  0.75  emitted: video r = 0.88 vs dlib AU45;
                                                 closures >= 0.5 s are AU43, shorter AU45
=====  ==================  =======  ====  ====  ==========================================

mouthPress stands for both AU23 (lip tightener) and AU24 (lip pressor); it would be
written as AU24. The 478 landmarks were not used for the dead rows: no reference
here shows AU06 or AU09 frame by frame to check a geometric measure against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: MediaPipe's 52 blendshape names, in the order the model outputs them.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)


@dataclass(frozen=True)
class AUMapping:
    """One row of the table: which blendshapes make an AU and how they scale."""

    au: str
    blendshapes: tuple[str, ...]  # averaged when there are two (left, right)
    rest: float
    full: float
    emitted: bool
    confidence: float  # how well it tracked (benchmarks/validate_face_aus.py)
    note: str


def _lr(stem: str) -> tuple[str, str]:
    return (f"{stem}Left", f"{stem}Right")


#: The table (see the module docstring). ``confidence`` comes from the validation:
#: about the Pearson r against the per-frame reference where there is one, 0.4 for
#: AUs checked only on the labelled still images (shown as "low confidence").
AU_TABLE: tuple[AUMapping, ...] = (
    AUMapping("AU01", ("browInnerUp",), 0.10, 0.75, True, 0.5, "stills: surprised only"),
    AUMapping("AU02", _lr("browOuterUp"), 0.12, 0.50, True, 0.4, "stills: surprised highest"),
    AUMapping("AU04", _lr("browDown"), 0.03, 0.80, True, 0.5, "stills: angry highest"),
    AUMapping("AU05", _lr("eyeWide"), 0.02, 0.60, False, 0.0, "does not fire on surprise"),
    AUMapping("AU06", _lr("cheekSquint"), 0.0, 0.5, False, 0.0, "dead: 0 on every face"),
    AUMapping("AU07", _lr("eyeSquint"), 0.38, 0.90, False, 0.0, "higher on smiles than anger"),
    AUMapping("AU09", _lr("noseSneer"), 0.0, 0.5, False, 0.0, "dead: 0 on every face"),
    AUMapping("AU10", _lr("mouthUpperUp"), 0.05, 0.95, False, 0.0, "0 on the disgusted face"),
    AUMapping("AU12", _lr("mouthSmile"), 0.02, 1.00, True, 0.85, "video r vs dlib AU12"),
    AUMapping("AU14", _lr("mouthDimple"), 0.01, 0.45, False, 0.0, "no reference shows it"),
    AUMapping("AU15", _lr("mouthFrown"), 0.02, 0.35, True, 0.3, "stills: disgusted, weak"),
    AUMapping("AU17", ("mouthShrugLower",), 0.02, 0.40, True, 0.5, "stills: angry highest"),
    AUMapping("AU20", _lr("mouthStretch"), 0.03, 0.60, False, 0.0, "no reference shows it"),
    AUMapping("AU24", _lr("mouthPress"), 0.05, 0.60, False, 0.0, "fires on smiles, weak on anger"),
    AUMapping("AU26", ("jawOpen",), 0.03, 0.70, True, 0.3, "video r vs dlib AU26, weak"),
    AUMapping("AU43", _lr("eyeBlink"), 0.30, 0.75, True, 0.85, "video r vs dlib AU45"),
)

BY_AU: dict[str, AUMapping] = {m.au: m for m in AU_TABLE}
#: The AUs the backend writes, in column order.
EMITTED: tuple[str, ...] = tuple(m.au for m in AU_TABLE if m.emitted)
#: The eye-closure AU the backend splits into closures (AU43) and blinks (AU45).
EYE_CLOSURE_AU = "AU43"


def combine(scores: Mapping[str, np.ndarray], mapping: AUMapping) -> np.ndarray:
    """The raw 0-1 score of one AU: the mean of its blendshapes (NaN stays NaN)."""
    stacked = np.stack([np.asarray(scores[name], dtype=np.float64) for name in mapping.blendshapes])
    return stacked.mean(axis=0)


def scale(raw: np.ndarray, mapping: AUMapping) -> np.ndarray:
    """0-1 blendshape score to the FACS 0-5 scale (see the module docstring)."""
    span = mapping.full - mapping.rest
    return np.clip(5.0 * (np.asarray(raw, dtype=np.float64) - mapping.rest) / span, 0.0, 5.0)


def blendshapes_to_au(
    scores: Mapping[str, np.ndarray], aus: tuple[str, ...] = EMITTED
) -> dict[str, np.ndarray]:
    """Blendshape series (name -> (n,) scores, NaN without a face) to AU intensities 0-5."""
    return {au: scale(combine(scores, BY_AU[au]), BY_AU[au]) for au in aus}


def au_confidence(aus: tuple[str, ...] = EMITTED) -> dict[str, float]:
    return {au: BY_AU[au].confidence for au in aus}
