import pytest
from textualize_cues import face

from extractors.schema import AUEvent, AUSummary, FaceCues
from textualize import facs


@pytest.mark.parametrize(
    ("value", "word", "letter"),
    [
        (0.0, "none", None),
        (0.44, "none", None),
        (0.45, "trace", "A"),  # shown as 0.5, classified as shown
        (0.5, "trace", "A"),
        (1.4, "trace", "A"),
        (1.5, "slight", "B"),
        (2.4, "slight", "B"),
        (2.5, "pronounced", "C"),
        (3.4, "pronounced", "C"),
        (3.5, "strong", "D"),
        (4.1, "strong", "D"),
        (4.4, "strong", "D"),
        (4.5, "maximum", "E"),
        (5.0, "maximum", "E"),
    ],
)
def test_intensity_word_boundaries(value: float, word: str, letter: str | None) -> None:
    assert facs.intensity_word(value) == word
    assert facs.facs_letter(value) == letter


@pytest.mark.parametrize(
    ("au", "code"),
    [("AU12", "AU12"), ("AU1", "AU01"), ("au01", "AU01"), ("1", "AU01"), ("AU01_r", "AU01"),
     ("12", "AU12")],
)  # fmt: skip
def test_normalize_au(au: str, code: str) -> None:
    assert facs.normalize_au(au) == code


def test_au_names_cover_common_units() -> None:
    common = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 43, 45]
    for n in common:
        assert facs.au_name(f"AU{n:02d}"), n
    assert facs.au_label("AU12") == "AU12 lip corner puller"
    assert facs.au_label("AU4") == "AU04 brow lowerer"
    assert facs.au_label("AU99") == "AU99"


def test_describe_event_exact() -> None:
    event = AUEvent("AU12", onset_s=1.2, apex_s=2.0, offset_s=2.8, peak_intensity=4.1)
    assert facs.describe_event(event) == (
        "AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)"
    )
    assert facs.describe_event(event, low_confidence=True).endswith(
        "(peak 4.1 at 2.0 s) (low confidence)"
    )


def test_low_confidence_flag_in_face_lines() -> None:
    f = face(au_confidence={"AU12": 0.95, "AU6": 0.3})
    lines = facs.face_lines(f, max_events=12)
    assert "AU06 cheek raiser, slight, 1.4-2.6 s (peak 2.0 at 2.0 s) (low confidence)" in lines
    assert "AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)" in lines


def test_events_ordered_by_onset_and_capped_by_intensity() -> None:
    events = [
        AUEvent("AU04", 3.0, 3.2, 3.5, 1.0),
        AUEvent("AU12", 1.0, 1.5, 2.0, 4.0),
        AUEvent("AU01", 0.2, 0.4, 0.6, 3.0),
        AUEvent("AU15", 2.0, 2.1, 2.4, 0.2),  # below trace
    ]
    kept, n_below, n_dropped = facs.select_events(events, max_events=2)
    assert [e.au for e in kept] == ["AU01", "AU12"]
    assert (n_below, n_dropped) == (1, 1)
    lines = facs.face_lines(face(events), max_events=2)
    assert lines[-2:] == [
        "(2 of 3 events shown, the most intense)",
        "(1 events below trace level left out)",
    ]


def test_coverage_and_warnings() -> None:
    f = face(n_frames=40, n_with_face=38, max_faces=3, warnings=["face partly occluded"])
    lines = facs.face_lines(f, max_events=12)
    assert lines[:3] == [
        "face visible in 38 of 40 sampled frames",
        "several faces in view (up to 3)",
        "note: face partly occluded",
    ]
    sparse = facs.coverage_line(face(n_frames=40, n_with_face=10))
    assert sparse == "face visible in 10 of 40 sampled frames (cues cover only part of the clip)"


def test_coverage_from_frames_when_counters_absent() -> None:
    f = face(n_frames=20, n_with_face=15)
    f.n_frames = 0
    f.n_frames_with_face = 0
    assert facs.coverage_line(f) == "face visible in 15 of 20 sampled frames"


def test_no_events() -> None:
    lines = facs.face_lines(face([]), max_events=12)
    assert lines[-1] == "no action-unit activations above trace level"


