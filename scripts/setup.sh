#!/usr/bin/env bash
# Installs the C libraries mlpconv builds against (HDF5, json-c, OpenBLAS, found through pkg-config) when any
# is missing. Debian/Ubuntu only; uses sudo when not root. Safe to run repeatedly.
set -euo pipefail

packages=(libhdf5-dev libjson-c-dev libopenblas-dev zlib1g-dev pkg-config hdf5-tools)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for module in hdf5 json-c openblas; do
    pkg-config --exists "$module" || { echo "setup: pkg-config cannot find $module after installation" >&2; exit 1; }
done
command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.0 or later is required)" >&2; exit 1; }
