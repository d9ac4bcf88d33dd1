#!/usr/bin/python3
"""Converts Pang & Lee's sentence polarity corpus (as shipped by Debian's python3-pattern) to
the CSV that `frost-prep text` reads.

    /usr/bin/python3 launch/polarity_to_csv.py OUT.csv CANDIDATE.csv [CANDIDATE.csv ...]

python3-pattern ships two English polarity corpora under
/usr/share/doc/python3-pattern/test/corpora/: polarity-en-pang&lee1.csv and
polarity-en-pang&lee2.csv, rows `"label","text"` with label 1 or -1. Its README.txt says that
the first holds the 4000 sentences, but the files are the other way round: &lee1 holds 1500
full movie reviews (polarity dataset v2.0) and &lee2 the 4000 sentences (sentence polarity
dataset v1.0). So this script does not trust the name: it takes the candidates and keeps the
one that holds exactly 4000 rows, labels 1/-1, 2000 of each (it fails if none or several do).

Output: header `label,text`, one row per sentence, RFC 4180 (fields quoted when they hold a
comma, quote or newline; quotes doubled; CRLF line ends), the text stripped of surrounding
whitespace (every source line ends in " \\n"). Labels stay as in the source: -1 (negative) and
1 (positive); frost-prep maps them to 0 and 1 in numeric order. Written atomically. Standard
library only.
"""
import collections
import csv
import os
import sys

EXPECTED_ROWS = 4000
EXPECTED_PER_LABEL = {"-1": 2000, "1": 2000}


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:  # the files start with a BOM
        rows = list(csv.reader(f))
    for i, row in enumerate(rows, 1):
        if len(row) != 2:
            raise ValueError(f"{path}: record {i} has {len(row)} fields, expected 2")
    return rows


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: polarity_to_csv.py OUT.csv CANDIDATE.csv [CANDIDATE.csv ...]")
    out, candidates = sys.argv[1], sys.argv[2:]
    chosen = []
    for path in candidates:
        try:
            rows = read_rows(path)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            print(f"  skipping {path}: {e}")
            continue
        counts = collections.Counter(label for label, _ in rows)
        desc = ", ".join(f"{n} x {label}" for label, n in sorted(counts.items()))
        print(f"  {os.path.basename(path)}: {len(rows)} rows ({desc})")
        if len(rows) == EXPECTED_ROWS and dict(counts) == EXPECTED_PER_LABEL:
            chosen.append((path, rows))
    if len(chosen) != 1:
        sys.exit(f"polarity_to_csv: error: expected exactly one candidate with {EXPECTED_ROWS} "
                 f"rows ({EXPECTED_PER_LABEL}), found {len(chosen)}")
    path, rows = chosen[0]

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(["label", "text"])
            for label, text in rows:
                w.writerow([label, text.strip()])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    print(f"  {out}: {len(rows)} sentences from {os.path.basename(path)}")


if __name__ == "__main__":
    main()
