"""Drafting: prompt, schema, and LLM backends that turn cue text into a draft caption.

The names below load on first use (PEP 562): ``annotator.config`` imports
``annotator.drafting.models`` for the default model name, and importing this package
eagerly would pull pandas and the extractors into every CLI command's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from annotator.drafting.base import (
        DraftingBackend,
        Generation,
        create_drafting,
        drafting_names,
    )
    from annotator.drafting.prompt import PROMPT_VERSION, build_messages
    from annotator.drafting.schema import (
        DraftFields,
        DraftParseError,
        decoding_schema,
        parse_draft,
    )

_WHERE = {
    "DraftingBackend": "base",
    "Generation": "base",
    "create_drafting": "base",
    "drafting_names": "base",
    "PROMPT_VERSION": "prompt",
    "build_messages": "prompt",
    "DraftFields": "schema",
    "DraftParseError": "schema",
    "decoding_schema": "schema",
    "parse_draft": "schema",
}

__all__ = [
    "PROMPT_VERSION",
    "DraftFields",
    "DraftParseError",
    "DraftingBackend",
    "Generation",
    "build_messages",
    "create_drafting",
    "decoding_schema",
    "drafting_names",
    "parse_draft",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"annotator.drafting.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'annotator.drafting' has no attribute {name!r}")
