#!/usr/bin/env python3
"""The hardware's own ceiling for each scaling cell: N independent 1-rank Frost runs at once.

    /usr/bin/python3 bench/ceiling.py        # after bench/scaling.py; updates docs/benchmarks.md

On a machine with few cores, N ranks cannot reach N times the samples/s of one rank even with
free communication: the ranks share cores, memory bandwidth and caches. For every cell of
bench/scaling.py with N > 1 ranks this script starts N independent 1-rank Frost runs of the
same workload at the same moment, each with the threads a rank of the N-rank run gets
(max(1, cores / N)), and sums their samples/s: the most an N-rank data-parallel job could
deliver on this machine ("ceiling"). It then reads the N-rank Frost and DDP samples/s of the
last scaling run (bench/results/scaling.csv) and reports each as a share of the ceiling, next
to the ceiling's own scaling, ceiling / (N x one 1-rank run with all cores).

The runs are those of bench/scaling.py (same initial weights, data, batch, optimizer, steps and
launcher), so it needs that script's run directory (--work, for the init files); each
independent run is launched by launch/frost-mpirun with -np 1 and writes its own run directory.
Writes bench/results/ceiling.csv and the region between <!-- ceiling:begin --> and
<!-- ceiling:end --> of docs/benchmarks.md.
"""
import argparse
import csv
import datetime
import os
import time

import common  # bench/common.py: workloads, launch, machine description, docs region

ROOT = common.ROOT
BEGIN, END = "<!-- ceiling:begin -->", "<!-- ceiling:end -->"


def concurrent_single_rank_runs(args, model, strategy, n, threads, init):
    """samples/s of each of `n` 1-rank Frost runs started together (one thread each)."""
    jobs = [(f"run {i}", lambda i=i: common.run_frost(args, model, strategy, 1, threads, init,
                                                      f"ceiling-{model}-{strategy}-{n}x-{i}"))
            for i in range(n)]
    results = common.run_together("ceiling", jobs)
    return [r["samples_per_s"] for r in results]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="runs/bench-scaling", help="bench/scaling.py's run directory (init files)")
    p.add_argument("--scaling-csv", default="bench/results/scaling.csv")
    p.add_argument("--csv", default="bench/results/ceiling.csv")
    p.add_argument("--models", default="resnet,bert")
    p.add_argument("--strategies", default="full,head")
    p.add_argument("--ranks", default="2,4")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--run-timeout", type=int, default=1800)
    p.add_argument("--doc", default="docs/benchmarks.md")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--build", default=os.environ.get("FROST_BUILD_DIR", "build"))
    args = p.parse_args()
    models = [m for m in args.models.split(",") if m]
    strategies = [s for s in args.strategies.split(",") if s]
    ranks = [int(n) for n in args.ranks.split(",") if n]
    inits = {m: f"{args.work}/init-{m}.pt" for m in models}
    for m, path in inits.items():
        if not os.path.exists(os.path.join(ROOT, path)):
            raise SystemExit(f"ceiling: {path} is missing: run bench/scaling.py first (or give its --work)")
    with open(os.path.join(ROOT, args.scaling_csv)) as f:
        cells = {(r["model"], r["strategy"], int(r["ranks"])): r for r in csv.DictReader(f)}

    common.kernel_parity()  # the same OpenBLAS kernels as the scaling run (Note [Kernel parity])
    t_start, load_before = time.time(), common.load_avg()
    cores = os.cpu_count()
    rows = []
    for model in models:
        for strategy in strategies:
            one = cells.get((model, strategy, 1))
            for n in ranks:
                cell = cells.get((model, strategy, n))
                if one is None or cell is None:
                    raise SystemExit(f"ceiling: {args.scaling_csv} has no {model} {strategy} cell with 1 and {n} ranks")
                threads = max(1, cores // n)
                rates = concurrent_single_rank_runs(args, model, strategy, n, threads, inits[model])
                ceiling = sum(rates)
                alone = float(one["frost_samples_per_s"])
                row = {"model": model, "strategy": strategy, "ranks": n, "threads": threads,
                       "one_rank_alone": alone, "ceiling": ceiling, "ceiling_runs": " ".join(f"{r:.1f}" for r in rates),
                       "ceiling_scaling": ceiling / (n * alone),
                       "frost": float(cell["frost_samples_per_s"]), "peer": float(cell["peer_samples_per_s"])}
                row["frost_of_ceiling"] = row["frost"] / ceiling
                row["peer_of_ceiling"] = row["peer"] / ceiling
                rows.append(row)
                common.log(f"ceiling {model} {strategy} {n} x 1 rank x {threads} thr: {ceiling:.1f} samples/s "
                            f"({row['ceiling_runs']}); Frost {row['frost']:.1f} = {row['frost_of_ceiling']:.0%}, "
                            f"DDP {row['peer']:.1f} = {row['peer_of_ceiling']:.0%} of it")

    os.makedirs(os.path.dirname(os.path.join(ROOT, args.csv)), exist_ok=True)
    with open(os.path.join(ROOT, args.csv), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    minutes = (time.time() - t_start) / 60
    out = [f"Measured {datetime.date.today().isoformat()} by `/usr/bin/python3 bench/ceiling.py` ({minutes:.0f} min), "
           f"Frost revision {common.revision()}, against the scaling run recorded above "
           f"(`{args.scaling_csv}`). Load average before: {' '.join(load_before.split()[:3])}; "
           f"after: {' '.join(common.load_avg().split()[:3])}.", "",
           "Ceiling = the summed samples/s of N independent 1-rank Frost runs started together, each with the "
           "threads one rank of the N-rank run gets (same workload, steps and launcher as the scaling cell). "
           "Ceiling scaling = ceiling ÷ (N × the 1-rank cell's Frost samples/s, all cores). "
           f"CSV: [{args.csv}](../{args.csv}).", "",
           "| model | strategy | ranks × threads | 1 rank alone (samples/s) | ceiling (samples/s) | ceiling scaling | "
           "Frost N ranks | Frost ÷ ceiling | DDP N ranks | DDP ÷ ceiling |",
           "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['strategy']} | {r['ranks']} × {r['threads']} | {r['one_rank_alone']:.1f} | "
                   f"{r['ceiling']:.1f} | {r['ceiling_scaling']:.0%} | {r['frost']:.1f} | {r['frost_of_ceiling']:.0%} | "
                   f"{r['peer']:.1f} | {r['peer_of_ceiling']:.0%} |")
    common.publish(args, "\n".join(out), BEGIN, END, "Scaling against the hardware's ceiling")


if __name__ == "__main__":
    main()
