"""Drafting: schema parsing on malformed output, model resolution, and the real bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.drafting import (
    DraftParseError,
    build_messages,
    create_drafting,
    decoding_schema,
    parse_draft,
)
from annotator.drafting.models import resolve_model
from extractors.errors import ModelNotAvailableError

GOOD = {
    "visual_clues": "smile", "acoustic_clues": "loud", "lexical_clues": "we won",
    "reasoning": "all positive", "caption": "Elated after a win.", "labels": ["joy"],
    "valence": 0.9, "arousal": 0.8, "confidence": 0.6,
}  # fmt: skip


def test_parse_accepts_fenced_json_and_cleans_labels() -> None:
    raw = (
        "Here you go:\n```json\n"
        + json.dumps({**GOOD, "labels": [" Joy", "joy", "Relief "]})
        + "\n```"
    )
    fields = parse_draft(raw)
    assert fields.labels == ["joy", "relief"]
    assert fields.caption == "Elated after a win."


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "no JSON object"),
        ("I am not sure", "no JSON object"),
        ('{"caption": "x", ', "no JSON object"),
        ('{"caption": "x",}', "not valid JSON"),
        ("[1, 2]", "no JSON object"),
        (json.dumps({**GOOD, "arousal": 1.5}), "arousal"),
        (json.dumps({**GOOD, "labels": []}), "labels"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "caption"}), "caption"),
        (json.dumps({**GOOD, "caption": "Error: model overloaded"}), "error message"),
    ],
)
def test_malformed_output_raises_one_line_typed_error(raw: str, message: str) -> None:
    with pytest.raises(DraftParseError, match=message) as info:
        parse_draft(raw)
    assert "\n" not in str(info.value)
    assert info.value.code == "invalid_model_output"


def test_decoding_schema_bounds_numbers_to_steps() -> None:
    props = decoding_schema()["properties"]
    assert min(props["valence"]["enum"]) == -1.0 and max(props["valence"]["enum"]) == 1.0
    assert props["arousal"]["enum"][0] == 0.0 and props["arousal"]["enum"][-1] == 1.0


def test_prompt_names_missing_modalities() -> None:
    messages = build_messages("Visual cues:\n- none", {"face": "no video stream"})
    assert messages[0]["role"] == "system"
    assert "Missing modalities: face (no video stream)." in messages[-1]["content"]
    old = build_messages("x", {"face": "no video stream"}, version="mer-caption-1")
    assert "face: no video stream" in old[1]["content"]  # older prompts stay buildable


def test_prompt_v2_states_the_scales_and_the_structure() -> None:
    from annotator.drafting.prompt import EMOTION_PROMPT

    v2 = "mer-caption-2"
    system = build_messages("Visual cues:\n- AU12", version=v2)[0]["content"]
    assert "-1.0 = very unpleasant/negative, 0 = neutral, +1.0 = very pleasant/positive" in system
    assert "Anger, sadness, fear, disgust and contempt are negative" in system
    assert "0.0 = calm" in system and "1.0 = highly activated" in system
    assert system.index("visual_clues") < system.index("reasoning") < system.index("caption:")
    assert "2-4 sentences" in system and "Do not repeat the reasoning" in system
    assert "AU code" in system and "double quotes" in system
    user = build_messages("cues", version=v2)[1]["content"]
    assert "All modalities are available" in user and EMOTION_PROMPT not in user
    assert build_messages("cues", version=v2, emotion_prompt=True)[1]["content"].endswith(
        EMOTION_PROMPT
    )
    with pytest.raises(ValueError, match="mer-caption-2"):
        build_messages("cues", version="mer-caption-9")


def test_prompt_v3_adds_rules_and_a_worked_example_the_parser_accepts() -> None:
    """The default: version 2's system prompt and its rules, then the example exchange,
    then this clip. The example answer must itself be a valid draft: a model imitates it."""
    from annotator.drafting.prompt import EMOTION_PROMPT, PROMPT_VERSION

    assert PROMPT_VERSION == "mer-caption-3"
    messages = build_messages("Visual cues:\n- AU04", {"voice": "no audio stream"})
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert system.startswith(build_messages("x", version="mer-caption-2")[0]["content"])
    assert "No AU codes, no percentages" in system and "never positive, negative" in system
    assert "(not this one)" in messages[1]["content"] and "AU04" not in messages[1]["content"]
    example = parse_draft(messages[2]["content"])
    assert example.labels[0] == "disappointment" and example.valence < 0
    clip = messages[3]["content"]
    assert clip.startswith("Cues for this clip:\nVisual cues:\n- AU04")
    assert "Missing modalities: transcript" not in clip and "voice (no audio stream)" in clip
    assert build_messages("cues", emotion_prompt=True)[-1]["content"].endswith(EMOTION_PROMPT)


def test_bundled_model_resolves_to_a_gguf_file_in_its_package() -> None:
    resolved = resolve_model("bundled:smollm2-135m")
    assert resolved.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (Path(resolved.path) / resolved.gguf_file).is_file()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bundled:nope", "unknown bundled model"),
        ("/no/such/model/dir", "no such file, folder or hub id"),
        ("someone/unknown-model-xyz", "not in the local Hugging Face cache"),
    ],
)
def test_missing_model_gives_one_clear_line(spec: str, message: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match=message):
        resolve_model(spec)
    availability = create_drafting("transformers", model=spec).available()
    assert not availability.ok and message in availability.detail


def test_local_folder_without_model_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="neither a transformers model"):
        resolve_model(str(tmp_path))


@pytest.mark.slow
def test_bundled_model_drafts_schema_valid_json_on_cpu() -> None:
    """The real SmolLM2 GGUF through transformers with the JSON constraint."""
    backend = create_drafting("transformers", model="bundled:smollm2-135m", max_new_tokens=512)
    text = (
        "Visual cues:\n- AU12 lip corner puller, strong, 1.2-2.8 s\n"
        "Acoustic cues:\n- pitch high and rising relative to the clip\n- loud\n"
        "Transcript:\n- [0.5-2.9] I can't believe we actually won this!"
    )
    (generation,) = backend.generate(build_messages(text), decoding_schema())
    fields = parse_draft(generation.text)  # raises if the constraint let invalid JSON through
    assert generation.finish_reason == "stop"
    # Stops at the closed object: a wrong end token used to run every draft to the cap.
    assert 0 < generation.completion_tokens < 480
    assert -1 <= fields.valence <= 1 and 0 <= fields.arousal <= 1
    assert all(1 <= len(label.split()) <= 2 for label in fields.labels)
    assert backend.model_id.startswith("SmolLM2-135M-Instruct")


def test_sentiment_hint_sign_on_clear_sentences() -> None:
    from annotator.drafting.sentiment import SOURCE, polarity, sentiment_hint

    negative = "I hate this. You lied to me and it is terrible."
    positive = "This is wonderful, thank you so much, I love it!"
    assert polarity(negative)[0] < -0.5 and polarity(positive)[0] > 0.5
    (neg,) = sentiment_hint(negative)
    (pos,) = sentiment_hint(positive)
    assert neg.source == SOURCE and neg.text.endswith("-> negative")
    assert pos.line().startswith("[hint, model TextBlob PatternAnalyzer] transcript polarity +")
    assert sentiment_hint("I didn't know you were there.") == []  # no lexicon word


def test_transformers_key_has_output_options_and_the_model_file(tmp_path: Path) -> None:
    from annotator.drafting.transformers_backend import TransformersDraftingBackend as T

    base = T().config_hash()
    assert T(repetition_penalty=1.3).config_hash() != base  # a changed default redrafts
    assert T(threads=1, device="cpu").config_hash() == base  # speed-only options do not
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(3 << 20))
    first = T(model=str(model)).config_hash()
    with model.open("r+b") as fh:  # same size, last MiB changed: another model
        fh.seek(-10, 2)
        fh.write(b"x" * 10)
    assert T(model=str(model)).config_hash() != first
