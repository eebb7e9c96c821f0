"""Turn extracted cues into text: pure functions, no I/O, no models, no clock.

Public API:

* :func:`render` -- ``render(cues, *, max_events=12, max_words=400) -> CueText``;
* :class:`CueText` -- ``prompt_text``, ``readable_text``, ``version``, ``partial``,
  ``missing``;
* :func:`timeline` -- ``timeline(cues, window_s=2.0) -> list[str]``, per-window lines;
* :data:`TEXTUALIZER_VERSION` -- bump rules in :mod:`textualize.version`.

Only :mod:`extractors.schema` is imported from the project, so importing this package
stays light (no torch, audio or video libraries).
"""

from .render import CueText, render
from .timeline import timeline
from .version import TEXTUALIZER_VERSION

__all__ = ["TEXTUALIZER_VERSION", "CueText", "render", "timeline"]
