"""``annotator doctor``: what a run needs on this machine, one line per check.

Every check returns a ``Check`` (ok, warn, fail or skip, and one line of detail); none
raises. Whatever could crash (llama.cpp decoding a token, importing torch to ask for CUDA)
runs in a subprocess with a time limit, so a crash is reported, not suffered. The command
exits 1 when a check failed, which is how ``make demo`` stops before a run that cannot work.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from annotator.config import Settings
from annotator.engines.contained import exit_description
from extractors.extras import EXTRAS, install_command, missing_extra
from extractors.media import sha256_file

#: The Label Studio the project's lock, tests and compose file pin (deploy/labelstudio/).
LABEL_STUDIO_VERSION = "1.23.2"
#: CPU flags worth naming: what llama.cpp, CTranslate2 and onnxruntime pick kernels by.
CPU_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")
#: llama.cpp features the portable build leaves out (pyproject.toml, config-settings).
HOST_ONLY_FEATURES = ("AMX", "AVX512")
DECODE_TIMEOUT_S = 180.0
FREE_DISK_WARN_GB = 5.0
FREE_DISK_FAIL_GB = 1.0
REBUILD_HINT = (
    "rebuild llama-cpp-python from the lock's portable flags: "
    "uv cache clean llama-cpp-python && make setup"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    data: dict[str, Any] | None = None  # machine-readable facts for --json

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def run_checks(settings: Settings, decode: bool = True) -> list[Check]:
    """Every check, in the order printed. ``decode=False`` skips the decoding probe."""
    checks: list[Callable[[], Check]] = [
        check_platform,
        check_cpu,
        lambda: check_drafter(settings, decode),
        check_models,
        check_media,
        lambda: check_database(settings),
        check_label_studio,
        lambda: check_disk(settings),
        check_gpu,
        check_extras,
    ]
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a check that breaks is a failed line, never a traceback
            name = getattr(check, "__name__", "check").removeprefix("check_")
            results.append(Check(name, Status.FAIL, f"{type(exc).__name__}: {exc}".splitlines()[0]))
    return results


# -- the machine ---------------------------------------------------------------------------


def check_platform() -> Check:
    distro = ""
    try:
        fields = dict(
            line.split("=", 1)
            for line in Path("/etc/os-release").read_text().splitlines()
            if "=" in line
        )
        distro = fields.get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    detail = (
        f"{platform.system()} {platform.release()} {platform.machine()}"
        f"{', ' + distro if distro else ''}; Python {platform.python_version()} ({sys.executable})"
    )
    ok = sys.version_info[:2] in ((3, 11), (3, 12))
    return Check(
        "platform",
        Status.OK if ok else Status.FAIL,
        detail if ok else f"{detail}: mer-annotator needs Python 3.11 or 3.12",
        {"system": platform.system(), "machine": platform.machine(), "distro": distro,
         "python": platform.python_version()},
    )  # fmt: skip


def cpu_facts() -> dict[str, Any]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
    }


def check_cpu() -> Check:
    facts = cpu_facts()
    have = [f for f, on in facts["flags"].items() if on]
    detail = f"{facts['model']}, {facts['cores']} cores; {' '.join(have) or 'no AVX2'}"
    if not facts["flags"]["avx2"] and platform.machine() in ("x86_64", "AMD64"):
        return Check(
            "cpu", Status.WARN, detail + ": no AVX2, llama.cpp's portable build needs it", facts
        )
    return Check("cpu", Status.OK, detail, facts)


# -- the drafter -----------------------------------------------------------------------------


def check_drafter(settings: Settings, decode: bool = True) -> Check:
    """The configured drafter can start; for llama.cpp, it decodes one token in a subprocess."""
    from annotator.drafting import create_drafting
    from extractors import registry

    name = settings.drafting_backend
    try:
        no_extra = registry.missing_extra_of("drafting", name)
    except registry.UnknownBackendError as exc:
        return Check("drafter", Status.FAIL, str(exc))
    if no_extra:
        return Check("drafter", Status.FAIL, no_extra)
    try:
        backend = create_drafting(name, **settings.drafting_options)
        availability = backend.available()
    except Exception as exc:
        return Check("drafter", Status.FAIL, f"{name}: {type(exc).__name__}: {exc}".splitlines()[0])
    if not availability.ok:
        return Check("drafter", Status.FAIL, f"{name}: {availability.detail}")
    if name != "llamacpp":
        return Check("drafter", Status.OK, f"{name}: {availability.detail}")
    if not decode:
        return Check("drafter", Status.SKIP, f"llamacpp: {availability.detail} (decode not tried)")
    return decode_probe(settings.drafting_options.get("model"))


def decode_probe(model: str | None = None, timeout_s: float = DECODE_TIMEOUT_S) -> Check:
    """Load the GGUF with llama.cpp and decode one token, in a child process."""
    args = [sys.executable, "-m", "annotator.doctor", "--decode-probe"]
    if model:
        args.append(model)
    start = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return Check("drafter", Status.FAIL, f"llama.cpp: no token after {timeout_s:g} s")
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        why = exit_description(done.returncode)
        detail = f"llama.cpp could not decode one token: {why}"
        if done.returncode < 0:
            detail += f"; {REBUILD_HINT}"
        elif last:
            detail += f": {last}"
        return Check("drafter", Status.FAIL, detail, {"returncode": done.returncode})
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    features = facts["system_info"]
    # "CPU : SSE3 = 1 | AVX2 = 1 | ... |": the features this build compiled in
    enabled = [
        f.split(":")[-1].split("=")[0].strip()
        for f in features.split("|")
        if f.strip().endswith("= 1")
    ]
    host_only = [f for f in enabled if f.startswith(HOST_ONLY_FEATURES)]
    facts.update(features_enabled=enabled, seconds=round(seconds, 2))
    detail = (
        f"llamacpp {facts['version']}: one token decoded in {seconds:.1f} s "
        f"({Path(facts['model']).name}); built for {' '.join(enabled) or 'a generic CPU'}"
    )
    if host_only:
        return Check(
            "drafter",
            Status.WARN,
            f"{detail}: {'/'.join(host_only)} compiled in (a host-tuned build?); {REBUILD_HINT}",
            facts,
        )
    return Check("drafter", Status.OK, detail, facts)


def _decode_one_token(model: str | None) -> None:
    """The probe's child: prints one JSON line; a crash is its exit status."""
    import llama_cpp

    from annotator.drafting.models import DEFAULT_DRAFT_MODEL, resolve_model

    path = resolve_model(model or DEFAULT_DRAFT_MODEL).gguf_path
    if path is None:
        raise SystemExit(f"{model} is not a GGUF model")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
    tokens = llm.tokenize(b"Hello")
    llm.eval(tokens)
    token = llm.sample(top_k=1, temp=0.0)
    print(
        json.dumps(
            {
                "model": str(path),
                "version": metadata.version("llama-cpp-python"),
                "system_info": llama_cpp.llama_print_system_info().decode().strip(),
                "token": llm.detokenize([token]).decode(errors="replace"),
            }
        )
    )
    llm.close()


