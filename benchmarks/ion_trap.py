"""Ion-trap CID spectra with their own settings, against today's reading.

    python benchmarks/ion_trap.py [--cid-fit runs/cid/scorer_0.5.json]

The engine reads the spectra its files state (or its MGF/MSP peaks show)
are ion-trap CID with the ion-trap settings
(:func:`denovo.engine.pipeline.ion_trap_settings`: the model file's, else
``denovo/configs/evidence_scorer_cid.json``). Compared here, in one run:

* **before**: the HCD settings read at 0.5 Da, calibration and all (what
  the engine did until the ion-trap settings existed);
* **after**: the defaults (the ion-trap settings).

On: the CID dev spectra (NIST's BSA library and bsa1, in an MGF of their
own, as a lab's run would be; never trained or fitted on), every dev
spectrum with each source's spectra in a file of their own ("all dev"),
the same 817 as the one mixed ``runs/real/dev.mgf``, the HCD core dev
split (its path is unchanged: a check), and ``bsa1.mzML`` (unannotated
except 44 OMSSA labels: distinct BSA peptides, I = L, reported with
confidence >= 0.5). With ``--cid-fit``, a scorer fitted on CID spectra
alone (``python -m denovo_training.evidence_scorer --fragmentation CID
--fragment-tol 0.5``) is compared with the HCD scorer at 0.5 Da on the
held-out slice of the CID train side: the measurement that chose the
ion-trap scorer. Writes ``benchmarks/results/ion_trap.{md,json}``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

from fragment_resolution import cid_dev
from machine import describe, write_results
from unlabelled import bsa_sequence

from denovo.core.peptide import peptide_key
from denovo.core.search import SearchConfig
from denovo.core.settings import FittedSettings, load_default
from denovo.engine import ModelSession, open_writers, sequence_files
from denovo.engine.pipeline import ION_TRAP_SEARCH
from denovo.evaluate.pipeline import evaluate_files
from denovo.io import read_spectra
from denovo.io.mgf_writer import MgfWriter

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEV = ROOT / "runs" / "real" / "dev.mgf"
DEV_CORE = ROOT / "runs" / "real" / "dev_core.mgf"
WORK = ROOT / "runs" / "ion_trap"
CONFIDENT = 0.5


def split_by_source(path: Path, out: Path) -> list[Path]:
    """One MGF per source file of the split's titles (``file:index``)."""
    out.mkdir(parents=True, exist_ok=True)
    writers, paths = {}, []
    try:
        for s in read_spectra(path):
            source = (s.title or "").split(":")[0]
            if source not in writers:
                paths.append(out / f"{Path(source).stem}.mgf")
                writers[source] = MgfWriter(paths[-1]).__enter__()
            writers[source].write(s.mz, s.intensity,
                                  precursor_mz=s.precursor_mz,
                                  charge=s.charge, peptide=s.peptide,
                                  title=s.title)
    finally:
        for w in writers.values():
            w.__exit__(None, None, None)
    return paths


def run(paths, out: Path, mode: str, setting: str) -> Path:
    """``before``: the HCD settings at 0.5 Da and the default search for
    ion-trap spectra; ``after``: the defaults."""
    session = ModelSession("default")
    before = setting == "before"
    with open_writers(csv=out, inputs=paths, session=session) as writers:
        sequence_files(
            paths, session=session, writers=writers, mode=mode,
            ion_trap=(load_default().with_fragment_tol(0.5, "Da")
                      if before else "auto"),
            search=SearchConfig() if before else None)
    return out


def accuracy(paths, mode: str, setting: str) -> dict:
    out = run(paths, WORK / "out.csv", mode, setting)
    (result,) = evaluate_files([out], paths, exact=False)
    summary = result.mass.summary()
    return {k: summary[k] for k in ("n_spectra", "aa_precision",
                                    "peptide_recall", "ece")}


