"""Modifications the user names, on a TMT-labelled run (issue 22 item 3).

    python benchmarks/modifications.py

``../shared/data/real/iprg2013_F13.mgf`` (1,406 MS2 spectra of the ABRF
iPRG 2013 study, unannotated, TMT-labelled: its spectra carry the
reporter ions) sequenced by ``denovo sequence``'s library path with the
default model, in evidence and in hybrid mode, without modifications and
with ``--fixed-mods TMT6plex@K,TMT6plex@N-term`` (and Carbamidomethyl@C
fixed on top, to see whether the run is alkylated). For each: spectra
with a calibrated score >= 0.5, their share, the spectra with any
peptide of the precursor mass, and the run time. The confidence was
fitted on HCD spectra without labels or user modifications and the file has no annotations; as a
proxy for right, the confident peptides of 7 residues or more are looked
up (I = L, modifications dropped) in the proteomes of
``../shared/data/fasta`` (yeast, E. coli, cRAP contaminants), where a
random 7-mer rarely sits. Writes
``benchmarks/results/modifications.{md,json}``.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from pathlib import Path

import numpy as np
from machine import describe, write_results

from denovo.core.modifications import ModSet
from denovo.engine import ModelSession, open_writers, sequence_files
from denovo.io import read_spectra

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real" / "iprg2013_F13.mgf"
FASTA = ROOT.parent / "shared" / "data" / "fasta"
CONFIDENT = 0.5
MIN_LOOKUP = 7  # residues, for the proteome look-up
TMT = "TMT6plex@K,TMT6plex@N-term"
SETTINGS = (("none", ()), (f"--fixed-mods {TMT}", (TMT,)),
            (f"--fixed-mods {TMT},Carbamidomethyl@C",
             (TMT, "Carbamidomethyl@C")))
REPORTERS = (126.127726, 127.124761, 127.131081, 128.128116, 128.134436,
             129.131471, 129.13779, 130.134825, 130.141145, 131.13818)


def reporter_share(path: Path, tol: float = 0.005) -> float:
    """Share of spectra with a peak at three or more TMT reporter m/z."""
    hits = n = 0
    for s in read_spectra(path):
        n += 1
        near = [np.any(np.abs(s.mz - r) <= tol) for r in REPORTERS]
        hits += sum(near) >= 3
    return hits / max(n, 1)


def proteomes() -> dict:
    """FASTA name -> its proteins joined by '|', I written as L."""
    out = {}
    for path in sorted(FASTA.glob("*.fasta")):
        proteins, current = [], []
        for line in path.read_text().splitlines():
            if line.startswith(">"):
                proteins.append("".join(current))
                current = []
            else:
                current.append(line.strip())
        proteins.append("".join(current))
        out[path.stem] = "|".join(proteins).replace("I", "L")
    return out


def residues(peptide: str) -> str:
    """A ProForma peptide's residues, I as L."""
    return re.sub(r"\[[^\]]*\]-?", "", peptide).replace("I", "L")


def lookup(peptides, dbs: dict) -> dict:
    """Of the peptides of MIN_LOOKUP residues or more: how many, and how
    many sit in each proteome (and in any)."""
    long = [residues(p) for p in peptides
            if len(residues(p)) >= MIN_LOOKUP]
    out = {"n": len(long)}
    for name, db in dbs.items():
        out[name] = sum(p in db for p in long)
    out["any"] = sum(any(p in db for db in dbs.values()) for p in long)
    return out


