#!/usr/bin/env bash
# Training images/s, actlab vs PyTorch, side by side on this machine: the two
# run interleaved, REPEATS separate processes each, per input shape; prints
# every run, the medians, the spread and the ratio. MODEL (default resnet20:
# also resnet18, resnet18-cifar, mobilenetv2, mobilenetv2-cifar) and BATCH
# (default 128) come from the environment.
#   [MODEL=resnet20] [BATCH=128] bash bench/compare_train.sh [THREADS=2] [REPEATS=3] [STEPS=20] [ACT=model's] [INPUTS="3,32,32 1,28,28"]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; repeats=${2:-3}; steps=${3:-20}; act=${4:-}; inputs=${5:-"3,32,32 1,28,28"}
model=${MODEL:-resnet20}; batch=${BATCH:-128}
bin=build/bench_train
[ -x "$bin" ] || cmake --build --preset release --target bench_train
for input in $inputs; do
  ours=(); theirs=()
  for r in $(seq "$repeats"); do
    a=$("$bin" --input "$input" --model "$model" --batch "$batch" --threads "$threads" --steps "$steps" ${act:+--act "$act"}); echo "$a"
    b=$(python3 bench/pytorch_train.py --input "$input" --model "$model" --batch "$batch" --threads "$threads" --steps "$steps" ${act:+--act "$act"}); echo "$b"
    ours+=("$(echo "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')")
    theirs+=("$(echo "$b" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')")
  done
  python3 - "$input" "${ours[*]}" "${theirs[*]}" "$model ${act:-(default act)} batch $batch" <<'PY'
import statistics, sys
inp, a, b = sys.argv[1], [float(v) for v in sys.argv[2].split()], [float(v) for v in sys.argv[3].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"{sys.argv[4]} input {inp}: actlab median {ma:.1f} img/s (range {min(a):.1f}-{max(a):.1f}), "
      f"PyTorch median {mb:.1f} img/s (range {min(b):.1f}-{max(b):.1f}), ratio actlab/PyTorch {ma/mb:.2f}")
PY
done
