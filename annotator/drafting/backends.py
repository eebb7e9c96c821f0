"""Importing this module registers the built-in drafting backends (see ``extractors.registry``)."""

from annotator.drafting import transformers_backend

__all__ = ["transformers_backend"]
