#!/usr/bin/env python3
"""Throughput of the Fashion-MNIST transfer (task B from the task-A backbone) per strategy on 1 and
2 ranks, against the machine's own ceiling for the same work measured in the same run.

    /usr/bin/python3 bench/throughput.py            # 60 steps per run; updates docs/results.md
    /usr/bin/python3 bench/throughput.py --quick    # 2 + 2 steps per run: does it all work?

Needs the task-A backbone (runs/fashion-mnist-a-pretrain/model.pt, written by
`bash launch/demo.sh fashion-mnist`; another file with --init); makes data/fashion-mnist/b with
frost-prep when it is missing. Every run is the shipped task-B job
(configs/fashion-mnist-b-STRATEGY.ini) with the same global batch (128) and per-rank micro-batch
128 / ranks, without evaluation (data.test empty), for --steps optimizer steps, launched by
launch/frost-mpirun. `head` runs with train.feature_cache = off: the frozen backbone runs in every
step, as when this table was first measured (the shipped config extracts the features once and
then trains the head from memory; docs/benchmarks.md has a table of that). Cells per strategy:

  1 rank, 1 thread        the single-process baseline
  1 rank, 2 threads       one process using both cores through intra-op threads
  2 ranks, 1 thread each  Frost data parallel
  ceiling                 2 independent 1-rank, 1-thread runs with micro-batch 64 started at the
                          same time, summed: what the cores deliver side by side for the same
                          work with no communication at all (bench/ceiling.py does the same for
                          the scaling cells)

samples/s is the median of metrics.jsonl's samples_per_s over the steps after the first --warmup;
MB/step (the mean of comm_bytes) and comm wait (the median of comm_wait_ms) are those of the
2-rank run. Writes --csv (default bench/results/throughput.csv) and, unless --no-doc, the region
between <!-- throughput:begin --> and <!-- throughput:end --> of docs/results.md.
"""
import argparse
import csv
import datetime
import os
import statistics
import sys
import time

import common  # bench/common.py: set-up, launch, machine description, docs regions
from common import ROOT

BEGIN, END = "<!-- throughput:begin -->", "<!-- throughput:end -->"
GLOBAL_BATCH = 128


def run_cell(args, strategy, name, np, threads, batch):
    """One frost-train run of task B; returns (median samples/s, mean MB/step, median comm wait
    ms) over the steps after the first args.warmup."""
    options = ["--config", f"configs/fashion-mnist-b-{strategy}.ini", "--model.init", args.init,
               "--train.max_steps", str(args.steps), "--train.threads", str(threads),
               "--data.batch_size", str(batch), "--data.test", "",
               "--log.level", "warn", "--log.dir", f"{args.work}/{name}", "--log.overwrite", "true"]
    if strategy == "head":
        options += ["--train.feature_cache", "off"]
    rows, _, _ = common.launch_frost(args, np, f"{args.work}/{name}", options)
    timed = rows[args.warmup:]
    assert len(timed) == args.steps - args.warmup, \
        f"{args.work}/{name}: expected {args.steps} steps, metrics.jsonl has {len(rows)}"
    return (statistics.median(r["samples_per_s"] for r in timed),
            statistics.mean(r["comm_bytes"] for r in timed) / 1e6,
            statistics.median(r["comm_wait_ms"] for r in timed))


def concurrent_cells(args, strategy, names, threads, batch):
    """run_cell for each of `names` (1 rank each), all started at the same moment."""
    return common.run_together("throughput", [(name, lambda name=name: run_cell(args, strategy, name, 1, threads, batch))
                                              for name in names])


