"""Agreement and draft-quality metrics on real SQLite databases filled through
``db.queries.save_review`` (several annotators per clip), against values known by hand."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sqlmodel import Session

from annotator.stats import card_summary, clip_agreement
from annotator.stats.agreement import all_alphas
from annotator.stats.data import multi_rated, ratings
from annotator.stats.quality import draft_quality, normalized_levenshtein
from annotator.stats.wheel import emotion_set, normalise, primary_emotion
from db import Clip, CueTextRecord, Draft, get_engine
from db.models import ReviewKind, ReviewStatus
from db.queries import ReviewInput, save_review
from tests.utils import require_extra

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: four
# observers, twelve units, values 1..5, None = not coded. Published: nominal 0.743,
# interval 0.849. Unit 12 has one value only (unpairable).
KRIPPENDORFF_C: list[list[int | None]] = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
OBSERVERS = ["A", "B", "C", "D"]
# One value -> one emotion word each, written in different forms by different observers
# (the wheel must fold them back to five categories).
WORDS = {
    1: ["angry", "anger", "furious", "Anger"],
    2: ["sad", "sadness", "Sad", "grief"],
    3: ["happy", "joy", "joyful", "happiness"],
    4: ["afraid", "fear", "scared", "fearful"],
    5: ["surprised", "surprise", "Surprise", "surprises"],
}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = get_engine(f"sqlite:///{tmp_path / 'stats.db'}")
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.commit()


def add_clip(
    session: Session,
    name: str,
    *,
    model: str = "qwen-1.5b",
    prompt: str = "mer-caption-2",
    caption: str = "He speaks calmly.",
    labels: Sequence[str] = ("neutral",),
    grounding: float | None = None,
) -> tuple[int, int]:
    """A clip row with its cue text and one chosen draft: (clip id, draft id)."""
    clip = Clip(sha256=hashlib.sha256(name.encode()).hexdigest(), name=name, source_uri=name)
    session.add(clip)
    session.flush()
    assert clip.id is not None
    cue = CueTextRecord(
        clip_id=clip.id, config_hash="c", textualizer_version="1", prompt_text="p",
        readable_text="r",
    )  # fmt: skip
    session.add(cue)
    session.flush()
    assert cue.id is not None
    draft = Draft(
        clip_id=clip.id, cue_text_id=cue.id, config_hash="d", backend="scripted", model_id=model,
        prompt_version=prompt, caption=caption, labels=list(labels), valence=0.0, arousal=0.5,
        chosen=True, grounding_rate=grounding,
    )  # fmt: skip
    session.add(draft)
    session.flush()
    assert draft.id is not None
    return clip.id, draft.id


def review(
    session: Session,
    clip_draft: tuple[int, int],
    who: str,
    status: ReviewStatus = ReviewStatus.EDITED,
    caption: str | None = "A caption.",
    labels: Sequence[str] = (),
    valence: float | None = None,
    arousal: float | None = None,
    kind: str = ReviewKind.ANNOTATION,
) -> None:
    clip_id, draft_id = clip_draft
    data = ReviewInput(status, caption, list(labels), valence, arousal)
    save_review(session, clip_id, who, draft_id, data, expected_version=None, kind=kind)


def fill_krippendorff_c(session: Session) -> None:
    """Example C as reviews: label = the value's word, valence = (v - 3) / 2 (-1..1),
    arousal = (v - 1) / 4 (0..1); linear maps leave interval alpha unchanged."""
    for unit in range(12):
        cd = add_clip(session, f"unit{unit + 1}.mp4")
        for obs, row in zip(OBSERVERS, KRIPPENDORFF_C, strict=True):
            v = row[unit]
            if v is None:
                continue
            word = WORDS[v][OBSERVERS.index(obs)]
            review(session, cd, obs, labels=[word], valence=(v - 3) / 2, arousal=(v - 1) / 4)
    session.commit()


def test_alpha_reproduces_krippendorff_2011_example_c(session: Session) -> None:
    fill_krippendorff_c(session)
    multi = multi_rated(ratings(session))
    assert len(multi) == 11  # unit 12 has a single review
    alphas = all_alphas(multi)
    assert round(alphas["labels"].value or 0, 3) == 0.743
    assert round(alphas["valence"].value or 0, 3) == 0.849
    assert round(alphas["arousal"].value or 0, 3) == 0.849
    # Exactly the package's value on the published matrix (NaN for not coded).
    matrix = np.array([[np.nan if v is None else v for v in row] for row in KRIPPENDORFF_C])
    nominal = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    interval = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")
    assert alphas["labels"].value == pytest.approx(nominal, abs=1e-12)
    assert alphas["valence"].value == pytest.approx(interval, abs=1e-12)
    assert alphas["labels"].n_clips == 11 and alphas["labels"].n_values == 40  # as in the paper
    # One label per review: MASI distance of singletons is the nominal distance.
    assert alphas["labels_masi"].value == pytest.approx(nominal, abs=1e-12)


def test_card_summary_and_clip_agreement_on_example_c(session: Session) -> None:
    fill_krippendorff_c(session)
    card = card_summary(session)
    assert card["n_clips_multi"] == 11 and card["n_annotators"] == 4
    assert round(card["alpha"]["labels"]["value"], 3) == 0.743
    assert card["alpha"]["valence"]["n_clips"] == 11
    assert card["caption_similarity"]["n_clips"] == 11
    assert card["caption_similarity"]["value"] == pytest.approx(1.0)  # same caption everywhere
    json.dumps(card)  # a dataset card can embed it as is
    # Unit 3: all four say value 3 -> labels, valence, arousal identical.
    assert clip_agreement(session, 3) == pytest.approx(1.0)
    # Unit 12: one review only.
    assert clip_agreement(session, 12) is None
    # Unit 6: values 1, 2, 3, 4 -> every pair disjoint labels (0), valence 1 - |dv|/2,
    # arousal 1 - |da| with dv = (vi - vj) / 2 and da = (vi - vj) / 4.
    diffs = [abs(a - b) for i, a in enumerate([1, 2, 3, 4]) for b in [1, 2, 3, 4][i + 1 :]]
    expected = sum((0 + (1 - d / 4) + (1 - d / 4)) / 3 for d in diffs) / len(diffs)
    assert clip_agreement(session, 6) == pytest.approx(expected)
    assert not math.isnan(expected)


def test_perfect_agreement_is_one_and_a_single_value_is_undefined(session: Session) -> None:
    for i, (word, v) in enumerate([("angry", -0.8), ("happy", 0.7), ("sad", -0.5)]):
        cd = add_clip(session, f"p{i}.mp4")
        review(session, cd, "alice", labels=[word], valence=v, arousal=0.5)
        review(session, cd, "bob", labels=[word.capitalize()], valence=v, arousal=0.5)
    alphas = all_alphas(multi_rated(ratings(session)))
    assert alphas["labels"].value == 1.0 and alphas["labels_masi"].value == 1.0
    assert alphas["valence"].value == 1.0
    assert alphas["arousal"].value is None  # 0.5 everywhere: nothing to agree on
    assert alphas["arousal"].note == "one value only: alpha undefined"


def textbook_alpha(units: list[list[frozenset[str]]]) -> float:
    """Krippendorff's alpha from its definition, 1 - D_o / D_e, with the MASI distance."""
    from nltk.metrics.distance import masi_distance

    def d(a: frozenset[str], b: frozenset[str]) -> float:
        return float(masi_distance(set(a), set(b)))

    values = [v for u in units for v in u]
    n = len(values)
    observed = (
        sum(
            sum(d(u[i], u[j]) for i in range(len(u)) for j in range(len(u)) if i != j)
            / (len(u) - 1)
            for u in units
        )
        / n
    )
    expected = sum(d(values[i], values[j]) for i in range(n) for j in range(n) if i != j) / (
        n * (n - 1)
    )
    return 1 - observed / expected


