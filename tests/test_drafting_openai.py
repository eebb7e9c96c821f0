"""The ``openai`` drafter against a real llama.cpp OpenAI-compatible server on 127.0.0.1
(the bundled SmolLM2 GGUF), and against a small scripted HTTP stub for what a real
server will not do on demand: 429 with Retry-After, dropped connections, 5xx,
rejected response formats, invalid output."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from annotator.drafting import DraftFields, build_messages, create_drafting, decoding_schema
from annotator.drafting.base import DraftRequest
from annotator.drafting.models import resolve_model
from annotator.drafting.openai_backend import (
    DraftingConfigError,
    DraftingServerError,
    OpenAIDraftingBackend,
    RepairedGeneration,
)
from annotator.drafting.openai_backend import (
    retry_after as _retry_after,
)
from annotator.drafting.schema import parse_draft
from tests.servers import GOOD, Answer, Stub, completion

KEY = "sk-test-8c1e55d0-never-print-me"
CUES = [
    "Visual cues:\n- AU12 lip corner puller, strong, 1.2-2.8 s\n- AU6 cheek raiser, moderate\n"
    "Acoustic cues:\n- pitch high and rising\n- loud\n"
    "Transcript:\n- [0.5-2.9] I can't believe we actually won this!",
    "Visual cues:\n- AU4 brow lowerer, strong, 0.4-3.0 s\n- AU23 lip tightener, moderate\n"
    "Acoustic cues:\n- loud, sharp onsets\n"
    "Transcript:\n- [0.3-2.5] You lied to me again, and I am done with it.",
    "Visual cues:\n- AU1 inner brow raiser, AU15 lip corner depressor, moderate\n"
    "Acoustic cues:\n- quiet, low and flat pitch\n"
    "Transcript:\n- [0.2-3.1] I miss her every single day.",
]


@pytest.fixture
def stub() -> Iterator[Callable[..., Stub]]:
    made: list[Stub] = []

    def make(*script: Callable[[dict], Answer], delay: Callable[[dict], float] = lambda b: 0.0):
        made.append(Stub(list(script), delay))
        return made[-1]

    yield make
    for s in made:
        s.close()


def backend_for(server: Stub, **options: Any) -> tuple[OpenAIDraftingBackend, list[float]]:
    backend = OpenAIDraftingBackend(base_url=server.url, backoff=0.25, **options)
    waits: list[float] = []
    backend._sleep = waits.append  # record the waits instead of sleeping
    return backend, waits


def draft_messages(index: int = 0) -> list[dict[str, str]]:
    return build_messages(CUES[index])


# ---------------------------------------------------------------- stub server


def test_bearer_token_sent_429_retry_after_honoured_and_key_never_shown(
    stub, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    server = stub(lambda b: (429, {"Retry-After": "3"}, {"error": {"message": "slow down"}}))
    backend, waits = backend_for(server)
    (generation,) = backend.generate(draft_messages(), decoding_schema())
    assert parse_draft(generation.text).labels == ["joy"]
    assert waits == [3.0]  # the server's Retry-After, not the 0.25 s backoff
    auth = [headers.get("Authorization") for _, _, headers, _ in server.requests]
    assert auth == [f"Bearer {KEY}"] * 3  # GET /models, the 429, the retry
    assert backend.model_id == "stub-model-7b"
    assert KEY not in caplog.text
    assert KEY not in json.dumps(backend.config()) and KEY not in repr(backend)
    assert backend.config_hash() == OpenAIDraftingBackend(base_url="http://elsewhere/v1",
        model="stub-model-7b", concurrency=1, timeout=5).config_hash()  # fmt: skip


def test_5xx_and_dropped_connection_are_retried_with_exponential_backoff(stub) -> None:
    server = stub(lambda b: "drop", lambda b: (503, {}, {"error": "busy"}))
    backend, waits = backend_for(server, model="asked-for")
    (generation,) = backend.generate(draft_messages(), decoding_schema())
    assert generation.text == json.dumps(GOOD)
    assert waits == [0.25, 0.5]
    assert len(server.posts()) == 3
    assert server.posts()[0]["model"] == "asked-for"
    assert backend.model_id == "stub-model-7b"  # what the server says it served


def test_retries_are_bounded_and_end_in_one_typed_line(stub) -> None:
    server = stub(*[lambda b: (503, {}, {"error": {"message": "overloaded\ntry later"}})] * 5)
    backend, waits = backend_for(server, model="m", retries=2)
    [result] = backend.generate_many([DraftRequest("clip-1", draft_messages(), decoding_schema())])
    assert result.generations == [] and isinstance(result.error, DraftingServerError)
    assert result.error.code == "drafting_server_error"
    assert str(result.error) == (
        f"drafting server {server.url}/chat/completions answered HTTP 503: overloaded try later"
    )
    assert len(server.posts()) == 3 and waits == [0.25, 0.5]


def test_a_slow_answer_is_a_timeout_not_resent(stub) -> None:
    server = stub(delay=lambda b: 1.5)
    backend, waits = backend_for(server, model="m", timeout=0.3)
    with pytest.raises(
        DraftingServerError, match=r"did not answer within 0.3 s \(option timeout\)"
    ):
        backend.generate(draft_messages(), decoding_schema())
    assert len(server.posts()) == 1 and waits == []


def test_invalid_output_gets_one_repair_request_and_both_costs_are_kept(stub) -> None:
    server = stub(
        lambda b: (200, {}, completion('{"caption": "x", "valence": 7}', usage=(100, 9))),
        lambda b: (200, {}, completion(json.dumps(GOOD), usage=(140, 60))),
    )
    backend, _ = backend_for(server, model="m")
    (generation,) = backend.generate(draft_messages(), decoding_schema())
    assert isinstance(generation, RepairedGeneration)
    assert isinstance(parse_draft(generation.text), DraftFields)
    assert (generation.prompt_tokens, generation.completion_tokens) == (240, 69)
    assert generation.first_text == '{"caption": "x", "valence": 7}'
    assert generation.first_error.startswith("model output fails the draft schema")
    repair = server.posts()[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"caption": "x", "valence": 7}'}
    assert generation.first_error in repair[-1]["content"]
    assert len(server.posts()) == 2  # one repair only


def test_repair_that_fails_again_is_returned_as_is_not_retried(stub) -> None:
    server = stub(lambda b: (200, {}, completion("nope")), lambda b: (200, {}, completion("no")))
    backend, _ = backend_for(server, model="m")
    (generation,) = backend.generate(draft_messages(), decoding_schema())
    assert generation.text == "no" and len(server.posts()) == 2


def test_rejected_response_format_steps_down_to_guided_json_then_prompt(stub) -> None:
    def refuse(body: dict) -> Answer:
        return (422, {}, {"detail": [{"msg": "response_format type unsupported"}]})

    server = stub(refuse, refuse, refuse, lambda b: (200, {}, completion(json.dumps(GOOD))))
    backend, _ = backend_for(server, model="m")
    backend.generate(draft_messages(), decoding_schema())
    bodies = server.posts()
    assert bodies[0]["response_format"]["json_schema"]["schema"] == decoding_schema()
    assert bodies[1]["response_format"] == {"type": "json_object", "schema": decoding_schema()}
    assert bodies[2]["guided_json"] == decoding_schema() and "response_format" not in bodies[2]
    assert "guided_json" not in bodies[3] and "response_format" not in bodies[3]
    backend.generate(draft_messages(), decoding_schema())  # the mode that worked is kept
    assert len(server.posts()) == 5 and "response_format" not in server.posts()[4]


def test_a_request_every_mode_rejects_is_one_typed_line_and_changes_no_mode(stub) -> None:
    def refuse(body: dict) -> Answer:
        return (400, {}, {"error": {"message": "prompt is longer than the context"}})

    server = stub(*[refuse] * 4)
    backend, _ = backend_for(server, model="m")
    with pytest.raises(DraftingServerError, match="HTTP 400: prompt is longer than the context"):
        backend.generate(draft_messages(), decoding_schema())
    assert len(server.posts()) == 4 and backend._mode == "json_schema"


def test_generate_many_is_concurrent_and_returns_results_in_request_order(stub) -> None:
    def marker(body: dict) -> int:
        return next(i for i, cue in enumerate(CUES) if cue in body["messages"][-1]["content"])

    def echo(body: dict) -> Answer:  # the caption names the request it answers
        return (200, {}, completion(json.dumps({**GOOD, "caption": f"clip {marker(body)}"})))

    # Earlier requests answer later, so completion order is the reverse of request order.
    server = stub(echo, echo, echo, echo, delay=lambda b: 0.4 - 0.1 * marker(b))
    backend, _ = backend_for(server, model="m", concurrency=2)
    requests = [DraftRequest(f"c{i}", draft_messages(i), decoding_schema()) for i in range(3)]
    requests.append(DraftRequest("c0-again", draft_messages(0), decoding_schema()))
    results = backend.generate_many(requests)
    assert [r.key for r in results] == ["c0", "c1", "c2", "c0-again"]
    assert [parse_draft(r.generations[0].text).caption for r in results] == [
        "clip 0", "clip 1", "clip 2", "clip 0"
    ]  # fmt: skip
    assert server.max_inflight == 2


def test_n_samples_are_separate_requests_with_distinct_seeds(stub) -> None:
    server = stub()
    backend, _ = backend_for(server, model="m", seed=5)  # temperature 0: 0.7 for n > 1
    generations = backend.generate(draft_messages(), decoding_schema(), n=3)
    assert len(generations) == 3
    assert sorted(body["seed"] for body in server.posts()) == [5, 6, 7]
    assert {body["temperature"] for body in server.posts()} == {0.7}
    assert [g.sampling for g in generations] == [
        {"temperature": 0.7, "seed": s, "max_new_tokens": 512, "structured": "json_schema"}
        for s in (5, 6, 7)
    ]


def test_server_down_gives_one_typed_line(monkeypatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    backend = OpenAIDraftingBackend(base_url=f"http://127.0.0.1:{port}", retries=1)
    backend._sleep = lambda s: None
    with pytest.raises(DraftingServerError) as info:
        backend.generate(draft_messages(), decoding_schema())
    message = str(info.value)
    assert message.startswith(f"drafting server http://127.0.0.1:{port}/v1/models unreachable")
    assert "\n" not in message and KEY not in message
    availability = backend.available()
    assert not availability.ok and "unreachable after 1 attempt(s)" in availability.detail


def test_missing_base_url_names_the_option_and_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    backend = create_drafting("openai")
    availability = backend.available()
    assert not availability.ok
    assert "--base-url" in availability.detail and "OPENAI_BASE_URL" in availability.detail
    with pytest.raises(DraftingConfigError, match="OPENAI_BASE_URL"):
        backend.generate(draft_messages(), decoding_schema())
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    assert create_drafting("openai").base_url == "http://127.0.0.1:9/v1"


def test_retry_after_accepts_seconds_and_http_dates_and_is_capped() -> None:
    assert _retry_after("2", 0, 1.0) == 2.0
    assert _retry_after(None, 3, 0.5) == 4.0
    assert _retry_after("100000", 0, 1.0) == 60.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0, 1.0) == 0.0  # in the past
    assert _retry_after("soon", 1, 1.0) == 2.0  # unreadable: backoff


# ---------------------------------------------------------------- real llama.cpp server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2 GGUF."""
    resolved = resolve_model("bundled:smollm2-135m")
    gguf = str(Path(resolved.path) / str(resolved.gguf_file))
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", gguf,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
        # One thread: on a busy 2-core machine two spinning llama.cpp threads crawl.
        "--n_threads", "1", "--n_threads_batch", "1",
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server not ready within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.mark.slow
def test_real_server_drafts_parse_and_store_the_served_model_id(llama_server: str) -> None:
    listed = httpx.get(f"{llama_server}/models").json()["data"][0]["id"]
    backend = OpenAIDraftingBackend(base_url=llama_server, concurrency=2, max_new_tokens=512)
    requests = [DraftRequest(f"clip-{i}", draft_messages(i), decoding_schema()) for i in range(2)]
    results = backend.generate_many(requests)
    assert [r.key for r in results] == ["clip-0", "clip-1"]
    for result in results:
        assert result.error is None and len(result.generations) == 1
        generation = result.generations[0]
        fields = parse_draft(generation.text)
        assert isinstance(fields, DraftFields)
        assert not isinstance(generation, RepairedGeneration)  # the schema held on the server
        assert generation.prompt_tokens and generation.prompt_tokens > 100
        assert 0 < (generation.completion_tokens or 0) <= 512
    assert backend.model_id == listed == backend.config()["model"]
    # llama-cpp-python's server refuses "json_schema" (422) and takes json_object + schema.
    assert backend._mode == "json_object"


