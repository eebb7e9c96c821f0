"""Drafting: prompt, schema, and LLM backends that turn cue text into a draft caption."""

from annotator.drafting.base import DraftingBackend, Generation, create_drafting, drafting_names
from annotator.drafting.prompt import PROMPT_VERSION, build_messages
from annotator.drafting.schema import DraftFields, DraftParseError, decoding_schema, parse_draft

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