def run(path: Path, mode: str, fixed, out: Path, dbs: dict) -> dict:
    """One ``denovo sequence`` run; its counts and time."""
    mods = ModSet.parse(fixed)
    session = None if mode == "evidence" else ModelSession("default")
    with open_writers(csv=out, inputs=[path], session=session,
                      modifications=mods) as writers:
        summary = sequence_files([path], session=session, writers=writers,
                                 mode=mode, modifications=mods)
    with open(out, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["rank"] in ("1", "")]
    scores = np.array([float(r["score"]) if r["score"] else 0.0
                       for r in rows])
    confident = [r["sequence"] for r, s in zip(rows, scores, strict=True)
                 if s >= CONFIDENT]
    others = [r["sequence"] for r, s in zip(rows, scores, strict=True)
              if r["sequence"] and s < CONFIDENT]
    return {
        "mode": mode, "n_spectra": len(rows),
        "with_peptide": int(sum(r["status"] == "ok" for r in rows)),
        "confident": len(confident),
        "confident_share": len(confident) / max(len(rows), 1),
        "confident_with_c": sum("C" in p for p in confident),
        "confident_with_plain_c": sum(
            "C" in p.replace("C[UNIMOD:4]", "") for p in confident),
        "confident_in_proteome": lookup(confident, dbs),
        "others_in_proteome": lookup(others, dbs),
        "examples": confident[:5],
        "seconds": round(summary.seconds, 2),
        "spectra_per_second": round(summary.spectra_per_second, 1)}


def main() -> None:
    if not DATA.exists():
        sys.exit(f"{DATA} not found")
    work = ROOT / "runs" / "modifications"
    work.mkdir(parents=True, exist_ok=True)
    dbs = proteomes()
    rows = []
    for mode in ("evidence", "hybrid"):
        for label, fixed in SETTINGS:
            row = {"mods": label, **run(DATA, mode, fixed,
                                        work / "out.csv", dbs)}
            rows.append(row)
            print(row, flush=True)
    base = {r["mode"]: r["confident"] for r in rows if r["mods"] == "none"}
    report = {"command": "python benchmarks/modifications.py",
              "date": time.strftime("%Y-%m-%d"), "machine": describe(),
              "file": DATA.name, "confident_at": CONFIDENT,
              "tmt_reporter_share": round(reporter_share(DATA), 3),
              "rows": rows}
    lines = ["# Modifications the user names: a TMT-labelled run", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}): `{DATA.name}` (ABRF iPRG 2013, "
             f"{rows[0]['n_spectra']} MS2 spectra, unannotated; "
             f"{report['tmt_reporter_share']:.0%} of them show three or "
             "more TMT reporter ions within 0.005 Da), `denovo sequence` "
             "with the default model. Confident: calibrated score >= "
             f"{CONFIDENT}. The calibration was fitted on HCD spectra "
             "without labels or user modifications and nothing here is "
             "annotated: these are counts of "
             "confident reports, not of right ones (the proteome look-up "
             "below is the only check of them).", "",
             "| mode | modifications | confident | share | x without mods "
             "| with a peptide | confident with C (plain C) | time (s) | "
             "spectra/s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gain = (f"{r['confident'] / base[r['mode']]:.1f}"
                if base[r["mode"]] else "-")
        lines.append(
            f"| {r['mode']} | {r['mods']} | {r['confident']} | "
            f"{r['confident_share']:.1%} | {gain} | {r['with_peptide']} | "
            f"{r['confident_with_c']} ({r['confident_with_plain_c']}) | "
            f"{r['seconds']} | {r['spectra_per_second']} |")
    names = ", ".join(dbs)
    lines += ["", f"Reported peptides of {MIN_LOOKUP} residues or more "
              f"(I = L, mods dropped) found verbatim in a proteome of "
              f"`../shared/data/fasta` ({names}): confident ones vs the "
              "others (score below the threshold):", "",
              "| mode | modifications | confident: n | in a proteome | "
              "others: n | in a proteome |", "|---|---|---|---|---|---|"]
    for r in rows:
        c, o = r["confident_in_proteome"], r["others_in_proteome"]
        detail = ", ".join(f"{k} {v}" for k, v in c.items()
                           if k not in ("n", "any"))
        lines.append(f"| {r['mode']} | {r['mods']} | {c['n']} | "
                     f"{c['any']} ({detail}) | {o['n']} | {o['any']} |")
    lines += ["", "Confident peptides of each run, the first five:", ""]
    for r in rows:
        lines.append(f"- {r['mode']}, {r['mods']}: "
                     + (", ".join(f"`{p}`" for p in r["examples"])
                        or "none"))
    write_results("modifications", report, lines)


if __name__ == "__main__":
    main()
