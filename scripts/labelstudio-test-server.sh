#!/usr/bin/env bash
# A throwaway Label Studio server for the tests, in its own virtualenv (its pins clash with ours).
#
#   bash scripts/labelstudio-test-server.sh install   # create .labelstudio-venv from locks/labelstudio.lock
#   bash scripts/labelstudio-test-server.sh verify    # does the venv match the lock? (one line per difference)
#   bash scripts/labelstudio-test-server.sh start     # install if need be, start on 127.0.0.1
#   bash scripts/labelstudio-test-server.sh env       # LABEL_STUDIO_URL=... LABEL_STUDIO_API_KEY=...
#   bash scripts/labelstudio-test-server.sh stop
#
# The server gets a fresh data dir on every start (${LSTEST_DIR:-/tmp/mer-annotator-ls}/data),
# one user (LSTEST_USER / LSTEST_PASSWORD) with a known legacy API token (LSTEST_TOKEN), listens
# on 127.0.0.1:${LSTEST_PORT:-58080} only, and serves local files from LSTEST_MEDIA only (the
# document root narrowed to the media folder; default $LSTEST_DIR/media). Sign-up without an
# invitation is off. `start` prints "started" or "already running"; waits are bounded
# (LSTEST_TIMEOUT seconds, default 240: the first start runs Django migrations).
#
# Exit codes: 0 ok; 3 Label Studio is not installed and cannot be installed here (no python3.11,
# or pip failed: no package index); 1 anything else.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_VERSION="1.23.2" # the version the tests and the README name
LS_VENV="${LS_VENV:-$ROOT/.labelstudio-venv}"
LS_LOCK="$ROOT/locks/labelstudio.lock" # every package pinned with hashes (locks/labelstudio.in)
LSTEST_DIR="${LSTEST_DIR:-/tmp/mer-annotator-ls}"
LSTEST_PORT="${LSTEST_PORT:-58080}"
LSTEST_MEDIA="${LSTEST_MEDIA:-$LSTEST_DIR/media}"
LSTEST_USER="${LSTEST_USER:-annotator@example.com}"
LSTEST_PASSWORD="${LSTEST_PASSWORD:-mer-annotator-test}"
LSTEST_TOKEN="${LSTEST_TOKEN:-0123456789abcdef0123456789abcdef01234567}"
LSTEST_TIMEOUT="${LSTEST_TIMEOUT:-240}"
PYTHON="${PYTHON:-python3.11}"
PIDFILE="$LSTEST_DIR/server.pid"
LOG="$LSTEST_DIR/server.log"
URL="http://127.0.0.1:$LSTEST_PORT"
EXIT_UNAVAILABLE=3

