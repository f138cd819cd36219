#!/usr/bin/env bash
# Fuzzes every parser of outside bytes (Sources/FuzzTargets: .npy, safetensors, checkpoints,
# the JSON sidecars, manifest lines, IDX plain and gzip, PNG, audio through AudioIO's reader)
# with libFuzzer, SECONDS each (default 60), one after the other on all cores' worth of one
# process. Built apart (.build-fuzz) with -sanitize=fuzzer,address; the normal build and the
# tests need none of it. Each target starts from its seeds (Fuzz/corpus/TARGET) and grows a
# working corpus in .build-fuzz/corpus/TARGET; a crash, a hang (over 10 s) or an allocation
# over 1 GB is written to .build-fuzz/artifacts/TARGET/ and fails the run: copy it into
# Fuzz/regressions/TARGET/ (the tests replay those) once it is fixed.
#
#   Scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
Scripts/setup.sh --no-build >/dev/null
scratch=.build-fuzz
mkdir -p "$scratch"
swift build -c release --scratch-path "$scratch" --product melforge-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld -Xcc -fsanitize=fuzzer-no-link,address \
  >"$scratch/build.log" 2>&1 \
  || { tail -30 "$scratch/build.log"; echo "fuzz.sh: the fuzzing build failed (log: $scratch/build.log)" >&2; exit 1; }
binary="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/melforge-fuzz"
targets=("$@")
if (( ${#targets[@]} == 0 )); then
  mapfile -t targets < <(ls Fuzz/corpus)
fi
failed=0
printf "%-12s %10s %12s %8s  %s\n" target seconds executions "exec/s" result
for target in "${targets[@]}"; do
  [[ -d "Fuzz/corpus/$target" ]] || { echo "fuzz.sh: no seed corpus Fuzz/corpus/$target" >&2; exit 2; }
  mkdir -p "$scratch/corpus/$target" "$scratch/artifacts/$target"
  log="$scratch/fuzz-$target.log"
  status=0
  MELFORGE_FUZZ_TARGET="$target" ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 \
    "$binary" "$scratch/corpus/$target" "Fuzz/corpus/$target" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2560 -malloc_limit_mb=1024 -max_len=131072 -detect_leaks=0 -print_final_stats=1 \
    -artifact_prefix="$scratch/artifacts/$target/" >"$log" 2>&1 || status=$?
  runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  result="no crash"
  if (( status != 0 )); then
    failed=1
    result="FAILED (status $status): $(grep -m1 -E 'ERROR|SUMMARY|deadly|timeout|out-of-memory' "$log" || true); log $log"
  fi
  printf "%-12s %10s %12s %8s  %s\n" "$target" "$seconds" "${runs:-?}" "${rate:-?}" "$result"
done
exit $failed
