#!/usr/bin/env bash
# On a GPU machine that reaches no package registry, in one go: unpack the
# packages tools/gpu_prepare.sh fetched (under .gpu/root, never into /), build
# with the CUDA backend, run the whole test suite (CUDA cases included), train
# ResNet-20 on Fashion-MNIST with --device cuda, and time training against
# PyTorch on the same GPU. Logs go to $OUT (or .gpu/out).
#   bash tools/gpu_run.sh [STEP...]   STEP: all build test cuda-test train train1 bench models acts oom profile sweep
#   (default all = build test train bench profile; cuda-test builds and runs
#   only the CUDA cases; models and acts are the ImageNet-size and activation
#   parts of bench alone (acts takes BENCH_ACTS); oom runs tensors past cuDNN's
#   element limit and checks that a batch the GPU cannot hold ends in one clear
#   message; train1 is one epoch of Meta-ACON's
#   pixel space; sweep is the activation issue's one-epoch check,
#   `train --epochs 1` with SPEC 4-5 defaults, for every parametric activation
#   (or SWEEP_ACTS) and seed (SWEEP_SEEDS, default 0 1 2), beside
#   tools/pytorch_fmnist.py, eight runs at a time)
set -uo pipefail
cd "$(dirname "$0")/.."
steps=" ${*:-all} "
# want STEP: named, or part of all (build test train bench profile)
want() {
  [[ $steps == *" $1 "* ]] && return 0
  [[ $steps == *" all "* ]] && [[ " build test train bench profile " == *" $1 "* ]]
}
out=${OUT:-.gpu/out}
mkdir -p "$out"
root=$PWD/.gpu/root
lib=$root/usr/lib/x86_64-linux-gnu
jobs=$(nproc)

step() { echo; echo "=== $* ($(date +%T))"; }

