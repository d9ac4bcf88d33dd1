"""Reads a run's log.dir/metrics.jsonl for launch/frost-log and launch/frost-plot.

The records are those of src/frost/train/metrics.h (docs/design.md, "Run directory"). A resumed
run appends to metrics.jsonl, so the steps between its checkpoint and the kill appear twice;
here the later record of a step (train) or epoch (epoch, eval) wins, as it is the one the run
went on from. Standard library only.
"""

import json
import os


class MetricsError(Exception):
    """Bad input: the message names the run directory or the file and line."""


# The keys of a record that place it, not values to draw.
POSITION_KEYS = ("kind", "epoch", "step")


def metrics_path(run_dir):
    """RUN_DIR/metrics.jsonl; MetricsError when RUN_DIR has none."""
    if not os.path.isdir(run_dir):
        raise MetricsError(f"{run_dir}: no such run directory")
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        raise MetricsError(
            f"{run_dir}: no metrics.jsonl, so not a frost-train run directory (log.dir) or its "
            "run has not started")
    return path


def read_records(path):
    """The JSON objects of metrics.jsonl in file order. A last line without its newline is
    being written by a running job and is left out; any other line that is not a JSON object
    is a MetricsError naming the line."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] != b"":  # cut short: the writer has not finished it
        lines = lines[:-1]
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            raise MetricsError(f"{path}:{n}: not a JSON line ({e})") from None
        if not isinstance(record, dict) or "kind" not in record:
            raise MetricsError(f"{path}:{n}: not a metrics record (a JSON object with 'kind')")
        records.append(record)
    return records


def load_run(run_dir):
    """{"train": [...], "epoch": [...], "eval": [...]} of RUN_DIR: the records of each kind,
    one per step (train) or epoch (epoch, eval), the last written winning, in step order."""
    records = read_records(metrics_path(run_dir))
    by_kind = {"train": {}, "epoch": {}, "eval": {}}
    for r in records:
        kind = r["kind"]
        if kind not in by_kind:
            continue  # feature_cache, buckets: nothing to draw against steps
        key = r.get("step") if kind == "train" else r.get("epoch")
        by_kind[kind][key] = r
    return {k: sorted(v.values(), key=lambda r: (r.get("step", 0), r.get("epoch", 0)))
            for k, v in by_kind.items()}


def is_scalar(value):
    """A number to draw: int or float, not bool, not null."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scalar_keys(records):
    """The keys with a number in some record, besides kind/epoch/step, in first-seen order."""
    keys = []
    for r in records:
        for k, v in r.items():
            if k not in POSITION_KEYS and k not in keys and is_scalar(v):
                keys.append(k)
    return keys


def series(records, key):
    """(steps, values) of `key` over `records`, where it is a number."""
    steps, values = [], []
    for r in records:
        v = r.get(key)
        if is_scalar(v):
            steps.append(r["step"])
            values.append(float(v))
    return steps, values
