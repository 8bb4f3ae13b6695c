#!/usr/bin/env bash
# Shows that CUDA tests can fail: on the GPU machine, after `gpu_run.sh build`,
# plants one bug at a time in a CUDA source, rebuilds the tests and runs the
# CUDA cases matching the mutant's pattern, which must now fail. The sources
# are restored at the end (and before each mutant).
#   bash tools/gpu_mutants.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=$PWD/.gpu/runtime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[ -d build-gpu ] || { echo "no build-gpu: run tools/gpu_run.sh build first"; exit 2; }

saved=$(mktemp -d)
cp core/cuda/*.cu "$saved/"
restore() { cp "$saved"/*.cu core/cuda/; }
trap restore EXIT

# mutant FILE SED TESTS WHAT: the tests matching TESTS must fail with the bug WHAT.
mutant() {
  restore
  sed -i "$2" "core/cuda/$1"
  if cmp -s "core/cuda/$1" "$saved/$1"; then echo "FAIL  $4: the substitution matched nothing"; return; fi
  if ! cmake --build build-gpu -j"$(nproc)" --target actlab_tests > /dev/null 2>&1; then
    echo "FAIL  $4: does not build"
    return
  fi
  if (cd build-gpu && ctest -R "$3" > /dev/null 2>&1); then
    echo "FAIL  $4: the tests still pass"
  else
    echo "ok    $4: caught"
  fi
}

limit="past cuDNN"
mutant conv2d.cu 's/in == 0 ? &zero : &one/\&zero/' "$limit" "conv weight gradient keeps only the last batch slice"
mutant conv2d.cu 's/&zero, p.y, y.data() + out)/\&zero, p.y, y.data())/' "$limit" \
  "conv forward writes every slice over the first"
mutant batch_norm.cu 's| - xhat \* dgamma\[c\] / M);|);|' "$limit" "own batch norm input gradient drops the dgamma term"
mutant batch_norm.cu 's|(c, j, C, HW)\] - mean;|(c, j, C, HW)];|' "$limit" "own batch norm variance about 0, not the mean"

restore
cmake --build build-gpu -j"$(nproc)" --target actlab_tests > /dev/null 2>&1 && echo "sources restored and rebuilt"
