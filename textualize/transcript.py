"""Transcript text: timed words, and a compact phrase form for prompts.

* :func:`words_with_times` -- one line per word, ``'[1.20-1.45] hello'`` (2 decimals,
  word timing is finer than the 1-decimal rounding used elsewhere).
* :func:`phrases` / :func:`compact_lines` -- words grouped into phrases at pauses
  (gap ``>= PAUSE_S``) and speaker changes, ``'[0.5-2.2] I can't believe it'``.

Words with a recogniser probability below :data:`LOW_PROBABILITY` are put in
parentheses (the transcription convention for an uncertain hearing), and
:data:`UNCERTAIN_NOTE` follows the transcript once.
Speaker labels are shown only when more than one speaker is named.
:func:`language_line` says the transcript's language and whether the model
detected it (``'language: de (detected, p=0.93)'``) or was told it (``'language: en'``).
"""

from __future__ import annotations

from dataclasses import dataclass

from extractors.schema import SpeechCues, Word

from ._fmt import f1, join_words, num

#: A silence at least this long between words starts a new phrase.
PAUSE_S = 0.5
#: Words recognised with a probability below this are marked ``(?)``.
LOW_PROBABILITY = 0.5
NO_SPEECH = "no speech detected"
UNCERTAIN_NOTE = "(words in parentheses: low recognition confidence)"


@dataclass(frozen=True)
class Phrase:
    start_s: float
    end_s: float
    text: str
    speaker: str | None = None


def word_text(word: Word) -> str:
    text = word.text.strip()
    if text and is_uncertain(word):
        text = f"({text})"
    return text


def is_uncertain(word: Word) -> bool:
    prob = num(word.probability)
    return prob is not None and prob < LOW_PROBABILITY


def timed_words(speech: SpeechCues | None) -> list[Word]:
    """The words to describe, by start time; segments stand in when words are absent.

    A segment without word timings becomes one ``Word`` per whitespace token, all
    with the segment's times.
    """
    if speech is None:
        return []
    if speech.words:
        words = [w for w in speech.words if w.text.strip()]
    else:
        words = [
            Word(text=tok, start_s=seg.start_s, end_s=seg.end_s, speaker=seg.speaker)
            for seg in speech.segments
            for tok in seg.text.split()
        ]
    return sorted(words, key=lambda w: (w.start_s, w.end_s))


def language_line(speech: SpeechCues | None) -> str | None:
    """``'language: de (detected, p=0.93)'``, ``'language: en'``; ``None`` when unknown."""
    if speech is None or not speech.language:
        return None
    if not speech.language_detected:
        return f"language: {speech.language}"
    prob = num(speech.language_probability)
    how = "detected" if prob is None else f"detected, p={prob:.2f}"
    return f"language: {speech.language} ({how})"


def truncate(words: list[Word], max_words: int) -> tuple[list[Word], int]:
    """The first ``max_words`` words and how many were cut."""
    limit = max(0, max_words)
    return words[:limit], max(0, len(words) - limit)


def truncation_note(shown: int, total: int) -> str:
    return f"[transcript truncated: first {shown} of {total} words shown]"


def words_with_times(words: list[Word]) -> list[str]:
    """``['[1.20-1.45] hello', ...]``."""
    out = []
    for w in words:
        start, end = round(w.start_s, 2) + 0.0, round(w.end_s, 2) + 0.0
        out.append(f"[{start:.2f}-{end:.2f}] {word_text(w)}")
    return out


def _speakers(words: list[Word]) -> list[str]:
    return sorted({w.speaker for w in words if w.speaker})


def phrases(words: list[Word], pause_s: float = PAUSE_S) -> list[Phrase]:
    """Group words into phrases at pauses and speaker changes."""
    out: list[Phrase] = []
    group: list[Word] = []

    def flush() -> None:
        if group:
            out.append(
                Phrase(
                    start_s=group[0].start_s,
                    end_s=max(w.end_s for w in group),
                    text=join_words(word_text(w) for w in group),
                    speaker=group[0].speaker,
                )
            )

    for w in words:
        if group:
            prev_end = max(g.end_s for g in group)
            if w.start_s - prev_end >= pause_s or w.speaker != group[-1].speaker:
                flush()
                group = []
        group.append(w)
    flush()
    return out


def phrase_line(phrase: Phrase, *, label_speaker: bool) -> str:
    """``'[0.5-2.2] I can't believe it'`` (``'[..] SPEAKER_01: ...'`` with labels)."""
    who = f"{phrase.speaker}: " if label_speaker and phrase.speaker else ""
    return f"[{f1(phrase.start_s)}-{f1(phrase.end_s)}] {who}{phrase.text}"


def compact_lines(speech: SpeechCues | None, *, max_words: int) -> list[str]:
    """Prompt transcript lines: timed phrases, ``'no speech detected'`` when empty."""
    words = timed_words(speech)
    if not words:
        return [NO_SPEECH]
    shown, cut = truncate(words, max_words)
    label = len(_speakers(words)) > 1
    lines = [phrase_line(p, label_speaker=label) for p in phrases(shown)]
    if cut:
        lines.append(truncation_note(len(shown), len(words)))
    if any(is_uncertain(w) for w in shown):
        lines.append(UNCERTAIN_NOTE)
    return lines


def plain_text(words: list[Word]) -> str:
    """The words as running text, no times."""
    return join_words(word_text(w) for w in words)
