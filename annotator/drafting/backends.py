"""Importing this module registers the built-in drafting backends (see ``extractors.registry``).

Each backend module is cheap to import: models, vLLM and torch load lazily inside them.
"""

from __future__ import annotations

import inspect
from typing import Any

from annotator.drafting import llamacpp_backend, openai_backend, transformers_backend, vllm_backend
from annotator.drafting.openai_backend import DraftingConfigError
from extractors import registry

__all__ = [
    "llamacpp_backend",
    "openai_backend",
    "options_for",
    "transformers_backend",
    "vllm_backend",
]


def _parameters(name: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(registry.backend_class("drafting", name)).parameters)


def options_for(name: str, **given: Any) -> dict[str, Any]:
    """The options for drafter ``name`` from command-line values (``None``: not given).

    An option the drafter does not take is one line naming the drafters that do, so
    ``--base-url`` with the transformers drafter is refused rather than ignored. A
    model not given is the drafter's own default (a server picks its first model),
    never another drafter's. An unknown name lists the known ones."""
    params = _parameters(name)
    options: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        if key not in params:
            takers = [n for n in registry.names("drafting") if key in _parameters(n)]
            raise DraftingConfigError(
                f"--{key.replace('_', '-')} does not apply to the {name} drafter; "
                f"it does to: {', '.join(takers) or 'none'}"
            )
        options[key] = value
    if "model" in params and "model" not in options:
        options["model"] = params["model"].default
    return options
