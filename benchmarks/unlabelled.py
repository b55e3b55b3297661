"""What `denovo sequence` writes for unlabelled real runs.

    python benchmarks/unlabelled.py

Sequences ``iprg2013_F13.mgf`` (Orbitrap, high-resolution fragments) and
``bsa1.mzML`` (LTQ Orbitrap XL, CID fragments read in the ion trap, so
``--fragment-tol 0.5Da``) at the default settings and reports, per file:
the status of every spectrum, the share of spectra whose peptide has a
confidence of at least 0.5 and 0.9, and how plausible the peptides look
(the longest run of one residue; the old model-only engine wrote
``LLLLLLLL...`` here). For bsa1 the peptides are also compared with the
OMSSA identifications of the same run (``bsa1_omssa.idXML``, q <= 0.01),
and the share of confident peptides found in the BSA sequence is given.
Writes ``benchmarks/results/unlabelled.{md,json}``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from machine import describe

from denovo.core.peptide import peptide_key
from denovo.engine import (DecodeConfig, EngineConfig, ModelSession,
                           sequence_files)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"
RESULTS = ROOT / "benchmarks" / "results"
RUNS = [("iprg2013_F13.mgf", None), ("bsa1.mzML", 0.5)]  # Da
BSA_ACCESSION = "P02769"


def longest_run(peptide) -> int:
    best = run = 0
    prev = None
    for tok in peptide:
        run = run + 1 if tok == prev else 1
        prev = tok
        best = max(best, run)
    return best


def bsa_sequence() -> str | None:
    """BSA from the contaminants FASTA (``crap.fasta``), I as L."""
    fasta = ROOT.parent / "shared" / "data" / "fasta" / "crap.fasta"
    if not fasta.exists():
        return None
    seq, keep = [], False
    for line in fasta.read_text().splitlines():
        if line.startswith(">"):
            keep = BSA_ACCESSION in line or "ALBU_BOVIN" in line
            continue
        if keep:
            seq.append(line.strip())
    return "".join(seq).replace("I", "L") or None


def sequence(path: Path, fragment_tol_da: float | None) -> list:
    session = ModelSession("default")
    fitted = session.info.fitted
    if fragment_tol_da is not None:
        fitted = fitted.with_fragment_tol(fragment_tol_da, "Da")
    rows = []

    class Collect:
        def write_many(self, psms):
            rows.extend(psms)

    decode = DecodeConfig()
    sequence_files([path], session=session, decode=decode,
                   config=EngineConfig(), writers=[Collect()],
                   fitted=fitted)
    return rows


def omssa_agreement(rows) -> dict:
    from denovo.io import read_annotated

    labels = {}
    with read_annotated(DATA / "bsa1.mzML",
                        labels=DATA / "bsa1_omssa.idXML") as reader:
        for s in reader:
            if s.peptide and s.status == "ok":
                labels[s.index] = peptide_key(s.peptide)
    same = sum(1 for r in rows if r.index in labels and r.peptide
               and peptide_key(r.peptide) == labels[r.index])
    return {"omssa_psms": len(labels), "same_peptide": same}


def main() -> None:
    report = {"command": "python benchmarks/unlabelled.py",
              "date": datetime.now(timezone.utc).isoformat(
                  timespec="seconds"),
              "machine": describe(), "runs": []}
    bsa = bsa_sequence()
    for name, tol in RUNS:
        path = DATA / name
        if not path.exists():
            print(f"skip {name}: not found")
            continue
        start = time.perf_counter()
        rows = sequence(path, tol)
        seconds = time.perf_counter() - start
        status = Counter(r.status for r in rows)
        peptides = [r for r in rows if r.peptide]
        conf = [r.reported_score or 0.0 for r in peptides]
        runs = [longest_run(r.peptide) for r in peptides]
        entry = {
            "file": name,
            "fragment_tol": f"{tol}Da" if tol else "0.02Da (default)",
            "spectra": len(rows), "seconds": round(seconds, 1),
            "status": dict(status),
            "with_peptide": len(peptides),
            "confidence_at_least_0.5": sum(c >= 0.5 for c in conf),
            "confidence_at_least_0.9": sum(c >= 0.9 for c in conf),
            "longest_run_max": max(runs, default=0),
            "peptides_with_run_of_4_or_more": sum(r >= 4 for r in runs),
            "confident_with_run_of_4_or_more": sum(
                r >= 4 for r, c in zip(runs, conf, strict=True) if c >= 0.5),
        }
        if name.startswith("bsa1"):
            entry.update(omssa_agreement(rows))
            if bsa:
                confident = [r for r in peptides
                             if (r.reported_score or 0) >= 0.5]
                entry["confident_in_bsa"] = sum(
                    "".join(t[0] for t in r.peptide if not t.endswith("-"))
                    .replace("I", "L") in bsa for r in confident)
        report["runs"].append(entry)
        print(json.dumps(entry))
    write(report)


def write(report: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "unlabelled.json").write_text(json.dumps(report, indent=1)
                                             + "\n")
    lines = ["# Unlabelled real runs at the default settings", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}); model `default`, hybrid mode.", "",
             "| file | fragment tol | spectra | with a peptide | "
             "confidence >= 0.5 | confidence >= 0.9 | longest one-residue "
             "run | peptides with a run >= 4 (of them confidence >= 0.5) "
             "| seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        n = max(r["spectra"], 1)
        lines.append(
            f"| {r['file']} | {r['fragment_tol']} | {r['spectra']} | "
            f"{r['with_peptide']} | {r['confidence_at_least_0.5']} "
            f"({r['confidence_at_least_0.5'] / n:.1%}) | "
            f"{r['confidence_at_least_0.9']} "
            f"({r['confidence_at_least_0.9'] / n:.1%}) | "
            f"{r['longest_run_max']} | "
            f"{r['peptides_with_run_of_4_or_more']} "
            f"({r['confident_with_run_of_4_or_more']}) | {r['seconds']} |")
    for r in report["runs"]:
        if "omssa_psms" in r:
            lines += ["", f"bsa1: of the {r['omssa_psms']} spectra OMSSA "
                      f"identified (q <= 0.01), {r['same_peptide']} get the "
                      "same peptide (I = L)."
                      + (f" Of the peptides with confidence >= 0.5, "
                         f"{r['confident_in_bsa']} occur in the BSA "
                         "sequence." if "confident_in_bsa" in r else "")]
    lines += ["", "Statuses: " + "; ".join(
        f"{r['file']}: " + ", ".join(f"{k} {v}" for k, v in
                                      sorted(r["status"].items()))
        for r in report["runs"]) + "."]
    out = RESULTS / "unlabelled.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
