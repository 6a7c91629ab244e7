#!/bin/sh
# Installs every Debian 12 package that building, testing, benchmarking and
# training aicd needs. Safe to run again; needs root (or sudo).
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
fi

PKGS="
build-essential cmake pkg-config clang libclang-rt-14-dev sudo git
libxnnpack-dev libpthreadpool-dev
libkissfft-dev libspeexdsp-dev libsndfile1-dev zlib1g-dev libcjson-dev
libcmocka-dev
libpipewire-0.3-dev libspa-0.2-dev libsystemd-dev libcurl4-openssl-dev libssl-dev
pipewire pipewire-bin wireplumber pipewire-pulse pulseaudio-utils dbus
python3 python3-numpy python3-scipy python3-soundfile python3-matplotlib python3-torch libopenblas0-openmp
python3-cryptography python3-gi gir1.2-glib-2.0
ffmpeg sox espeak-ng valgrind tmux procps bc file
libwebrtc-audio-processing-dev
"

export DEBIAN_FRONTEND=noninteractive
if [ -z "${AICD_SKIP_APT_UPDATE:-}" ]; then
        $SUDO apt-get update -qq
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PKGS
