#!/usr/bin/env bash
# Every accuracy figure of models/MODEL_CARD.md, in one command (run inside `source scripts/env.sh`):
#   bash scripts/model_card_eval.sh [MODEL] [LEAVE_OUT_HDM05_MODEL] [BASELINE_MODEL]
# Writes the evaluation sets, JSON results and Markdown tables under $OUT (outputs/model_card).
set -euo pipefail
MODEL=${1:-models/gfpose_mlp512.pt}
LOSO_MODEL=${2:-models/reference/gfpose_mlp512_without_hdm05.pt}
BASELINE=${3:-models/reference/gfpose_mlp512_v1.pt}
OUT=${OUT:-outputs/model_card}
mkdir -p "$OUT"

# Evaluation sets (fixed seeds): (2a) the held-out sequences at their own size and proportions,
# 1% 2D noise; the same with exact and with detector-like 2D; the adult-rescaled secondary set;
# (2b) all of HDM05, the source the leave-one-source-out model never saw.
gfpose make-eval-set --out "$OUT/heldout.npz"
gfpose make-eval-set --noise 0 --out "$OUT/heldout_exact2d.npz"
gfpose make-eval-set --noise 0.03 --outlier-prob 0.05 --out "$OUT/heldout_noisy2d.npz"
gfpose make-eval-set --adult-proportions --out "$OUT/heldout_adult.npz"
gfpose make-eval-set --sources hdm05 --split all --out "$OUT/hdm05_all.npz"

run() {  # name, then gfpose eval arguments
  local name=$1; shift
  echo "== $name: gfpose eval $*"
  gfpose eval --out "$OUT/$name.json" --markdown "$@" | tee "$OUT/$name.md"
}
run 2a_heldout --data "$OUT/heldout.npz" --model "$MODEL" --steps 1,2,4,8 --hypotheses 1,20
run 2a_heldout_baseline --data "$OUT/heldout.npz" --model "$BASELINE" --steps 4 --hypotheses 1,20
run 2b_hdm05_left_out --data "$OUT/hdm05_all.npz" --model "$LOSO_MODEL" --steps 4 --hypotheses 1,20
run adult_heldout --data "$OUT/heldout_adult.npz" --model "$MODEL" --steps 4 --hypotheses 20
# The 2D rays (item 6): keypoint_noise 0 = every observed joint on its ray, 10 = the prior's answer.
for data in heldout_exact2d heldout heldout_noisy2d; do
  for noise in 0 0.01 0.02 0.03 10; do
    run "rays_${data}_${noise}" --data "$OUT/$data.npz" --model "$MODEL" --steps 4 --hypotheses 20 --keypoint-noise "$noise"
  done
done
