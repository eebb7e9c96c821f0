"""The compact cue timeline under the video: AU intensities, AU events, pitch, loudness and
the words on one time axis, the draft's clues as chips and markers; a click on a clue, an
event, a word or anywhere on the axis seeks the page's video to that time, in the browser
(no rerun, to the frame, unlike ``st.video(start_time=...)`` which takes whole seconds).

The JavaScript is ours and fixed; the data (model clues, transcript words) only ever lands
in ``textContent`` / SVG text nodes, never in HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

CSS = """
.mer-tl { font: 12px sans-serif; color: var(--st-text-color, #31333f); }
.mer-tl .chips { display: flex; flex-wrap: wrap; gap: 4px; margin-bottom: 4px;
  max-height: 54px; overflow-y: auto; }
.mer-tl button { font: 12px sans-serif; border: 1px solid #9bb7d4; background: #eef4fb;
  border-radius: 10px; padding: 1px 8px; cursor: pointer; max-width: 100%;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: #1b3a5c; }
.mer-tl button.ungrounded { border-color: #e69500; background: #fff3df; color: #7a4a00; }
.mer-tl button.notime { cursor: default; opacity: 0.7; }
.mer-tl svg { display: block; width: 100%; cursor: crosshair; }
.mer-tl .where { color: #666; font-size: 11px; min-height: 14px; }
"""

#: ours and fixed: the model and transcript text only ever lands in text nodes
JS = (Path(__file__).parent / "timeline.js").read_text(encoding="utf-8")

_timeline = st.components.v2.component("mer_cue_timeline", css=CSS, js=JS)


def cue_timeline(payload: dict[str, Any], key: str) -> None:
    """Mount the timeline for one clip (``Timeline.payload``); a line when there is nothing
    to draw (no cue series stored, no clue)."""
    if not any(payload[k] for k in ("aus", "pitch", "loudness", "events", "words", "clues")):
        st.caption("No cue series stored for this clip.")
        return
    _timeline(key=key, data=payload, height="content")