if [ ! -d "$root/usr" ]; then
  ls .gpu/debs/*.deb >/dev/null 2>&1 || { echo "no .gpu/debs: run tools/gpu_prepare.sh first and carry .gpu"; exit 2; }
  for f in .gpu/debs/*.deb; do dpkg -x "$f" "$root"; done
fi
# Only OpenBLAS and its Fortran run-time, SLEEF, oneDNN (with the OpenCL loader
# it links), libjpeg-turbo and libpng go on the library path; the rest of the
# system keeps its own libraries.
mkdir -p .gpu/runtime
for so in "$lib"/openblas-pthread/libopenblas.so.0 "$lib"/libgfortran.so.5 "$lib"/libquadmath.so.0 "$lib"/libsleef.so.3 \
          "$lib"/libdnnl.so.2 "$lib"/libOpenCL.so.1 "$lib"/libturbojpeg.so.0 "$lib"/libpng16.so.16; do
  ln -sf "$so" .gpu/runtime/
done
export LD_LIBRARY_PATH=$PWD/.gpu/runtime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
data=fashion-mnist:$root/usr/share/datasets/fashion-mnist

# cuDNN: the toolkit's, else the one PyTorch's wheels bring.
cudnn_flags=()
if [ ! -e /usr/local/cuda/include/cudnn.h ]; then
  wheel=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))' 2>/dev/null)
  if [ -n "$wheel" ]; then
    cudnn_flags=(-DCUDNN_INCLUDE_DIR="$wheel/include" -DCUDNN_LIBRARY="$(ls "$wheel"/lib/libcudnn.so* | head -1)")
    export LD_LIBRARY_PATH=$wheel/lib:$LD_LIBRARY_PATH
  fi
fi

if want build || want cuda-test; then
  step "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nvcc --version | tail -1
  cmake --version | head -1
  step "configure and build (-j$jobs)"
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DACTLAB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_LIBRARY_PATH="$lib/openblas-pthread;$lib" \
    -DCMAKE_INCLUDE_PATH="$root/usr/include/x86_64-linux-gnu;$root/usr/include" "${cudnn_flags[@]}" \
    > .gpu/configure.log 2>&1 || { tail -30 .gpu/configure.log; exit 1; }
  grep "actlab: CUDA" .gpu/configure.log
  cmake --build build-gpu -j"$jobs" > .gpu/build.log 2>&1 || { grep -E "error|Error" .gpu/build.log | head -30; exit 1; }
  echo "built"
fi

if want test; then
  step "test suite"
  # Two threads per test, eight tests at a time, and no spinning OpenMP
  # workers: sixteen threads each would oversubscribe the cores eightfold.
  (cd build-gpu && OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive ctest -j8 --timeout 600 --output-on-failure) \
    > "$out/ctest.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*|Skipped|Not Run" "$out/ctest.log" | tail -20
fi

if want cuda-test; then
  step "CUDA test cases"
  (cd build-gpu && ctest -R cuda --timeout 300 --output-on-failure) > "$out/ctest_cuda.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*|ERROR|values|logged" "$out/ctest_cuda.log" | head -60
fi

if want train; then
  step "train ResNet-20 on Fashion-MNIST with --device cuda"
  rm -rf .gpu/run-cuda
  ./build-gpu/actlab train --model resnet20 --data "$data" --epochs 4 --no-augment --device cuda --threads 4 \
    --out .gpu/run-cuda --json > .gpu/train_cuda.json 2> "$out/train_cuda.log"
  tr '\r' '\n' < "$out/train_cuda.log" | grep -E "test acc|final|error" | tail -6
  cp .gpu/run-cuda/metrics.jsonl "$out/metrics_cuda.jsonl" 2>/dev/null
fi

if want bench; then
  step "training step: actlab vs PyTorch eager (fp32, cuDNN, no TF32), one process per side and model, interleaved"
  {
    for round in 1 2 3; do
      for input in 1,28,28 3,32,32; do
        ./build-gpu/bench_train --device cuda --act relu --input $input --steps 100 --warmup 10
        python3 bench/pytorch_train.py --device cuda --act relu --input $input --steps 100 --warmup 10
      done
    done
    for act in acon-c meta-acon dyrelu-b pwlu; do
      ./build-gpu/bench_train --device cuda --act $act --input 3,32,32 --steps 100 --warmup 10
      python3 bench/pytorch_train.py --device cuda --act $act --input 3,32,32 --steps 100 --warmup 10
    done
    for model in resnet18 mobilenetv2; do
      ./build-gpu/bench_train --device cuda --model $model --input 3,224,224 --batch 64 --steps 30 --warmup 5
      python3 bench/pytorch_train.py --device cuda --model $model --input 3,224,224 --batch 64 --steps 30 --warmup 5
    done
  } | tee "$out/bench_cuda.jsonl"
  step "activation forward + backward: actlab fused vs PyTorch eager from SPEC 1"
  BENCH_ACT=build-gpu/bench_act bash bench/compare_act.sh 1 3 cuda prelu swish acon-a acon-b acon-c meta-acon \
    dyrelu-a dyrelu-b dyrelu-c pwlu | tee "$out/bench_act_cuda.txt"
fi

if want models; then
  step "ImageNet-size training step, batch 64: actlab vs PyTorch eager, two rounds"
  for round in 1 2; do
    for model in resnet18 mobilenetv2; do
      ./build-gpu/bench_train --device cuda --model $model --input 3,224,224 --batch 64 --steps 30 --warmup 5
      python3 bench/pytorch_train.py --device cuda --model $model --input 3,224,224 --batch 64 --steps 30 --warmup 5
    done
  done | tee "$out/bench_models_cuda.jsonl"
fi

if want acts; then
  step "activation forward + backward: actlab fused vs PyTorch eager from SPEC 1"
  # shellcheck disable=SC2086  # BENCH_ACTS is a list of activation specs
  BENCH_ACT=build-gpu/bench_act bash bench/compare_act.sh 1 3 cuda ${BENCH_ACTS:-prelu swish acon-a acon-b acon-c \
    meta-acon dyrelu-a dyrelu-b dyrelu-c pwlu} | tee "$out/bench_act_cuda.txt"
fi

if want oom; then
  step "tensors past cuDNN's 2^31 - 1 elements: ResNet-18 at 224x224, batch 2676 (stem output 2.15e9 elements)"
  # Sliced stem convolution and own batch norm; the whole step may not fit,
  # and then ends in the out-of-memory message.
  timeout 180 ./build-gpu/bench_train --device cuda --model resnet18 --input 3,224,224 --batch 2676 --steps 2 \
    --warmup 1 2>&1 | tail -3
  step "a batch the GPU cannot hold (another process keeps all but 1 GiB): one clear message"
  rm -f .gpu/hog-ready
  python3 -c "import torch, time
free, _ = torch.cuda.mem_get_info()
hog = torch.empty(free - (1 << 30), dtype=torch.uint8, device='cuda')
print('another process holds', hog.numel() >> 30, 'GiB', flush=True)
open('.gpu/hog-ready', 'w').close()
time.sleep(90)" &
  hog=$!
  for _ in $(seq 60); do [ -e .gpu/hog-ready ] && break; sleep 1; done
  timeout 60 ./build-gpu/actlab train --model resnet20 --data "$data" --batch 4096 --max-steps 1 --device cuda \
    --out .gpu/run-oom 2>&1 | tr '\r' '\n' | tail -2
  echo "exit status ${PIPESTATUS[0]}"
  kill $hog 2>/dev/null; wait $hog 2>/dev/null
fi

if want train1; then
  step "one epoch of ResNet-20 with Meta-ACON's pixel space on the GPU"
  rm -rf .gpu/run-pixel
  ./build-gpu/actlab train --model resnet20 --act 'meta-acon(space=pixel)' --data "$data" --epochs 1 --device cuda \
    --out .gpu/run-pixel 2>&1 | tr '\r' '\n' | grep -E "img/s|accuracy|error" | tail -3
fi

if want profile; then
  step "kernels of one forward + backward at 128x16x32x32 (ncu, clocks left alone)"
  for act in dyrelu-c swish prelu; do
    timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
      ./build-gpu/bench_act --device cuda --act $act --shape 128,16,32,32 --reps 1 --warmup 1 \
      >> "$out/ncu.txt" 2>&1
    echo "$act: $(grep -c gpu__time_duration.sum "$out/ncu.txt") kernel rows"
  done
fi

if want sweep; then
  step "one epoch of ResNet-20 on Fashion-MNIST per activation and seed: actlab and PyTorch, 8 runs at a time"
  # One line per run: "actlab|pytorch ACT SEED ACCURACY" (or the last line of a failed run).
  one() {
    local side=$1 act=$2 seed=$3 log=.gpu/sweep/$1-$2-$3.log acc
    if [ "$side" = actlab ]; then
      ./build-gpu/actlab train --model resnet20 --act "$act" --data "$data" --epochs 1 --seed "$seed" \
        --device cuda --threads 2 --out ".gpu/sweep/run-$act-$seed" > "$log" 2>&1
      acc=$(tr '\r' '\n' < "$log" | grep -o 'final test accuracy [0-9.]*' | grep -o '[0-9.]*$')
    else
      python3 tools/pytorch_fmnist.py --act "$act" --epochs 1 --seed "$seed" --device cuda --threads 2 \
        --data "${data#fashion-mnist:}" > "$log" 2>&1
      acc=$(grep -o 'test accuracy [0-9.]*' "$log" | grep -o '[0-9.]*$')
    fi
    echo "$side $act $seed ${acc:-failed: $(tail -1 "$log")}"
  }
  export -f one; export data
  rm -rf .gpu/sweep; mkdir -p .gpu/sweep
  for seed in ${SWEEP_SEEDS:-0 1 2}; do
    for act in ${SWEEP_ACTS:-relu prelu swish acon-a acon-b acon-c meta-acon dyrelu-a dyrelu-b dyrelu-c pwlu}; do
      echo "actlab $act $seed"; echo "pytorch $act $seed"
    done
  done | xargs -P 8 -L 1 bash -c 'one "$@"' _ | tee "$out/sweep.txt"
fi
