#!/usr/bin/env bash
# The INI examples in README.md and docs/*.md (```ini blocks) follow the config file grammar
# frost-train reads (Note [Config file lines] in src/frost/train/config.cpp): text from '#' on
# is a comment, and every other non-blank line is '[section]' or 'key = value'. A ';' comment
# is not one: after a value it becomes part of the value, on a line of its own it is an error,
# so a copied example would fail.
source "$(dirname "$0")/lib.sh"
"$PY" - "$FROST_SRC" > "$WORK/ini.log" 2>&1 <<'PYEOF' || { cat "$WORK/ini.log" >&2; fail "INI examples in the docs"; }
import glob, os, re, sys
root = sys.argv[1]
bad, blocks = [], 0
for path in [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True)):
    in_block = in_ini = False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        fence = re.match(r"\s*```(\w*)", line)
        if fence:
            in_block = not in_block
            in_ini = in_block and fence.group(1) == "ini"
            blocks += in_ini
            continue
        if not in_ini:
            continue
        s = line.split("#", 1)[0].strip()
        if s and not (s.startswith("[") and s.endswith("]")) and "=" not in s:
            bad.append(f"{os.path.relpath(path, root)}:{n}: not '[section]', 'key = value' or a '#' comment: {line.strip()}")
        elif re.search(r"(^|\s);", s):
            bad.append(f"{os.path.relpath(path, root)}:{n}: a ';' comment (Frost's INI takes '#'): {line.strip()}")
print(f"{blocks} ini blocks")
print("\n".join(bad))
sys.exit(1 if bad or blocks == 0 else 0)
PYEOF
pass "$(head -1 "$WORK/ini.log"): '#' comments, '[section]' and 'key = value' lines only"