def markdown(rows, meta):
    out = [f"Measured {meta['date']} by `{meta['command']}` ({meta['minutes']:.0f} min), Frost revision "
           f"{meta['revision']}. Machine: {meta['machine']}. Load average (1, 5, 15 min) before: "
           f"{meta['load_before']}; after: {meta['load_after']}" + (f". {meta['note']}." if meta["note"] else "."), "",
           f"Task B from the task-A backbone (`configs/fashion-mnist-b-{{head,full}}.ini`, `model.init` = "
           f"`{meta['init']}`), {meta['steps']} optimizer steps per run without evaluation, global batch "
           f"{GLOBAL_BATCH}, median samples/s over steps {meta['warmup'] + 1}-{meta['steps']}; `head` with "
           "`train.feature_cache = off` (the frozen backbone runs in every step). The ceiling is the machine's "
           "own limit for the same work: two independent 1-rank, 1-thread runs with micro-batch "
           f"{GLOBAL_BATCH // 2} started at the same time, summed (no communication at all). "
           f"CSV: [{meta['csv']}](../{meta['csv']}).", "",
           "| strategy | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread | ceiling: 2 independent "
           "1-thread runs | 2 ranks vs ceiling | MB/step (2 ranks) | comm wait ms/step |",
           "|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        out.append(f"| {r['strategy']} | {r['one_rank_one_thread']:.0f} | {r['one_rank_two_threads']:.0f} "
                   f"| {r['two_ranks_one_thread']:.0f} | {r['ceiling']:.0f} | {100 * r['two_ranks_of_ceiling']:.0f} % "
                   f"| {r['mb_per_step']:.4f} | {r['comm_wait_ms']:.2f} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 + 2 steps per run; results under --work, docs untouched")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 60)")
    p.add_argument("--warmup", type=int, default=None,
                   help="first steps left out of the statistics (default 10)")
    p.add_argument("--strategies", default="head,full")
    p.add_argument("--init", default="runs/fashion-mnist-a-pretrain/model.pt",
                   help="the task-A model.pt (bash launch/demo.sh fashion-mnist)")
    p.add_argument("--run-timeout", type=int, default=1800, help="seconds one run may take before it is killed")
    p.add_argument("--work", default=None, help="run directory (default runs/bench-throughput[-quick])")
    p.add_argument("--csv", default=None, help="default bench/results/throughput.csv (--quick: WORK/throughput.csv)")
    p.add_argument("--doc", default="docs/results.md")
    p.add_argument("--no-doc", action="store_true", help="do not touch --doc")
    p.add_argument("--no-setup", action="store_true", help="skip launch/setup.sh (Frost already built)")
    p.add_argument("--build", default=os.environ.get("FROST_BUILD_DIR", "build"))
    args = p.parse_args()
    args.steps = args.steps if args.steps is not None else (4 if args.quick else 60)
    args.warmup = args.warmup if args.warmup is not None else (2 if args.quick else 10)
    args.work = args.work or ("runs/bench-throughput-quick" if args.quick else "runs/bench-throughput")
    args.csv = args.csv or (f"{args.work}/throughput.csv" if args.quick else "bench/results/throughput.csv")
    args.models, args.no_plot = ["resnet"], True  # for common.ensure_setup: Fashion-MNIST B only
    strategies = [s for s in args.strategies.split(",") if s]
    if args.quick:
        args.no_doc = True
    if not 0 <= args.warmup < args.steps:
        sys.exit(f"throughput: --warmup must be in [0, --steps), got {args.warmup} with --steps {args.steps}")
    for s in strategies:
        if s not in ("head", "full"):
            sys.exit(f"throughput: unknown strategy '{s}' (head, full)")
    if not os.path.exists(os.path.join(ROOT, args.init)):
        sys.exit(f"throughput: {args.init} is missing: run bash launch/demo.sh fashion-mnist first (or give --init)")

    t_start = time.time()
    common.ensure_setup(args, python_packages=False)
    load_before = common.load_avg()
    common.log(f"load average {load_before}")
    rows = []
    for s in strategies:
        one_one, _, _ = run_cell(args, s, f"{s}-1r1t", 1, 1, GLOBAL_BATCH)
        one_two, _, _ = run_cell(args, s, f"{s}-1r2t", 1, 2, GLOBAL_BATCH)
        two, mb, wait = run_cell(args, s, f"{s}-2r1t", 2, 1, GLOBAL_BATCH // 2)
        ceiling_runs = [r[0] for r in concurrent_cells(args, s, [f"{s}-ceil-a", f"{s}-ceil-b"], 1, GLOBAL_BATCH // 2)]
        ceiling = sum(ceiling_runs)
        rows.append({"strategy": s, "steps": args.steps, "warmup": args.warmup,
                     "one_rank_one_thread": one_one, "one_rank_two_threads": one_two, "two_ranks_one_thread": two,
                     "ceiling": ceiling, "ceiling_runs": " ".join(f"{x:.1f}" for x in ceiling_runs),
                     "two_ranks_of_ceiling": two / ceiling, "mb_per_step": mb, "comm_wait_ms": wait})
        common.log(f"{s}: 1r1t {one_one:.0f} | 1r2t {one_two:.0f} | 2r1t {two:.0f} samples/s | ceiling {ceiling:.0f} "
                   f"({rows[-1]['ceiling_runs']}) | 2 ranks = {two / ceiling:.0%} of it | {mb:.4f} MB/step | "
                   f"comm wait {wait:.2f} ms")

    os.makedirs(os.path.dirname(os.path.join(ROOT, args.csv)) or ".", exist_ok=True)
    with open(os.path.join(ROOT, args.csv), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    load_after = common.load_avg()
    busy = max(float(x) for x in (load_before + " " + load_after).split()) > 0.5
    command = "/usr/bin/python3 bench/throughput.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--no-setup")
    meta = {"date": datetime.date.today().isoformat(), "command": command, "machine": common.machine(),
            "revision": common.revision(), "load_before": load_before, "load_after": load_after,
            "minutes": (time.time() - t_start) / 60, "steps": args.steps, "warmup": args.warmup,
            "init": args.init, "csv": args.csv,
            "note": "The load average shows that other work shared the machine during the run, so the "
                    "absolute numbers (and ratios, to a lesser degree) may be perturbed" if busy else ""}
    common.publish(args, markdown(rows, meta), BEGIN, END, "Throughput on 1 and 2 ranks")
    common.log(f"wrote {args.csv}; load average now {load_after}")


if __name__ == "__main__":
    main()
