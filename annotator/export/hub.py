"""``push-to-hub``: an export folder checked for the layout the Hub expects, then uploaded
with ``huggingface_hub.upload_folder``. Without a token nothing is contacted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from annotator.export.manifest import MANIFEST
from extractors.errors import AnnotatorError

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class HubError(AnnotatorError, RuntimeError):
    """The export cannot be pushed: no token, not an export folder, or the Hub refused."""

    code = "hub_push_failed"


class NoTokenError(HubError, PermissionError):
    code = "hub_token_missing"


def card_header(out: Path) -> dict[str, object]:
    text = (out / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise HubError(f"{out.name}/README.md has no YAML header")
    head = yaml.safe_load(text[4 : text.index("\n---\n", 4)])
    return head if isinstance(head, dict) else {}


def layout_problems(out: Path) -> list[str]:
    """What keeps ``out`` from being a Hub dataset repository as the export writes one."""
    if not out.is_dir():
        return [f"{out.name} is not a folder"]
    problems = [f"{name} missing" for name in ("README.md", MANIFEST) if not (out / name).is_file()]
    if problems:
        return problems
    try:
        head = card_header(out)
    except (HubError, yaml.YAMLError) as exc:
        return [str(exc).splitlines()[0]]
    configs = head.get("configs")
    if not isinstance(configs, list) or not configs:
        return ["README.md declares no configs"]
    for config in configs:
        for entry in config.get("data_files", []):
            if not list(out.glob(entry["path"])):
                problems.append(f"{config['config_name']}/{entry['split']}: no {entry['path']}")
    return problems


def read_token(token_file: Path | None) -> str | None:
    """The token from ``token_file``, else HF_TOKEN, else the huggingface_hub login."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NoTokenError(f"token file {token_file.name}: {exc.strerror}") from exc
        return token or None
    if os.environ.get("HF_TOKEN", "").strip():
        return os.environ["HF_TOKEN"].strip()
    from huggingface_hub import get_token

    return get_token()


def push(out: Path, repo: str, *, private: bool = False, token_file: Path | None = None) -> str:
    """Upload ``out`` to the dataset repository ``repo``; its URL."""
    if not REPO_ID.match(repo):
        raise HubError(f"repository {repo!r}: expected owner/name")
    problems = layout_problems(out)
    if problems:
        raise HubError(f"{out.name} is not an export folder: {'; '.join(problems[:3])}")
    token = read_token(token_file)
    if not token:
        raise NoTokenError(
            "no Hugging Face token: pass --token-file, set HF_TOKEN or run `hf auth login`"
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo,
            folder_path=str(out),
            repo_type="dataset",
            commit_message="mer-annotator export",
        )
    except Exception as exc:  # network, permission, quota: one line, not a traceback
        raise HubError(f"push to {repo} failed: {type(exc).__name__}: {exc}") from exc
    return f"https://huggingface.co/datasets/{repo}"
