#!/usr/bin/env bash
# Depthwise 3x3 convolutions of MobileNetV2 (pad 1, no bias), forward + backward (dx and dw), actlab vs
# PyTorch eager (F.conv2d(..., groups=C)) side by side on this machine: REPEATS separate processes
# each, interleaved; prints per shape the medians (with min-max over processes), PyTorch/actlab and
# the bandwidth each reaches on the bytes a step must move, 3·(|x| + |y|).
#   bash bench/compare_conv.sh [THREADS=2] [REPEATS=3] [REPS=10] [SET=all|cifar|imagenet]
# On a shared machine, run it with OMP_WAIT_POLICY=passive (both frameworks read it): with libgomp's
# default spin-then-yield barriers a competing process turns every parallel region into a wait for a
# scheduler slice (the times then come out in steps of 32 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; repeats=${2:-3}; reps=${3:-10}; set=${4:-all}
bin=${BENCH_CONV:-build/bench_conv}
[ -x "$bin" ] || cmake --build --preset release --target bench_conv
# shape:stride; mobilenetv2-cifar (32x32 input) at batch 128, mobilenetv2 (224x224) at batch 32
cifar="128,32,32,32:1 128,96,32,32:1 128,144,32,32:1 128,144,32,32:2 128,144,16,16:1 128,192,16,16:1
       128,192,16,16:2 128,192,8,8:1 128,384,8,8:1 128,576,8,8:1 128,576,8,8:2 128,576,4,4:1 128,960,4,4:1"
imagenet="32,32,112,112:1 32,96,112,112:2 32,144,56,56:1 32,144,56,56:2 32,192,28,28:1 32,192,28,28:2
          32,384,14,14:1 32,576,14,14:1 32,576,14,14:2 32,960,7,7:1"
case $set in cifar) layers=$cifar ;; imagenet) layers=$imagenet ;; *) layers="$cifar $imagenet" ;; esac
printf "%-16s %2s  %-26s %-26s %8s  %13s\n" "N,C,H,W" "s" "actlab ms (min-max)" "PyTorch ms (min-max)" "PT/actlab" "GB/s act/PT"
for layer in $layers; do
  shape=${layer%:*}; stride=${layer#*:}
  ours=(); theirs=()
  for r in $(seq "$repeats"); do
    ours+=("$("$bin" --shape "$shape" --stride "$stride" --threads "$threads" --reps "$reps")")
    theirs+=("$(python3 bench/pytorch_conv.py --shape "$shape" --stride "$stride" --threads "$threads" --reps "$reps")")
  done
  python3 - "$shape" "$stride" "$(printf '%s\n' "${ours[@]}")" "$(printf '%s\n' "${theirs[@]}")" <<'PY'
import json, statistics, sys
shape, stride = sys.argv[1], sys.argv[2]
a = [json.loads(l) for l in sys.argv[3].splitlines()]
b = [json.loads(l) for l in sys.argv[4].splitlines()]
ta, tb = [r["ms"] for r in a], [r["ms"] for r in b]
ma, mb = statistics.median(ta), statistics.median(tb)
nbytes = a[0]["bytes"]
print(f"{shape:16s} {stride:>2s}  {ma:8.2f} ({min(ta):7.2f}-{max(ta):7.2f})   {mb:8.2f} ({min(tb):7.2f}-{max(tb):7.2f})"
      f"   {mb / ma:7.1f}x  {nbytes / ma / 1e6:6.1f}/{nbytes / mb / 1e6:5.1f}")
PY
done
