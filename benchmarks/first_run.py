"""First-run cost: ``denovo sequence`` with an empty vs a filled kernel cache.

A fresh install has no compiled Numba kernels yet; the first run compiles
them (``cache=True`` stores them for later runs). This script reproduces
that state with an empty ``NUMBA_CACHE_DIR`` (what a fresh install lacks
is exactly that cache), runs ``denovo sequence`` on the bundled example
(40 spectra, default model) in a new process, then runs it again with the
now filled cache, and reports wall times and the compile note the command
prints. Each round uses its own empty cache.

    python benchmarks/first_run.py [--rounds 2]

Prints a table and writes ``benchmarks/results/first_run.{md,json}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe

ROOT = Path(__file__).resolve().parents[1]

EXAMPLE = ROOT / "denovo" / "data" / "example.mgf"
NOTE = re.compile(r"compiled (\d+) Numba kernels in ([\d.]+)s")
SPEED = re.compile(r"time:\s+([\d.]+)s \(([\d.]+) spectra/s")


def run_once(cache: Path, work: Path) -> dict:
    """One ``denovo sequence`` process; wall time and what it printed."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "from denovo.cli import main; main()",
         "sequence", str(EXAMPLE), "--csv", str(work / "out.csv"),
         "--no-progress"], capture_output=True, text=True, env=env,
        cwd=work)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"denovo sequence failed:\n{proc.stderr}")
    note = NOTE.search(proc.stderr)
    speed = SPEED.search(proc.stderr)
    return {"wall_s": round(wall, 2),
            "kernels_compiled": int(note.group(1)) if note else 0,
            "compile_s": float(note.group(2)) if note else 0.0,
            "sequencing_s": float(speed.group(1)) if speed else None,
            "spectra_per_s": float(speed.group(2)) if speed else None,
            "note_printed": bool(note)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--results", default="first_run")
    args = parser.parse_args()
    rows = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            cache, work = Path(tmp) / "numba", Path(tmp)
            cache.mkdir()
            for state in ("empty cache (first run)", "filled cache"):
                row = {"round": k + 1, "cache": state,
                       **run_once(cache, work)}
                rows.append(row)
                print(row, flush=True)
    cold = [r["wall_s"] for r in rows if r["cache"].startswith("empty")]
    warm = [r["wall_s"] for r in rows if r["cache"] == "filled cache"]
    summary = {"first_run_wall_s_median": statistics.median(cold),
               "later_run_wall_s_median": statistics.median(warm),
               "first_run_extra_s": round(statistics.median(cold)
                                          - statistics.median(warm), 2)}
    header = ("| round | kernel cache | wall s | kernels compiled | "
              "compile s (warm-up) | sequencing s | spectra/s | "
              "note printed |")
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['round']} | {r['cache']} | {r['wall_s']:.2f} | "
            f"{r['kernels_compiled']} | {r['compile_s']:.1f} | "
            f"{r['sequencing_s']} | {r['spectra_per_s']} | "
            f"{'yes' if r['note_printed'] else 'no'} |")
    table = "\n".join(lines)
    print(table)
    print(summary)
    command = "python benchmarks/first_run.py " + " ".join(sys.argv[1:])
    date = datetime.date.today().isoformat()
    out = ROOT / "benchmarks" / "results"
    text = (f"# First run after install\n\n`{command.strip()}` on "
            f"{describe()}, {date}. `denovo sequence` on the bundled "
            "example (40 spectra, default model), each in a new process: "
            "first with an empty Numba cache (`NUMBA_CACHE_DIR`, the state "
            "of a fresh install), then with the cache that run filled. "
            "Wall time includes Python start-up, imports and loading the "
            "model; 'compile s' is the kernel warm-up the command reports "
            "on screen.\n\n" + table + "\n\n"
            f"Median first run {summary['first_run_wall_s_median']:.1f} s, "
            f"later runs {summary['later_run_wall_s_median']:.1f} s: the "
            f"first run costs {summary['first_run_extra_s']:.1f} s more.\n")
    (out / f"{args.results}.md").write_text(text)
    (out / f"{args.results}.json").write_text(json.dumps(
        {"command": command.strip(), "machine": describe(), "date": date,
         "rows": rows, "summary": summary}, indent=1) + "\n")
    print(f"wrote {out / args.results}.md/.json")


if __name__ == "__main__":
    main()
