#!/usr/bin/env python3
"""Turns `ctest -N -L gpu --show-only=json-v1` output into the kit's tests/gpu-tests.json: one
entry per test (name, command, environment, timeout) with the build and source folders replaced
by placeholders that kit/run_tests.py fills in on the GPU node:
  @TESTBIN@ the bundle's tests/bin (test binaries), @BIN@ its bin (frost-*), @SRC@ its src
  (frost-mpirun, tests/fixtures, tests/e2e), @WORK@ a scratch folder under OUTDIR.

usage: export_ctest.py CTEST_JSON BUILD_DIR SOURCE_DIR OUT_JSON
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    raw, build, src, out = sys.argv[1:]
    build, src = os.path.realpath(build), os.path.realpath(src)

    def relocate(word):
        w = word
        for prefix, tag in ((build + "/tests/", "@TESTBIN@/"), (build + "/", "@BIN@/"),
                            (src + "/", "@SRC@/")):
            if w.startswith(prefix):
                rest = w[len(prefix):]
                if tag == "@BIN@/" and "/" in rest:
                    tag = "@WORK@/"
                return tag + rest
        return w.replace(build, "@WORK@").replace(src, "@SRC@")

    with open(raw) as f:
        data = json.load(f)
    tests = []
    for t in data.get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        env = {}
        for kv in props.get("ENVIRONMENT", []):
            k, _, v = kv.partition("=")
            env[k] = relocate(v)
        tests.append({
            "name": t["name"],
            "command": [relocate(w) for w in t.get("command", [])],
            "env": env,
            "timeout_s": int(float(props.get("TIMEOUT", 300))),
            "skip_return_code": props.get("SKIP_RETURN_CODE"),
            # gtest_discover_tests sets it to "\[  SKIPPED \]" (GTEST_SKIP)
            "skip_regular_expression": props.get("SKIP_REGULAR_EXPRESSION", []),
            "labels": props.get("LABELS", []),
        })
    with open(out, "w") as f:
        json.dump({"tests": tests}, f, indent=1)
    print(f"export_ctest.py: {len(tests)} gpu-labelled test(s) -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
