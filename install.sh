#!/usr/bin/env bash
# One command installs everything lssd needs on a fresh Debian/Ubuntu machine:
# system tools (ffmpeg, espeak-ng, rubberband, sox, Apertium with the pairs lssd pivots through),
# a virtual environment in .venv, PyTorch, and lssd itself with its test extras.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_PACKAGES=(ffmpeg espeak-ng rubberband-cli sox
              apertium apertium-eng-spa apertium-fr-es apertium-spa-ita apertium-eng-cat apertium-es-pt)
if command -v apt-get >/dev/null; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
else
  echo "install.sh: no apt-get here; install these system packages yourself: ${APT_PACKAGES[*]}" >&2
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: on this project's machines these lie on local disk; elsewhere pip fetches them.
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e ".[dev]"
# only the GE2E weights inside Resemblyzer's wheel are used (lssd.speaker reads them weights-only): without
# its dependencies, which would add a C extension to compile (webrtcvad) and a stale `typing` backport
.venv/bin/python -m pip install -q --no-deps Resemblyzer==0.1.4
echo "lssd installed: $(.venv/bin/lssd --version)"
