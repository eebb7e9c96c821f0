from textualize_cues import speech

from extractors.schema import SpeechSegment, Word
from textualize import transcript
from textualize._fmt import join_words


def test_words_with_times() -> None:
    words = [Word("hello", 1.2, 1.45, 0.9), Word(" there", 1.5, 1.8, 0.2)]
    assert transcript.words_with_times(words) == ["[1.20-1.45] hello", "[1.50-1.80] (there)"]


def test_compact_phrases_split_at_pauses() -> None:
    assert transcript.compact_lines(speech(), max_words=400) == [
        "[0.5-2.2] I can't believe it!",
        "[3.0-3.6] (Really?)",
        transcript.UNCERTAIN_NOTE,
    ]


def test_speaker_labels_only_with_several_speakers() -> None:
    words = [
        Word("hi", 0.0, 0.3, 0.9, "SPEAKER_00"),
        Word("hey", 0.4, 0.6, 0.9, "SPEAKER_01"),
    ]
    assert transcript.compact_lines(speech(words), max_words=400) == [
        "[0.0-0.3] SPEAKER_00: hi",
        "[0.4-0.6] SPEAKER_01: hey",
    ]
    one = [Word("hi", 0.0, 0.3, 0.9, "SPEAKER_00"), Word("there", 0.3, 0.6, 0.9, "SPEAKER_00")]
    assert transcript.compact_lines(speech(one), max_words=400) == ["[0.0-0.6] hi there"]


def test_empty_transcript() -> None:
    assert transcript.compact_lines(speech([]), max_words=400) == ["no speech detected"]
    assert transcript.compact_lines(None, max_words=400) == ["no speech detected"]


def test_truncation_is_announced() -> None:
    words = [Word(f"w{i}", i * 0.3, i * 0.3 + 0.2, 0.9) for i in range(10)]
    lines = transcript.compact_lines(speech(words), max_words=4)
    assert lines == ["[0.0-1.1] w0 w1 w2 w3", "[transcript truncated: first 4 of 10 words shown]"]


def test_segments_stand_in_for_missing_words() -> None:
    s = speech([])
    s.segments = [SpeechSegment(" so what now ", 0.2, 1.9)]
    assert transcript.compact_lines(s, max_words=400) == ["[0.2-1.9] so what now"]


def test_join_words_cjk_and_punctuation() -> None:
    assert join_words(["我", "不", "知道", "。"]) == "我不知道。"
    assert join_words([" Hello", ",", " world", "!"]) == "Hello, world!"
    assert join_words(["OK", "好的"]) == "OK 好的"
