"""Batched generation of the transformers drafter (the CUDA path of ``generate_many``),
run here on the CPU with the bundled model: left padding, one ``generate`` call, the
JSON constraint per row, and each row's own prompt length. Short drafts (32 tokens):
the point is the batching, not the draft."""

from __future__ import annotations

import pytest

from annotator.drafting import build_messages, create_drafting, decoding_schema
from annotator.drafting.base import DraftRequest
from annotator.drafting.transformers_backend import _load

CUES = [
    "Visual cues:\n- AU12 lip corner puller, strong, 1.2-2.8 s\n"
    "Transcript:\n- [0.5-2.9] I can't believe we actually won this!",
    "Visual cues:\n- AU4 brow lowerer, strong, 0.4-3.0 s\n- AU23 lip tightener, moderate\n"
    "Acoustic cues:\n- loud, sharp onsets\n"
    "Transcript:\n- [0.3-2.5] You lied to me again, and I am done with it.",
]


@pytest.mark.slow
def test_one_padded_batch_drafts_each_row_as_if_alone() -> None:
    backend = create_drafting("transformers", model="bundled:smollm2-135m", device="cpu",
                              max_new_tokens=32, threads=1)  # fmt: skip
    requests = [DraftRequest(f"clip-{i}", build_messages(c), decoding_schema()) for i, c in
                enumerate(CUES)]  # fmt: skip
    results = backend._generate_batch(requests, "cpu")
    assert [r.key for r in results] == ["clip-0", "clip-1"]
    tokenizer, _ = _load(backend.resolved, "cpu")
    for request, result in zip(requests, results, strict=True):
        (generation,) = result.generations
        own = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True)
        assert generation.prompt_tokens == len(own)  # padding not counted
        assert generation.text.startswith('{"')  # the JSON constraint held on every row
        assert generation.sampling and generation.sampling["batch"] == 2
    # The shorter prompt was left padded: greedy, it must draft what it drafts alone.
    assert results[0].generations[0].prompt_tokens < results[1].generations[0].prompt_tokens
    (alone,) = backend.generate(requests[0].messages, decoding_schema())
    assert results[0].generations[0].text == alone.text
