"""Same inputs, two checkouts: does a change keep the engine's outputs?

    git worktree add /tmp/base <commit>
    python benchmarks/engine_outputs.py --baseline /tmp/base

Runs ``denovo sequence`` of this checkout and of ``--baseline`` (each in
its own process, ``PYTHONPATH`` set to the checkout) on the real files
the engine is checked on — the core and the whole dev split (annotated
MGF from ``benchmarks/real_split.py --mgf``), ``iprg2013_F13.mgf``,
``bsa1.mzML`` and ``yeast_small.mzML`` in the default mode, and the core
dev split in the evidence and model modes and with the draft model —
and compares the CSV tables byte for byte and the mzTab files line by
line, apart from the two lines that name the run (``mzTab-ID``,
``ms_run[1]-location``). Writes
``benchmarks/results/engine_outputs.{md,json}``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe, write_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"
REAL = ROOT / "runs" / "real"
CASES = [  # label, input, extra arguments
    ("core dev, default", REAL / "dev_core.mgf", []),
    ("all dev, default", REAL / "dev.mgf", []),
    ("iprg2013_F13, default", DATA / "iprg2013_F13.mgf", []),
    ("bsa1, default", DATA / "bsa1.mzML", []),
    ("yeast_small, default", DATA / "yeast_small.mzML", []),
    ("core dev, evidence mode", REAL / "dev_core.mgf", ["--mode", "evidence"]),
    ("core dev, model mode", REAL / "dev_core.mgf", ["--mode", "model"]),
    ("core dev, draft model", REAL / "dev_core.mgf", ["-m", "draft"]),
]
_RUN_KEYS = ("mzTab-ID", "ms_run[1]-location")  # name the run itself
_CLI = "from denovo.cli import main; main()"


def sequence(root: Path, path: Path, extra: list, out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run(
        [sys.executable, "-c", _CLI, "sequence", str(path), *extra,
         "-o", str(out.with_suffix(".mztab")), "--csv",
         str(out.with_suffix(".csv")), "--no-progress"],
        cwd=root, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{root}: {done.stderr[-2000:]}")


def _mztab_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines()
            if not (line.startswith("MTD")
                    and line.split("\t")[1] in _RUN_KEYS)]


def compare(a: Path, b: Path) -> dict:
    csv_a, csv_b = (p.with_suffix(".csv").read_bytes() for p in (a, b))
    tab_a, tab_b = (_mztab_lines(p.with_suffix(".mztab")) for p in (a, b))
    rows_a, rows_b = csv_a.decode().splitlines(), csv_b.decode().splitlines()
    differ = sum(x != y for x, y in zip(rows_a, rows_b, strict=False)) \
        + abs(len(rows_a) - len(rows_b))
    return {"csv_identical": csv_a == csv_b, "csv_rows": len(rows_a) - 1,
            "csv_rows_differing": differ,
            "mztab_identical_apart_from_run_lines": tab_a == tab_b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--results", default="engine_outputs")
    args = parser.parse_args()
    missing = [str(p) for _, p, _ in CASES if not p.exists()]
    if missing:
        sys.exit(f"missing inputs {missing} (run python "
                 "benchmarks/real_split.py --mgf; ../shared/data)")
    commits = {}
    for name, root in (("baseline", args.baseline), ("this", ROOT)):
        commits[name] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root,
            capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k, (label, path, extra) in enumerate(CASES):
            start = time.perf_counter()
            outs = {}
            for name, root in (("baseline", args.baseline), ("this", ROOT)):
                outs[name] = tmp / f"{name}_{k}"
                sequence(root, path, extra, outs[name])
            row = {"case": label, "input": path.name, "arguments": extra,
                   **compare(outs["baseline"], outs["this"]),
                   "seconds": round(time.perf_counter() - start, 1)}
            rows.append(row)
            print(f"{label:<26} csv identical {row['csv_identical']!s:<5} "
                  f"({row['csv_rows_differing']} of {row['csv_rows']} rows "
                  f"differ), mzTab identical "
                  f"{row['mztab_identical_apart_from_run_lines']}")
    report = {"command": "python benchmarks/engine_outputs.py "
              + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "machine": describe(),
              "commits": commits, "rows": rows}
    lines = ["# Engine outputs: this checkout against a baseline commit", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}): baseline {commits['baseline']}, this "
             f"{commits['this']}. `denovo sequence` of each checkout on the "
             "same inputs; CSV compared byte for byte, mzTab line by line "
             "without the two lines naming the run (mzTab-ID, "
             "ms_run[1]-location).", "",
             "| case | input | CSV identical | rows differing | mzTab "
             "identical | s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['input']} | {r['csv_identical']} "
                     f"| {r['csv_rows_differing']} of {r['csv_rows']} | "
                     f"{r['mztab_identical_apart_from_run_lines']} | "
                     f"{r['seconds']} |")
    print(f"wrote {write_results(args.results, report, lines)}")


if __name__ == "__main__":
    main()
