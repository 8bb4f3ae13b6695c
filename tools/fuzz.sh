#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan: the `fuzz` preset) and runs each from its
# seed corpus in fuzz/corpus/ (copied: the committed seeds stay as they are).
#   bash tools/fuzz.sh smoke            each target for 8 seconds (what the test command runs)
#   bash tools/fuzz.sh run SECONDS      each target for SECONDS, two at a time; prints executions per target
# A crash, leak, timeout (10 s) or memory blow-up (2 GiB) stops the target with libFuzzer's report and the
# input saved as build-fuzz/findings/<target>/crash-*; the script then exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-smoke}
case "$mode" in
  smoke) seconds=8 ;;
  run) seconds=${2:?usage: bash tools/fuzz.sh run SECONDS} ;;
  *) echo "usage: bash tools/fuzz.sh smoke | run SECONDS" >&2; exit 2 ;;
esac

targets=()
for source in fuzz/fuzz_*.cpp; do targets+=("$(basename "$source" .cpp)"); done
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]}"

work=build-fuzz/work
rm -rf "$work"
mkdir -p "$work" build-fuzz/findings
run_one() {
  local target=$1 corpus="$work/$1" findings="build-fuzz/findings/$1"
  mkdir -p "$corpus" "$findings"
  cp fuzz/corpus/"$target"/* "$corpus"/
  # A target that reads a file writes its input to /dev/shm first; ASAN_OPTIONS keeps leak checks on.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$findings/" >"$work/$target.log" 2>&1
}

status=0
pids=()
names=()
for target in "${targets[@]}"; do
  run_one "$target" &
  pids+=($!)
  names+=("$target")
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || { status=1; echo "FAILED: ${names[0]} (log: $work/${names[0]}.log)"; tail -30 "$work/${names[0]}.log"; }
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { status=1; echo "FAILED: ${names[$i]} (log: $work/${names[$i]}.log)"; tail -30 "$work/${names[$i]}.log"; }
done

total=0
for target in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo 0)
  corpus=$(ls "$work/$target" | wc -l)
  printf '%-18s %12s executions  %6s corpus inputs\n' "$target" "$runs" "$corpus"
  total=$((total + runs))
done
printf '%-18s %12s executions\n' "all" "$total"
[ "$status" -eq 0 ] && echo "fuzz: no crash, leak or hang" || echo "fuzz: a target failed (see above)"
exit "$status"
