#!/usr/bin/env python3
"""Tests of `kit_check.py metrics [--gpu]` (the GPU check kit's reading of a run's metrics.jsonl)
on hand-written records: a run that the kit must pass, and one fault of each kind it must fail."""
import json
import os
import subprocess
import sys
import tempfile

KIT_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kit_check.py")


def train(step, loss, **over):
    r = {"kind": "train", "step": step, "loss": loss, "timing": "cuda_events", "forward_ms": 3.5,
         "backward_ms": 7.25, "h2d_ms": 0.4}
    r.update(over)
    return r


def epoch(**over):
    r = {"kind": "epoch", "epoch": 1, "gpu_mem_peak_mib": 812.0}
    r.update(over)
    return r


def good():
    return [train(s, 2.0 - 0.1 * s) for s in range(1, 9)] + [epoch()]


def run(rows, *flags):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    try:
        p = subprocess.run([sys.executable, KIT_CHECK, "metrics", f.name, *flags],
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr
    finally:
        os.unlink(f.name)


def expect(name, rc_out, ok, needle):
    rc, out = rc_out
    if (rc == 0) != ok or needle not in out:
        print(f"FAIL {name}: exit {rc}, expected {'0' if ok else 'non-zero'} with {needle!r}; got:\n{out}")
        return 1
    print(f"ok   {name}")
    return 0


def main():
    failures = 0
    failures += expect("gpu run passes", run(good(), "--gpu"), True, "peak GPU memory 812 MiB")
    failures += expect("means are printed", run(good(), "--gpu"), True, "forward 3.50 ms")
    host = [train(s, 2.0 - 0.1 * s, timing="host", h2d_ms=0.0) for s in range(1, 9)] + [{"kind": "epoch", "epoch": 1}]
    failures += expect("cpu run passes without --gpu", run(host), True, "PASS")
    failures += expect("host timing fails --gpu", run(host, "--gpu"), False, "expected 'cuda_events'")
    rows = good(); rows[3]["h2d_ms"] = 0.0
    failures += expect("zero h2d fails", run(rows, "--gpu"), False, "h2d_ms = 0.0")
    rows = good(); del rows[2]["backward_ms"]
    failures += expect("missing backward fails", run(rows, "--gpu"), False, "backward_ms = None")
    rows = good(); rows[-1] = epoch(gpu_mem_peak_mib=0)
    failures += expect("zero peak memory fails", run(rows, "--gpu"), False, "gpu_mem_peak_mib = 0")
    rows = good()[:-1]
    failures += expect("no epoch record fails", run(rows, "--gpu"), False, "no epoch records")
    rows = [train(s, 1.0 + 0.1 * s) for s in range(1, 9)] + [epoch()]
    failures += expect("rising loss still fails", run(rows, "--gpu"), False, "did not decrease")
    failures += expect("bad flag refused", run(good(), "--gpus"), False, "bad arguments")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
