#!/usr/bin/env python3
"""Runs the kit's gpu-labelled tests (tests/gpu-tests.json, written by export_ctest.py) on the
node, without cmake: placeholders become the bundle's folders, each test is bounded by its own
ctest TIMEOUT and by the time left, and gets a log OUTDIR/tests/<name>.log.

usage: run_tests.py BUNDLE OUTDIR SECONDS_LEFT
Prints one line per test (`<name> PASS|FAIL|SKIP|TIMEOUT|NOT-RUN <s>`); exit 0 when none
failed and at least one passed, 4 when none failed and none passed (all skipped), 1 when one
failed, 3 when the list is empty (the build has no gpu-labelled tests).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time


def skipped_by_output(log, test):
    """ctest's SKIP_REGULAR_EXPRESSION: a match in the output makes a passing test skipped."""
    patterns = test.get("skip_regular_expression") or []
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        return False
    text = open(log, errors="replace").read()
    return any(re.search(p, text) for p in patterns)


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    bundle, out, left = sys.argv[1], sys.argv[2], float(sys.argv[3])
    path = os.path.join(bundle, "tests", "gpu-tests.json")
    if not os.path.exists(path):
        print(f"run_tests.py: {path} not found", file=sys.stderr)
        sys.exit(3)
    tests = json.load(open(path))["tests"]
    if not tests:
        sys.exit(3)
    work = os.path.join(out, "work", "ctest")
    os.makedirs(os.path.join(out, "tests"), exist_ok=True)
    os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
    subst = {"@TESTBIN@": os.path.join(bundle, "tests", "bin"), "@BIN@": os.path.join(bundle, "bin"),
             "@SRC@": os.path.join(bundle, "src"), "@WORK@": work}

    def fill(s):
        for k, v in subst.items():
            s = s.replace(k, v)
        return s

    deadline = time.time() + left
    failed = passed = 0
    for t in tests:
        name = t["name"]
        log = os.path.join(out, "tests", name.replace("/", "_") + ".log")
        remaining = deadline - time.time()
        if remaining < 5:
            print(f"{name} NOT-RUN 0 (time budget spent)")
            failed += 1
            continue
        env = dict(os.environ)
        env.update({k: fill(v) for k, v in t["env"].items()})
        env.update({"FROST_TEST_TMPDIR": os.path.join(work, "tmp"),
                    "FROST_SOURCE_DIR": subst["@SRC@"], "FROST_BIN": subst["@BIN@"],
                    "FROST_SRC": subst["@SRC@"]})
        env.setdefault("FROST_MPIRUN", os.path.join(subst["@SRC@"], "launch", "frost-mpirun"))
        cmd = [fill(w) for w in t["command"]]
        limit = min(float(t.get("timeout_s") or 300), remaining)
        t0 = time.time()
        with open(log, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n")
            f.flush()
            try:
                # Its own process group, so that a timeout also ends mpirun's ranks.
                p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=work,
                                     start_new_session=True)
                try:
                    rc = p.wait(timeout=limit)
                    skip = t.get("skip_return_code")
                    state = ("PASS" if rc == 0 else
                             "SKIP" if skip is not None and rc == int(skip) else "FAIL")
                    if state == "PASS" and skipped_by_output(log, t):
                        state = "SKIP"
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
                    state = "TIMEOUT"
            except OSError as e:
                f.write(f"run_tests.py: cannot start: {e}\n")
                state = "FAIL"
        if state in ("FAIL", "TIMEOUT"):
            failed += 1
        passed += state == "PASS"
        print(f"{name} {state} {time.time() - t0:.0f}", flush=True)
    sys.exit(1 if failed else 0 if passed else 4)


if __name__ == "__main__":
    main()