# -- models, media, storage ------------------------------------------------------------------


def check_models() -> Check:
    """The default models' files: where, and their sha256 (the big GGUF's is the pinned
    one its join verified, not hashed again)."""
    from annotator.drafting.model_cache import cached_file, default_cache_dir
    from annotator.drafting.models import DEFAULT_DRAFT_MODEL, SPLIT_MODELS
    from extractors.face import mediapipe_backend
    from extractors.speech.models import resolve_whisper_model

    files: dict[str, dict[str, Any]] = {}
    problems = []
    face = mediapipe_backend.model_path()
    if face is None:
        problems.append(f"{mediapipe_backend.MODEL_FILE} missing: {mediapipe_backend.INSTALL_HINT}")
    else:
        digest = sha256_file(face)
        files[face.name] = {"path": str(face), "sha256": digest}
        if digest != mediapipe_backend.MODEL_SHA256:
            problems.append(f"{face} does not match its pinned sha256")
    try:
        whisper = Path(resolve_whisper_model("bundled:tiny.en")) / "model.bin"
        files["whisper tiny.en"] = {"path": str(whisper), "sha256": sha256_file(whisper)}
    except Exception as exc:
        problems.append(str(exc).splitlines()[0])
    split = SPLIT_MODELS[DEFAULT_DRAFT_MODEL]
    joined = cached_file(split, default_cache_dir())
    files[split.filename] = {
        "path": str(joined) if joined else None,
        "sha256": split.sha256,
        "joined": joined is not None,
    }
    shown = "; ".join(
        f"{name} {info['sha256'][:12]}"
        + ("" if info.get("joined", True) else " (joined at first use)")
        for name, info in files.items()
    )
    if problems:
        return Check("models", Status.FAIL, "; ".join(problems), {"files": files})
    return Check("models", Status.OK, shown, {"files": files})


def check_media() -> Check:
    import av

    versions = {k: ".".join(map(str, v)) for k, v in av.library_versions.items()}
    ffmpeg = shutil.which("ffmpeg")
    detail = f"PyAV {av.__version__}, libavcodec {versions.get('libavcodec', '?')}"
    data = {"pyav": av.__version__, "libraries": versions, "ffmpeg": ffmpeg}
    if ffmpeg is None:
        return Check(
            "media",
            Status.WARN,
            f"{detail}; no ffmpeg binary (whisperX and py-feat need it): apt-get install ffmpeg",
            data,
        )
    return Check("media", Status.OK, f"{detail}; ffmpeg at {ffmpeg}", data)


