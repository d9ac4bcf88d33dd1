#!/usr/bin/env bash
# Two nodes on one machine (tests/e2e/netns.sh): 4 ranks laid out as 2 nodes x 2 local ranks,
# MPI over TCP on a veth pair between two network namespaces.
#  1. Training across the nodes ends with the model.pt of the same run on one node, byte for
#     byte, and the traffic crossed the veth.
#  2. F8: a checkpoint directory shared by both nodes, read-only on node1: a run killed after
#     its step-10 checkpoint and resumed on the 2 x 2 layout ends with the uninterrupted run's
#     model.pt (only global rank 0 writes; every rank loads the checkpoint).
#  3. The link cut mid-run, at a known point: every rank holds before step 30 (FROST_FAULT_INJECT
#     action=hold), the link goes down, the ranks are released into step 30's all-reduce. Every
#     rank fails within dist.timeout_s with the timed-out collective named, launch/frost-mpirun
#     returns non-zero in bounded time, no rank process is left on either node; with the link
#     back, --resume auto from the step-20 checkpoint completes with the uninterrupted run's
#     model.pt.
#  4. The link lost in the shutdown: every rank holds just before MPI_Finalize (its work done,
#     model.pt written), the link goes down, the ranks are released into MPI_Finalize, which
#     cannot complete across the nodes; no rank reports an error, and launch/frost-mpirun still
#     returns non-zero within FROST_NODE_TIMEOUT_S (mpirun declares node1's daemon lost), with
#     no process left in either namespace.
# Needs root (network namespaces); exits 77 (ctest: skipped, not passed) without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns.sh"
if ! netns_available; then
  echo "SKIP: needs root, ip (iproute2) and unshare to build network namespaces" >&2
  exit 77
fi
netns_up
T="$FROST_BIN/frost-train"
export FROST_ABORT_GRACE_S=5
secs() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f", b - a }'; }
# Rank processes (frost-train) still running in either namespace, one pid per line.
frost_train_pids() {
  local pid
  for pid in $(netns_pids); do
    grep -q frost-train "/proc/$pid/cmdline" 2> /dev/null && echo "$pid"
  done
  return 0
}
any_frost_train() { [[ -n "$(frost_train_pids)" ]]; }
any_netns_pid() { [[ -n "$(netns_pids)" ]]; }

# ---- 1. the same result on two nodes as on one -----------------------------------------------
make_data "$WORK/small.h5" --n 64 --dim 8 --classes 3
small=(--data.train "$WORK/small.h5" --model.backbone mlp --model.mlp_hidden 16,16 --data.batch_size 4
       --train.epochs 5 --train.max_steps 20 --train.threads 1 --dist.timeout_s 30)
rx0=$(netns_rx_bytes)
netns_mpirun 2 "$T" "${small[@]}" --log.dir "$WORK/two" > "$WORK/two.out" 2>&1 \
  || { cat "$WORK/two.out"; fail "4 ranks on 2 nodes"; }
rx1=$(netns_rx_bytes)
expect_in "$WORK/two.out" "rank 1 -> host node0"
expect_in "$WORK/two.out" "rank 2 -> host node1"
train -np 4 "$T" "${small[@]}" --log.dir "$WORK/one" > "$WORK/one.out" 2>&1 \
  || { cat "$WORK/one.out"; fail "4 ranks on 1 node"; }
cmp "$WORK/one/model.pt" "$WORK/two/model.pt" || fail "2 nodes x 2 ranks ended with another model.pt than 1 node x 4 ranks"
# 20 steps x 4 x 451 parameters all-reduced: node1 receives at least one copy of the gradients.
(( rx1 - rx0 > 20 * 4 * 451 )) || fail "only $((rx1 - rx0)) bytes crossed the veth"
pass "2 nodes x 2 ranks == 1 node x 4 ranks (model.pt byte-identical; $((rx1 - rx0)) bytes over the veth)"

# ---- 2. F8: shared checkpoint directory, written by global rank 0 only ----------------------
ck=("${small[@]}" --checkpoint.every_steps 10)
mkdir -p "$WORK/f8"
export FROST_NETNS_RO_DIRS="node1=$WORK/f8"  # ranks 2 and 3 (node1's local rank 0 among them) cannot write there
if FROST_FAULT_INJECT=rank=3,at=step:15,action=kill netns_mpirun 2 "$T" "${ck[@]}" --log.dir "$WORK/f8" \
     > "$WORK/f8a.out" 2>&1; then fail "the run killed at step 15 exited 0"; fi
grep -qx "step-000000010.pt" "$WORK/f8/checkpoints/latest" || { cat "$WORK/f8a.out"; fail "no step-10 checkpoint"; }
netns_mpirun 2 "$T" "${ck[@]}" --log.dir "$WORK/f8" --resume auto > "$WORK/f8b.out" 2>&1 \
  || { cat "$WORK/f8b.out"; fail "resume on 2 nodes"; }
expect_in "$WORK/f8b.out" "resumed from"
cmp "$WORK/one/model.pt" "$WORK/f8/model.pt" || fail "the resumed 2-node run differs from the uninterrupted run"
unset FROST_NETNS_RO_DIRS
pass "F8: checkpoint at step 10 by rank 0 (node1 read-only), kill at 15, resume on 2 x 2 == uninterrupted"

# ---- 3. cut the link mid-run, then resume --------------------------------------------------
make_data "$WORK/big.h5" --n 4096 --dim 64 --classes 3
long=(--data.train "$WORK/big.h5" --model.backbone mlp --model.mlp_hidden 256,256 --data.batch_size 32
      --train.epochs 100 --train.max_steps 60 --train.threads 1 --checkpoint.every_steps 20
      --dist.timeout_s 10 --log.every 20)
