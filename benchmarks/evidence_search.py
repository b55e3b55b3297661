"""The engine's modes and the evidence search's ablations on the dev split.

    python benchmarks/real_split.py --mgf          # once: runs/real/*.mgf
    python benchmarks/evidence_search.py           # ~10 min on 2 cores
    python benchmarks/evidence_search.py --quick   # modes only, core dev
    python benchmarks/evidence_search.py --model draft --modes-only \
        --results evidence_search_draft           # another model

Every run sequences the dev spectra (never trained on; dev peptides never
simulated for training) and scores them with ``denovo evaluate``'s rules
(Casanovo's mass matching, I = L):

* **modes** — ``--mode model`` (the model's beam alone, as before the
  search), ``--mode evidence`` (no neural model) and ``--mode hybrid``
  (the default), on the original 421-spectrum dev split ("core"), on the
  whole extended dev split (HCD and ion-trap CID sources), and on the
  spectra of peptides absent from every peptide source used in training
  ("unseen");
* **ablations** of the evidence mode on the core dev split: ranking by
  the search's path score (peaks may count twice) instead of peak-once,
  no fragments of charge 2, no learned peptide ranker, hand-set cleavage
  weights instead of the fitted ones, and scorers fitted on realistic
  simulated spectra (MS2PIP intensities, yeast peptides) alone and with
  the real train spectra (needs ms2pip; skipped without it).

Writes ``benchmarks/results/evidence_search.{md,json}`` (``--results``
changes the stem).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from machine import describe, write_results

from denovo.core.evidence import FEATURE_NAMES
from denovo.core.settings import FittedSettings, load_default
from denovo.core.peptide import peptide_key
from denovo.engine import (DecodeConfig, EngineConfig, ModelSession,
                           open_writers, sequence_files)
from denovo.evaluate.pipeline import evaluate_files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REAL = ROOT / "runs" / "real"
SETS = {  # label -> dev MGF written by benchmarks/real_split.py --mgf
    "core dev (421)": "dev_core.mgf",
    "core dev, unseen peptides": "dev_core_unseen.mgf",
    "all dev (HCD + CID)": "dev.mgf",
    "all dev, unseen peptides": "dev_unseen.mgf",
}
CORE = "core dev (421)"


def run(mgf: Path, out: Path, *, mode: str, model="default",
        fitted: FittedSettings | None = None, peak_once=True) -> dict:
    """Sequence ``mgf`` into a CSV as ``denovo sequence`` does; score it."""
    from denovo.engine.pipeline import Engine

    session = None if mode == "evidence" else ModelSession(model)
    decode = DecodeConfig()
    start = time.perf_counter()
    with open_writers(csv=out, inputs=[mgf], session=session,
                      decode=decode) as writers:
        if peak_once:
            summary = sequence_files([mgf], session=session, decode=decode,
                                     config=EngineConfig(), writers=writers,
                                     mode=mode, fitted=fitted)
        else:  # ablation: the engine itself, ranker switched
            from denovo.io import read_spectra
            engine = Engine(session, decode=decode, mode=mode,
                            fitted=fitted)
            engine.ranker = replace(engine.ranker, peak_once=False)
            rows = [p for r in engine.run(read_spectra(mgf))
                    for p in r.psms()]
            for w in writers:
                w.write_many(rows)
            summary = None
    seconds = time.perf_counter() - start
    (result,) = evaluate_files([out], [mgf], exact=False)
    row = dict(result.mass.summary())
    row["seconds"] = round(seconds, 1)
    if summary is not None:
        n = max(summary.n_spectra, 1)
        row["evidence_ms_per_spectrum"] = round(
            1000 * summary.stage_seconds.get("evidence", 0.0) / n, 2)
        row["model_ms_per_spectrum"] = round(
            1000 * summary.stage_seconds.get("model", 0.0) / n, 2)
    return row


def hand_scorer() -> FittedSettings:
    """Cleavage weights set by hand (the starting point before fitting):
    +2 per main b/y hit, +0.5 per other ion, +1 per intensity feature."""
    learned = load_default()
    w = []
    for name in FEATURE_NAMES:
        if name in ("b1_hit", "y1_hit", "b2_hit", "y2_hit"):
            w.append(2.0)
        elif name.endswith("_hit"):
            w.append(0.5)
        elif name.endswith("_intensity"):
            w.append(1.0)
        else:
            w.append(0.0)
    return FittedSettings(
        replace(learned.scorer, weights=tuple(w), bias=-2.0),
        replace(learned.rank, gap_penalty=-2.0, prior_weight=0.5,
                ranker={}, confidence={}))


def simulated_train(work: Path, n: int) -> Path | None:
    """Realistic simulated spectra of yeast peptides (no dev peptide)."""
    try:
        import ms2pip  # noqa: F401
    except ImportError:
        return None
    from denovo.io import read_spectra
    from denovo.io.mgf_writer import MgfWriter
    from denovo_training.data.peptides import read_split

    dev = {r.key for r in read_split(ROOT / "configs" / "real_split.tsv")
           if r.split == "dev"}
    raw = work / "simulated_raw.mgf"
    if not raw.exists():
        from click.testing import CliRunner
        from denovo.cli import main
        fasta = ROOT.parent / "shared" / "data" / "fasta" / \
            "yeast_reviewed_2021_04.fasta"
        res = CliRunner().invoke(main, ["simulate", "--fasta", str(fasta),
                                        "--n", str(n), "-o", str(raw)])
        if res.exit_code != 0:
            print("simulation failed:", res.output)
            return None
    out = work / "simulated_train.mgf"
    with MgfWriter(out) as writer:
        for s in read_spectra(raw):
            if s.peptide and peptide_key(s.peptide) not in dev:
                writer.write(s.mz, s.intensity, precursor_mz=s.precursor_mz,
                             charge=s.charge, peptide=s.peptide,
                             title=f"simulated:{s.index}")
    return out


def fit_scorer(paths, out: Path) -> FittedSettings:
    from denovo_training.evidence_scorer import fit

    fitted, _ = fit(paths, compare=False, log=lambda *a: None)
    fitted.save(out)
    return fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--quick", action="store_true",
                        help="modes only, core dev only")
    parser.add_argument("--modes-only", action="store_true",
                        help="modes on every dev set, no ablations")
    parser.add_argument("--results", default="evidence_search",
                        help="stem of the files in benchmarks/results/")
    parser.add_argument("--n-simulated", type=int, default=1500)
    parser.add_argument("--work", type=Path,
                        default=ROOT / "runs" / "evidence_search")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    missing = [f for f in SETS.values() if not (REAL / f).exists()]
    if missing:
        sys.exit(f"missing {missing} in {REAL}: run python "
                 "benchmarks/real_split.py --mgf")
    report = {"command": "python " + " ".join(sys.argv),
              "date": datetime.now(timezone.utc).isoformat(
                  timespec="seconds"),
              "machine": describe(), "model": args.model,
              "modes": [], "ablations": []}
    sets = {CORE: SETS[CORE]} if args.quick else SETS
    for label, name in sets.items():
        for mode in ("model", "evidence", "hybrid"):
            out = args.work / f"{Path(name).stem}_{mode}.csv"
            row = run(REAL / name, out, mode=mode, model=args.model)
            row.update(set=label, mode=mode)
            report["modes"].append(row)
            print(f"{label:<28} {mode:<9} AA prec {row['aa_precision']:.3f}"
                  f"  pep recall {row['peptide_recall']:.3f}  "
                  f"({row['n_spectra']} spectra, {row['seconds']} s)")
    if not (args.quick or args.modes_only):
        core = REAL / SETS[CORE]
        learned = load_default()
        variants = [
            ("evidence mode (reference)", {}),
            ("ranked by path score, peaks may count twice",
             {"peak_once": False}),
            ("no fragments of charge 2", {"fitted": replace(
                learned, scorer=replace(learned.scorer, evidence=dict(
                    learned.scorer.evidence, max_fragment_charge=1)))}),
            ("no learned peptide ranker",
             {"fitted": learned.with_rank(ranker={})}),
            ("hand-set cleavage weights", {"fitted": hand_scorer()}),
        ]
        sim = simulated_train(args.work, args.n_simulated)
        if sim is not None:
            variants.append(("scorer fitted on simulated spectra only", {
                "fitted": fit_scorer([sim], args.work / "sim_scorer.json")}))
            variants.append(("scorer fitted on real + simulated", {
                "fitted": fit_scorer([REAL / "train.mgf", sim],
                                     args.work / "both_scorer.json")}))
        for k, (label, options) in enumerate(variants):
            row = run(core, args.work / f"ablation_{k}.csv",
                      mode="evidence", **options)
            row["variant"] = label
            report["ablations"].append(row)
            print(f"{label:<48} AA prec {row['aa_precision']:.3f}  "
                  f"pep recall {row['peptide_recall']:.3f}")
    write(report, args.results)


def write(report: dict, stem: str = "evidence_search") -> None:
    lines = ["# Evidence search and engine modes on the dev split", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}); model `{report['model']}`. Dev "
             "spectra are never trained on and dev peptides never "
             "simulated for training; 'unseen' keeps the spectra whose "
             "peptide is in no peptide source used in training either. "
             "Scored by `denovo evaluate` (mass matching, I = L). "
             "Evidence/model ms: time of that stage per spectrum.", "",
             "| dev set | mode | spectra | AA precision | AA recall | "
             "peptide recall | AUC | ECE | evidence ms | model ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["modes"]:
        ece = r.get("ece")
        lines.append(
            f"| {r['set']} | {r['mode']} | {r['n_spectra']} | "
            f"{r['aa_precision']:.3f} | {r['aa_recall']:.3f} | "
            f"{r['peptide_recall']:.3f} | {r['auc']:.3f} | "
            f"{'' if ece is None else f'{ece:.3f}'} | "
            f"{r.get('evidence_ms_per_spectrum', '')} | "
            f"{r.get('model_ms_per_spectrum', '')} |")
    if report["ablations"]:
        lines += ["", "Ablations (evidence mode, core dev split, 421 "
                  "spectra):", "",
                  "| variant | AA precision | AA recall | peptide recall |",
                  "|---|---|---|---|"]
        for r in report["ablations"]:
            lines.append(f"| {r['variant']} | {r['aa_precision']:.3f} | "
                         f"{r['aa_recall']:.3f} | "
                         f"{r['peptide_recall']:.3f} |")
    out = write_results(stem, report, lines)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
