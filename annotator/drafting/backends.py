"""Importing this module registers the built-in drafting backends (see ``extractors.registry``).

Each backend module is cheap to import: models, vLLM and torch load lazily inside them.
"""

from annotator.drafting import llamacpp_backend, openai_backend, transformers_backend, vllm_backend

__all__ = ["llamacpp_backend", "openai_backend", "transformers_backend", "vllm_backend"]