mkdir -p "$WORK/hold-cut"
# FROST_NODE_TIMEOUT_S 300: mpirun's own loss of node1 comes minutes later, so only Frost's
# path (the rank's timeout, its error line, frost-mpirun's grace) can end the job in the bound.
FROST_NODE_TIMEOUT_S=300 FROST_FAULT_INJECT='rank=*,at=step:30,action=hold' FROST_FAULT_HOLD_DIR="$WORK/hold-cut" \
  netns_mpirun 2 "$T" "${long[@]}" --log.dir "$WORK/cut" > "$WORK/cut.out" 2>&1 &
job=$!
wait_for_holds "$WORK/hold-cut" 4 "$job" || { cat "$WORK/cut.out"; fail "the ranks did not all hold at step 30"; }
grep -qx "step-000000020.pt" "$WORK/cut/checkpoints/latest" || { cat "$WORK/cut.out"; fail "no step-20 checkpoint"; }
netns_link_down
t_cut=$(secs)
touch "$WORK/hold-cut/release"
line_timeline "$t_cut" "$WORK/cut.out" "$WORK/cut.timeline" "released at step:30" "without completing" \
  "MPI_ABORT was invoked" "terminating it" "abort is already in progress" &
timeline=$!
rc=0
wait "$job" || rc=$?
took=$(elapsed "$t_cut")
sleep 0.3
kill "$timeline" 2> /dev/null || true
wait "$timeline" 2> /dev/null || true
(( rc != 0 )) || { cat "$WORK/cut.out"; fail "the run exited 0 although the link was cut"; }
[[ ! -e "$WORK/cut/model.pt" ]] || fail "the run cut at step 30 wrote model.pt"
expect_in "$WORK/cut.out" "without completing (dist.timeout_s = 10)"
# The bound: dist.timeout_s 10 + FROST_ABORT_GRACE_S 5 + frost-mpirun's 5 s of signals, and 30 s
# for a loaded machine; far below the minutes a lost node takes without it.
awk -v t="$took" 'BEGIN { exit !(t < 10 + 5 + 5 + 30) }' \
  || { cat "$WORK/cut.out"; echo "after the cut:"; cat "$WORK/cut.timeline"
       fail "the job took $took s to end after the cut (dist.timeout_s 10 + FROST_ABORT_GRACE_S 5 + 5 s of signals)"; }
gone_within 10 any_frost_train \
  || fail "rank processes left behind: $(frost_train_pids | tr '\n' ' ')"
pass "link cut at step 30: exit status $rc after $took s ($(paste -sd';' "$WORK/cut.timeline")), the timed-out collective named, no rank left behind"

netns_link_up
# mpirun's daemon on node1 could not be told that the job ended; it exits once it sees its
# connection to the gone mpirun reset (the link is back) or dead (keepalive, FROST_NODE_TIMEOUT_S).
for ((i = 0; i < 60; i++)); do [[ -z "$(netns_pids)" ]] && break; sleep 1; done
[[ -z "$(netns_pids)" ]] || echo "note: processes still in the namespaces 60 s after the link came back: $(netns_pids | tr '\n' ' ')"
latest=$(cat "$WORK/cut/checkpoints/latest")
netns_mpirun 2 "$T" "${long[@]}" --log.dir "$WORK/cut" --resume auto > "$WORK/resume.out" 2>&1 \
  || { cat "$WORK/resume.out"; fail "resume after the cut"; }
expect_in "$WORK/resume.out" "resumed from"
train -np 4 "$T" "${long[@]}" --log.dir "$WORK/long-one" > "$WORK/long-one.out" 2>&1 \
  || { cat "$WORK/long-one.out"; fail "uninterrupted long run"; }
cmp "$WORK/long-one/model.pt" "$WORK/cut/model.pt" || fail "resumed run differs from the uninterrupted run"
pass "after the link came back: resumed from $latest, model.pt == uninterrupted run's"

# ---- 4. the link lost in the shutdown ------------------------------------------------------
# No collective of Frost's is left to time out: only mpirun's own bound on a lost node ends it.
node_timeout=10
mkdir -p "$WORK/hold-fin"
FROST_NODE_TIMEOUT_S=$node_timeout FROST_FAULT_INJECT='rank=*,at=finalize,action=hold' \
  FROST_FAULT_HOLD_DIR="$WORK/hold-fin" \
  netns_mpirun 2 "$T" "${small[@]}" --log.dir "$WORK/fin" > "$WORK/fin.out" 2>&1 &
job=$!
wait_for_holds "$WORK/hold-fin" 4 "$job" || { cat "$WORK/fin.out"; fail "the ranks did not all hold before MPI_Finalize"; }
[[ -f "$WORK/fin/model.pt" ]] || { cat "$WORK/fin.out"; fail "the ranks held before MPI_Finalize without model.pt written"; }
netns_link_down
t_cut=$(secs)
touch "$WORK/hold-fin/release"
rc=0
wait "$job" || rc=$?
took=$(elapsed "$t_cut")
(( rc != 0 )) || { cat "$WORK/fin.out"; fail "mpirun exited 0 although node1 was lost before MPI_Finalize completed"; }
awk -v t="$took" -v b="$node_timeout" 'BEGIN { exit !(t < b + 15) }' \
  || { cat "$WORK/fin.out"; fail "the job took $took s to end after the cut (FROST_NODE_TIMEOUT_S $node_timeout)"; }
gone_within 10 any_netns_pid \
  || fail "processes left in the namespaces: $(netns_pids | tr '\n' ' ')"
pass "link lost before MPI_Finalize: exit status $rc after $took s (FROST_NODE_TIMEOUT_S $node_timeout), nothing left behind"
