#!/usr/bin/env bash
# Wheels for what the GPU check imports beyond the device image (Python 3.12, x86_64):
# the names in bench/gpu/requirements.txt, into the ignored bench/gpu/wheels/ (carried by
# the device tool; 64 MiB at most).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf wheels && mkdir wheels
if grep -qv '^\s*\(#\|$\)' requirements.txt; then
    python3 -m pip download --quiet --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --implementation cp -d wheels -r requirements.txt
fi
du -sh wheels
