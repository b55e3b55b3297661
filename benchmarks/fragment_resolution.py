"""Fragment resolution read off the peaks, on every real file.

    python benchmarks/fragment_resolution.py

For each file of ``../shared/data/real``: what its metadata states
(mzML/mzXML: per spectrum, :func:`denovo.io.mzml.fragmentation`), the
sharpness of its complementary b/y pair sums
(:func:`denovo.core.resolution.sharpness`: within 0.01 Da vs 0.02-0.05 Da
of ``M + 2 H+``, per Da) and the class
:func:`denovo.core.resolution.fragment_resolution` gives it (< 2: low,
> 3: high). Then the ion-trap spectra at the default settings against a
fixed 0.02 Da (``--fragment-tol 0.02Da``, what every file got before):
the CID dev spectra of the split (``runs/real/dev.mgf`` rows from NIST's
library and bsa1, in a file of their own, as a lab's run would be) and
the whole NIST library. Writes
``benchmarks/results/fragment_resolution.{md,json}``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from machine import describe, write_results

from denovo.core.resolution import fragment_resolution, sharpness
from denovo.core.settings import load_default
from denovo.engine import ModelSession, open_writers, sequence_files
from denovo.evaluate.pipeline import evaluate_files
from denovo.io import read_spectra
from denovo.io.formats import FORMATS, detect_format
from denovo.io.mgf_writer import MgfWriter

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"


CID_SOURCES = ("nist_bsa_consensus_725", "bsa1")


def cid_dev(out: Path) -> Path:
    """The CID dev spectra of the split, in an MGF of their own."""
    with MgfWriter(out) as writer:
        for s in read_spectra(ROOT / "runs" / "real" / "dev.mgf"):
            if (s.title or "").startswith(CID_SOURCES):
                writer.write(s.mz, s.intensity, precursor_mz=s.precursor_mz,
                             charge=s.charge, peptide=s.peptide,
                             title=s.title)
    return out


def accuracy(path: Path, out: Path, fitted=None) -> dict:
    """``denovo sequence``'s library path at the defaults (``fitted``:
    a fixed fragment tolerance for every spectrum), scored."""
    session = ModelSession("default")
    with open_writers(csv=out, inputs=[path], session=session) as writers:
        sequence_files([path], session=session, writers=writers,
                       fitted=fitted,
                       ion_trap=None if fitted is not None else "auto")
    (result,) = evaluate_files([out], [path], exact=False)
    summary = result.mass.summary()
    return {k: summary[k] for k in ("n_spectra", "aa_precision",
                                    "peptide_recall", "ece")}


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found")
    rows = []
    for path in sorted(DATA.iterdir()):
        try:
            if detect_format(path) not in FORMATS:
                continue
        except Exception:  # noqa: BLE001 - not a spectrum file
            continue
        stated = Counter(s.fragmentation for s in read_spectra(path))
        ratio, pairs = sharpness(read_spectra(path))
        rows.append({"file": path.name,
                     "stated": {str(k): v for k, v in stated.items()},
                     "sharpness": round(ratio, 2), "pairs": pairs,
                     "class": fragment_resolution(read_spectra(path))})
        print(rows[-1])
    fixed = load_default().with_fragment_tol(0.02, "Da")
    work = ROOT / "runs" / "fragment_resolution"
    work.mkdir(parents=True, exist_ok=True)
    accuracies = []
    for label, path in (("CID dev spectra (NIST + bsa1)",
                         cid_dev(work / "dev_cid.mgf")),
                        ("NIST CID library, all", DATA /
                         "nist_bsa_consensus_725.msp")):
        for setting, fitted in (("defaults", None), ("0.02 Da", fixed)):
            row = {"set": label, "setting": setting,
                   **accuracy(path, work / "out.csv", fitted)}
            accuracies.append(row)
            print(row)
    report = {"command": "python benchmarks/fragment_resolution.py",
              "date": time.strftime("%Y-%m-%d"), "machine": describe(),
              "rows": rows, "accuracy": accuracies}
    lines = ["# Fragment resolution read off the peaks", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}). Sharpness: complementary b/y pair sums "
             "of the 60 strongest peaks of the first 300 charged spectra, "
             "per Da within 0.01 Da of M + 2 H+ over those 0.02-0.05 Da "
             "away; < 2 reads as low resolution (the engine then uses "
             "0.5 Da for a file that states nothing), > 3 as high, "
             "between or under 30 pairs: cannot tell (0.02 Da).", "",
             "| file | the file states | sharpness | pairs within 0.05 Da "
             "| class |", "|---|---|---|---|---|"]
    for r in rows:
        stated = ", ".join(f"{k} {v}" for k, v in r["stated"].items())
        lines.append(f"| {r['file']} | {stated} | {r['sharpness']} | "
                     f"{r['pairs']} | {r['class']} |")
    lines += ["", "Ion-trap spectra, default model and mode, at the defaults "
              "(the resolution read off the peaks: 0.5 Da) vs a fixed "
              "0.02 Da; scored with `denovo evaluate`'s rules:", "",
              "| spectra | setting | n | AA precision | peptide recall | "
              "ECE |", "|---|---|---|---|---|---|"]
    for r in accuracies:
        lines.append(f"| {r['set']} | {r['setting']} | {r['n_spectra']} | "
                     f"{r['aa_precision']:.3f} | {r['peptide_recall']:.3f} "
                     f"| {r['ece']:.3f} |")
    write_results("fragment_resolution", report, lines)


if __name__ == "__main__":
    main()
