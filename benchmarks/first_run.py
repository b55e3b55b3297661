"""First-run cost: ``denovo sequence`` with an empty vs a filled kernel cache.

A fresh install has no compiled Numba kernels yet; the first run compiles
them (``cache=True`` stores them for later runs). This script reproduces
that state in one of two ways:

* ``--state cache-dir`` (default): an empty ``NUMBA_CACHE_DIR`` (what a
  fresh install lacks is exactly that cache);
* ``--state fresh-clone``: a copy of the tracked files of this checkout
  (``git ls-files``: no ``__pycache__``, no Numba cache) imported through
  ``PYTHONPATH`` with ``NUMBA_CACHE_DIR`` unset, so Numba caches next to
  the copied sources as it does in a fresh clone or install;

then runs ``denovo sequence`` on the bundled example (40 spectra, default
model, ``--mode`` as given, default hybrid) in a new process, and again
with the now filled cache. Each round uses its own empty state.

Every run records Numba's ``numba:compile`` events: the kernels compiled
(denovo dispatchers, with the number of signatures of each) and the
seconds each took without the callees it compiled inside it, so the table
says where the first run's compile time goes. The compile note the
command prints is reported too.

    python benchmarks/first_run.py [--rounds 2] [--state fresh-clone]
                                   [--mode hybrid]

Prints a table and writes ``benchmarks/results/first_run.{md,json}``.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shutil
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

# Runs the CLI with a numba:compile listener; writes the events as JSON.
RUNNER = r"""
import json, os, sys, time
from numba.core import event

records, stack = [], []

class Listener(event.Listener):
    def on_start(self, ev):
        d = ev.data["dispatcher"]
        stack.append([d.py_func.__module__ + "." + d.py_func.__qualname__,
                      str(ev.data["args"]), time.perf_counter(), 0.0])

    def on_end(self, ev):
        name, args, t0, inner = stack.pop()
        took = time.perf_counter() - t0
        if stack:
            stack[-1][3] += took
        records.append({"kernel": name, "args": args, "depth": len(stack),
                        "seconds": took, "own_seconds": took - inner})

event.register("numba:compile", Listener())
from denovo.cli import main
try:
    main(sys.argv[1:])
finally:
    with open(os.environ["FIRST_RUN_EVENTS"], "w") as f:
        json.dump(records, f)