def test_face_missing_reason() -> None:
    f = face([], n_with_face=0, missing_reason="no face found in 40 sampled frames")
    lines = facs.face_lines(f, max_events=12)
    assert lines[0] == "not available: no face found in 40 sampled frames"
    assert "no action-unit activations above trace level" not in lines


def test_several_faces_not_repeated_when_backend_warns() -> None:
    warning = "several faces in 3 of 40 frames: the largest was used"
    lines = facs.face_lines(face(max_faces=2, warnings=[warning]), max_events=12)
    assert lines[:2] == ["face visible in 38 of 40 sampled frames", f"note: {warning}"]
    assert not any(line.startswith("several faces in view") for line in lines)


# --- schema 2: absolute summaries, blinks, changes against a baseline ------------------


def _schema2(**fields) -> FaceCues:
    f = face(
        [
            AUEvent("AU12", onset_s=1.2, apex_s=2.0, offset_s=2.8, peak_intensity=4.1),
            AUEvent("AU43", onset_s=0.0, apex_s=2.4, offset_s=5.9, peak_intensity=5.0),
        ],
        au_confidence={"AU04": 0.5, "AU12": 0.85, "AU26": 0.3, "AU43": 0.85},
    )
    f.au_summary = {
        "AU04": AUSummary(mean=3.0, median=3.1, p90=3.4, max=3.6, fraction_present=0.95),
        "AU12": AUSummary(mean=0.9, median=0.2, p90=4.0, max=4.1, fraction_present=0.4),
        "AU26": AUSummary(mean=1.2, median=1.1, p90=1.6, max=1.8, fraction_present=0.85),
        "AU15": AUSummary(mean=0.1, median=0.0, p90=0.3, max=1.2, fraction_present=0.05),
        "AU45": AUSummary(mean=0.3, median=0.0, p90=1.0, max=3.0, fraction_present=0.5),
    }
    f.baseline = {"AU04": 2.9, "AU12": 0.0}
    f.blink_count = 12
    f.blink_rate_per_min = 14.2
    for key, value in fields.items():
        setattr(f, key, value)
    return f


def test_held_and_part_of_the_time_lines() -> None:
    assert facs.held_lines(_schema2()) == [
        "held throughout: AU04 brow lowerer, pronounced (present in 95% of frames)",
        "held throughout: AU26 jaw drop, trace (present in 85% of frames) (low confidence)",
        "present part of the time: AU12 lip corner puller, strong (present in 40% of frames)",
    ]


def test_schema2_face_lines_order_and_wording() -> None:
    lines = facs.face_lines(_schema2(), max_events=12)
    assert lines == [
        "face visible in 38 of 40 sampled frames",
        "held throughout: AU04 brow lowerer, pronounced (present in 95% of frames)",
        "held throughout: AU26 jaw drop, trace (present in 85% of frames) (low confidence)",
        "present part of the time: AU12 lip corner puller, strong (present in 40% of frames)",
        "blinks: 14.2 per minute (12 blinks)",
        "AU43 eyes closed, maximum, 0.0-5.9 s (peak 5.0 at 2.4 s)",
        "changes against this clip's resting face:",
        "AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)",
    ]


def test_held_face_without_changes_is_not_called_inactive() -> None:
    f = _schema2(events=[])
    lines = facs.face_lines(f, max_events=12)
    assert "no action-unit activations above trace level" not in lines
    assert not any(line.startswith("changes against") for line in lines)
    assert lines[1].startswith("held throughout: AU04 brow lowerer")


def test_speaker_baseline_is_named() -> None:
    f = _schema2(baseline_source="speaker:alice")
    assert "changes against speaker alice's resting face:" in facs.face_lines(f, max_events=12)


def test_blink_line_absent_when_not_counted() -> None:
    assert facs.blink_line(face()) is None
    assert facs.blink_line(_schema2()) == "blinks: 14.2 per minute (12 blinks)"
    short = _schema2(blink_rate_per_min=None, blink_count=1)
    assert facs.blink_line(short) == "blinks: 1 (face in view too briefly for a rate)"


def test_schema1_face_reads_as_before() -> None:
    lines = facs.face_lines(face(), max_events=12)
    assert not any(line.startswith(("held", "present part", "blinks", "changes")) for line in lines)
