"""`annotator run`: extract -> textualize -> draft every pending clip, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from annotator.cli_common import DbOpt, HomeOpt, console, err, progress_bar, settings_for
from annotator.config import Settings
from annotator.drafting.prompt import PROMPT_VERSION, PROMPTS


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
    prompt_version: Annotated[
        str | None,
        typer.Option(
            "--prompt-version",
            help=f"Draft prompt version: {', '.join(PROMPTS)} (default {PROMPT_VERSION}); "
            "an older one keeps new drafts comparable with earlier ones.",
        ),
    ] = None,
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
            help="Seconds one clip may take (default: max(300, 10x its duration)); past it "
            "the clip is stopped and fails with code timeout, and the batch goes on.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes claiming clips from the database (models load once per "
            "worker); 1: this process alone. With --engine ray: Ray actors (default: its CPUs).",
        ),
    ] = 1,
    engine: Annotated[
        str, typer.Option(help="local (this machine's processes) or ray (a Ray cluster).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="--engine ray: the cluster (e.g. 10.0.0.1:6379, or auto); default: start a "
            "local Ray with this machine's CPUs.",
        ),
    ] = None,
    lease: Annotated[
        float,
        typer.Option(
            min=1,
            help="Workers: seconds a claim on a clip holds without renewal (a dead worker's "
            "clip is taken over after it).",
        ),
    ] = 60.0,
) -> None:
    """Extract cues, textualize and draft every clip; finished stages are skipped on rerun."""
    _execute("run", **locals())


def _execute(command: str, **opts: Any) -> None:
    """``run`` and ``worker`` (annotator/cli_worker.py): the same options, one path."""
    from annotator.drafting.backends import options_for
    from extractors.errors import AnnotatorError

    home, db, face, drafter = opts["home"], opts["db"], opts["face"], opts["drafter"]
    model, max_new_tokens, threads = opts["model"], opts["max_new_tokens"], opts["threads"]
    base_url, concurrency = opts["base_url"], opts["concurrency"]
    openface_dir, pyfeat_dir = opts["openface_dir"], opts["pyfeat_dir"]
    speech_model, align_model = opts["speech_model"], opts["align_model"]
    diarize_model, voice, speech = opts["diarize_model"], opts["voice"], opts["speech"]
    speaker_min_clips, samples = opts["speaker_min_clips"], opts["samples"]
    hints, emotion_prompt, no_draft = opts["hints"], opts["emotion_prompt"], opts["no_draft"]
    clip, parallel_stages, clip_timeout = (
        opts["clip"],
        opts["parallel_stages"],
        opts["clip_timeout"],
    )
    if opts["prompt_version"] not in (None, *PROMPTS):
        shown = escape(opts["prompt_version"])
        err.print(f"[red]✗[/] --prompt-version {shown}: use one of {', '.join(PROMPTS)}")
        raise typer.Exit(2)
    if opts["engine"] not in ("local", "ray"):
        err.print(f"[red]✗[/] --engine {escape(opts['engine'])}: use local or ray")
        raise typer.Exit(2)
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
        prompt_version=opts["prompt_version"],
    )
    missing = _missing_extras(settings, draft=not no_draft, ray=opts["engine"] == "ray")
    if missing:
        err.print(f"[red]✗[/] {escape(missing)}")
        raise typer.Exit(2)
    if command == "run" and opts["engine"] == "local" and opts["workers"] == 1:
        result = _run(
            settings,
            draft=not no_draft,
            clips=clip,
            parallel_stages=parallel_stages,
            clip_timeout=clip_timeout,
        )
    else:
        from annotator.cli_worker import run_parallel

        result = run_parallel(command, settings, not no_draft, clip, **opts)
    if result is None or result.failed:
        raise typer.Exit(1)


def _missing_extras(settings: Settings, draft: bool, ray: bool) -> str | None:
    """The first chosen backend (or --engine ray) whose extra is not installed: its line."""
    from extractors import registry
    from extractors.extras import missing_extra

    kinds = ["face", "voice", "speech"] + (["drafting"] if draft else [])
    for kind in kinds:
        try:
            message = registry.missing_extra_of(kind, getattr(settings, f"{kind}_backend"))
        except registry.UnknownBackendError:
            continue  # said when the Runner is made, with the known names
        if message:
            return message
    return missing_extra("ray", "--engine ray") if ray else None


def _run(
    settings: Settings,
    draft: bool,
    clips: list[str] | None,
    parallel_stages: bool | None = None,
    clip_timeout: float | None = None,
) -> Any:
    """Run the pipeline with a progress bar; None when it could not start (message printed)."""
    from annotator.pipeline import Runner

    chosen = clip_ids(settings, clips)
    if chosen is None:
        return None
    ids, total = chosen
    try:
        runner = Runner(
            settings,
            draft=draft,
            parallel_stages=parallel_stages,
            clip_timeout=clip_timeout,
            auto_timeout=True,
            isolate_extraction=True,
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

        try:
            result = runner.run(ids, progress=on_step)
        finally:
            runner.close()
    _print_run_summary(result)
    return result


def clip_ids(settings: Settings, clips: list[str] | None) -> tuple[list[int] | None, int] | None:
    """The chosen clips' ids (None: every clip) and their number; None when a reference
    names no clip (said on stderr)."""
    from sqlmodel import select

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
    return ids, total


def _print_run_summary(result: Any) -> None:
    from db.models import OutcomeStatus

    for outcome in result.outcomes:
        if outcome.status == OutcomeStatus.FAILED:
            for code, message in outcome.errors:
                err.print(f"[red]✗[/] {escape(outcome.name)}: {escape(message)} [dim]({code})[/]")
        elif outcome.status == OutcomeStatus.PARTIAL:
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
