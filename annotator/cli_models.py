"""``annotator models`` (which models each backend has on this machine, and how to get
the others) and ``annotator models fetch NAME`` (download one, on a machine with the
network, into the folder its backend searches).

Fetchable names: ``pyfeat`` (py-feat's detector weights, into py-feat's own resource
folder), ``whisperx-align-en`` (``facebook/wav2vec2-base-960h``, into the Hugging Face
cache), ``whisperx-diarize`` (pyannote's gated diarization pipeline: accept its terms on
the hub and set ``HF_TOKEN``), and any hub id (``owner/name``), e.g. a drafting model.
Everything else in the tool reads only what is on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from extractors.errors import AnnotatorError

models_app = typer.Typer(
    help="Models on this machine (table), and `fetch NAME` to download one.",
    invoke_without_command=True,
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

FETCH_NAMES = ("pyfeat", "whisperx-align-en", "whisperx-diarize")
#: What the "model" column says for backends whose config names no model.
MODEL_LABELS = {
    ("face", "landmarks"): "dlib 68-point predictor",
    ("face", "mediapipe"): "face_landmarker.task",
    ("face", "openface"): "OpenFace 2 CSVs",
    ("face", "pyfeat"): "py-feat Detectorv1 weights",
    ("voice", "opensmile"): "eGeMAPSv02",
}


class FetchError(AnnotatorError, ConnectionError):
    """A model could not be downloaded (offline, no network, gated, unknown name)."""

    code = "fetch_failed"


@dataclass(frozen=True)
class ModelRow:
    kind: str
    backend: str
    model: str
    present: bool
    where: str  # where it is, or what is missing and how to get it


# -- the table ---------------------------------------------------------------------------
def _row(kind: str, backend: str, model: str, check: Callable[[], tuple[bool, str]]) -> ModelRow:
    try:
        ok, detail = check()
    except Exception as exc:  # a broken install is a row, not a crash
        ok, detail = False, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return ModelRow(kind, backend, model, ok, detail)


def _availability(backend: Any) -> tuple[bool, str]:
    availability = backend.available()
    return availability.ok, availability.detail


def _drafting_availability(
    create: Callable[..., Any], name: str, options: dict[str, Any]
) -> tuple[bool, str]:
    return _availability(create(name, **options))


def model_rows(
    drafting_model: str | None = None,
    pyfeat_dir: str | None = None,
    align_model: str | None = None,
    diarize_model: str | None = None,
) -> list[ModelRow]:
    """One row per (backend, model): present or not, and where / how to get it."""
    from annotator.drafting import create_drafting, drafting_names
    from annotator.drafting.models import bundled_status
    from extractors import registry
    from extractors.speech.models import resolve_whisper_model
    from extractors.speech.whisperx_models import (
        DEFAULT_DIARIZE_MODEL,
        align_status,
        diarize_status,
    )

    rows: list[ModelRow] = []
    for kind in registry.EXTRACTOR_KINDS:
        for name in registry.names(kind):
            options = {"pyfeat_dir": pyfeat_dir} if (kind, name) == ("face", "pyfeat") else {}
            if (kind, name) == ("speech", "whisperx") and align_model:
                options = {"align_model": align_model}
            backend = registry.create(kind, name, **options)
            label = MODEL_LABELS.get((kind, name)) or str(backend.config().get("model", "-"))
            rows.append(_row(kind, name, label, partial(_availability, backend)))
    rows.append(
        _row(
            "speech",
            "faster-whisper",
            "bundled:base (multilingual)",
            lambda: (True, resolve_whisper_model("bundled:base")),
        )
    )
    rows.append(
        _row(
            "speech",
            "whisperx",
            f"alignment (en){': ' + align_model if align_model else ''}",
            lambda: align_status("en", align_model),
        )
    )
    diarize = diarize_model or DEFAULT_DIARIZE_MODEL
    rows.append(
        _row("speech", "whisperx", f"diarization: {diarize}", lambda: diarize_status(diarize))
    )
    for name in drafting_names():
        options = {"model": drafting_model} if drafting_model else {}
        label = drafting_model or "default"
        rows.append(
            _row(
                "drafting",
                name,
                label,
                partial(_drafting_availability, create_drafting, name, options),
            )
        )
    for status in bundled_status():
        rows.append(ModelRow("drafting", "bundled", status.name, status.installed, status.detail))
    return rows


@models_app.callback()
def models(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Drafting model to check.")] = None,
    pyfeat_dir: Annotated[
        Path | None, typer.Option(help="Folder searched first for py-feat weights.")
    ] = None,
    align_model: Annotated[
        str | None, typer.Option(help="whisperX alignment model (path or cached hub id).")
    ] = None,
    diarize_model: Annotated[
        str | None, typer.Option(help="pyannote diarization pipeline (folder or hub id).")
    ] = None,
) -> None:
    """Each backend's models: present on this machine? where, or how to get them."""
    if ctx.invoked_subcommand is not None:
        return
    rows = model_rows(model, str(pyfeat_dir) if pyfeat_dir else None, align_model, diarize_model)
    table = Table(title="models")
    for column in ("kind", "backend", "model", "present", "where / how to get"):
        table.add_column(column, overflow="fold")
    for row in rows:
        present = "yes" if row.present else "[red]no[/]"
        table.add_row(row.kind, row.backend, escape(row.model), present, escape(row.where))
    console.print(table)


