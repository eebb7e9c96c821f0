"""`annotator run`: extract -> textualize -> draft every pending clip, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from annotator.cli_common import DbOpt, HomeOpt, console, err, progress_bar, settings_for
from annotator.config import Settings


def run(
    home: HomeOpt = None,
    db: DbOpt = None,
    face: Annotated[
        str | None,
        typer.Option(help="Face backend: mediapipe (default), pyfeat, landmarks, openface."),
    ] = None,
    voice: Annotated[str | None, typer.Option(help="Voice backend (default opensmile).")] = None,
    speech: Annotated[
        str | None,
        typer.Option(help="Speech backend: faster-whisper (default) or whisperx."),
    ] = None,
    speech_model: Annotated[
        str | None,
        typer.Option(
            help="Whisper model: bundled:tiny.en (default), bundled:base (multilingual, "
            "detects the language) or a CTranslate2 model folder."
        ),
    ] = None,
    align_model: Annotated[
        str | None,
        typer.Option(help="whisperx: word alignment model on disk (see `annotator models`)."),
    ] = None,
    diarize_model: Annotated[
        str | None,
        typer.Option(help="whisperx: pyannote diarization pipeline folder; turns diarization on."),
    ] = None,
    pyfeat_dir: Annotated[
        Path | None, typer.Option(help="pyfeat: folder holding py-feat's model weights.")
    ] = None,
    speaker_min_clips: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Other clips with speech a speaker needs before prosody uses their baseline.",
        ),
    ] = None,
    drafter: Annotated[
        str | None,
        typer.Option(
            "--drafter",
            help="Drafting backend: llamacpp, transformers, openai, vllm "
            "(default: $ANNOTATOR_DRAFTING_BACKEND, else llamacpp).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Drafting model for the chosen drafter: bundled name, local path or hub id; "
            "for openai the server's model name (default: its first)."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="openai drafter: the server, e.g. http://127.0.0.1:8000/v1 "
            "(default: $OPENAI_BASE_URL; the key comes from $OPENAI_API_KEY).",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="openai drafter: requests in flight at once (default 8)."),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Draft length cap.")] = 512,
    threads: Annotated[
        int, typer.Option(help="CPU threads for in-process drafting (0: one per core).")
    ] = 0,
    samples: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help="Drafts per clip; all are kept, the most consistent one is used and the "
            "samples' agreement becomes its confidence.",
        ),
    ] = 1,
    hints: Annotated[
        bool,
        typer.Option(
            "--hints/--no-hints",
            help="Add EMFACS, prosody-arousal and text-sentiment hints to the cue text, "
            "marked as hints.",
        ),
    ] = True,
    emotion_prompt: Annotated[
        bool,
        typer.Option("--emotion-prompt", help="Append an EmotionPrompt-style sentence."),
    ] = False,
    openface_dir: Annotated[
        Path | None, typer.Option(help="Folder of OpenFace CSVs (face=openface).")
    ] = None,
    no_draft: Annotated[
        bool, typer.Option("--no-draft", help="Extract and textualize only.")
    ] = False,
    clip: Annotated[
        list[str] | None, typer.Option("--clip", help="Only these clips (id, name or path).")
    ] = None,
    parallel_stages: Annotated[
        bool | None,
        typer.Option(
            "--parallel-stages/--serial-stages",
            help="Face beside voice+speech in two threads (default: on with 2+ cores).",
        ),
    ] = None,
    clip_timeout: Annotated[
        float | None,
        typer.Option(
            "--clip-timeout",
            min=0,
            help="Stop decoding a clip after this many seconds; it fails with code timeout.",
        ),
    ] = None,
) -> None:
    """Extract cues, textualize and draft every clip; finished stages are skipped on rerun."""
    from annotator.drafting.backends import options_for
    from extractors.errors import AnnotatorError

    drafter = drafter or Settings.load(home=home, db_url=db).drafting_backend
    try:
        drafting_options = options_for(
            drafter,
            model=model,
            max_new_tokens=max_new_tokens,
            threads=threads or None,
            base_url=base_url,
            concurrency=concurrency,
        )
    except AnnotatorError as exc:  # unknown drafter, an option it does not take
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    face_options: dict[str, Any] = {}
    if openface_dir:  # the folder names the backend when --face is not given
        face = face or "openface"
        face_options["csv_dir"] = str(openface_dir)
    if pyfeat_dir:
        face = face or "pyfeat"
        face_options["pyfeat_dir"] = str(pyfeat_dir)
    if face_options and face not in ("openface", "pyfeat"):
        shown = escape(face or "")
        err.print(f"[red]✗[/] --openface-dir/--pyfeat-dir do not apply to --face {shown}")
        raise typer.Exit(2)
    speech_options: dict[str, Any] = {}
    if speech_model:
        speech_options["model"] = speech_model
    if align_model:
        speech_options["align_model"] = align_model
    if diarize_model:
        speech_options.update(diarize=True, diarize_model=diarize_model)
    settings = settings_for(
        home,
        db,
        face_backend=face,
        voice_backend=voice,
        speech_backend=speech,
        drafting_backend=drafter,
        drafting_options=drafting_options,
        face_options=face_options,
        speech_options=speech_options,
        speaker_min_clips=speaker_min_clips,
        samples=samples,
        hints=hints,
        emotion_prompt=emotion_prompt,
    )
    result = _run(
        settings,
        draft=not no_draft,
        clips=clip,
        parallel_stages=parallel_stages,
        clip_timeout=clip_timeout,
    )
    if result is None or result.failed:
        raise typer.Exit(1)


def _run(
    settings: Settings,
    draft: bool,
    clips: list[str] | None,
    parallel_stages: bool | None = None,
    clip_timeout: float | None = None,
) -> Any:
    """Run the pipeline with a progress bar; None when it could not start (message printed)."""
    from sqlmodel import select

    from annotator.pipeline import Runner
    from db import Clip, session_scope
    from db.queries import find_clip

    with session_scope(settings.db_url) as session:
        if clips:
            ids: list[int] | None = []
            for ref in clips:
                found = find_clip(session, ref) or find_clip(session, str(Path(ref).resolve()))
                if found is None or found.id is None:
                    err.print(f"[red]✗[/] no clip {escape(ref)!r}; see `annotator status`")
                    return None
                ids.append(found.id)  # type: ignore[union-attr]
        else:
            ids = None
        total = len(ids) if ids is not None else len(session.exec(select(Clip.id)).all())
    try:
        runner = Runner(
            settings, draft=draft, parallel_stages=parallel_stages, clip_timeout=clip_timeout
        )
    except Exception as exc:  # unknown backend name, bad option
        err.print(f"[red]✗[/] {escape(str(exc))}")
        return None
    with progress_bar() as progress:
        task = progress.add_task("clips", total=total, detail="")

        def on_step(clip: Any, stage: str) -> None:
            if stage == "finished":
                progress.advance(task)
                progress.update(task, detail="")
            else:
                progress.update(task, detail=f"{clip.name}: {stage}")

        result = runner.run(ids, progress=on_step)
    _print_run_summary(result)
    return result


def _print_run_summary(result: Any) -> None:
    for outcome in result.outcomes:
        if outcome.status == "failed":
            for code, message in outcome.errors:
                err.print(f"[red]✗[/] {escape(outcome.name)}: {escape(message)} [dim]({code})[/]")
        elif outcome.status == "partial":
            gone = "; ".join(f"{k}: {v}" for k, v in outcome.missing.items())
            console.print(f"[yellow]~[/] {escape(outcome.name)}: partial ({escape(gone)})")
    counts = result.counts()
    codes = result.error_codes()
    line = (
        f"run {result.job_id}: {len(result.outcomes)} clips: {counts.get('done', 0)} done, "
        f"{counts.get('partial', 0)} partial, {counts.get('failed', 0)} failed"
    )
    if codes:
        line += " (" + ", ".join(f"{k}: {v}" for k, v in codes.most_common()) + ")"
    console.print(line)
