"""Split the real annotated spectra by peptide into train and dev.

Run ``python benchmarks/real_split.py`` to (re)write ``configs/
real_split.tsv``: one row per labelled spectrum (file, 0-based index,
peptide in ProForma, peptide key, split). The key is the plain sequence
with I mapped to L (modifications ignored), and the split is a pure
function of the key (SHA-256), so every spectrum of a peptide lands on the
same side, whatever file it comes from, and the split never changes when
files are added. Training may use ``train`` rows only; every accuracy on
real spectra is reported on ``dev`` rows.

With ``--mgf`` it also writes ``runs/real/{train,dev}.mgf``: the spectra of
each side as annotated MGF (ProForma labels, title ``file:index``), which
``denovo train --train`` and ``denovo evaluate --truth`` read directly.

It also writes the example bundled with the package,
``denovo/data/example.mgf``: the first 40 dev spectra of the QEPlus2 file,
copied verbatim (labels included), so the example is never trained on.
"""

from __future__ import annotations

import argparse
import hashlib
from collections import Counter
from pathlib import Path

from denovo.core.peptide import peptide_key, to_proforma
from denovo.io import read_annotated
from denovo.io.mgf_writer import MgfWriter

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"
OUT = ROOT / "configs" / "real_split.tsv"
EXAMPLE = ROOT / "denovo" / "data" / "example.mgf"
EXAMPLE_SPECTRA = 40
SPLIT_MGF = ROOT / "runs" / "real"
DEV_PERCENT = 30

# (spectra file, label file or None, fixed modifications)
SOURCES = [
    ("QEPlus2_10212016_40_F5.mgf", None, None),
    ("pepnet_124.mgf", None, {"C": "C[UNIMOD:4]"}),
    ("proteometools_hcd_82.msp", None, None),
    ("yeast_small.mzML", "yeast_small.mzid", None),
]


def split_of(key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return "dev" if int.from_bytes(digest[:4], "big") % 100 < DEV_PERCENT \
        else "train"


def write_example(mgf: Path, indices) -> None:
    """Copy the MGF blocks with these 0-based indices verbatim."""
    wanted, index, block = set(indices), -1, []
    with open(mgf) as src, open(EXAMPLE, "w") as out:
        for line in src:
            if line.startswith("BEGIN IONS"):
                index, block = index + 1, []
            block.append(line)
            if line.startswith("END IONS") and index in wanted:
                out.writelines(block + ["\n"])
    print(f"wrote {EXAMPLE} ({len(wanted)} spectra)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    parser.add_argument("--mgf", action="store_true",
                        help=f"also write {SPLIT_MGF}/{{train,dev}}.mgf")
    args = parser.parse_args()
    rows, writers = [], {}
    if args.mgf:
        SPLIT_MGF.mkdir(parents=True, exist_ok=True)
        writers = {side: MgfWriter(SPLIT_MGF / f"{side}.mgf").__enter__()
                   for side in ("train", "dev")}
    for name, labels, fixed in SOURCES:
        label_path = args.data / labels if labels else None
        with read_annotated(args.data / name, labels=label_path,
                            fixed=fixed) as reader:
            for spec in reader:
                if spec.peptide is None or spec.status != "ok":
                    continue
                key = peptide_key(spec.peptide)
                side = split_of(key)
                rows.append((name, spec.index, to_proforma(spec.peptide),
                             key, side))
                if writers:
                    writers[side].write(
                        spec.mz, spec.intensity,
                        precursor_mz=spec.precursor_mz, charge=spec.charge,
                        peptide=spec.peptide, title=f"{name}:{spec.index}")
    for writer in writers.values():
        writer.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("file\tindex\tpeptide\tkey\tsplit\n")
        for row in rows:
            fh.write("\t".join(map(str, row)) + "\n")
    dev = {r[1] for r in rows if r[0] == SOURCES[0][0] and r[4] == "dev"}
    write_example(args.data / SOURCES[0][0], sorted(dev)[:EXAMPLE_SPECTRA])
    spectra = Counter(r[4] for r in rows)
    peptides = Counter(split for _, split in {(r[3], r[4]) for r in rows})
    print(f"{'split':<6} {'spectra':>8} {'peptides':>9}")
    for split in ("train", "dev"):
        print(f"{split:<6} {spectra[split]:>8} {peptides[split]:>9}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
