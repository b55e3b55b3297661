"""How good is a model? Real dev split and held-out simulated spectra.

    python benchmarks/real_split.py --mgf      # once: runs/real/dev.mgf
    python benchmarks/default_model.py [--model denovo/models/default.onnx]
    python benchmarks/default_model.py --model fast --results fast_model

Real dev split (never trained on, peptides never simulated for training):
``denovo sequence`` at beam 5 with precursor mass control, at beam 1, at
beam 5 without mass control and at beam 5 with fragment-match rescoring,
each scored by ``denovo evaluate``'s
matching rules. Held-out simulated data: realistic spectra of MS2PIP
library peptides on the "val" side of the library's hash split (never
trained on), scored by exact token accuracy (position by position over
the true length, predicted length, I and L distinct), sequence accuracy
and the share of reported peptides within the precursor tolerance.
Writes ``benchmarks/results/<--results>.{md,json}`` (default
``default_model``).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from denovo.core.peptide import parse
from machine import describe
from denovo.evaluate.pipeline import evaluate_files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = [  # (label, extra `denovo sequence` options)
    ("beam 5, mass control", ["--beam", "5"]),
    ("beam 1, mass control", ["--beam", "1"]),
    ("beam 5, no mass control", ["--beam", "5", "--no-mass-control"]),
    ("beam 5, mass control, rescored", ["--beam", "5", "--rescore"]),
]


def sequence(model: Path, mgf: Path, csv_out: Path, options) -> float:
    """Run ``denovo sequence``; returns wall seconds."""
    cmd = [sys.executable, "-c", "from denovo.cli import main; main()",
           "sequence", str(mgf), "-m",
           str(model), "--csv", str(csv_out), "--no-progress", *options]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - start


def simulated_metrics(csv_path: Path, truth_mgf: Path) -> dict:
    """Token/sequence accuracy and in-tolerance share on simulated data."""
    from denovo.io import read_spectra

    truth = [s.peptide for s in read_spectra(truth_mgf)]
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    tokens = correct_tokens = correct_peptides = fits = 0
    for row in rows:
        index = int(row["spectrum_id"].rsplit(":", 1)[1])
        true = truth[index]
        pred = parse(row["sequence"]) if row["sequence"] else ()
        tokens += len(true)
        correct_tokens += sum(p == t for p, t in zip(pred, true, strict=False))
        correct_peptides += pred == true
        fits += row["status"] == "ok"
    n = len(rows)
    return {"n_spectra": n, "token_accuracy": correct_tokens / tokens,
            "sequence_accuracy": correct_peptides / n,
            "within_tolerance": fits / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default",
                        help="model file or bundled model name")
    parser.add_argument("--dev", type=Path,
                        default=ROOT / "runs" / "real" / "dev.mgf")
    parser.add_argument("--library", type=Path,
                        default=ROOT / "runs" / "ms2pip_lib")
    parser.add_argument("--n-simulated", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=None,
                        help="scratch folder [runs/<results>_eval]")
    parser.add_argument("--results", default="default_model",
                        help="name of the results files")
    args = parser.parse_args()
    from denovo.engine.session import resolve_model

    args.model = resolve_model(args.model).resolve()
    args.work = args.work or ROOT / "runs" / f"{args.results}_eval"
    args.work.mkdir(parents=True, exist_ok=True)
    report = {"command": "python " + " ".join(sys.argv),
              "model": str(args.model.relative_to(ROOT)
                           if args.model.is_relative_to(ROOT)
                           else args.model), "date":
              datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": describe(),
              "real_dev": [], "simulated": None}

    for label, options in RUNS:
        out = args.work / f"dev_{label.replace(' ', '_').replace(',', '')}"
        seconds = sequence(args.model, args.dev, out.with_suffix(".csv"),
                           options)
        (result,) = evaluate_files([out.with_suffix(".csv")], [args.dev],
                                   exact=False)
        row = {"run": label, "seconds": round(seconds, 1),
               **result.mass.summary()}
        report["real_dev"].append(row)
        print(f"{label:<26} AA prec {row['aa_precision']:.3f}  AA rec "
              f"{row['aa_recall']:.3f}  pep recall "
              f"{row['peptide_recall']:.3f}  AUC {row['auc']:.3f}")

    if args.library.exists():
        from denovo_training.data.realistic import simulate_mgf
        from denovo_training.data.synthetic import SimulationConfig

        sim = args.work / "simulated_val.mgf"
        simulate_mgf(sim, args.n_simulated, library=args.library, seed=123,
                     side="val", config=SimulationConfig(min_length=7,
                                                         max_length=30))
        out = args.work / "simulated_val.csv"
        sequence(args.model, sim, out, ["--beam", "5"])
        report["simulated"] = simulated_metrics(out, sim)
        print("held-out simulated:", report["simulated"])

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.results}.json").write_text(
        json.dumps(report, indent=1) + "\n")
    lines = [
        f"# Model `{args.model.name}`: real dev split and held-out "
        "simulated spectra",
        "", f"`{report['command']}` on {report['date']} ({report['machine']})"
        f"; model `{report['model']}`.", "",
        "Real dev split (`configs/real_split.tsv`, "
        f"{report['real_dev'][0]['n_spectra']} spectra; no dev spectrum "
        "trained on, no dev peptide simulated for training, so every dev "
        "peptide is unseen):", "",
        "| decoding | AA precision | AA recall | peptide recall | "
        "peptide precision | AUC | seconds |", "|---|---|---|---|---|---|---|"]
    for r in report["real_dev"]:
        lines.append(
            f"| {r['run']} | {r['aa_precision']:.3f} | {r['aa_recall']:.3f}"
            f" | {r['peptide_recall']:.3f} | {r['peptide_precision']:.3f} | "
            f"{r['auc']:.3f} | {r['seconds']} |")
    if report["simulated"]:
        s = report["simulated"]
        lines += ["", f"Held-out simulated (realistic, {s['n_spectra']} "
                  "spectra of library peptides never trained on, beam 5, "
                  "mass control):", "",
                  "| token accuracy | sequence accuracy | within tolerance |",
                  "|---|---|---|",
                  f"| {s['token_accuracy']:.3f} | "
                  f"{s['sequence_accuracy']:.3f} | "
                  f"{s['within_tolerance']:.3f} |"]
    out = RESULTS / f"{args.results}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
