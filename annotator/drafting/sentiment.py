"""Text sentiment of the transcript as a hint: TextBlob's PatternAnalyzer.

A small lexicon model that ships inside the ``textblob`` wheel (``en-sentiment.xml``):
no NLTK download, no network, microseconds per clip. It scores polarity -1..+1 from
adjectives and their modifiers ("not good", "very bad"); it knows nothing of tone or
irony, which is why its output enters the cue text marked as a hint.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from textualize.hints import Hint

SOURCE = "model TextBlob PatternAnalyzer"
#: |polarity| below this reads "neutral".
NEUTRAL_BAND = 0.1


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from textblob.en.sentiments import PatternAnalyzer

    return PatternAnalyzer()


def polarity(text: str) -> tuple[float, float]:
    """``(polarity -1..1, subjectivity 0..1)`` of ``text``."""
    result = _analyzer().analyze(text)
    return float(result.polarity), float(result.subjectivity)


def sentiment_hint(transcript: str) -> list[Hint]:
    """One hint naming the transcript's polarity; none when no lexicon word was found."""
    text = " ".join(transcript.split())
    if not text:
        return []
    value, subjectivity = polarity(text)
    if value == 0.0 and subjectivity == 0.0:
        return []  # no sentiment word: the lexicon has nothing to say
    word = "neutral" if abs(value) < NEUTRAL_BAND else "positive" if value > 0 else "negative"
    return [Hint(SOURCE, f"transcript polarity {value:+.2f} -> {word}")]
