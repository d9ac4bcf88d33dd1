"""frost-plot: PNG figures of one or more runs' metrics.jsonl (launch/frost-plot runs it).

  launch/frost-plot RUN_DIR [RUN_DIR ...] [--out DIR] [--smooth A]

One figure per metric, against the global optimizer step, every run that has the metric
overlaid and named in the legend by its RUN_DIR (and train.strategy), in the same colour in
every figure:
  loss.png            training loss of every step (faint), and its exponential moving average
                      with weight A of the past (--smooth, default 0.6 as TensorBoard's slider;
                      0: none) drawn over it
  lr.png              learning rate of every step
  <metric>.png        each evaluation metric of the eval records (with data.test):
                      eval_accuracy, eval_loss, macro_f1, micro_f1; regression eval_loss, mae,
                      rmse, r2; one point per evaluation
--out: the folder (created; default RUN_DIR/plots of the first RUN_DIR). Every RUN_DIR is
read before anything is written; a RUN_DIR without metrics.jsonl is an error naming it. Each
PNG is written to a temporary name and renamed. matplotlib's Agg backend (no display).
A resumed run's repeated steps count once (frost_metrics.load_run). docs/monitoring.md.
"""

import argparse
import os
import sys

import frost_metrics

# Numbers of the eval records that are not metrics to draw.
EVAL_NOT_METRICS = ("eval_samples", "best_epoch", "best_value")

# Titles: the metric for people, by task where the tasks name it differently.
TITLES = {
    "loss": "training loss",
    "lr": "learning rate",
    "eval_accuracy": {"classification": "test accuracy", "multilabel": "test exact match"},
    "eval_loss": {"classification": "test loss (cross-entropy)",
                  "multilabel": "test loss (binary cross-entropy)", "regression": "test MSE"},
    "macro_f1": "test macro F1",
    "micro_f1": "test micro F1",
    "mae": "test MAE",
    "rmse": "test RMSE",
    "r2": "test R²",
}


def title(name, tasks):
    """The title of metric `name` for runs of `tasks` (train.task values)."""
    t = TITLES.get(name, name)
    if isinstance(t, dict):
        return " / ".join(dict.fromkeys(t.get(task, name) for task in sorted(tasks))) or name
    return t


def run_label(run_dir, run):
    """The legend entry of a run: RUN_DIR (strategy), lp-ft's phases as one."""
    strategies = dict.fromkeys(r.get("strategy", "?").split(":")[0] for r in run["train"])
    return f"{run_dir} ({', '.join(strategies)})" if strategies else run_dir


def ema(values, weight):
    """Exponential moving average: s_0 = v_0, s_i = weight * s_(i-1) + (1 - weight) * v_i."""
    out, s = [], None
    for v in values:
        s = v if s is None else weight * s + (1.0 - weight) * v
        out.append(s)
    return out


def figures(runs):
    """{name: {"kind": "train"|"eval", "runs": {run_dir: (steps, values)}}} for the loaded runs
    {run_dir: frost_metrics.load_run(run_dir)}, in drawing order: loss, lr, then the eval
    metrics in the order they first appear."""
    out = {}
    for name in ("loss", "lr"):
        per_run = {d: frost_metrics.series(r["train"], name) for d, r in runs.items()}
        out[name] = {"kind": "train", "runs": {d: s for d, s in per_run.items() if s[0]}}
    metrics = []
    for r in runs.values():
        for k in frost_metrics.scalar_keys(r["eval"]):
            if k not in EVAL_NOT_METRICS and k not in metrics:
                metrics.append(k)
    for name in metrics:
        per_run = {d: frost_metrics.series(r["eval"], name) for d, r in runs.items()}
        out[name] = {"kind": "eval", "runs": {d: s for d, s in per_run.items() if s[0]}}
    return out


def draw(figs, runs, out_dir, smooth):
    """Writes one PNG per figure of figures(runs) into out_dir; returns their paths."""
    try:
        import matplotlib
    except ImportError as e:
        raise frost_metrics.MetricsError(
            f"{sys.executable} cannot import matplotlib ({e}): run launch/setup.sh, which "
            "installs launch/requirements-tools.txt into the venv, or set FROST_PYTHON to a "
            "Python that has it") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    tasks = {r.get("task") for run in runs.values() for r in run["eval"] if r.get("task")}

    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, fig_data in figs.items():
        if not fig_data["runs"]:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        for run_dir, (steps, values) in fig_data["runs"].items():
            # one colour per run in every figure: its place among all runs
            color = f"C{list(runs).index(run_dir) % 10}"
            label = run_label(run_dir, runs[run_dir])
            if fig_data["kind"] == "eval":
                ax.plot(steps, values, marker="o", color=color, label=label)
            elif name == "loss" and smooth > 0:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(steps, ema(values, smooth), color=color, label=label)
            else:
                ax.plot(steps, values, color=color, label=label)
        text = title(name, tasks)
        if name == "loss" and smooth > 0:
            text += f" (faint: every step; line: EMA, smoothing {smooth:g})"
        ax.set_title(text)
        ax.set_xlabel("step (global optimizer step)")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = os.path.join(out_dir, f"{name}.png")
        tmp = f"{path}.tmp.{os.getpid()}.png"
        try:
            fig.savefig(tmp)
            os.replace(tmp, path)
        finally:
            plt.close(fig)
            if os.path.exists(tmp):
                os.remove(tmp)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="frost-plot",
        description="PNG figures of training loss, learning rate and evaluation metrics against "
        "the step, one per metric, runs overlaid.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a frost-train log.dir")
    parser.add_argument("--out", help="output folder (default: RUN_DIR/plots of the first run)")
    parser.add_argument("--smooth", type=float, default=0.6,
                        help="EMA weight of the past for the loss line, in [0, 1) (default 0.6)")
    args = parser.parse_args(argv)
    if not 0 <= args.smooth < 1:
        parser.error(f"--smooth must be in [0, 1), got {args.smooth}")
    try:
        runs = {}
        for d in args.run_dirs:
            run = frost_metrics.load_run(d)
            if not run["train"]:
                raise frost_metrics.MetricsError(
                    f"{d}/metrics.jsonl has no training step yet: nothing to draw")
            runs[d] = run
    except frost_metrics.MetricsError as e:
        print(f"frost-plot: error: {e}", file=sys.stderr)
        return 1
    out_dir = args.out or os.path.join(args.run_dirs[0], "plots")
    try:
        for path in draw(figures(runs), runs, out_dir, args.smooth):
            print(f"frost-plot: wrote {path}")
    except frost_metrics.MetricsError as e:
        print(f"frost-plot: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