# ---------------------------------------------------------------- options and the CLI


def test_options_go_to_the_chosen_drafter_only() -> None:
    from annotator.drafting.backends import options_for

    assert options_for("openai", model=None, base_url="http://h:1/v1", concurrency=3) == {
        "model": None,  # the server's first model, not the transformers default
        "base_url": "http://h:1/v1",
        "concurrency": 3,
    }
    assert options_for("transformers", model="x.gguf", threads=None, base_url=None) == {
        "model": "x.gguf"
    }
    with pytest.raises(DraftingConfigError) as info:
        options_for("transformers", base_url="http://h:1/v1")
    assert str(info.value) == "--base-url does not apply to the transformers drafter; " \
        "it does to: openai"  # fmt: skip


def test_run_refuses_an_option_the_drafter_does_not_take_before_any_work(
    tmp_path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from annotator.cli import app

    home = ["--home", str(tmp_path / "home")]
    url = ["--base-url", "http://127.0.0.1:9/v1"]
    result = CliRunner().invoke(app, ["run", *home, "--drafter", "transformers", *url])
    assert result.exit_code == 2
    assert "--base-url does not apply to the transformers drafter" in result.output
    monkeypatch.setenv("ANNOTATOR_DRAFTING_BACKEND", "vllm")  # the default drafter
    result = CliRunner().invoke(app, ["run", *home, *url])
    assert result.exit_code == 2
    assert "--base-url does not apply to the vllm drafter" in result.output
    result = CliRunner().invoke(app, ["run", *home, "--drafter", "nope"])
    assert result.exit_code == 2
    assert "unknown drafting backend 'nope'; known drafting backends:" in result.output
    assert "openai" in result.output and "vllm" in result.output
    assert not (tmp_path / "home").exists()  # refused before the data folder was made
