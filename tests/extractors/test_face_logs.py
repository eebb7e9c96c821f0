"""MediaPipe's start-up warnings are dropped from stderr; errors and other output are not."""

from __future__ import annotations

import os

import pytest

from extractors.face.mediapipe_backend import MediaPipeFaceBackend, quiet_native_logs
from extractors.media import ClipMedia
from tests.utils import feat_file


def test_no_startup_warnings_on_a_real_clip(capfd: pytest.CaptureFixture[str]) -> None:
    backend = MediaPipeFaceBackend()
    assert backend.available().ok, backend.available().detail  # core: never skipped
    cues = backend.extract(ClipMedia(feat_file("single_face.mp4")))
    assert int(cues.frames["face_found"].sum()) >= 10  # it ran on real frames
    err = capfd.readouterr().err
    for noise in ("W0000", "XNNPACK", "InitGoogle", "inference_feedback_manager"):
        assert noise not in err, err


def test_errors_and_other_output_are_kept(capfd: pytest.CaptureFixture[str]) -> None:
    lines = [
        b"W0000 00:00:1796024060.739137   22009 face_landmarker_graph.cc:181] Sets xnnpack\n",
        b"E0000 00:00:1796024060.840637   22014 calculator_graph.cc:887] INTERNAL: broken\n",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"a line from another thread\n",
        b"I0000 00:00:1796024060.840637   22014 gl_context.cc:369] GL version: 3.2\n",
    ]
    with quiet_native_logs():
        for line in lines:
            os.write(2, line)
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "E0000 00:00:1796024060.840637   22014 calculator_graph.cc:887] INTERNAL: broken",
        "a line from another thread",
    ]
