# The mer-annotator image: CLI, pipeline and the Streamlit review app.
# Same lock file as local installs (uv.lock), so the container resolves exactly like CI, and
# the same portable llama.cpp build flags (pyproject.toml): an image built on one CPU runs on
# another. The core install (no torch); add e.g. `--extra whisperx` to both syncs for more.
FROM python:3.11-slim-bookworm

ENV UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    ANNOTATOR_HOME=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY locks/tools.lock locks/tools.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r locks/tools.lock
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project --no-dev
COPY annotator annotator
COPY extractors extractors
COPY textualize textualize
COPY app app
COPY db db
RUN uv sync --locked --no-dev

VOLUME ["/data", "/media"]
EXPOSE 8501
CMD ["annotator", "review", "--address", "0.0.0.0", "--port", "8501"]
