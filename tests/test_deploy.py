"""docker-compose.yml and the Dockerfile: no Docker engine here, so check what can be checked."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_declares_postgres_labelstudio_and_review_bound_to_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "labelstudio", "review"} <= set(services)
    for name in ("postgres", "labelstudio", "review"):
        for port in services[name].get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    review_env = services["review"]["environment"]  # the URL (with its password) is a secret
    assert review_env["ANNOTATOR_DB_URL_FILE"] == "/run/secrets/annotator_db_url"
    assert services["review"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    init = services["postgres"]["volumes"][1].split(":")[0]
    assert (ROOT / init).is_file()  # the Label Studio database is created on first start


def test_dockerfile_copies_every_package_and_runs_a_real_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("annotator", "extractors", "textualize", "app", "db"):
        assert f"COPY {package} {package}" in dockerfile
    assert "uv sync --locked" in dockerfile
    assert 'CMD ["annotator", "review"' in dockerfile
