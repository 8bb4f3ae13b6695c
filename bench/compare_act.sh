#!/usr/bin/env bash
# Forward + backward of each parametric activation (or of the ACTS named, fixed
# functions included), actlab's fused kernels vs PyTorch eager written from
# SPEC 1, side by side on this machine: REPEATS
# rounds, each one process per side timing every activation and shape, the
# sides interleaved; prints the medians over rounds, their spread and the ratio.
#   bash bench/compare_act.sh [THREADS=2] [REPEATS=3] [DEVICE=cpu] [ACTS...]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; repeats=${2:-3}; device=${3:-cpu}; shift 3 2>/dev/null || shift $#
acts=("$@")
[ ${#acts[@]} -gt 0 ] || acts=(prelu swish acon-a acon-b acon-c)
bin=${BENCH_ACT:-build/bench_act}
args=(--threads "$threads" --device "$device")
for act in "${acts[@]}"; do args+=(--act "$act"); done
for shape in 128,16,32,32 128,32,16,16 128,64,8,8; do args+=(--shape "$shape"); done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for r in $(seq "$repeats"); do
  "$bin" "${args[@]}" >> "$log"
  python3 bench/pytorch_act.py "${args[@]}" >> "$log"
done
python3 - "$log" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(lambda: {"actlab": [], "pytorch": []})
order = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["act"], r["shape"], r["device"])
    if key not in runs:
        order.append(key)
    runs[key]["actlab" if r["impl"] == "actlab" else "pytorch"].append(r["ms"])
for act, shape, device in order:
    a, b = runs[(act, shape, device)]["actlab"], runs[(act, shape, device)]["pytorch"]
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{act:10s} {shape:14s} {device}: actlab {ma:8.3f} ms ({min(a):.3f}-{max(a):.3f}), "
          f"PyTorch {mb:8.3f} ms ({min(b):.3f}-{max(b):.3f}), PyTorch/actlab {mb/ma:5.2f}x")
PY