def confident_bsa(mode: str, setting: str) -> dict:
    path = DATA / "real" / "bsa1.mzML"
    out = run([path], WORK / "bsa1.csv", mode, setting)
    bsa = bsa_sequence()
    confident, right = [], []
    with open(out, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] != "ok" or float(row["score"]) < CONFIDENT:
                continue
            key = peptide_key(row["sequence"])
            confident.append(key)
            if key in bsa:
                right.append(key)
    return {"confident_spectra": len(confident),
            "confident_bsa_spectra": len(right),
            "confident_peptides": len(set(confident)),
            "confident_bsa_peptides": len(set(right))}


def scorer_choice(cid_fit: Path) -> dict:
    """Held-out CID train-side recall: HCD scorer at 0.5 Da vs a CID fit."""
    from denovo.core.evidence import EvidenceConfig
    from denovo.core.vocab import DEFAULT_VOCABULARY
    from denovo_training.evidence_scorer import (TRAIN_MGF, holdout,
                                                 load_examples,
                                                 search_recall)

    examples = [ex for ex in load_examples(
        [TRAIN_MGF], EvidenceConfig(fragment_tol=0.5),
        fragmentation="CID") if holdout(ex.key)]
    out = {"n_spectra": len(examples)}
    for name, fitted in (
            ("the ion-trap settings (HCD scorer and ranker of 2026-11-29, "
             "0.5 Da)", load_default("CID")),
            ("today's HCD scorer and ranker, read at 0.5 Da",
             load_default().with_fragment_tol(0.5, "Da")),
            ("scorer and ranker fitted on CID alone (0.5 Da)",
             FittedSettings.load(cid_fit))):
        # all in the search the engine runs for ion-trap spectra
        top, anywhere = search_recall(examples, fitted, DEFAULT_VOCABULARY,
                                      config=ION_TRAP_SEARCH)
        out[name] = {"recall": top, "recall_any": anywhere}
        print(name, out[name])
    return out


WIDTHS = ((8, 32), (16, 64), (32, 128), (64, 256))  # paths/node, kept


