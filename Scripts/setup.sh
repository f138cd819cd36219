#!/usr/bin/env bash
# Installs what MelForge needs on Debian 12 and builds it in release mode. Idempotent:
# packages already installed are not touched, and apt-get runs only if one is missing.
#
#   Scripts/setup.sh              install + release build
#   Scripts/setup.sh --no-build   install only
#   Scripts/setup.sh --for-tests  install only, with what the tests need besides (Chromium and
#                                 python3, for the synthesize page's check in a real browser)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  pkg-config
  libsndfile1-dev   # audio files (WAV, FLAC, OGG, AIFF, ...)
  libfftw3-dev      # FFTW single precision (fftw3f)
  libopenblas-dev   # sgemm
  libdnnl-dev       # oneDNN: the training engine's convolutions (fp32, bf16)
  libsoxr-dev       # resampling
  libpng-dev        # pictures
  zlib1g-dev        # gzip'd MNIST files
  libfreetype-dev   # text in pictures (axes, colour bars, captions)
  fonts-dejavu-core # the font of that text
  libopenmpi-dev    # data-parallel training (mpirun -n N melforge train ...)
  openmpi-bin       # mpirun
  espeak-ng sox     # Scripts/make-digits.sh: the spoken-digit corpus
)

[[ "${1:-}" == --for-tests ]] && packages+=(chromium python3)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi

if ! command -v swift >/dev/null; then
  echo "setup: no 'swift' on PATH; install Swift 6 (swift.org) and run this again" >&2
  exit 1
fi

if [[ "${1:-}" != --no-build && "${1:-}" != --for-tests ]]; then
  swift build -c release --product melforge
  echo "setup: built $(swift build -c release --show-bin-path)/melforge"
fi
