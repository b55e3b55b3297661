"""Split the real annotated spectra by peptide into train and dev.

Run ``python benchmarks/real_split.py`` to (re)write ``configs/
real_split.tsv``: one row per labelled spectrum (file, 0-based index,
peptide in ProForma, peptide key, split, fragmentation: ``HCD`` or
``CID`` for the ion-trap sources). The key is the plain sequence
with I mapped to L (modifications ignored), and the split is a pure
function of the key (SHA-256), so every spectrum of a peptide lands on the
same side, whatever file it comes from, and the split never changes when
files are added. Training may use ``train`` rows only; every accuracy on
real spectra is reported on ``dev`` rows.

With ``--mgf`` it also writes annotated MGF (ProForma labels, title
``file:index``) under ``runs/real/``, which ``denovo train --train`` and
``denovo evaluate --truth`` read directly:

- ``train.mgf``, ``dev.mgf``: every source;
- ``train_core.mgf``, ``dev_core.mgf``: the four original sources only
  (:data:`CORE`; 944 and 421 spectra), the split reported before the
  2026-11-29 files;
- ``dev_unseen.mgf``, ``dev_core_unseen.mgf``: dev spectra (of all or
  the core sources) whose peptide key is in no list of
  ``../shared/data/peptides`` and not on the train side (the data
  README's "unseen peptides").

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

# (spectra file, label file or None, fixed modifications, fragmentation)
SOURCES = [
    ("QEPlus2_10212016_40_F5.mgf", None, None, "HCD"),
    ("pepnet_124.mgf", None, {"C": "C[UNIMOD:4]"}, "HCD"),
    ("proteometools_hcd_82.msp", None, None, "HCD"),
    ("yeast_small.mzML", "yeast_small.mzid", None, "HCD"),
    # Added 2026-11-29. HeLa states no instrument; its fragments have 5
    # decimals and reach below 0.25 x precursor m/z in 89 % of spectra
    # (NIST's ion-trap CID: none, the 1/3 cut-off), so beam-type HCD.
    ("hela_bibliospec_340.mgf", None, None, "HCD"),
    ("proteometools_hcd_171.mgf", None, None, "HCD"),
    ("nist_bsa_consensus_725.msp", None, None, "CID"),
    # OMSSA PSMs joined on retention time + precursor m/z; q <= MAX_Q.
    ("bsa1.mzML", "bsa1_omssa.idXML", None, "CID"),
]
CORE = tuple(s[0] for s in SOURCES[:4])  # the split before 2026-11-29
MAX_Q = 0.01  # idXML PSMs kept (bsa1: the 14 at q = 0 of 44)
PEPTIDE_LISTS = ROOT.parent / "shared" / "data" / "peptides"


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


def listed_keys(directory: Path) -> set[str]:
    """Peptide keys of every list in ``directory`` (txt[.gz] or csv)."""
    import gzip
    keys: set[str] = set()
    for path in sorted(directory.iterdir()):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            lines = fh.read().split()
        if path.name.removesuffix(".gz").endswith(".csv"):
            column = lines[0].split(",").index("sequence")
            lines = [ln.split(",")[column] for ln in lines[1:]]
        keys.update(peptide_key(s) for s in lines if s)
    return keys


def read_rows(data: Path):
    """Yield ``(row, spectrum)``: row = file, index, ProForma, key, split,
    fragmentation, for every labelled spectrum of :data:`SOURCES`."""
    for name, labels, fixed, fragmentation in SOURCES:
        label_path = data / labels if labels else None
        with read_annotated(data / name, labels=label_path, fixed=fixed,
                            max_q=MAX_Q) as reader:
            for spec in reader:
                if spec.peptide is None or spec.status != "ok":
                    continue
                key = peptide_key(spec.peptide)
                yield (name, spec.index, to_proforma(spec.peptide), key,
                       split_of(key), fragmentation), spec


def print_table(rows, seen: set[str]) -> None:
    """Spectra and peptides per file and side, then the totals."""
    def counts(subset):
        spectra = Counter(r[4] for r in subset)
        peptides = Counter(side for _, side in {(r[3], r[4])
                                                for r in subset})
        unseen = sum(r[4] == "dev" and r[3] not in seen for r in subset)
        return (spectra["train"], peptides["train"], spectra["dev"],
                peptides["dev"], unseen)
    groups = [(name, [r for r in rows if r[0] == name])
              for name, *_ in SOURCES]
    groups += [("core (original four)", [r for r in rows if r[0] in CORE]),
               ("all", rows)]
    print(f"{'file':<28} {'frag':>4} {'train spectra':>13} "
          f"{'train peptides':>14} {'dev spectra':>11} {'dev peptides':>12}"
          f" {'dev unseen':>10}")
    frag = {s[0]: s[3] for s in SOURCES}
    for name, subset in groups:
        print(f"{name:<28} {frag.get(name, ''):>4} "
              "{:>13} {:>14} {:>11} {:>12} {:>10}".format(*counts(subset)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--peptides", type=Path, default=PEPTIDE_LISTS,
                        help="peptide lists defining 'unseen' dev spectra")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    parser.add_argument("--mgf", action="store_true",
                        help=f"also write MGF files under {SPLIT_MGF}")
    args = parser.parse_args()
    pairs = list(read_rows(args.data))
    rows = [row for row, _ in pairs]
    train_keys = {r[3] for r in rows if r[4] == "train"}
    assert not train_keys & {r[3] for r in rows if r[4] == "dev"}
    seen = listed_keys(args.peptides) | train_keys
    unseen = [row for row in rows if row[4] == "dev" and row[3] not in seen]
    if args.mgf:
        SPLIT_MGF.mkdir(parents=True, exist_ok=True)
        targets = {
            "train": lambda r: r[4] == "train",
            "dev": lambda r: r[4] == "dev",
            "train_core": lambda r: r[4] == "train" and r[0] in CORE,
            "dev_core": lambda r: r[4] == "dev" and r[0] in CORE,
            "dev_unseen": lambda r: r[4] == "dev" and r[3] not in seen,
            "dev_core_unseen": lambda r: r[4] == "dev" and r[0] in CORE
            and r[3] not in seen,
        }
        for stem, wanted in targets.items():
            path = SPLIT_MGF / f"{stem}.mgf"
            n = 0
            with MgfWriter(path) as writer:
                for row, spec in pairs:
                    if wanted(row):
                        writer.write(
                            spec.mz, spec.intensity,
                            precursor_mz=spec.precursor_mz,
                            charge=spec.charge, peptide=spec.peptide,
                            title=f"{row[0]}:{row[1]}")
                        n += 1
            print(f"wrote {path} ({n} spectra)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("file\tindex\tpeptide\tkey\tsplit\tfragmentation\n")
        for row in rows:
            fh.write("\t".join(map(str, row)) + "\n")
    dev = {r[1] for r in rows if r[0] == SOURCES[0][0] and r[4] == "dev"}
    write_example(args.data / SOURCES[0][0], sorted(dev)[:EXAMPLE_SPECTRA])
    print_table(rows, seen)
    print(f"unseen dev: {len(unseen)} spectra, "
          f"{len({r[3] for r in unseen})} peptides (keys in no list of "
          f"{args.peptides} and not in train)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
