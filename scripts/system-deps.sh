#!/usr/bin/env bash
# Debian packages the tool needs, installed only when missing.
#   runtime: ffmpeg (its shared libraries are what torchcodec loads for py-feat and
#            whisperX; whisperX's load_audio calls the ffmpeg binary)
#   test:    runtime + espeak-ng (speech synthesis) + chromium (browser tests)
# PostgreSQL for the tests is installed by scripts/postgres-test-server.sh.
set -euo pipefail
mode=${1:-runtime}
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
if [ "$mode" = test ]; then
  command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "error: need ${need[*]} (Debian packages); run as root or: apt-get install ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
