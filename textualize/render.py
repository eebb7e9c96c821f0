"""``render(cues)``: the prompt text and the annotator text for one clip.

``prompt_text`` layout (every section always present, in this order)::

    Clip: 6.0 s
    Visual cues:
    - face visible in 38 of 40 sampled frames
    - AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)
    Acoustic cues:
    - pitch high and rising for this speaker (+1.3 SD, +2.1 st/s)
    - voiced segments, for this speaker:
      - 0.4-2.1 s: pitch high and rising (+1.3 SD, +2.1 st/s), loud (+1.1 SD)
    Transcript:
    - language: en
    - [0.5-2.2] I can't believe it
    Timeline (2.0 s windows):
    - 0.0-2.0 s: face AU12 lip corner puller (strong); speech "I can't believe"
    Missing: none

``readable_text`` is the same content as Markdown for annotators, with raw voice
measures, the baseline and AU confidences added.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from extractors.schema import Cues

from . import facs, prosody, transcript
from ._fmt import f1, num
from .timeline import timeline
from .version import TEXTUALIZER_VERSION

MODALITIES = ("face", "voice", "speech")


@dataclass(frozen=True)
class CueText:
    """Rendered cues of one clip.

    ``partial`` is true when any modality is missing; ``missing`` maps each missing
    modality to why (``{"face": "no video stream"}``).
    """

    prompt_text: str
    readable_text: str
    version: str = TEXTUALIZER_VERSION
    partial: bool = False
    missing: dict[str, str] = field(default_factory=dict)


def missing_modalities(cues: Cues) -> dict[str, str]:
    """``cues.all_missing()`` plus any modality that is ``None`` without a reason.

    Ordered face, voice, speech, then any other keys alphabetically.
    """
    found = dict(cues.all_missing())
    for name in MODALITIES:
        if getattr(cues, name) is None and name not in found:
            found[name] = "not extracted"
    order = [m for m in MODALITIES if m in found] + sorted(k for k in found if k not in MODALITIES)
    return {k: str(found[k]) for k in order}


def missing_line(missing: dict[str, str]) -> str:
    """``'Missing: face (no video stream); speech (no speech detected)'`` or ``'Missing: none'``."""
    if not missing:
        return "Missing: none"
    return "Missing: " + "; ".join(f"{k} ({v})" for k, v in missing.items())


def _duration(cues: Cues) -> float | None:
    d = num(cues.media.duration_s)
    return d if d is not None and d > 0 else None


def _visual(cues: Cues, missing: dict[str, str], max_events: int) -> list[str]:
    if cues.face is None:
        return [f"not available: {missing.get('face', 'not extracted')}"]
    return facs.face_lines(cues.face, max_events=max_events)


def _acoustic(cues: Cues, missing: dict[str, str], max_events: int) -> list[str]:
    if cues.voice is None:
        return [f"not available: {missing.get('voice', 'not extracted')}"]
    return prosody.voice_lines(cues.voice, duration_s=_duration(cues), max_segments=max_events)


def _speech(cues: Cues, missing: dict[str, str], max_words: int) -> list[str]:
    if cues.speech is None:
        return [f"not available: {missing.get('speech', 'not extracted')}"]
    lines = []
    words = transcript.timed_words(cues.speech)
    language = transcript.language_line(cues.speech)
    if words and language:
        lines.append(language)
    lines.extend(transcript.compact_lines(cues.speech, max_words=max_words))
    return lines


def _bullets(lines: list[str]) -> list[str]:
    """``'x' -> '- x'``; lines indented by two spaces become nested bullets."""
    out = []
    for line in lines:
        if line.startswith("  "):
            out.append("  - " + line.strip())
        else:
            out.append("- " + line)
    return out


_LEAD_TIME = re.compile(r"^(\s*- )\[?(\d+\.\d-\d+\.\d)(?: s)?\]?(:?)( |$)")
_MD_SPECIAL = re.compile(r"([\\`*_])")


def _md(line: str) -> str:
    """Escape Markdown specials, bold a leading time span."""
    line = _MD_SPECIAL.sub(r"\\\1", line)
    return _LEAD_TIME.sub(lambda m: f"{m.group(1)}**{m.group(2)} s**{m.group(3)}{m.group(4)}", line)


def _readable(
    cues: Cues,
    missing: dict[str, str],
    visual: list[str],
    acoustic: list[str],
    speech: list[str],
    tl: list[str] | None,
    window_s: float | None,
) -> str:
    name = cues.media.path.replace("\\", "/").rsplit("/", 1)[-1] or "clip"
    duration = _duration(cues)
    title = f"## Emotion cues: {name}" + (f" ({f1(duration)} s)" if duration else "")
    out = [_MD_SPECIAL.sub(r"\\\1", title), ""]
    if missing:
        out.append("**Missing:** " + _md("; ".join(f"{k}: {v}" for k, v in missing.items())))
    else:
        out.append("**Missing:** none")

    out += ["", "### Visual cues"]
    out += [_md(x) for x in _bullets(visual)]
    if cues.face is not None and cues.face.au_confidence:
        conf = ", ".join(
            f"{facs.normalize_au(k)} {v:.2f}"
            for k, v in sorted(
                cues.face.au_confidence.items(), key=lambda kv: facs.normalize_au(kv[0])
            )
            if num(v) is not None
        )
        out.append(_md(f"- AU detector confidence: {conf}"))

    out += ["", "### Acoustic cues"]
    out += [_md(x) for x in _bullets(acoustic)]
    if cues.voice is not None:
        src = cues.voice.baseline_source
        who = f"speaker {src.split(':', 1)[1]}" if prosody.is_speaker_baseline(src) else "this clip"
        extra = [f"baseline: {who}"]
        measures = prosody.measures_line(cues.voice)
        if measures:
            extra.append(f"measures: {measures}")
        out += [_md(x) for x in _bullets(extra)]

    out += ["", "### Transcript"]
    if cues.speech is not None and transcript.timed_words(cues.speech):
        notes = []
        if cues.speech.aligned:
            notes.append("word times aligned")
        elif cues.speech.alignment_note:
            notes.append(f"word times not aligned: {cues.speech.alignment_note}")
        notes += [f"note: {w}" for w in cues.speech.warnings]
        out += [_md(f"- {n}") for n in notes]
    out += [_md(x) for x in _bullets(speech)]

    if tl is not None:
        out += ["", f"### Timeline ({f1(window_s or 0)} s windows)"]
        out += [_md(x) for x in _bullets(tl or ["nothing timed"])]
    return "\n".join(out) + "\n"


#: At most this many timeline windows: a one-hour clip gets 2-minute windows.
MAX_TIMELINE_WINDOWS = 30


def render(
    cues: Cues,
    *,
    max_events: int = 12,
    max_words: int = 400,
    timeline_window_s: float | None = 2.0,
) -> CueText:
    """Render one clip's cues as prompt text and annotator text.

    ``max_events`` caps AU events (the most intense are kept, shown by onset) and
    notable voice segments; ``max_words`` caps transcript words (the cut is said).
    ``timeline_window_s=None`` leaves the timeline out. Never raises on missing
    modalities; the output depends only on the arguments.
    """
    missing = missing_modalities(cues)
    visual = _visual(cues, missing, max_events)
    acoustic = _acoustic(cues, missing, max_events)
    speech = _speech(cues, missing, max_words)
    duration = _duration(cues)
    tl = None
    if timeline_window_s is not None:
        # Long clips get wider windows, so the timeline stays within MAX_TIMELINE_WINDOWS
        # lines and the prompt within a small model's context.
        if duration and duration / timeline_window_s > MAX_TIMELINE_WINDOWS:
            timeline_window_s = float(math.ceil(duration / MAX_TIMELINE_WINDOWS))
        tl = timeline(cues, timeline_window_s, max_events=max_events, max_words=max_words)

    prompt = [f"Clip: {f1(duration)} s" if duration else "Clip: duration unknown"]
    prompt += ["Visual cues:", *_bullets(visual)]
    prompt += ["Acoustic cues:", *_bullets(acoustic)]
    prompt += ["Transcript:", *_bullets(speech)]
    if tl is not None:
        prompt += [f"Timeline ({f1(timeline_window_s or 0)} s windows):"]
        prompt += _bullets(tl or ["nothing timed"])
    prompt.append(missing_line(missing))

    return CueText(
        prompt_text="\n".join(prompt),
        readable_text=_readable(cues, missing, visual, acoustic, speech, tl, timeline_window_s),
        version=TEXTUALIZER_VERSION,
        partial=bool(missing),
        missing=missing,
    )
