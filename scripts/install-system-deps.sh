#!/usr/bin/env bash
# Debian packages the engine and its tests use. Installs only what is missing.
#   scripts/install-system-deps.sh demo   -> what `make demo` needs (a Python venv)
#   scripts/install-system-deps.sh test   -> plus the real peers the tests run against
#   scripts/install-system-deps.sh bench  -> plus GStreamer, the third publisher `make bench` compares
# PYTHON (as in the Makefile, default python3) is the interpreter the venv is built from.
set -euo pipefail

profile="${1:-test}"
python="${PYTHON:-python3}"
# package:command-or-file that shows it is there
demo_pkgs=(python3-venv:venv)
test_pkgs=(
  nginx:/usr/sbin/nginx
  libnginx-mod-rtmp:/usr/lib/nginx/modules/ngx_rtmp_module.so
  libnginx-mod-stream:/usr/lib/nginx/modules/ngx_stream_module.so
  ffmpeg:ffprobe
  xvfb:Xvfb
  x11-utils:xdpyinfo
  x11-xserver-utils:xsetroot
  xdotool:xdotool
  pulseaudio:pulseaudio
  pulseaudio-utils:pactl
  openssl:openssl
  python3-tk:tkinter
  chromium:/usr/bin/chromium
  chromium-driver:/usr/bin/chromedriver
)
# package:gst:element — the element GStreamer's bench pipeline takes from that package
bench_pkgs=(
  gstreamer1.0-tools:gst-launch-1.0
  gstreamer1.0-plugins-base:gst:videoconvert
  gstreamer1.0-plugins-good:gst:ximagesrc
  gstreamer1.0-plugins-bad:gst:rtmp2sink
  gstreamer1.0-plugins-ugly:gst:x264enc
  gstreamer1.0-libav:gst:avenc_aac
  gstreamer1.0-pulseaudio:gst:pulsesrc
  linux-perf:perf
)

missing=()
check() {
  local pkg="${1%%:*}" probe="${1#*:}"
  if [[ "$probe" == venv ]]; then
    "$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=("$pkg")
  elif [[ "$probe" == tkinter ]]; then
    # the capture tests' screen painter is Tk, run by the venv's python
    "$python" -c 'import tkinter' 2>/dev/null && return
    # python3-tk serves Debian's own python (and venvs made from it), not pyenv's or others
    local prefix
    prefix=$("$python" -c 'import sys; print(sys.base_prefix)' 2>/dev/null || echo /usr)
    if [[ "$prefix" == /usr ]]; then
      missing+=("$pkg")
    else
      echo "warning: $python ($prefix) has no tkinter, which the capture tests need:" \
        "install tk-dev and rebuild that python (pyenv install), or use PYTHON=/usr/bin/python3" >&2
    fi
  elif [[ "$probe" == gst:* ]]; then
    gst-inspect-1.0 --exists "${probe#gst:}" 2>/dev/null || missing+=("$pkg")
  elif [[ "$probe" == /* ]]; then
    [[ -e "$probe" ]] || missing+=("$pkg")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
  fi
}
for p in "${demo_pkgs[@]}"; do check "$p"; done
if [[ "$profile" == test || "$profile" == bench ]]; then
  for p in "${test_pkgs[@]}"; do check "$p"; done
fi
if [[ "$profile" == bench ]]; then
  for p in "${bench_pkgs[@]}"; do check "$p"; done
fi

if (( ${#missing[@]} == 0 )); then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx must not start as a system service: the tests run their own instances
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
$SUDO service nginx stop >/dev/null 2>&1 || true
