#!/usr/bin/env python3
"""Cold and warm compile times of every example, as README's compile table shows them.

    python3 bench/compile_times.py [--kiln build/tools/kiln] [--runs 2] [--markdown OUT.md]

For each examples/*.kiln: `kiln compile FILE --emit=obj` (the training and evaluation entry
points) with KILN_CACHE_DIR a fresh directory (cold), then again with the same directory (warm),
--runs times; wall-clock seconds, a range where the runs differ. The load average is printed
before and after: quote the table with it.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def compile_seconds(kiln, model, cache_dir, out_dir):
    env = dict(os.environ, KILN_CACHE_DIR=cache_dir)
    command = [kiln, "compile", model, "--emit=obj", "-o", os.path.join(out_dir, "model.o")]
    start = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit("%s failed: %s" % (" ".join(command), (run.stderr or run.stdout)[-300:]))
    return seconds


def span(values):
    low, high = min(values), max(values)
    return "%.2f" % low if "%.2f" % low == "%.2f" % high else "%.2f–%.2f" % (low, high)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiln", default=os.path.join(ROOT, "build/tools/kiln"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args()
    if not os.access(args.kiln, os.X_OK):
        raise SystemExit("%s is not built (bash scripts/build.sh)" % args.kiln)
    load_before = load_average()
    rows = ["| example | cold (s) | warm (s) |", "|---|---:|---:|"]
    for model in sorted(glob.glob(os.path.join(ROOT, "examples", "*.kiln"))):
        cold, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
                cold.append(compile_seconds(args.kiln, model, cache, out))
                warm.append(compile_seconds(args.kiln, model, cache, out))
        name = os.path.splitext(os.path.basename(model))[0]
        rows.append("| %s | %s | %s |" % (name, span(cold), span(warm)))
        print(rows[-1], file=sys.stderr, flush=True)
    text = "\n".join(["Load average %s before, %s after; %d runs each." % (
        load_before, load_average(), args.runs), ""] + rows)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