"""


def fresh_clone(dest: Path) -> Path:
    """The tracked files of this checkout (as they are now) in ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def run_once(env: dict, work: Path, mode: str) -> dict:
    """One ``denovo sequence`` process: wall time, what it printed, and
    the kernels it compiled."""
    events = work / "events.json"
    env = dict(env, FIRST_RUN_EVENTS=str(events))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "sequence", str(EXAMPLE),
         "--csv", str(work / "out.csv"), "--mode", mode, "--no-progress"],
        capture_output=True, text=True, env=env, cwd=work)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"denovo sequence failed:\n{proc.stderr}")
    note = NOTE.search(proc.stderr)
    speed = SPEED.search(proc.stderr)
    records = json.loads(events.read_text())
    own = collections.defaultdict(float)
    sigs = collections.defaultdict(set)
    for r in records:
        own[r["kernel"]] += r["own_seconds"]
        sigs[r["kernel"]].add(r["args"])
    denovo = {k: len(v) for k, v in sigs.items() if k.startswith("denovo.")}
    return {"wall_s": round(wall, 2),
            "kernels_compiled": int(note.group(1)) if note else 0,
            "compile_s": float(note.group(2)) if note else 0.0,
            "sequencing_s": float(speed.group(1)) if speed else None,
            "spectra_per_s": float(speed.group(2)) if speed else None,
            "note_printed": bool(note),
            "compile_events": len(records),
            "compile_events_s": round(sum(r["seconds"] for r in records
                                          if r["depth"] == 0), 2),
            "denovo_kernels": len(denovo),
            "denovo_signatures": sum(denovo.values()),
            "signatures": dict(sorted(denovo.items())),
            "own_seconds": {k: round(v, 3) for k, v in sorted(
                own.items(), key=lambda kv: -kv[1])},
            "numba_internal_s": round(sum(
                v for k, v in own.items() if not k.startswith("denovo.")),
                2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--state", choices=("cache-dir", "fresh-clone"),
                        default="cache-dir")
    parser.add_argument("--mode", default="hybrid",
                        choices=("hybrid", "evidence", "model"))
    parser.add_argument("--results", default="first_run")
    args = parser.parse_args()
    rows = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = dict(os.environ)
            if args.state == "fresh-clone":
                env.pop("NUMBA_CACHE_DIR", None)
                env["PYTHONPATH"] = str(fresh_clone(tmp / "clone"))
            else:
                (tmp / "numba").mkdir()
                env["NUMBA_CACHE_DIR"] = str(tmp / "numba")
                env["PYTHONPATH"] = str(ROOT)
            for state in ("empty cache (first run)", "filled cache"):
                row = {"round": k + 1, "cache": state,
                       **run_once(env, tmp, args.mode)}
                rows.append(row)
                print({key: v for key, v in row.items()
                       if key not in ("signatures", "own_seconds")},
                      flush=True)
    cold_rows = [r for r in rows if r["cache"].startswith("empty")]
    cold = [r["wall_s"] for r in cold_rows]
    warm = [r["wall_s"] for r in rows if r["cache"] == "filled cache"]
    summary = {"first_run_wall_s_median": statistics.median(cold),
               "later_run_wall_s_median": statistics.median(warm),
               "first_run_extra_s": round(statistics.median(cold)
                                          - statistics.median(warm), 2),
               "compile_s_median": statistics.median(
                   r["compile_s"] for r in cold_rows),
               "kernels_compiled": cold_rows[0]["kernels_compiled"],
               "denovo_kernels": cold_rows[0]["denovo_kernels"],
               "denovo_signatures": cold_rows[0]["denovo_signatures"],
               "one_signature_each": all(
                   n == 1 for n in cold_rows[0]["signatures"].values())}
    header = ("| round | kernel cache | wall s | kernels compiled | "
              "compile s (note) | compile events | sequencing s | "
              "spectra/s | note printed |")
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['round']} | {r['cache']} | {r['wall_s']:.2f} | "
            f"{r['kernels_compiled']} | {r['compile_s']:.1f} | "
            f"{r['compile_events']} | "
            f"{r['sequencing_s']} | {r['spectra_per_s']} | "
            f"{'yes' if r['note_printed'] else 'no'} |")
    table = "\n".join(lines)
    # where the compile time goes: median own seconds per kernel
    names = {k for r in cold_rows for k in r["own_seconds"]}
    own = {k: statistics.median(r["own_seconds"].get(k, 0.0)
                                for r in cold_rows) for k in names}
    top = sorted(own.items(), key=lambda kv: -kv[1])
    sig = cold_rows[0]["signatures"]
    kern = ["| kernel | signatures | own compile s (median) |",
            "|---|---|---|"]
    for name, secs in top:
        if name.startswith("denovo."):
            kern.append(f"| `{name[len('denovo.'):]}` | {sig.get(name, 0)}"
                        f" | {secs:.2f} |")
    internal = sum(s for n, s in top if not n.startswith("denovo."))
    kern.append(f"| Numba's own helpers (np.empty, np.zeros, ...; "
                f"{sum(1 for n, _ in top if not n.startswith('denovo.'))}"
                f" functions) | | {internal:.2f} |")
    kernels_table = "\n".join(kern)
    print(table)
    print(kernels_table)
    print(summary)
    command = "python benchmarks/first_run.py " + " ".join(sys.argv[1:])
    date = datetime.date.today().isoformat()
    out = ROOT / "benchmarks" / "results"
    state = ("an empty Numba cache (`NUMBA_CACHE_DIR`, the state of a "
             "fresh install)" if args.state == "cache-dir" else
             "a fresh copy of the tracked files (no `__pycache__`, Numba "
             "caching next to the sources, as in a fresh clone)")
    text = (f"# First run after install\n\n`{command.strip()}` on "
            f"{describe()}, {date}. `denovo sequence --mode {args.mode}` "
            "on the bundled example (40 spectra, default model), each in "
            f"a new process: first with {state}, then with the cache that "
            "run filled. Wall time includes Python start-up, imports and "
            "loading the model; 'compile s (note)' is the compile time the "
            "command reports on screen, 'compile events' the number of "
            "functions Numba compiled (denovo kernels and Numba's own "
            "helpers they use).\n\n" + table + "\n\n"
            f"Median first run {summary['first_run_wall_s_median']:.1f} s, "
            f"later runs {summary['later_run_wall_s_median']:.1f} s: the "
            f"first run costs {summary['first_run_extra_s']:.1f} s more; "
            f"{summary['denovo_kernels']} denovo kernels compiled, "
            f"{summary['denovo_signatures']} signatures.\n\n"
            "Where the first run's compile time goes (seconds each "
            "function took to compile, without the callees compiled "
            "inside it; the machine is shared, so expect noise):\n\n"
            + kernels_table + "\n")
    (out / f"{args.results}.md").write_text(text)
    (out / f"{args.results}.json").write_text(json.dumps(
        {"command": command.strip(), "machine": describe(), "date": date,
         "rows": rows, "summary": summary}, indent=1) + "\n")
    print(f"wrote {out / args.results}.md/.json")


if __name__ == "__main__":
    main()
