#!/usr/bin/env bash
# Debian packages the test suite drives: zip checkers, a private redis-server, Chromium,
# ffmpeg/flac (independent decoders that check our encodes, and the encoding benchmark's baseline),
# and nginx with iproute2 (tests/multihost: the store across network namespaces, behind nginx).
# Installs only what is missing, and only where it can (root with apt-get); otherwise it
# says what is missing and the tests that need it skip with that reason.
set -euo pipefail

declare -A package_for=(
  [unzip]=unzip
  [7z]=p7zip-full
  [bsdtar]=libarchive-tools
  [redis-server]=redis-server
  [chromium]=chromium
  [curl]=curl
  [ffmpeg]=ffmpeg
  [flac]=flac
  [nginx]=nginx
  [ip]=iproute2
)
missing=()
for binary in "${!package_for[@]}"; do
  command -v "$binary" >/dev/null 2>&1 || missing+=("${package_for[$binary]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing Debian packages (install them for the full suite): ${missing[*]}" >&2
fi