def check_database(settings: Settings) -> Check:
    """Reachable, and at the migration head; a SQLite file not made yet is fine."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from db.engine import current_revisions, masked_url
    from db.migrations import HEAD

    url = settings.db_url
    shown = masked_url(url)
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database and not Path(database).exists():
        return Check("database", Status.OK, f"{shown}: not made yet (the first command makes it)")
    engine = create_engine(url, connect_args={"connect_timeout": 5} if "postgres" in url else {})
    try:
        with engine.connect() as conn:
            current = current_revisions(conn)
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return Check("database", Status.FAIL, f"{shown}: unreachable: {reason}")
    finally:
        engine.dispose()
    data = {"url": shown, "revision": sorted(current or []), "head": HEAD}
    if current == {HEAD}:
        return Check("database", Status.OK, f"{shown}: migrated to head ({HEAD})", data)
    if not current:
        return Check(
            "database", Status.WARN, f"{shown}: no schema yet (the next command migrates it)", data
        )
    return Check(
        "database",
        Status.WARN,
        f"{shown}: at {', '.join(sorted(current))}, head is {HEAD} (the next command migrates it)",
        data,
    )


def check_label_studio() -> Check:
    url = os.environ.get("LABEL_STUDIO_URL")
    if not url:
        return Check("label studio", Status.SKIP, "not configured (LABEL_STUDIO_URL is unset)")
    import httpx

    try:
        answer = httpx.get(url.rstrip("/") + "/api/version", timeout=10)
        answer.raise_for_status()
        version = str(answer.json().get("release") or answer.json().get("version") or "?")
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Check("label studio", Status.WARN, f"{url}: unreachable: {reason}")
    data = {"url": url, "version": version}
    if version != LABEL_STUDIO_VERSION:
        return Check(
            "label studio",
            Status.WARN,
            f"{url}: Label Studio {version}; the tests and the lock pin {LABEL_STUDIO_VERSION}",
            data,
        )
    return Check("label studio", Status.OK, f"{url}: Label Studio {version}", data)


def check_disk(settings: Settings) -> Check:
    where = settings.home
    while not where.exists() and where != where.parent:
        where = where.parent
    free_gb = shutil.disk_usage(where).free / 1e9
    detail = f"{free_gb:.1f} GB free at {where}"
    data = {"path": str(where), "free_gb": round(free_gb, 2)}
    if free_gb < FREE_DISK_FAIL_GB:
        return Check("disk", Status.FAIL, f"{detail}: cues and models need more", data)
    if free_gb < FREE_DISK_WARN_GB:
        return Check("disk", Status.WARN, f"{detail}: little room for cues and models", data)
    return Check("disk", Status.OK, detail, data)


def check_gpu() -> Check:
    """CUDA through torch (in a subprocess: importing torch is slow and native) and vLLM."""
    if importlib.util.find_spec("torch") is None:
        return Check("gpu", Status.SKIP, "no torch installed (the CPU pipeline needs none)")
    probe = (
        "import json, torch; print(json.dumps({'torch': torch.__version__, "
        "'cuda': torch.cuda.is_available(), 'devices': torch.cuda.device_count(), "
        "'names': [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
        facts = json.loads(done.stdout.strip().splitlines()[-1])
    except Exception:
        return Check("gpu", Status.WARN, "torch is installed but did not start in 120 s")
    try:
        facts["vllm"] = metadata.version("vllm")
    except metadata.PackageNotFoundError:
        facts["vllm"] = None
    vllm = f"vllm {facts['vllm']}" if facts["vllm"] else "no vllm"
    if not facts["cuda"]:
        return Check("gpu", Status.SKIP, f"torch {facts['torch']}, no CUDA device; {vllm}", facts)
    names = ", ".join(facts["names"])
    return Check("gpu", Status.OK, f"torch {facts['torch']}, CUDA: {names}; {vllm}", facts)


def check_extras() -> Check:
    present = {extra: missing_extra(extra, extra) is None for extra in EXTRAS}
    have = [e for e, ok in present.items() if ok]
    lacking = [e for e, ok in present.items() if not ok]
    detail = f"installed: {', '.join(have) or 'none'}"
    if lacking:
        detail += f"; not installed: {', '.join(lacking)} ({install_command('NAME')})"
    return Check("extras", Status.OK, detail, {"extras": present})


if __name__ == "__main__":  # python -m annotator.doctor --decode-probe [MODEL]
    if sys.argv[1:2] == ["--decode-probe"]:
        _decode_one_token(sys.argv[2] if len(sys.argv) > 2 else None)
