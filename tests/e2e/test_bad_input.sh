#!/usr/bin/env bash
# Bad input to frost-train (2 ranks): each case exits non-zero with one clear message naming the
# file or key (and the rank where the input is per rank), and loses nothing: the run directory
# of an earlier finished run, given as log.dir with log.overwrite = true, is byte-identical
# afterwards (no partial config.ini, metrics.jsonl or model.pt).
source "$(dirname "$0")/lib.sh"
T="$FROST_BIN/frost-train"
make_data "$WORK/train.h5" --n 64 --dim 8 --classes 3
make_data "$WORK/test.h5" --n 16 --dim 8 --classes 3 --seed 1
make_data "$WORK/test_dim6.h5" --n 16 --dim 6 --classes 3 --seed 1
make_data "$WORK/empty.h5" --n 0 --dim 8 --classes 3
make_data "$WORK/tiny.h5" --n 6 --dim 8 --classes 3
base=(--model.mlp_hidden 16,16 --data.batch_size 4 --train.epochs 1 --train.threads 1)
train -np 2 "$T" "${base[@]}" --model.backbone mlp --data.train "$WORK/train.h5" --log.dir "$WORK/run" > "$WORK/good.out" 2>&1 || { cat "$WORK/good.out"; fail "good run"; }
train -np 2 "$T" --data.train "$WORK/train.h5" --model.backbone mlp --model.mlp_hidden 16 --train.threads 1 --log.dir "$WORK/other" > "$WORK/other.out" 2>&1 \
  || { cat "$WORK/other.out"; fail "second good run"; }
snapshot() { (cd "$WORK/run" && find . -type f | sort | xargs sha256sum); }
snapshot > "$WORK/before.txt"
head -c 4096 /dev/urandom > "$WORK/garbage.pt"

# bad_case NAME EXPECTED-TEXT ARGS...: the 2-rank run (model.backbone mlp and data.train train.h5
# unless ARGS give them) fails, EXPECTED-TEXT is in its output, and
# the earlier run's directory is untouched.
bad_case() {
  local name=$1 expected=$2 defaults=()
  shift 2
  [[ " $* " == *" --model.backbone "* ]] || defaults+=(--model.backbone mlp)
  [[ " $* " == *" --data.train "* ]] || defaults+=(--data.train "$WORK/train.h5")
  if train -np 2 "$T" "${base[@]}" "${defaults[@]}" --log.dir "$WORK/run" --log.overwrite true "$@" > "$WORK/$name.out" 2>&1; then
    fail "$name: exited 0"
  fi
  expect_in "$WORK/$name.out" "$expected"
  expect_in "$WORK/$name.out" "frost-train: error:"
  snapshot > "$WORK/after.txt"
  cmp -s "$WORK/before.txt" "$WORK/after.txt" || { diff "$WORK/before.txt" "$WORK/after.txt" >&2; fail "$name: the earlier run's files changed"; }
  pass "$name: '$expected'"
}

# A CUDA device asked for where none is visible (this test machine has none; a GPU machine's
# CUDA_VISIBLE_DEVICES is emptied for the case).
CUDA_VISIBLE_DEVICES="" bad_case device_cuda_without_gpu "train.device = cuda, but host" --train.device cuda
bad_case nccl_on_cpu "dist.backend = nccl needs CUDA tensors" --train.device cpu --dist.backend nccl
# Control bytes in quoted input are escaped in the error line, which stays one line
# (Note [Error line]): a newline and an ESC in a path.
bad_case newline_in_path 'a\x0Ab.h5' --data.train $'a\nb.h5'
if grep -q '^b\.h5' "$WORK/newline_in_path.out"; then cat "$WORK/newline_in_path.out"; fail "newline_in_path: the error line was split"; fi
bad_case escape_in_path 'a\x1B[31mRED.h5' --data.train $'a\e[31mRED.h5'
if grep -q $'\e' "$WORK/escape_in_path.out"; then fail "escape_in_path: a raw ESC byte reached the output"; fi
bad_case config_is_directory "config file '$WORK' is a directory" --config "$WORK"
bad_case init_missing "model.init: '$WORK/nope.pt' is not a file" --model.init "$WORK/nope.pt"
bad_case init_not_model_pt "model.init: '$WORK/garbage.pt' is not a Frost model.pt" --model.init "$WORK/garbage.pt"
bad_case init_missing_tensor "model.init: '$WORK/other/model.pt' has no 'backbone." --model.init "$WORK/other/model.pt"
# A LibTorch error (garbage.pt is no zip archive: c10::Error from PyTorchStreamReader) reaches
# the user without LibTorch's C++ backtrace.
if grep -qE "Exception raised from|frame #[0-9]" "$WORK/init_not_model_pt.out"; then
  cat "$WORK/init_not_model_pt.out" >&2
  fail "init_not_model_pt: LibTorch's C++ backtrace in the message"
