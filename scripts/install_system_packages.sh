#!/usr/bin/env bash
# Installs the Debian packages that offscreen rendering (moderngl, EGL, Mesa llvmpipe) needs, when missing.
set -euo pipefail
packages=(libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "warning: rendering needs the Debian packages ${missing[*]} (no apt-get here: install their equivalents)" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "warning: rendering needs the Debian packages ${missing[*]}; as root run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "(everything but rendering works without them)" >&2
  exit 0
fi
echo "Installing Debian packages for rendering: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