def search_width() -> list:
    """Evidence-mode recall of the ion-trap settings on the whole CID train
    side (the scorer and ranker were fitted on HCD spectra) per search
    width: the measurement that chose :data:`ION_TRAP_SEARCH`."""
    from denovo.core.vocab import DEFAULT_VOCABULARY
    from denovo_training.evidence_scorer import (TRAIN_MGF, load_examples,
                                                 search_recall)

    trap = load_default("CID")
    examples = load_examples([TRAIN_MGF], trap.scorer.config,
                             fragmentation="CID")
    rows = []
    for paths, kept in WIDTHS:
        start = time.perf_counter()
        top, anywhere = search_recall(
            examples, trap, DEFAULT_VOCABULARY,
            config=replace(ION_TRAP_SEARCH, paths_per_node=paths,
                           top_k=kept))
        rows.append({"paths_per_node": paths, "top_k": kept,
                     "n_spectra": len(examples), "recall": top,
                     "recall_any": anywhere,
                     "ms_per_spectrum": 1e3 * (time.perf_counter() - start)
                     / max(len(examples), 1)})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cid-fit", type=Path,
                        help="a scorer JSON fitted on CID spectra alone")
    args = parser.parse_args(argv)
    if not DEV.exists() or not (DATA / "real").is_dir():
        sys.exit("needs ../shared/data and runs/real/dev.mgf (python "
                 "benchmarks/real_split.py --mgf)")
    WORK.mkdir(parents=True, exist_ok=True)
    sets = (("CID dev (NIST + bsa1)", [cid_dev(WORK / "dev_cid.mgf")]),
            ("all dev, one file per source",
             split_by_source(DEV, WORK / "dev_by_source")),
            ("all dev, one mixed file", [DEV]),
            ("HCD core dev", [DEV_CORE]))
    rows = []
    for label, paths in sets:
        for mode in ("hybrid", "evidence"):
            for setting in ("before", "after"):
                row = {"set": label, "mode": mode, "setting": setting,
                       **accuracy(paths, mode, setting)}
                rows.append(row)
                print(row, flush=True)
    bsa = []
    for mode in ("hybrid", "evidence"):
        for setting in ("before", "after"):
            bsa.append({"mode": mode, "setting": setting,
                        **confident_bsa(mode, setting)})
            print(bsa[-1], flush=True)
    choice = scorer_choice(args.cid_fit) if args.cid_fit else None
    widths = search_width()
    trap = load_default("CID")
    report = {"command": "python benchmarks/ion_trap.py"
              + (f" --cid-fit {args.cid_fit}" if args.cid_fit else ""),
              "date": time.strftime("%Y-%m-%d"), "machine": describe(),
              "ion_trap_provenance": trap.scorer.provenance,
              "accuracy": rows, "bsa1": bsa, "scorer_choice": choice,
              "search_width": widths}
    lines = ["# Ion-trap CID spectra with their own settings", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}); default model. **before**: the HCD "
             "settings read at 0.5 Da (scorer, ranker, model weight and "
             "confidence fitted on HCD spectra) and the default search "
             "width; **after**: the defaults, the 4x wider search for "
             "ion-trap spectra (`ION_TRAP_SEARCH`) and "
             "the ion-trap settings of `denovo/configs/"
             "evidence_scorer_cid.json` and the model file (confidence, "
             "model weight and beam guide fitted on the CID train side by "
             "`python -m denovo_training.engine_fit --fragmentation CID`). "
             "Scored with `denovo evaluate`'s rules (I = L); ECE of the "
             "reported confidence.", "",
             "| spectra | mode | setting | n | AA precision | peptide "
             "recall | ECE |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['mode']} | {r['setting']} | "
                     f"{r['n_spectra']} | {r['aa_precision']:.3f} | "
                     f"{r['peptide_recall']:.3f} | {r['ece']:.3f} |")
    lines += ["", f"`bsa1.mzML` (ion-trap CID, 1,120 MS2 spectra): spectra "
              f"(and distinct peptides) reported with confidence >= "
              f"{CONFIDENT}, and of them those whose peptide is in the BSA "
              "sequence (`crap.fasta` ALBU_BOVIN, I = L):", "",
              "| mode | setting | confident spectra (peptides) | of them "
              "BSA |", "|---|---|---|---|"]
    for r in bsa:
        lines.append(f"| {r['mode']} | {r['setting']} | "
                     f"{r['confident_spectra']} "
                     f"({r['confident_peptides']}) | "
                     f"{r['confident_bsa_spectra']} "
                     f"({r['confident_bsa_peptides']}) |")
    if choice:
        lines += ["", "The ion-trap scorer: evidence-mode recall on the "
                  f"held-out slice of the CID train side ({choice['n_spectra']}"
                  " spectra, by peptide; never dev), each in the ion-trap "
                  "search (`ION_TRAP_SEARCH`):", "",
                  "| scorer | top-1 recall | truth among candidates |",
                  "|---|---|---|"]
        for name, v in choice.items():
            if name != "n_spectra":
                lines.append(f"| {name} | {v['recall']:.3f} | "
                             f"{v['recall_any']:.3f} |")
    lines += ["", "The ion-trap search width (`ION_TRAP_SEARCH`): evidence-"
              "mode recall of the ion-trap settings on the whole CID train "
              f"side ({widths[0]['n_spectra']} spectra; its scorer and "
              "ranker were fitted on HCD spectra, so none of these was fitted"
              " on), one run, timings on a shared machine:", "",
              "| paths per node | peptides kept | top-1 recall | truth among "
              "candidates | ms / spectrum |", "|---|---|---|---|---|"]
    for w in widths:
        lines.append(f"| {w['paths_per_node']} | {w['top_k']} | "
                     f"{w['recall']:.3f} | {w['recall_any']:.3f} | "
                     f"{w['ms_per_spectrum']:.1f} |")
    write_results("ion_trap", report, lines)


if __name__ == "__main__":
    main()