fi
pass "init_not_model_pt: no LibTorch backtrace"
bad_case test_unlike_train "data.test ($WORK/test_dim6.h5) does not match data.train" --data.test "$WORK/test_dim6.h5"
bad_case num_classes_below_data "model.num_classes = 2 is smaller than the data's num_classes attribute 3" --model.num_classes 2
bad_case resnet_on_features "model.backbone = resnet18 needs image inputs" --model.backbone resnet18
bad_case empty_train "[rank 0] data.train: $WORK/empty.h5: /inputs has no rows (N = 0)" --data.train "$WORK/empty.h5"
bad_case fewer_than_global_batch "[rank 0] data.train $WORK/tiny.h5: TrainSampler: drop_last is set and the global batch (4 per rank x 2 ranks = 8) is larger than the 6 usable samples" \
  --data.train "$WORK/tiny.h5" --data.drop_last true
bad_case missing_test_file "[rank 0] data.test: $WORK/none.h5: cannot open dataset file" --data.test "$WORK/none.h5"

# Ranks started with different configurations (MPMD: one command line per rank).
if "$FROST_MPIRUN" --quiet -np 1 "$T" "${base[@]}" --model.backbone mlp --data.train "$WORK/train.h5" --log.dir "$WORK/run" --log.overwrite true --optim.lr 0.1 \
     : -np 1 "$T" "${base[@]}" --model.backbone mlp --data.train "$WORK/train.h5" --log.dir "$WORK/run" --log.overwrite true --optim.lr 0.2 > "$WORK/mpmd.out" 2>&1; then
  fail "ranks with different optim.lr: exited 0"
fi
expect_in "$WORK/mpmd.out" "ranks disagree on the config, data and model: rank 1 has"
expect_in "$WORK/mpmd.out" "first difference: [optim] 'lr = 0.2' on rank 1, 'lr = 0.1' on rank 0"
snapshot > "$WORK/after.txt"
cmp -s "$WORK/before.txt" "$WORK/after.txt" || fail "mpmd: the earlier run's files changed"
pass "ranks with different configs: refused, naming rank 1"

# A malformed FROST_FAULT_INJECT (the failure tests' switch) is an error naming the entry.
for spec in "rank=x|FROST_FAULT_INJECT: rank must be an integer >= 0 or *, got 'x'" \
            "rank=0,action=explode|FROST_FAULT_INJECT: unknown action 'explode' (throw, hang, kill, hold, oom)" \
            "rank=0,at=open,action=oom|FROST_FAULT_INJECT: action=oom needs at=step:N (the device is known there), got at='open'" \
            "rank=0,at=somewhere|FROST_FAULT_INJECT: unknown site 'somewhere' (open, step:N, checkpoint:N, finalize)" \
            "rank=0,colour=red|FROST_FAULT_INJECT: unknown key 'colour' (rank, at, action)" \
            "rank|FROST_FAULT_INJECT: expected key=value, got 'rank'"; do
  value=${spec%%|*} expected=${spec#*|}
  if FROST_FAULT_INJECT=$value "$T" "${base[@]}" --model.backbone mlp --data.train "$WORK/train.h5" \
       --log.dir "$WORK/fault" > "$WORK/fault.out" 2>&1; then fail "FROST_FAULT_INJECT=$value accepted"; fi
  expect_in "$WORK/fault.out" "$expected"
done
pass "malformed FROST_FAULT_INJECT values are named"

# A value holding a placeholder of Boost's error templates ("%value%") is named, not a hang
# (found by fuzz_config), on the command line and in an INI file.
bad_case placeholder_value "the argument ('%25value%25') for option '--train.seed' is invalid" --train.seed '%value%'
printf '[optim]\nlr = %%canonical_option%%\n' > "$WORK/placeholder.ini"
bad_case placeholder_in_file "config file '$WORK/placeholder.ini'" --config "$WORK/placeholder.ini"

# launch/frost-mpirun: a rank count that is not a positive whole number is refused before
# mpirun starts (mpirun itself reads -np 0 as "one rank per slot").
for n in 0 abc -1 007x ''; do
  rc=0
  "$FROST_MPIRUN" -np "$n" "$T" --help > "$WORK/np.out" 2>&1 || rc=$?
  [[ $rc -eq 2 ]] || { cat "$WORK/np.out"; fail "frost-mpirun -np $n: exit $rc, expected 2"; }
  expect_in "$WORK/np.out" "frost-mpirun: the rank count '$n' is not a positive whole number"
done
pass "frost-mpirun refuses rank counts 0, abc, -1, 007x and an empty one"
