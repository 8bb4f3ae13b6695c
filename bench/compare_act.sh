#!/usr/bin/env bash
# Forward + backward of each parametric activation, actlab's fused kernels vs
# PyTorch eager written from SPEC 1, side by side on this machine: REPEATS
# separate processes each, interleaved; prints the medians, spread and ratio.
#   bash bench/compare_act.sh [THREADS=2] [REPEATS=3] [DEVICE=cpu] [ACTS...]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; repeats=${2:-3}; device=${3:-cpu}; shift 3 2>/dev/null || shift $#
acts=("$@")
[ ${#acts[@]} -gt 0 ] || acts=(prelu swish acon-a acon-b acon-c)
bin=${BENCH_ACT:-build/bench_act}
for act in "${acts[@]}"; do
  for shape in 128,16,32,32 128,32,16,16 128,64,8,8; do
    ours=(); theirs=()
    for r in $(seq "$repeats"); do
      a=$("$bin" --act "$act" --shape "$shape" --threads "$threads" --device "$device")
      b=$(python3 bench/pytorch_act.py --act "$act" --shape "$shape" --threads "$threads" --device "$device")
      ours+=("$(echo "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ms"])')")
      theirs+=("$(echo "$b" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ms"])')")
    done
    python3 - "$act" "$shape" "$device" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
act, shape, device, a, b = sys.argv[1], sys.argv[2], sys.argv[3], [float(v) for v in sys.argv[4].split()], [float(v) for v in sys.argv[5].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"{act:10s} {shape:14s} {device}: actlab {ma:8.3f} ms ({min(a):.3f}-{max(a):.3f}), "
      f"PyTorch {mb:8.3f} ms ({min(b):.3f}-{max(b):.3f}), PyTorch/actlab {mb/ma:5.2f}x")
PY
  done
done
