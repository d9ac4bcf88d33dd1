#!/usr/bin/env bash
# libFuzzer runs of Frost's parsers of outside input (see docs/reliability.md, "Fuzzing").
#
#   bash tests/fuzz.sh                      # build build-fuzz/, fuzz every target 60 s
#   bash tests/fuzz.sh 300                  # 300 s per target
#   bash tests/fuzz.sh 120 fuzz_idx fuzz_csv   # only these targets
#   bash tests/fuzz.sh --smoke              # ctest fuzz.smoke: 10 s per target, fresh corpus
#
# Environment: FROST_FUZZ_BUILD_DIR (default build-fuzz), FROST_FUZZ_JOBS (build jobs,
# default 2), FROST_FUZZ_SMOKE_SECONDS (default 10), FROST_FUZZ_SKIP_BUILD=1 (run only).
#
# Builds tests/fuzz/ (a CMake project of its own) with clang and
# -fsanitize=fuzzer,address,undefined, then runs the targets one after the other, each for the
# given wall time (libFuzzer -max_total_time), starting from the seed corpus
# tests/fuzz/corpus/<target>/ and the dictionary tests/fuzz/dict/<target>.dict. Inputs that
# reach new code go to <build>/corpus/<target>/ (kept between runs, so later runs start where
# earlier ones stopped; --smoke uses a fresh <build>/smoke-corpus/ instead).
#
# A finding (Note [What counts as a finding] in tests/fuzz/fuzz_util.h) stops that target; its
# input is kept as <build>/findings/<target>-crash-<sha1> (or leak-, timeout-, oom-), the
# report is in <build>/logs/<target>.log, and the script exits 1 after the other targets ran.
# Replay one input: <build>/<target> <file>. The script also fails when a target executed
# fewer than 100 inputs beyond its corpus (so a run that only replayed the seeds cannot pass).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${FROST_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FROST_FUZZ_JOBS:-2}
all_targets=(fuzz_safetensors_header fuzz_config fuzz_idx fuzz_wordpiece fuzz_wordpiece_vocab
             fuzz_bpe fuzz_csv fuzz_torch_pickle)

smoke=0
seconds=60
targets=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ''|*[!0-9]*)
      [[ " ${all_targets[*]} " == *" $arg "* ]] || { echo "fuzz.sh: unknown target or option '$arg' (targets: ${all_targets[*]})" >&2; exit 2; }
      targets+=("$arg") ;;
    *) seconds=$arg ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
corpus_root=$build/corpus
if ((smoke)); then
  seconds=${FROST_FUZZ_SMOKE_SECONDS:-10}
  corpus_root=$build/smoke-corpus
  rm -rf "$corpus_root"
fi

if [[ -z "${FROST_FUZZ_SKIP_BUILD:-}" ]]; then
  if ! command -v clang++ >/dev/null; then
    echo "fuzz.sh: clang++ not found; install the packages listed in launch/setup.sh (clang, libclang-rt-14-dev)" >&2
    exit 1
  fi
  t0=$SECONDS
  CC=clang CXX=clang++ cmake -S tests/fuzz -B "$build" >/dev/null
  cmake --build "$build" -j "$jobs" -- --no-print-directory >/dev/null
  echo "fuzz.sh: built ${#all_targets[@]} targets in $build/ ($((SECONDS - t0)) s)"
fi

mkdir -p "$build/findings" "$build/logs"
# libFuzzer's own options are set on the command line; these make the sanitizer reports
# complete and turn every UBSan report into a crash (the targets are built without recovery).
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=()
printf '\n%-26s %8s %14s %10s %8s  %s\n' "target" "time (s)" "executions" "execs/s" "corpus" "result"
for t in "${targets[@]}"; do
  mkdir -p "$corpus_root/$t"
  log=$build/logs/$t.log
  dict=()
  [[ -f tests/fuzz/dict/$t.dict ]] && dict=(-dict="tests/fuzz/dict/$t.dict")
  # -timeout: one input running over 10 s is a hang; -malloc_limit_mb: one allocation over
  # 512 MiB from an input of a few KiB is an unbounded allocation; -rss_limit_mb: memory.
  # A run must have executed mutated inputs, not only replayed the seeds (and, in a longer
  # run, the corpus of earlier runs): at least 100 executions beyond those.
  min_execs=$(($(find "$corpus_root/$t" "tests/fuzz/corpus/$t" -type f | wc -l) + 100))
  t0=$SECONDS
  rc=0
  # In a subshell, so that bash's "Aborted" line for a crashing target goes to the log.
  ("$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -print_final_stats=1 -artifact_prefix="$build/findings/$t-" "${dict[@]}" \
      "$corpus_root/$t" "tests/fuzz/corpus/$t"; exit $?) >"$log" 2>&1 || rc=$?
  took=$((SECONDS - t0))
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec:/ {print $2}' "$log" | tail -1)
  corpus=$(find "$corpus_root/$t" -type f | wc -l)
  result=ok
  if ((rc != 0)); then
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result="FINDING (exit $rc): input ${artifact:-?}, report $log"
    failed+=("$t")
  elif [[ -z "$execs" ]] || ((execs < min_execs)); then
    result="FAILED: ${execs:-no} executions, expected at least $min_execs; see $log"
    failed+=("$t")
  fi
  printf '%-26s %8s %14s %10s %8s  %s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done

echo
if ((${#failed[@]})); then
  echo "fuzz.sh: FAILED: ${failed[*]}"
  for t in "${failed[@]}"; do
    echo "---- $t: end of $build/logs/$t.log"
    grep -E 'FINDING|ERROR|runtime error|SUMMARY|Test unit written' "$build/logs/$t.log" | head -20 || true
  done
  exit 1
fi
echo "fuzz.sh: no findings (${#targets[@]} targets, $seconds s each)"