say() { echo "labelstudio-test-server: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

lock_matches() {
  # 0 when the venv holds exactly the versions of locks/labelstudio.lock (one line per
  # difference on stderr otherwise).
  [ -x "$LS_VENV/bin/python" ] && "$LS_VENV/bin/python" "$ROOT/scripts/check_lock.py" "$LS_LOCK" >&2
}

cmd_install() {
  if [ -x "$LS_VENV/bin/label-studio" ] && lock_matches 2>/dev/null; then
    return 0
  fi
  command -v "$PYTHON" >/dev/null 2>&1 || {
    say "Label Studio is not installed and $PYTHON is missing to install it into $LS_VENV"
    exit "$EXIT_UNAVAILABLE"
  }
  say "installing label-studio==$LS_VERSION from $LS_LOCK into $LS_VENV (a few minutes, once)"
  rm -rf "$LS_VENV"
  "$PYTHON" -m venv "$LS_VENV" || die "$PYTHON -m venv $LS_VENV failed"
  # Every version and hash from the lock, nothing resolved here: a dependency that floats
  # (sentry-sdk 3 broke Label Studio's start) cannot reach this venv.
  if ! timeout 1500 "$LS_VENV/bin/pip" install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r "$LS_LOCK" >"$LS_VENV.install.log" 2>&1; then
    tail -n 20 "$LS_VENV.install.log" >&2 || true
    rm -rf "$LS_VENV"
    say "pip install -r $LS_LOCK failed (no package index?); log: $LS_VENV.install.log"
    exit "$EXIT_UNAVAILABLE"
  fi
  lock_matches || die "$LS_VENV does not match $LS_LOCK after installing it"
}

take_lock() {
  # Serialise concurrent start/stop calls (pytest-xdist workers); give up after a bounded wait.
  mkdir -p "$LSTEST_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$LSTEST_DIR.lock"
    flock -w 1800 9 || die "another start/stop holds $LSTEST_DIR.lock for too long"
  fi
}

running_pid() {
  # The pid of the server this script started, when it still runs.
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
  # 0 when the API answers with our token (not just the port being open).
  "$LS_VENV/bin/python" - "$URL" "$LSTEST_TOKEN" <<'EOF' 2>/dev/null
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/current-user/whoami",
                             headers={"Authorization": "Token " + sys.argv[2]})
with urllib.request.urlopen(req, timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

port_taken() {
  "$LS_VENV/bin/python" -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1', $LSTEST_PORT)) == 0 else 1)"
}

cmd_start() {
  take_lock # before the install too: two callers must not both pip install
  cmd_install # also when installed: a venv that no longer matches the lock is made again
  mkdir -p "$LSTEST_DIR" "$LSTEST_MEDIA"
  if running_pid >/dev/null; then
    answers || die "a server runs (pid $(cat "$PIDFILE")) but $URL does not answer our token; run: $0 stop"
    echo "already running"
    return 0
  fi
  if port_taken; then die "port $LSTEST_PORT on 127.0.0.1 is taken by another server; set LSTEST_PORT"; fi
  rm -rf "$LSTEST_DIR/data" # throwaway: a fresh database and user every start
  mkdir -p "$LSTEST_DIR/data"
  say "starting Label Studio $LS_VERSION on $URL (data $LSTEST_DIR/data, media $LSTEST_MEDIA)"
  # setsid: the server and its children form one process group that `stop` ends as a whole.
  (
    cd "$LSTEST_DIR"
    export LABEL_STUDIO_BASE_DATA_DIR="$LSTEST_DIR/data"
    export LABEL_STUDIO_USERNAME="$LSTEST_USER" LABEL_STUDIO_PASSWORD="$LSTEST_PASSWORD"
    export LABEL_STUDIO_USER_TOKEN="$LSTEST_TOKEN" LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true
    export LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT="$LSTEST_MEDIA"
    export LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true
    export LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$LSTEST_MEDIA"
    export LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true SSRF_PROTECTION_ENABLED=true
    export COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN=
    exec 9>&-
    exec setsid "$LS_VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 \
      --port "$LSTEST_PORT" --data-dir "$LSTEST_DIR/data" </dev/null >"$LOG" 2>&1
  ) &
  echo $! >"$PIDFILE"
  local i
  for ((i = 0; i < LSTEST_TIMEOUT; i++)); do
    if answers; then
      echo "started"
      return 0
    fi
    running_pid >/dev/null || {
      tail -n 30 "$LOG" >&2 || true
      die "the server exited before answering (log: $LOG)"
    }
    sleep 1
  done
  tail -n 30 "$LOG" >&2 || true
  cmd_stop
  die "$URL did not answer within $LSTEST_TIMEOUT s (log: $LOG)"
}

cmd_stop() {
  local pid i
  take_lock
  pid="$(running_pid)" || {
    say "not running"
    rm -f "$PIDFILE"
    return 0
  }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  say "stopped"
}

cmd_env() {
  echo "LABEL_STUDIO_URL=$URL"
  echo "LABEL_STUDIO_API_KEY=$LSTEST_TOKEN"
  echo "LSTEST_MEDIA=$LSTEST_MEDIA"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
verify) lock_matches ;;
version)
  # Not `label-studio version`: it initialises a database in ~/.local/share (2 minutes).
  cmd_install && "$LS_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("label-studio"))'
  ;;
*)
  echo "usage: $0 install|verify|start|stop|env|version" >&2
  exit 2
  ;;
esac
