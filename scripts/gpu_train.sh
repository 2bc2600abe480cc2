#!/usr/bin/env bash
# A time-boxed training run on a lent GPU, then the prepared GPU check (issue 15, issue 19).
# Run on the device machine from the repository root:
#   bash scripts/gpu_train.sh CONFIG TRAIN_SECONDS [gfpose train options...]
# It trains CONFIG for TRAIN_SECONDS of wall time (batches augmented by worker processes, the
# recipe otherwise unchanged), writes the run to $OUT/train (ema.pt and log.jsonl come back;
# last.pt, with the optimiser, is over the 16 MiB a returned file may be and stays behind),
# and then runs scripts/gpu_check.sh into $OUT/gpu_check.json (under 4 minutes).
#
# Before the call, on the development machine:
#   python scripts/gpu_carry.py                       # the mocap as int16, 33 MB: .gpu_carry/
#   mkdir -p ../hold && for f in models/reference/*; do
#     [ "$f" = models/reference/gfpose_mlp512_v1.pt ] || mv "$f" ../hold/; done
#     (the tracked reference weights are over 170 MB, and a call carries 64 MiB; the first
#     release, which train.yaml fine-tunes from, stays: the tree is then about 53 MB)
#   device run, carry [".gpu_carry"], timeout_s 600, command e.g.
#     bash scripts/gpu_train.sh config/train.yaml 330
# and afterwards: mv ../hold/* models/reference/; the weights are in the files it returns.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ $# -lt 2 ]; then
    echo "usage: bash scripts/gpu_train.sh CONFIG TRAIN_SECONDS [gfpose train options...]" >&2
    exit 2
fi
config="$1"; seconds="$2"; shift 2
out="${OUT:-outputs/gpu}"
mkdir -p "$out"
if [ ! -e ../shared/data/mocap ]; then  # the device: ../shared is not sent, .gpu_carry is
    [ -d .gpu_carry/data/mocap ] || { echo "no ../shared/data/mocap and no .gpu_carry (run scripts/gpu_carry.py here first)" >&2; exit 2; }
    mkdir -p ../shared && ln -sfn "$ROOT/.gpu_carry/data" ../shared/data
fi
python="${GFPOSE_PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
workers="$("$python" -c 'import os; print(max(1, min(12, (os.cpu_count() or 2) - 2)))')"
"$python" -m gfpose_ros.cli train --config "$config" --stop-after "$seconds" \
    --loader-workers "$workers" --out-dir "$out/train" "$@" 2>&1 \
    | tr '\r' '\n' | grep -v "^gfpose train: *[0-9]*%" || true
tail -n 3 "$out/train/log.jsonl" 2>/dev/null || true
if "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    "$python" -m gfpose_ros.tools.gpu_check --out "$out/gpu_check.json" || true
fi
