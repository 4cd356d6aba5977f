#!/usr/bin/env bash
# The one prepared GPU check: run on the lent device from the repository root, e.g.
#   run(command="bash bench/gpu/run.sh", carry=["bench/gpu/wheels"], timeout_s=540)
# It uses the device image's own python3 (torch, transformers, numpy, tqdm) and the
# workspace packages from their src/ folders; anything else the packages import comes from
# wheels carried in bench/gpu/wheels (made here by bench/gpu/fetch-wheels.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-bench/results/gpu}
mkdir -p "$out"
site=$(mktemp -d)
if compgen -G "bench/gpu/wheels/*.whl" >/dev/null; then
    python3 -m pip install --quiet --no-index --no-deps --target "$site" bench/gpu/wheels/*.whl
fi
src=$(ls -d packages/*/src apps/*/src | tr '\n' ':')
export PYTHONPATH="$src$site${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' | tee -a "$out/gpu.txt"
timeout 480 python3 bench/gpu/check.py --out "$out" "$@" 2>&1 | tee "$out/check.log"
