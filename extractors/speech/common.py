"""What the two Whisper backends share: stamping cues, and the no-audio early exit."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from extractors.media import ClipMedia
from extractors.schema import SpeechCues
from extractors.speech.models import model_display_name


class WhisperCuesMixin:
    """Needs ``name``, ``version``, ``model``, ``language`` and ``config_hash()``."""

    name: ClassVar[str]
    version: ClassVar[str]
    model: str
    language: str | None

    def config_hash(self) -> str:
        raise NotImplementedError

    def _cues(self, **kw: Any) -> SpeechCues:
        return SpeechCues(
            backend=self.name,
            backend_version=self.version,
            config_hash=self.config_hash(),
            model=model_display_name(self.model),
            **kw,
        )

    def _audio_or_missing(self, clip: ClipMedia) -> tuple[np.ndarray, SpeechCues | None]:
        """The clip's audio, or the cues to return at once when it has none."""
        audio = clip.audio() if clip.info.has_audio else np.zeros(0, np.float32)
        if audio.size == 0:
            fixed = None if self.language in (None, "", "auto") else self.language
            return audio, self._cues(language=fixed, missing_reason="no audio stream")
        return audio, None
