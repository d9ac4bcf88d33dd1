"""frost-log: converts a run's metrics.jsonl for other viewers (launch/frost-log runs it).

  launch/frost-log tensorboard RUN_DIR [RUN_DIR ...]

tensorboard: RUN_DIR/tensorboard/ gets TensorBoard event files (written with TensorBoard's own
tensorboard.summary.Writer, PyPI's tensorboard package) holding every number of the train,
epoch and eval records against the global step: train/<key> (loss, lr, samples_per_s,
step_ms, ...), epoch/<key> (train_loss, wall_s, ...), eval/<key> (eval_accuracy, eval_loss,
macro_f1, ..., regression mae, rmse, r2). A resumed run's repeated steps count once (the later
record; frost_metrics.load_run). Values are float32, as TensorBoard stores scalars. Each event's
wall time is the run's start (RUN_DIR/config.ini's time) plus the training time up to its step
(the sum of the steps' step_ms, evaluation excluded), so TensorBoard's "Relative" axis shows
training time. A second conversion replaces the folder (new folder first, then renamed in).
View: tensorboard --logdir RUN_DIR/tensorboard (several runs: --logdir_spec a:A/tensorboard,...).
docs/monitoring.md describes it.
"""

import argparse
import bisect
import os
import shutil
import sys

import frost_metrics

KINDS = ("train", "epoch", "eval")


def scalars(run):
    """[(tag, step, value, wall_time)] of a loaded run (frost_metrics.load_run), train records
    first, then epoch and eval records, each in step order."""
    # Training time up to each step (s); epoch and eval records take their step's.
    start = run["start_time"]
    elapsed, t = {}, 0.0
    for r in run["train"]:
        ms = r.get("step_ms")
        if frost_metrics.is_scalar(ms):
            t += ms / 1000.0
        elapsed[r["step"]] = t
    steps_seen = sorted(elapsed)

    def wall_time(step):
        i = bisect.bisect_right(steps_seen, step)  # the last training step at or before `step`
        return start + (elapsed[steps_seen[i - 1]] if i > 0 else 0.0)

    out = []
    for kind in KINDS:
        records = run[kind]
        for key in frost_metrics.scalar_keys(records):
            steps, values = frost_metrics.series(records, key)
            for s, v in zip(steps, values):
                out.append((f"{kind}/{key}", s, v, wall_time(s)))
    return out


def run_start_time(run_dir):
    for name in ("config.ini", "metrics.jsonl"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            return os.path.getmtime(path)
    return 0.0


def tensorboard_writer():
    """TensorBoard's tensorboard.summary.Writer (PyPI tensorboard, launch/requirements-tools.txt)."""
    try:
        from tensorboard.summary import Writer
    except ImportError as e:
        raise frost_metrics.MetricsError(
            f"{sys.executable} cannot import TensorBoard's writer ({e}): run launch/setup.sh, "
            "which installs launch/requirements-tools.txt into the venv, or set FROST_PYTHON to "
            "a Python that has the tensorboard package") from None
    return Writer


def to_tensorboard(run_dir):
    """Writes RUN_DIR/tensorboard/ (replacing it); returns (points, tags, folder)."""
    run = frost_metrics.load_run(run_dir)
    run["start_time"] = run_start_time(run_dir)
    points = scalars(run)
    if not points:
        raise frost_metrics.MetricsError(
            f"{run_dir}/metrics.jsonl holds no train, epoch or eval record yet")
    Writer = tensorboard_writer()
    final = os.path.join(run_dir, "tensorboard")
    tmp = f"{final}.tmp.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        writer = Writer(tmp)
        for tag, step, value, wall in points:
            writer.add_scalar(tag, value, step, wall_time=wall)
        writer.close()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left
        raise
    old = f"{final}.old.{os.getpid()}"
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return len(points), len({p[0] for p in points}), final


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="frost-log", description="Convert a frost-train run's metrics.jsonl for viewers.")
    sub = parser.add_subparsers(dest="command", required=True)
    tb = sub.add_parser(
        "tensorboard",
        help="write RUN_DIR/tensorboard/ (TensorBoard event files of the run's scalars)")
    tb.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a frost-train log.dir")
    args = parser.parse_args(argv)
    try:
        for d in args.run_dirs:  # every one checked before any is written
            frost_metrics.metrics_path(d)
        for d in args.run_dirs:
            n, tags, folder = to_tensorboard(d)
            print(f"frost-log: {folder}: {n} scalars in {tags} tags; view with "
                  f"tensorboard --logdir {folder}")
    except frost_metrics.MetricsError as e:
        print(f"frost-log: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
