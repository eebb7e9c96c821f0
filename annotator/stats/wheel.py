"""The emotion wheel: open-vocabulary labels folded onto Plutchik's eight basic emotions.

Drafts and annotators write labels freely ("furious", "Angry", "irritation"). Agreement
and precision/recall need the same word for the same emotion, so every label is
normalised before it is compared:

1. lower-cased, stripped, inner whitespace and ``-``/``_`` collapsed to one space;
2. looked up in ``LEXICON``; if absent, singularised (TextBlob's rule-based inflection,
   which needs no corpus download; its WordNet lemmatiser does, so it is not used) and
   tried again; then a short suffix table (``-ness``, ``-ful``, ``-ed``, ``-ing``,
   ``-ly``, ``-ment``, ``-ity`` ...) strips word forms and tries again;
3. a label found nowhere is kept as its cleaned, singular self: "confused" stays
   "confused", so nothing is invented, and two annotators who both write it still agree.

The documented set (Plutchik 1980, the wheel's three rings of intensity):

=============  ===============  =============  ================
emotion        low intensity    basic          high intensity
=============  ===============  =============  ================
joy            serenity         joy            ecstasy
trust          acceptance       trust          admiration
fear           apprehension     fear           terror
surprise       distraction      surprise       amazement
sadness        pensiveness      sadness        grief
disgust        boredom          disgust        loathing
anger          annoyance        anger          rage
anticipation   interest         anticipation   vigilance
neutral        -                neutral        -
=============  ===============  =============  ================

plus the everyday words of MER-style captions in ``SYNONYMS`` (happy, angry, worried,
frustrated, disappointed, excited ...), each given one emotion and one intensity. Choices
that could go either way are stated here: "worried"/"anxious"/"nervous" are low fear
(Plutchik's apprehension, MER2023's "worried" class); "calm"/"relaxed" are neutral (MER
datasets use neutral for them), "content"/"peaceful" low joy; "frustrated" low anger;
"disappointed" low sadness; "excited" high joy; "confused", "embarrassed", "guilty",
"proud", "love", "contempt" and the other compound feelings stay themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Intensity(StrEnum):
    LOW = "low"
    BASIC = "basic"
    HIGH = "high"


BASIC_EMOTIONS: tuple[str, ...] = (
    "joy",
    "trust",
    "fear",
    "surprise",
    "sadness",
    "disgust",
    "anger",
    "anticipation",
    "neutral",
)

# emotion -> (low, high) intensity names of Plutchik's wheel
RINGS: dict[str, tuple[str, str]] = {
    "joy": ("serenity", "ecstasy"),
    "trust": ("acceptance", "admiration"),
    "fear": ("apprehension", "terror"),
    "surprise": ("distraction", "amazement"),
    "sadness": ("pensiveness", "grief"),
    "disgust": ("boredom", "loathing"),
    "anger": ("annoyance", "rage"),
    "anticipation": ("interest", "vigilance"),
}

# Everyday words (and their word forms the suffix table does not reach) -> (emotion, ring).
SYNONYMS: dict[str, tuple[str, Intensity]] = {
    # joy
    "happy": ("joy", Intensity.BASIC),
    "happiness": ("joy", Intensity.BASIC),
    "joyful": ("joy", Intensity.BASIC),
    "glad": ("joy", Intensity.BASIC),
    "cheerful": ("joy", Intensity.BASIC),
    "delighted": ("joy", Intensity.BASIC),
    "delight": ("joy", Intensity.BASIC),
    "amused": ("joy", Intensity.BASIC),
    "amusement": ("joy", Intensity.BASIC),
    "pleased": ("joy", Intensity.BASIC),
    "pleasure": ("joy", Intensity.BASIC),
    "satisfied": ("joy", Intensity.LOW),
    "satisfaction": ("joy", Intensity.LOW),
    "content": ("joy", Intensity.LOW),
    "contentment": ("joy", Intensity.LOW),
    "peaceful": ("joy", Intensity.LOW),
    "serene": ("joy", Intensity.LOW),
    "excited": ("joy", Intensity.HIGH),
    "excitement": ("joy", Intensity.HIGH),
    "elated": ("joy", Intensity.HIGH),
    "elation": ("joy", Intensity.HIGH),
    "ecstatic": ("joy", Intensity.HIGH),
    "euphoric": ("joy", Intensity.HIGH),
    "thrilled": ("joy", Intensity.HIGH),
    # trust
    "trusting": ("trust", Intensity.BASIC),
    "accepting": ("trust", Intensity.LOW),
    "admire": ("trust", Intensity.HIGH),
    # fear
    "afraid": ("fear", Intensity.BASIC),
    "scared": ("fear", Intensity.BASIC),
    "fearful": ("fear", Intensity.BASIC),
    "frightened": ("fear", Intensity.BASIC),
    "worried": ("fear", Intensity.LOW),
    "worry": ("fear", Intensity.LOW),
    "anxious": ("fear", Intensity.LOW),
    "anxiety": ("fear", Intensity.LOW),
    "nervous": ("fear", Intensity.LOW),
    "nervousness": ("fear", Intensity.LOW),
    "uneasy": ("fear", Intensity.LOW),
    "apprehensive": ("fear", Intensity.LOW),
    "concerned": ("fear", Intensity.LOW),
    "concern": ("fear", Intensity.LOW),
    "tense": ("fear", Intensity.LOW),
    "terrified": ("fear", Intensity.HIGH),
    "panic": ("fear", Intensity.HIGH),
    "panicked": ("fear", Intensity.HIGH),
    "horrified": ("fear", Intensity.HIGH),
    "horror": ("fear", Intensity.HIGH),
    # surprise
    "surprised": ("surprise", Intensity.BASIC),
    "astonished": ("surprise", Intensity.HIGH),
    "astonishment": ("surprise", Intensity.HIGH),
    "amazed": ("surprise", Intensity.HIGH),
    "shocked": ("surprise", Intensity.HIGH),
    "shock": ("surprise", Intensity.HIGH),
    "startled": ("surprise", Intensity.BASIC),
    "distracted": ("surprise", Intensity.LOW),
    # sadness
    "sad": ("sadness", Intensity.BASIC),
    "unhappy": ("sadness", Intensity.BASIC),
    "sorrow": ("sadness", Intensity.BASIC),
    "sorrowful": ("sadness", Intensity.BASIC),
    "upset": ("sadness", Intensity.BASIC),
    "hurt": ("sadness", Intensity.BASIC),
    "lonely": ("sadness", Intensity.BASIC),
    "melancholy": ("sadness", Intensity.LOW),
    "pensive": ("sadness", Intensity.LOW),
    "disappointed": ("sadness", Intensity.LOW),
    "disappointment": ("sadness", Intensity.LOW),
    "regret": ("sadness", Intensity.LOW),
    "gloomy": ("sadness", Intensity.LOW),
    "depressed": ("sadness", Intensity.HIGH),
    "depression": ("sadness", Intensity.HIGH),
    "despair": ("sadness", Intensity.HIGH),
    "grieving": ("sadness", Intensity.HIGH),
    "heartbroken": ("sadness", Intensity.HIGH),
    "devastated": ("sadness", Intensity.HIGH),
    "miserable": ("sadness", Intensity.HIGH),
    # disgust
    "disgusted": ("disgust", Intensity.BASIC),
    "disgusting": ("disgust", Intensity.BASIC),
    "repulsed": ("disgust", Intensity.BASIC),
    "revulsion": ("disgust", Intensity.HIGH),
    "bored": ("disgust", Intensity.LOW),
    "boring": ("disgust", Intensity.LOW),
    "loathe": ("disgust", Intensity.HIGH),
    # anger
    "angry": ("anger", Intensity.BASIC),
    "mad": ("anger", Intensity.BASIC),
    "hostile": ("anger", Intensity.BASIC),
    "hostility": ("anger", Intensity.BASIC),
    "resentful": ("anger", Intensity.BASIC),
    "resentment": ("anger", Intensity.BASIC),
    "indignant": ("anger", Intensity.BASIC),
    "indignation": ("anger", Intensity.BASIC),
    "irritated": ("anger", Intensity.LOW),
    "irritation": ("anger", Intensity.LOW),
    "irritable": ("anger", Intensity.LOW),
    "annoyed": ("anger", Intensity.LOW),
    "frustrated": ("anger", Intensity.LOW),
    "frustration": ("anger", Intensity.LOW),
    "impatient": ("anger", Intensity.LOW),
    "impatience": ("anger", Intensity.LOW),
    "furious": ("anger", Intensity.HIGH),
    "fury": ("anger", Intensity.HIGH),
    "enraged": ("anger", Intensity.HIGH),
    "outraged": ("anger", Intensity.HIGH),
    "outrage": ("anger", Intensity.HIGH),
    # anticipation
    "anticipating": ("anticipation", Intensity.BASIC),
    "expectant": ("anticipation", Intensity.BASIC),
    "eager": ("anticipation", Intensity.BASIC),
    "eagerness": ("anticipation", Intensity.BASIC),
    "hopeful": ("anticipation", Intensity.BASIC),
    "hope": ("anticipation", Intensity.BASIC),
    "curious": ("anticipation", Intensity.LOW),
    "curiosity": ("anticipation", Intensity.LOW),
    "interested": ("anticipation", Intensity.LOW),
    "vigilant": ("anticipation", Intensity.HIGH),
    "alert": ("anticipation", Intensity.HIGH),
    # neutral
    "neutrality": ("neutral", Intensity.BASIC),
    "calm": ("neutral", Intensity.BASIC),
    "calmness": ("neutral", Intensity.BASIC),
    "relaxed": ("neutral", Intensity.BASIC),
    "composed": ("neutral", Intensity.BASIC),
    "indifferent": ("neutral", Intensity.BASIC),
    "indifference": ("neutral", Intensity.BASIC),
    "none": ("neutral", Intensity.BASIC),
}


def _lexicon() -> dict[str, tuple[str, Intensity]]:
    table: dict[str, tuple[str, Intensity]] = {e: (e, Intensity.BASIC) for e in BASIC_EMOTIONS}
    for emotion, (low, high) in RINGS.items():
        table[low] = (emotion, Intensity.LOW)
        table[high] = (emotion, Intensity.HIGH)
    table.update(SYNONYMS)
    return table


LEXICON: dict[str, tuple[str, Intensity]] = _lexicon()

# (suffix, replacements tried in order): "sadly" -> "sad", "angrily" -> "angry",
# "joyfulness" -> "joyful" -> "joy", "fearing" -> "fear", "annoyance" is in the lexicon.
SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("iness", ("y",)),
    ("ness", ("",)),
    ("ily", ("y",)),
    ("ly", ("",)),
    ("ful", ("",)),
    ("ment", ("", "ed")),
    ("ity", ("", "e")),
    ("ied", ("y",)),
    ("ed", ("", "e")),
    ("ing", ("", "e")),
)


@dataclass(frozen=True)
class WheelLabel:
    """A normalised label: ``emotion`` is a basic emotion, or the cleaned label itself when
    the wheel does not know it (then ``known`` is False and ``intensity`` is None)."""

    emotion: str
    intensity: Intensity | None
    known: bool


_SPACES = re.compile(r"[\s_\-]+")


def clean(label: str) -> str:
    """Lower case, trimmed, one space between words, surrounding punctuation dropped."""
    return _SPACES.sub(" ", label.strip().lower()).strip(" .,;:!?\"'")


def _singular(word: str) -> str:
    if " " in word or len(word) < 4 or word.endswith(("ss", "ness", "us", "is")):
        return word
    from textblob import Word

    return str(Word(word).singularize())


def _lookup(word: str, depth: int = 0) -> tuple[str, Intensity] | None:
    """The lexicon entry of a word or of a word form the suffix table reduces it to (two
    steps at most: "joyfulness" -> "joyful" -> "joy")."""
    if word in LEXICON:
        return LEXICON[word]
    if depth >= 2:
        return None
    for suffix, replacements in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            for rep in replacements:
                found = _lookup(stem + rep, depth + 1)
                if found is not None:
                    return found
    return None


@lru_cache(maxsize=4096)
def normalise(label: str) -> WheelLabel:
    """The wheel's reading of one free-text label (see the module docstring)."""
    word = clean(label)
    found = _lookup(word)
    if found is None:
        singular = _singular(word)
        found = _lookup(singular)
        word = singular
    if found is None:
        return WheelLabel(emotion=word, intensity=None, known=False)
    return WheelLabel(emotion=found[0], intensity=found[1], known=True)


def emotion_of(label: str) -> str:
    """The basic emotion a label names, or the cleaned label when the wheel does not know it."""
    return normalise(label).emotion


def emotion_set(labels: list[str] | None) -> frozenset[str]:
    """The distinct emotions of a label list (empty strings dropped)."""
    return frozenset(emotion_of(x) for x in labels or [] if clean(x))


def primary_emotion(labels: list[str] | None) -> str | None:
    """The first label's emotion: annotators and drafts list the main emotion first."""
    for label in labels or []:
        if clean(label):
            return emotion_of(label)
    return None