def test_masi_alpha_on_label_sets_matches_the_definition(session: Session) -> None:
    a = [["angry"], ["happy", "surprised"], ["sad"], ["furious", "disgusted"]]
    b = [["anger"], ["joy"], ["afraid"], ["disgust", "rage"]]
    c = [None, ["joyful"], ["grief", "fear"], ["anger"]]
    for i in range(4):
        cd = add_clip(session, f"m{i}.mp4")
        for who, labels in (("a", a[i]), ("b", b[i]), ("c", c[i])):
            if labels is not None:
                review(session, cd, who, labels=labels)
    multi = multi_rated(ratings(session))
    units = [[emotion_set(list(r.labels)) for r in multi[cid]] for cid in sorted(multi)]
    assert units[3] == [frozenset({"anger", "disgust"})] * 2 + [frozenset({"anger"})]
    got = all_alphas(multi)["labels_masi"]
    assert got.value == pytest.approx(textbook_alpha(units), abs=1e-12)
    assert got.n_clips == 4 and got.n_values == 11
    # Nominal on the first label only: 'furious' and 'disgust' differ on unit 4.
    assert all_alphas(multi)["labels"].value != got.value


@pytest.mark.parametrize(
    ("label", "emotion", "intensity"),
    [
        ("angry", "anger", "basic"),
        ("Anger", "anger", "basic"),
        ("furious", "anger", "high"),
        ("irritated", "anger", "low"),
        ("frustrations", "anger", "low"),
        ("angrily", "anger", "basic"),
        ("sad", "sadness", "basic"),
        ("  Sadness ", "sadness", "basic"),
        ("grief", "sadness", "high"),
        ("sadly", "sadness", "basic"),
        ("joyfulness", "joy", "basic"),
        ("ecstasy", "joy", "high"),
        ("worried", "fear", "low"),
        ("terrors", "fear", "high"),
        ("surprises", "surprise", "basic"),
        ("calm", "neutral", "basic"),
        ("boredom", "disgust", "low"),
        ("hopes", "anticipation", "basic"),
    ],
)
def test_wheel_folds_synonyms_and_word_forms(label: str, emotion: str, intensity: str) -> None:
    w = normalise(label)
    assert (w.emotion, w.intensity, w.known) == (emotion, intensity, True)


