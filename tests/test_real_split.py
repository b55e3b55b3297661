"""The real peptide split (configs/real_split.tsv) and its script.

The split must only grow: rows of the four original sources keep their
side when sources are added, so nothing once reported as dev is trained
on later. Their content is pinned by a hash of the pre-2026-11-29 file.
"""

import hashlib
import importlib.util
from pathlib import Path

import pytest

from denovo.core.peptide import parse, peptide_key
from denovo_training.data.peptides import read_split

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT / "configs" / "real_split.tsv"
# sha256 of the data rows (no header) of configs/real_split.tsv as it
# was for the four original sources (1365 rows: 944 train, 421 dev).
CORE_ROWS_SHA256 = \
    "140cbed60b15fc21d99afafd157c6233babdbb1349c16b6205666a94a59ecca6"
EXAMPLE_SHA256 = \
    "a08daa0719e76d3f8b0e82f692ece8f2e39383d1ca4d4e4d97e1399da77837f6"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "real_split", ROOT / "benchmarks" / "real_split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows():
    return read_split(SPLIT)


def test_old_rows_unchanged(rows, script):
    core = [r for r in rows if r.file in script.CORE]
    text = "".join(f"{r.file}\t{r.index}\t{r.peptide}\t{r.key}\t{r.split}\n"
                   for r in core)
    assert hashlib.sha256(text.encode()).hexdigest() == CORE_ROWS_SHA256
    assert sum(r.split == "dev" for r in core) == 421
    assert sum(r.split == "train" for r in core) == 944


def test_split_is_by_peptide(rows, script):
    sides: dict = {}
    for r in rows:
        assert r.split == script.split_of(r.key)
        assert r.key == peptide_key(parse(r.peptide))
        sides.setdefault(r.key, set()).add(r.split)
    assert all(len(s) == 1 for s in sides.values())


def test_every_source_and_fragmentation(rows, script):
    files = {r.file for r in rows}
    assert files == {s[0] for s in script.SOURCES}
    cid = {r.file for r in rows if r.fragmentation == "CID"}
    assert cid == {"nist_bsa_consensus_725.msp", "bsa1.mzML"}
    assert {r.fragmentation for r in rows} == {"HCD", "CID"}


def test_example_unchanged():
    example = ROOT / "denovo" / "data" / "example.mgf"
    assert hashlib.sha256(example.read_bytes()).hexdigest() == \
        EXAMPLE_SHA256


def test_read_split_old_format(tmp_path):
    path = tmp_path / "old.tsv"
    path.write_text("file\tindex\tpeptide\tkey\tsplit\n"
                    "a.mgf\t3\tPEPC[UNIMOD:4]K\tPEPCK\tdev\n")
    (row,) = read_split(path)
    assert row.index == 3 and row.split == "dev"
    assert row.fragmentation == "HCD"


def test_listed_keys(tmp_path, script):
    import gzip
    with gzip.open(tmp_path / "a.txt.gz", "wt") as fh:
        fh.write("PEPTIDE\nIKR\n")
    (tmp_path / "b.csv").write_text("irt,sequence\n1.0,AIK\n")
    assert script.listed_keys(tmp_path) == {"PEPTLDE", "LKR", "ALK"}


def test_unseen_dev(rows, script, shared_data):
    import gzip
    listed = script.listed_keys(shared_data / "peptides")
    with gzip.open(shared_data / "peptides" / "proteometools_peptides.txt.gz",
                   "rt") as fh:
        assert "AAAAAAAAAAAAAAAASAGGK" in listed and len(listed) >= sum(
            1 for _ in fh)
    train = {r.key for r in rows if r.split == "train"}
    unseen = [r for r in rows if r.split == "dev"
              and r.key not in listed | train]
    assert len(unseen) == 436
    assert sum(r.file in script.CORE for r in unseen) == 178
    # the ProteomeTools sources are all listed peptides
    assert not [r for r in unseen if "proteometools" in r.file]
