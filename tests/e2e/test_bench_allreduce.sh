#!/usr/bin/env bash
# frost-bench allreduce end to end: --help, option errors, a 2-rank run's table and CSV
# (sizes, checked results, busbw = algbw for n = 2), and a 1-rank float64 run (busbw = 0).
source "$(dirname "$0")/lib.sh"
B="$FROST_BIN/frost-bench"

# --help comes from the option description.
"$B" --help > "$WORK/help.txt"
for opt in --min-bytes --max-bytes --step-factor --iters --warmup --dtype --csv --check; do
  expect_in "$WORK/help.txt" "$opt"
done
pass "--help lists the options"

# Bad options: non-zero exit and a message that names the option and the fix.
bad() {  # bad EXPECTED-TEXT ARGS...: the run fails with exit status 2 and prints the text
  local want="$1"; shift
  local rc=0
  "$B" "$@" > "$WORK/out.txt" 2>&1 || rc=$?
  [[ $rc == 2 ]] || { cat "$WORK/out.txt" >&2; fail "'$*' exited with $rc, expected 2"; }
  expect_in "$WORK/out.txt" "frost-bench: error: $want"
}
bad "--max-bytes '64X' has an unknown unit: expected a byte count such as 8, 1K, 64M or 1G" allreduce --max-bytes 64X
bad "--dtype 'int8' is not supported: use float32, float64, bfloat16 or float16" allreduce --dtype int8
bad "--max-bytes 8 is smaller than --min-bytes 16" allreduce --min-bytes 16 --max-bytes 8
bad "--min-bytes 4 is smaller than one float64 element (8 B)" allreduce --min-bytes 4 --dtype float64
bad "--step-factor must be >= 2, got 1" allreduce --step-factor 1
bad "unknown collective 'allgather'" allgather
bad "no collective given" --iters 3
bad "unrecognised option '--iter'" allreduce --iter 3
bad "the argument ('maybe') for option '--check' is invalid" allreduce --check maybe
bad "--csv '$WORK/missing/a.csv': directory '$WORK/missing' does not exist" allreduce --csv "$WORK/missing/a.csv"
# Under mpirun the job fails as a whole, with one message.
rc=0
"$FROST_MPIRUN" --quiet -np 2 "$B" allreduce --warmup -1 > "$WORK/out.txt" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "a 2-rank run with --warmup -1 succeeded"
expect_in "$WORK/out.txt" "frost-bench: error: --warmup must be >= 0, got -1"
[[ $(grep -c "frost-bench: error" "$WORK/out.txt") == 1 ]] || { cat "$WORK/out.txt" >&2; fail "expected one error line"; }
pass "option errors"

# 2 ranks, 8 B .. 1 MiB: the table on stdout and the same columns in the CSV.
"$FROST_MPIRUN" --quiet -np 2 "$B" allreduce --min-bytes 8 --max-bytes 1M --iters 3 --warmup 1 \
  --csv "$WORK/a.csv" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "2-rank run failed"; }
expect_in "$WORK/out.txt" "world size 2, backend mpi, hosts"
expect_in "$WORK/out.txt" "size (B)  count (elements)"
expect_in "$WORK/out.txt" "# Wrong elements: 0 OK"
expect_in "$WORK/out.txt" "# Avg bus bandwidth:"
"$PY" - "$WORK/a.csv" 2 float32 4 <<'PY'
import csv, sys
path, n, dtype, elem = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rows = list(csv.DictReader(open(path)))
assert list(rows[0].keys()) == ["size (B)", "count (elements)", "type", "redop", "time (us)",
                                "algbw (GB/s)", "busbw (GB/s)", "#wrong"], list(rows[0].keys())
sizes = [int(r["size (B)"]) for r in rows]
assert sizes == [8 << k for k in range(18)], sizes          # 8 B .. 1 MiB, x2
for r in rows:
    size, t = int(r["size (B)"]), float(r["time (us)"])
    algbw, busbw = float(r["algbw (GB/s)"]), float(r["busbw (GB/s)"])
    assert int(r["count (elements)"]) * elem == size, r
    assert r["type"] == dtype and r["redop"] == "sum", r
    assert int(r["#wrong"]) == 0, r
    assert t > 0, r
    # algbw = size / time, written with 6 decimals (GB/s) and time with 3 (us)
    assert abs(algbw - size / (t * 1e3)) <= 1e-6 + 1e-3 * algbw, r
    assert abs(busbw - algbw * 2 * (n - 1) / n) <= 2e-6, r   # n = 2: busbw = algbw
PY
pass "2-rank run: sizes, checked results, busbw = algbw"

# 16-bit floats (Note [16-bit floats on MPI]): 3 ranks sum exactly and every element checks out.
for dt in bfloat16 float16; do
  "$FROST_MPIRUN" --quiet -np 3 "$B" allreduce --min-bytes 2 --max-bytes 64K --iters 2 --warmup 0 \
    --dtype "$dt" > "$WORK/$dt.txt" 2>&1 || { cat "$WORK/$dt.txt"; fail "3-rank $dt run failed"; }
  expect_in "$WORK/$dt.txt" "# dtype $dt"
  expect_in "$WORK/$dt.txt" "# Wrong elements: 0 OK"
done
# bfloat16's exact integers end at 256: the closed-form check refuses worlds whose sums pass it.
rc=0
"$FROST_MPIRUN" --quiet -np 9 "$B" allreduce --max-bytes 64 --dtype bfloat16 > "$WORK/bf9.txt" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "a 9-rank bfloat16 check was accepted"
expect_in "$WORK/bf9.txt" "world size 9 is too large for an exact bfloat16 check (sums above 256)"
pass "bfloat16 and float16 all-reduce, checked"

# 1 rank (an MPI singleton), float64: works, busbw is 0, and --check false reports N/A.
"$B" allreduce --min-bytes 8 --max-bytes 4K --iters 2 --warmup 0 --dtype float64 \
  --csv "$WORK/b.csv" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "1-rank run failed"; }
expect_in "$WORK/out.txt" "world size 1"
"$PY" - "$WORK/b.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["size (B)"]) for r in rows] == [8 << k for k in range(10)], rows
assert all(r["type"] == "float64" and float(r["busbw (GB/s)"]) == 0 and r["#wrong"] == "0" for r in rows), rows
PY
"$B" allreduce --max-bytes 64 --iters 1 --check false > "$WORK/out.txt" 2>&1 || fail "--check false run failed"
expect_in "$WORK/out.txt" "N/A"
expect_in "$WORK/out.txt" "# Wrong elements: not checked (--check false)"
pass "1-rank runs"

# A wrong result fails the run: the test hook adds 1 to element 1 on the last rank.
rc=0
"$FROST_MPIRUN" --quiet -np 2 "$B" allreduce --max-bytes 64 --iters 1 --test-corrupt-index 1 \
  --csv "$WORK/c.csv" > "$WORK/out.txt" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "a run with wrong elements exited 0"
expect_in "$WORK/out.txt" "[rank 1] all_reduce of 8 B: 1 wrong elements; first: element 1 = 7, expected 6"
expect_in "$WORK/out.txt" "# Wrong elements: 4 FAILED"
expect_in "$WORK/out.txt" "frost-bench: error: the all-reduce returned 4 wrong elements in 4 of 4 sizes"
"$PY" - "$WORK/c.csv" <<'PY'
import csv, sys
assert [r["#wrong"] for r in csv.DictReader(open(sys.argv[1]))] == ["1"] * 4
PY
pass "wrong elements fail the run"