def test_wheel_keeps_unknown_labels_as_themselves() -> None:
    assert normalise("Confused") == normalise("confused")
    assert normalise("confused").emotion == "confused" and not normalise("confused").known
    assert normalise("embarrassments").emotion == "embarrassment"  # singular, not invented
    assert primary_emotion(["", "Furious", "sad"]) == "anger"
    assert emotion_set(["angry", "furious", "sad", " "]) == {"anger", "sadness"}


def test_numpy_levenshtein_equals_the_textbook_recurrence() -> None:
    import random

    from annotator.stats.quality import _levenshtein_numpy

    def dp(a: str, b: str) -> int:
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]

    rng = random.Random(8)
    for _ in range(300):
        a = "".join(rng.choice("abcé ") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abcé ") for _ in range(rng.randint(0, 12)))
        assert _levenshtein_numpy(a, b) == dp(a, b), (a, b)


def test_normalized_levenshtein_known_values() -> None:
    assert normalized_levenshtein("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalized_levenshtein("A calm voice.", "A sad voice.") == pytest.approx(3 / 13)
    assert normalized_levenshtein("", "") == 0.0 and normalized_levenshtein("abc", "") == 1.0


def fill_quality(session: Session) -> None:
    """m1/p1 on four clips, m2/p1 on one; values worked out in the test below."""
    acc, edit, rej, skip = (ReviewStatus.ACCEPTED, ReviewStatus.EDITED, ReviewStatus.REJECTED,
                            ReviewStatus.SKIPPED)  # fmt: skip
    c1 = add_clip(session, "q1.mp4", model="m1", prompt="p1", caption="He is angry.",
                  labels=["angry"], grounding=1.0)  # fmt: skip
    review(session, c1, "alice", acc, "He is angry.", ["angry"], 0.0, 0.5)
    c2 = add_clip(session, "q2.mp4", model="m1", prompt="p1", caption="She smiles.",
                  labels=["happy", "surprised"], grounding=0.5)  # fmt: skip
    review(session, c2, "alice", edit, "She smiles warmly.", ["joy"], 0.6, 0.4)
    review(session, c2, "bob", edit, "She smiles warmly.", ["joy"], 0.6, 0.4)
    c3 = add_clip(session, "q3.mp4", model="m1", prompt="p1", caption="A calm voice.",
                  labels=["calm"])  # fmt: skip
    review(session, c3, "alice", rej, "A calm voice.", ["calm"], 0.0, 0.5)
    review(session, c3, "bob", skip, None, [], None, None)
    c4 = add_clip(session, "q4.mp4", model="m1", prompt="p1", caption="A calm voice.",
                  labels=["calm"], grounding=0.0)  # fmt: skip
    review(session, c4, "alice", acc, "A calm voice.", ["calm"], 0.0, 0.5)
    review(session, c4, "bob", edit, "A sad voice.", ["sad"], -0.4, 0.3)
    review(session, c4, "carol", edit, "A sad voice.", ["sadness", "fear"], -0.5, 0.3,
           kind=ReviewKind.ADJUDICATION)  # fmt: skip
    c5 = add_clip(session, "q5.mp4", model="m2", prompt="p1", caption="Quiet.", labels=["calm"])
    review(session, c5, "alice", acc, "Quiet.", ["calm"], 0.0, 0.2)
    session.commit()


def test_draft_quality_on_a_constructed_set(session: Session) -> None:
    fill_quality(session)
    m1, m2 = draft_quality(session)
    assert (m1.model_id, m1.prompt_version, m2.model_id) == ("m1", "p1", "m2")
    # judged: c1 alice, c2 alice+bob, c3 alice (rejected; bob skipped), c4 alice+bob;
    # the adjudication is no annotation. Accepted unchanged: c1 alice, c4 alice.
    assert (m1.n_reviewed, m1.n_accepted, m1.n_edited, m1.n_rejected) == (6, 2, 3, 1)
    assert m1.acceptance_rate == pytest.approx(2 / 6)
    # finals: c1 (alice), c2 (alice = bob), c4 (adjudication); c3's only judgement rejects.
    assert m1.n_final == 3
    assert m1.edit_distance == pytest.approx((0 + 7 / 18 + 3 / 13) / 3)
    # draft vs final emotions: {anger}/{anger}, {joy, surprise}/{joy}, {neutral}/{sadness,
    # fear}: shared 2 of 4 draft emotions and of 4 final emotions.
    assert (m1.label_precision, m1.label_recall) == (0.5, 0.5)
    assert m1.grounding_rate == pytest.approx(0.5) and m1.n_grounded == 3
    assert (m2.n_reviewed, m2.acceptance_rate, m2.edit_distance) == (1, 1.0, 0.0)
    assert (m2.label_precision, m2.label_recall, m2.grounding_rate) == (1.0, 1.0, None)
    card = card_summary(session)
    # Verdicts on clips two people judged: q2 (edited, edited), q4 (accepted, edited); q3's
    # skip is no verdict. n = 4 values, D_o: one disagreeing unit, 2 ordered pairs / (2 - 1);
    # D_e: 4^2 - (3^2 + 1^2) = 6 ordered pairs that differ -> alpha = 1 - 3 * 2 / 6 = 0.
    verdict = card["alpha"]["verdict"]
    assert (verdict["value"], verdict["n_clips"], verdict["n_values"]) == (0.0, 2, 4)
    assert verdict["value"] == krippendorff.alpha(
        reliability_data=[[0, 1], [0, 0]], level_of_measurement="nominal"
    )
    assert [(a["model_id"], a["n_reviewed"]) for a in card["acceptance"]] == [
        ("m1", 6),
        ("m2", 1),
    ]


def test_caption_similarity_tfidf_fallback_is_labelled_and_exact(session: Session) -> None:
    from annotator.stats.similarity import (
        MINILM_METHOD,
        TFIDF_METHOD,
        TfidfEmbedder,
        caption_similarity,
        minilm_dir,
    )

    same = add_clip(session, "s1.mp4")
    review(session, same, "alice", caption="He shouts at the referee.", labels=["angry"])
    review(session, same, "bob", caption="He shouts at the referee.", labels=["angry"])
    apart = add_clip(session, "s2.mp4")
    review(session, apart, "alice", caption="Tears roll down.", labels=["sad"])
    review(session, apart, "bob", caption="Quiet smile.", labels=["sad"])
    multi = multi_rated(ratings(session))
    sim = caption_similarity(multi, TfidfEmbedder())
    # Identical captions: cosine 1; no shared word: cosine 0; mean over the two clips.
    assert (sim.method, sim.n_clips, sim.n_pairs) == (TFIDF_METHOD, 2, 2)
    assert sim.value == pytest.approx(0.5)
    default = card_summary(session)["caption_similarity"]["method"]
    assert default == (MINILM_METHOD if minilm_dir() is not None else TFIDF_METHOD)


@require_extra("transformers")  # torch and the packaged all-MiniLM-L6-v2
def test_minilm_ranks_a_paraphrase_above_an_unrelated_caption() -> None:
    from annotator.stats.similarity import MiniLMEmbedder, minilm_dir

    folder = minilm_dir()
    assert folder is not None
    v = MiniLMEmbedder(folder).embed(
        ["The man shouts angrily at his colleague.", "He is furious and yells at his coworker.",
         "A woman smiles calmly in the garden."]
    )  # fmt: skip
    assert float(v[0] @ v[1]) > 0.4 > 0.2 > float(v[0] @ v[2])


def test_cli_json_and_self_contained_html(tmp_path: Path) -> None:
    import base64
    import re
    import subprocess
    import sys

    from annotator.config import Settings

    home = tmp_path / "home"
    settings = Settings.load(home=home, db_url=None)
    settings.ensure_home()
    with Session(get_engine(settings.db_url), expire_on_commit=False) as s:
        fill_krippendorff_c(s)
        fill_quality(s)
    out_html = tmp_path / "report" / "stats.html"
    run = subprocess.run(
        [sys.executable, "-m", "annotator.cli", "stats", "--json", "--html", str(out_html),
         "--home", str(home)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    # Example C's 11 units plus q2 and q4 (two judged annotations each; q2 agree, q4 not).
    assert data["n_clips_multi"] == 13
    assert data["alpha"]["labels"]["n_clips"] == 13
    quality = {q["model_id"]: q for q in data["draft_quality"]}
    assert quality["m1"]["acceptance_rate"] == pytest.approx(2 / 6)
    assert (quality["m1"]["label_precision"], quality["m1"]["label_recall"]) == (0.5, 0.5)
    # Example C's 41 annotations (all edited) + the 7 judgements of fill_quality, by day.
    days = data["acceptance_by_day"]
    assert sum(d["n_reviewed"] for d in days) == 48 and sum(d["n_accepted"] for d in days) == 3
    assert {p["a"] + p["b"] for p in data["pairs"]} >= {"AB", "AC", "AD", "BC", "alicebob"}
    page = out_html.read_text(encoding="utf-8")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4  # labels, valence/arousal, pairs, acceptance over time
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing outside the file
    assert f"<td>{data['alpha']['labels']['value']:.3f}</td>" in page


def test_streaming_alpha_equals_the_package(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PACKAGE_BYTES the alpha is summed unit by unit; on the same matrices it must be
    the package's value: example C through the database, and random matrices."""
    from annotator.stats import agreement
    from annotator.stats.alpha_units import streaming_alpha

    fill_krippendorff_c(session)
    multi = multi_rated(ratings(session))
    small = all_alphas(multi)
    monkeypatch.setattr(agreement, "PACKAGE_BYTES", 0)
    large = all_alphas(multi)
    for name in ("labels", "labels_masi", "valence", "arousal"):
        assert small[name].implementation == "krippendorff"
        assert large[name].implementation == agreement.STREAMING
        assert large[name].value == pytest.approx(small[name].value, abs=1e-12), name
    rng = np.random.default_rng(8)
    for _ in range(20):
        data = rng.integers(0, 5, size=(4, 30)).astype(float)
        data[rng.random(data.shape) < 0.3] = np.nan
        grid = [[None if np.isnan(v) else int(v) for v in row] for row in data]
        units = agreement._units(grid)
        for level in ("nominal", "interval"):
            want = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
            got = streaming_alpha(units, level)
            assert got == pytest.approx(want, abs=1e-10), level
        scaled = [[v / 7 for v in u] for u in units]  # continuous values: still the same
        want = krippendorff.alpha(reliability_data=data / 7, level_of_measurement="interval")
        assert streaming_alpha(scaled, "interval") == pytest.approx(want, abs=1e-10)


def test_bootstrap_weights_equal_duplicated_clips_and_interval_brackets(
    session: Session,
) -> None:
    """A resample is a weighted sum of per-clip parts: weights (2, 0, 1, ...) must give the
    alpha of the matrix with clip 1 twice and clip 2 dropped."""
    from annotator.stats.alpha_units import alpha_from, bootstrap_interval, unit_sums

    columns = [c for c in zip(*KRIPPENDORFF_C, strict=True) if sum(v is not None for v in c) > 1]
    units = [[v for v in col if v is not None] for col in columns]
    rng = np.random.default_rng(3)
    for level in ("nominal", "interval"):
        sums = unit_sums([[v - 1 for v in u] for u in units], level)
        for _ in range(5):
            w = rng.integers(0, 3, len(units)).astype(float)
            kept = [c for c, k in zip(columns, w, strict=True) for _ in range(int(k))]
            matrix = np.array([[np.nan if v is None else v for v in c] for c in kept]).T
            want = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
            assert alpha_from(sums, w) == pytest.approx(want, abs=1e-10)
    fill_krippendorff_c(session)
    labels = all_alphas(multi_rated(ratings(session)), resamples=500)["labels"]
    assert labels.resamples == 500 and labels.ci_low is not None and labels.ci_high is not None
    assert labels.ci_low < (labels.value or 0) < labels.ci_high <= 1.0
    # Same seed, same interval.
    again = bootstrap_interval(unit_sums([[v - 1 for v in u] for u in units], "nominal"), 500)
    assert again == (labels.ci_low, labels.ci_high)
