"""The ``vllm`` drafter: what runs without a GPU (availability, request building), and
an end-to-end run with the bundled model where vLLM and CUDA are present."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from annotator.drafting import build_messages, create_drafting, decoding_schema, parse_draft
from annotator.drafting import vllm_backend as vb
from annotator.drafting.base import DraftRequest
from annotator.drafting.models import DEFAULT_DRAFT_MODEL, resolve_model
from extractors.errors import ModelNotAvailableError


def _cuda_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def test_registered_under_vllm_with_its_own_config_hash() -> None:
    backend = create_drafting("vllm")
    assert isinstance(backend, vb.VLLMDraftingBackend)
    config = backend.config()
    assert config == {
        "backend": "vllm",
        "model": resolve_model(DEFAULT_DRAFT_MODEL).model_id,
        "max_new_tokens": 512,
        "temperature": 0.0,
        "seed": 0,
    }
    same = create_drafting("vllm", gpu_memory_utilization=0.5, max_model_len=2048)
    assert same.config_hash() == backend.config_hash()  # memory settings draft the same
    assert create_drafting("vllm", temperature=0.3).config_hash() != backend.config_hash()


def test_config_hash_follows_the_model_files_bytes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "model.safetensors").write_bytes(b"weights-1")
    before = create_drafting("vllm", model=str(tmp_path)).config_hash()
    assert create_drafting("vllm", model=str(tmp_path)).config_hash() == before
    (tmp_path / "model.safetensors").write_bytes(b"weights-2")
    assert create_drafting("vllm", model=str(tmp_path)).config_hash() != before


def test_without_vllm_available_says_how_to_install_and_generate_fails_typed(
    monkeypatch,
) -> None:
    monkeypatch.setattr(vb, "vllm_installed", lambda: False)
    backend = create_drafting("vllm")
    availability = backend.available()
    assert not availability.ok
    assert availability.detail == (
        "vllm is not installed: uv sync --extra gpu (or: pip install "
        '"mer-annotator[gpu]"); needs a CUDA GPU'
    )
    with pytest.raises(ModelNotAvailableError, match="uv sync --extra gpu"):
        backend.generate(build_messages("Visual cues:\n- none"), decoding_schema())
    results = backend.generate_many(
        [DraftRequest(k, build_messages("x"), decoding_schema()) for k in ("a", "b")]
    )
    assert [(r.key, r.generations, r.error.code if r.error else None) for r in results] == [
        ("a", [], "model_missing"),
        ("b", [], "model_missing"),
    ]


def test_missing_model_is_reported_before_vllm_loads(monkeypatch) -> None:
    monkeypatch.setattr(vb, "vllm_installed", lambda: True)
    availability = create_drafting("vllm", model="/no/such/model").available()
    assert not availability.ok and "no such file, folder or hub id" in availability.detail


def test_sampling_kwargs_greedy_single_and_sampled_several() -> None:
    schema = decoding_schema()
    greedy = vb.sampling_kwargs(
        max_new_tokens=300, temperature=0.0, seed=4, n=1, json_schema=schema
    )
    assert greedy == {"n": 1, "max_tokens": 300, "temperature": 0.0, "seed": 4, "json": schema}
    several = vb.sampling_kwargs(max_new_tokens=300, temperature=0.0, seed=4, n=3, json_schema=None)
    assert several == {"n": 3, "max_tokens": 300, "temperature": 0.7, "seed": 4, "top_p": 0.95}
    warm = vb.sampling_kwargs(max_new_tokens=8, temperature=0.2, seed=0, n=1, json_schema=None)
    assert warm["temperature"] == 0.2 and warm["top_p"] == 0.95


def test_engine_kwargs_pass_a_gguf_file_and_a_folder_as_they_are(tmp_path: Path) -> None:
    bundled = resolve_model("bundled:smollm2-135m")
    kwargs = vb.engine_kwargs(bundled, 4096, 0.85, 1)
    assert kwargs["model"] == str(Path(bundled.path) / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert Path(kwargs["model"]).is_file()
    assert (kwargs["max_model_len"], kwargs["gpu_memory_utilization"], kwargs["seed"]) == (
        4096,
        0.85,
        1,
    )
    (tmp_path / "config.json").write_text("{}")
    assert vb.engine_kwargs(resolve_model(str(tmp_path)), 1, 0.5, 0)["model"] == str(tmp_path)


def test_request_outputs_become_generations_with_costs() -> None:
    """vLLM's RequestOutput shape (prompt_token_ids, outputs[i].text/token_ids/finish_reason)."""
    output = SimpleNamespace(
        prompt_token_ids=list(range(120)),
        outputs=[
            SimpleNamespace(text='{"a": 1}', token_ids=[1, 2, 3], finish_reason="stop"),
            SimpleNamespace(text='{"a":', token_ids=list(range(64)), finish_reason=None),
        ],
    )
    kwargs = vb.sampling_kwargs(max_new_tokens=64, temperature=0, seed=9, n=2, json_schema=None)
    first, second = vb._generations(output, 0.25, kwargs)
    assert (first.text, first.prompt_tokens, first.completion_tokens) == ('{"a": 1}', 120, 3)
    assert (first.finish_reason, first.latency_s) == ("stop", 0.25)
    assert first.sampling == {"temperature": 0.7, "top_p": 0.95, "seed": 9, "max_new_tokens": 64}
    assert (second.completion_tokens, second.finish_reason) == (64, "length")


@pytest.mark.slow
@pytest.mark.skipif(not _cuda_vllm(), reason="needs vllm (uv sync --extra gpu) and a CUDA GPU")
def test_vllm_drafts_a_batch_with_the_bundled_model_on_cuda() -> None:
    backend = create_drafting("vllm", max_model_len=4096, gpu_memory_utilization=0.3)
    cues = [
        "Visual cues:\n- AU12 lip corner puller, strong\nTranscript:\n- [0.5-2.9] We won!",
        "Visual cues:\n- AU4 brow lowerer, strong\nTranscript:\n- [0.3-2.5] You lied to me.",
    ]
    requests = [
        DraftRequest("happy", build_messages(cues[0]), decoding_schema(), n=2),
        DraftRequest("angry", build_messages(cues[1]), decoding_schema()),
    ]
    results = backend.generate_many(requests)
    assert [r.key for r in results] == ["happy", "angry"]
    assert [len(r.generations) for r in results] == [2, 1]
    for result in results:
        assert result.error is None
        for generation in result.generations:
            fields = parse_draft(generation.text)  # guided decoding held the schema
            assert -1 <= fields.valence <= 1
            assert generation.prompt_tokens and generation.completion_tokens
