#!/usr/bin/env bash
# The activation issue's one-epoch check: `actlab train --model resnet20 --act X
# --data fashion-mnist --epochs 1` (SPEC 4-5 defaults: crop + flip, lr 0.1,
# cosine over the epoch, batch 128) for each activation given, one after the
# other; prints each final test accuracy, or the message a diverging run stops
# with. Runs go to RUNS (default /tmp/actlab-sweep); SEEDS (default 0) lists
# the --seed values to run for each activation. tools/gpu_run.sh sweep does the
# same on a GPU, beside PyTorch.
#   [SEEDS="0 1 2"] bash tools/one_epoch_sweep.sh [ACT...]   (default: the fixed functions of SPEC 1.1)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-/tmp/actlab-sweep}
acts=("$@")
[ ${#acts[@]} -gt 0 ] || acts=(relu relu6 leaky-relu silu gelu elu selu softplus mish hard-swish max-sigmoid cos-minus
                               min-sin atan-sq-minus max-tanh sinc-plus x-asinh-sq)
mkdir -p "$runs"
for act in "${acts[@]}"; do
  for seed in ${SEEDS:-0}; do
    run=$runs/$act-seed$seed
    rm -rf "$run"
    if ./build/actlab train --model resnet20 --act "$act" --data fashion-mnist --epochs 1 --seed "$seed" \
         --threads "$(nproc)" --out "$run" > "$run.log" 2>&1; then
      echo "$act seed $seed: $(tr '\r' '\n' < "$run.log" | grep -o 'final test accuracy [0-9.]*%' | tail -1)"
    else
      echo "$act seed $seed: stopped: $(tr '\r' '\n' < "$run.log" | grep -v '^epoch' | grep . | tail -1)"
    fi
  done
done
