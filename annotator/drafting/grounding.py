"""Grounding: does each clue name a cue that is in the cue text the model saw?

A clue field is split into clues (sentences). A clue is grounded when it names a cue
present in the cue text:

* an AU code (``AU4``, ``AU04``, ``AU 12``) that the cue text has;
* a prosody feature word (pitch, loudness, jitter, shimmer, HNR, speaking rate, pauses,
  voicing) whose feature the cue text mentions (each feature has a few spellings);
* a quoted word or phrase ("...", '...', or curly quotes) found in the transcript.

A clue that only says a modality is not available is not counted. The rate is
grounded / counted clues (None when there is nothing to count); the ungrounded clues
are kept for the review UI, which marks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CLUE_FIELDS = ("visual_clues", "acoustic_clues", "lexical_clues")

#: feature -> spellings; a clue naming any spelling is grounded when the cue text has any.
PROSODY_FEATURES: dict[str, tuple[str, ...]] = {
    "pitch": ("pitch", "f0", "intonation"),
    "loudness": ("loudness", "loud", "quiet", "volume"),
    "jitter": ("jitter",),
    "shimmer": ("shimmer",),
    "hnr": ("hnr", "harmonics-to-noise", "harmonic-to-noise"),
    "speaking rate": ("speaking rate", "speech rate", "syll/s", "tempo"),
    "pauses": ("pause", "pauses", "unvoiced"),
    "voicing": ("voiced", "voicing"),
}

_AU = re.compile(r"\bAU\s*0*(\d{1,2})\b", re.IGNORECASE)
_QUOTED = re.compile(r"\"([^\"]{1,200})\"|“([^”]{1,200})”|(?<![A-Za-z])'([^']{1,200})'(?![A-Za-z])")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+|\s+-\s+(?=[A-Z])")
_ABSENT = re.compile(
    r"^\W*(none|n/?a|not available|no (face|video|voice|audio|speech|transcript)\b.*|"
    r".*\b(not available|missing)\b.*)\W*$",
    re.IGNORECASE,
)
_SECTION = re.compile(r"^(Visual cues|Acoustic cues|Transcript|Timeline.*|Hints.*|Missing):")


@dataclass(frozen=True)
class Grounding:
    rate: float | None
    ungrounded: list[str] = field(default_factory=list)
    n_clues: int = 0


def split_clues(text: str | None) -> list[str]:
    """A clue field as sentences (decimals like ``1.5 s`` are not split)."""
    parts = _SENTENCE.split(text or "")
    return [p.strip(" -•\t") for p in parts if p and p.strip(" -•\t.")]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w'/ -]+", " ", text.lower()).split())


def transcript_of(cue_text: str) -> str:
    """The lines of the cue text's ``Transcript:`` section (the whole text if none)."""
    lines = cue_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Transcript:")), None)
    if start is None:
        return cue_text
    out = []
    for line in lines[start + 1 :]:
        if _SECTION.match(line):
            break
        out.append(line)
    return "\n".join(out)


def _aus(text: str) -> set[int]:
    return {int(m.group(1)) for m in _AU.finditer(text)}


def _features(text: str) -> set[str]:
    low = text.lower()
    return {
        name
        for name, words in PROSODY_FEATURES.items()
        if any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", low) for w in words)
    }


def _quotes(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]


def is_grounded(clue: str, cue_aus: set[int], cue_features: set[str], transcript: str) -> bool:
    if _aus(clue) & cue_aus:
        return True
    if _features(clue) & cue_features:
        return True
    said = _norm(transcript)
    return any(_norm(q) and _norm(q) in said for q in _quotes(clue))


def ground(fields: dict[str, str | None], cue_text: str) -> Grounding:
    """Grounding of a draft's clue fields against the cue text it was drafted from."""
    cue_aus, cue_features = _aus(cue_text), _features(cue_text)
    transcript = transcript_of(cue_text)
    counted, ungrounded = 0, []
    for name in CLUE_FIELDS:
        for clue in split_clues(fields.get(name)):
            if _ABSENT.match(clue):
                continue
            counted += 1
            if not is_grounded(clue, cue_aus, cue_features, transcript):
                ungrounded.append(clue)
    if counted == 0:
        return Grounding(None, [], 0)
    return Grounding(round((counted - len(ungrounded)) / counted, 3), ungrounded, counted)
