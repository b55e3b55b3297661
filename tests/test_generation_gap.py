"""benchmarks/generation_gap.py: coverage gaps, reach and the losses."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from denovo.core.constants import H2O, PROTON
from denovo.core.settings import load_default
from denovo.core.search import EvidenceSearch
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gg():
    spec = importlib.util.spec_from_file_location(
        "generation_gap", ROOT / "benchmarks" / "generation_gap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_coverage_gaps(gg):
    assert gg.coverage_gaps([True] * 4, 5) == [1] * 5
    assert gg.coverage_gaps([False] * 4, 5) == [5]
    # cleavages after residues 1 and 4 seen: 1 | 2 3 4 | 5 6
    assert gg.coverage_gaps([True, False, False, True, False], 6) == \
        [1, 3, 2]


def test_reach(gg):
    a, b = VOCAB.index("A"), VOCAB.index("G")
    lo, hi = sorted((a, b))
    assert gg.reach([1, 1, 1], [lo, hi, lo]) == "steps"
    assert gg.reach([1, 2, 1], [lo, lo, hi, lo]) == "steps"
    assert gg.reach([1, 2, 1], [lo, hi, lo, lo]) == "order"
    assert gg.reach([3, 1], [lo, lo, lo, lo]) == "steps"  # terminal 3
    assert gg.reach([1, 3, 1], [lo] * 5) == "gap"  # inner 3
    assert gg.reach([4], [lo] * 4) == "gap"


def test_outcome_and_losses(gg):
    assert gg.outcome(3, 1.0, 2.0) == "generated"
    assert gg.outcome(None, 1.0, None) == "nothing"
    assert gg.outcome(None, 2.5, 2.0) == "generation"
    assert gg.outcome(None, 2.0, 2.0) == "scoring"
    records = [
        {"rank": 1, "outcome": "generated", "top1_reordered": False},
        {"rank": 7, "outcome": "generated", "top1_reordered": False},
        {"rank": None, "outcome": "generation", "top1_reordered": True},
        {"rank": None, "outcome": "scoring", "top1_reordered": False},
    ]
    row = gg.losses(records)
    assert row["recall_1"] == 0.25 and row["recall_5"] == 0.25
    assert row["recall_all"] == 0.5
    assert row["generation_loss"] == row["scoring_loss"] == 0.25
    assert row["generation_loss_reordered"] == 0.25
    assert row["nothing_reported"] == 0.0


def test_truth_gaps_from_peaks(gg):
    fitted = load_default()
    search = EvidenceSearch(VOCAB, fitted.scorer, fitted.rank)
    tokens = ("P", "E", "P", "T", "L", "D", "E", "K")
    masses = VOCAB.masses[[VOCAB.index(t) for t in tokens]]
    prefix = np.cumsum(masses)[:-1]
    total = masses.sum()
    # b ions after residues 1, 2 and 5 and the y ion after residue 7 only
    mz = np.sort(np.concatenate([prefix[[0, 1, 4]] + PROTON,
                                 [total - prefix[6] + H2O + PROTON]]))
    precursor = (total + H2O + 2 * PROTON) / 2
    peaks = search.peaks(mz, np.full(mz.size, 100.0, np.float32), precursor)
    gaps, reach = gg.truth_gaps(search, peaks, tokens, 2)
    assert gaps == [1, 1, 3, 2, 1]
    assert reach == "gap"