# -- fetching ----------------------------------------------------------------------------
def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return flag.strip().lower() in ("1", "true", "yes", "on") or bool(constants.HF_HUB_OFFLINE)


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _fetch_pyfeat(dest: Path | None) -> list[str]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError

    from extractors.face.pyfeat_backend import WEIGHT_FILES, _pyfeat_resource_dir

    cache = dest or _pyfeat_resource_dir()
    paths = []
    for weight in WEIGHT_FILES:
        for i, filename in enumerate(weight.names):
            try:
                paths.append(hf_hub_download(weight.repo_id, filename, cache_dir=cache))
                break
            except EntryNotFoundError:
                if i == len(weight.names) - 1:
                    raise
    return paths


def _fetch_repo(repo_id: str, dest: Path | None, patterns: list[str] | None = None) -> list[str]:
    from huggingface_hub import snapshot_download

    token = os.environ.get("HF_TOKEN") or None
    folder = snapshot_download(repo_id, cache_dir=dest, allow_patterns=patterns, token=token)
    return [folder]


def _fetch_aligner(repo_id: str, dest: Path | None) -> list[str]:
    """Configs and safetensors weights; ``pytorch_model.bin`` only when there are none."""
    folder = _fetch_repo(repo_id, dest, ["*.json", "*.txt", "*.safetensors"])[0]
    if not any(Path(folder).glob("*.safetensors")):
        folder = _fetch_repo(repo_id, dest, ["pytorch_model.bin"])[0]
    return [folder]


def fetch(name: str, dest: Path | None = None) -> list[str]:
    """Download ``name``; the local paths written. Raises ``FetchError`` (one line)."""
    from extractors.speech.whisperx_models import DEFAULT_DIARIZE_MODEL, EN_ALIGN_REPO

    jobs: dict[str, tuple[str, Callable[[], list[str]]]] = {
        "pyfeat": ("py-feat/*", lambda: _fetch_pyfeat(dest)),
        "whisperx-align-en": (EN_ALIGN_REPO, lambda: _fetch_aligner(EN_ALIGN_REPO, dest)),
        "whisperx-diarize": (
            DEFAULT_DIARIZE_MODEL,
            lambda: _fetch_repo(DEFAULT_DIARIZE_MODEL, dest),
        ),
    }
    if name in jobs:
        what, job = jobs[name]
    elif name.count("/") == 1 and all(name.split("/")):
        what, job = name, lambda: _fetch_repo(name, dest)
    else:
        raise FetchError(
            f"unknown model {name!r}; fetchable: {', '.join(FETCH_NAMES)} or a hub id (owner/name)"
        )
    if _offline():
        raise FetchError(
            f"cannot fetch {name} ({what}): HF_HUB_OFFLINE=1 is set; run "
            f"`HF_HUB_OFFLINE=0 annotator models fetch {name}` on a machine with the network"
        )
    try:
        return job()
    except Exception as exc:
        gated = "gated" in str(exc).lower() or "401" in str(exc) or "403" in str(exc)
        hint = (
            "accept its terms on the hub and set HF_TOKEN"
            if gated
            else "check the network (and HF_ENDPOINT), or copy the files from a connected machine"
        )
        raise FetchError(f"cannot fetch {name} ({what}): {_one_line(exc)}; {hint}") from exc


@models_app.command("fetch")
def fetch_command(
    name: Annotated[
        str, typer.Argument(help=f"{', '.join(FETCH_NAMES)}, or a hub id (owner/name).")
    ],
    dest: Annotated[
        Path | None,
        typer.Option("--dir", help="Hugging Face cache folder to write (default: the usual one)."),
    ] = None,
) -> None:
    """Download a model on a machine with the network (the rest of the tool never does)."""
    try:
        paths = fetch(name, dest)
    except FetchError as exc:
        err.print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for path in paths:
        console.print(f"fetched {escape(path)}")
    if name == "whisperx-align-en" and dest is not None:
        console.print(f"use it with --align-model {escape(paths[0])}")
    if name == "whisperx-diarize":
        console.print(f"use it with --diarize-model {escape(paths[0])}")
