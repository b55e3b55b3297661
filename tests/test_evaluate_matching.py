"""Hand-worked cases for the residue/peptide matcher.

Every expected slot array below was worked out by hand from the rules in
``denovo.evaluate.matching`` (walk notes in the comments); pyteomics is
the independent oracle for the mass relations the cases rely on.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyteomics import mass as pmass

from denovo.core.vocab import DEFAULT_VOCABULARY
from denovo.evaluate.matching import (
    MatchConfig,
    exact_key,
    match_masses,
    match_peptide,
)


def pep(text):
    return tuple(text)


def slots(pred, true, **kw):
    return match_peptide(pred, true, **kw).slots.astype(int).tolist()


def test_premises_with_pyteomics():
    aa = pmass.std_aa_mass
    # K/Q and F/M+O are near-isobaric, well inside 0.1 Da ...
    assert 0.03 < aa["K"] - aa["Q"] < 0.04
    assert 0.03 < aa["F"] - (aa["M"] + pmass.calculate_mass(formula="O")) \
        < 0.04
    # ... and GG has the composition of N, N+0.984 that of D.
    assert aa["G"] * 2 == pytest.approx(aa["N"], abs=1e-6)
    deamid = pmass.calculate_mass(formula="O") - pmass.calculate_mass(
        formula="NH")
    assert aa["N"] + deamid == pytest.approx(aa["D"], abs=1e-6)


@pytest.mark.parametrize("pred,true", [
    (pep("PEPKR"), pep("PEPQR")),                      # K/Q, 0.036 Da
    (("A", "F", "K"), ("A", "M[UNIMOD:35]", "K")),     # F/Mox, 0.033 Da
    (("A", "N[UNIMOD:7]", "K"), ("A", "D", "K")),      # same composition
    (("Q[UNIMOD:7]", "K"), ("E", "K")),
])
def test_near_isobars_match_in_mass_mode_only(pred, true):
    m = match_peptide(pred, true)
    assert m.peptide and m.n_matched == len(true)
    e = match_peptide(pred, true, exact=True)
    assert not e.peptide
    assert e.n_matched == len(true) - 1  # only the differing residue


def test_isobar_needs_residue_tolerance():
    strict = MatchConfig(residue_tol_da=0.03)
    m = match_peptide(pep("PEPKR"), pep("PEPQR"), config=strict)
    assert slots(pep("PEPKR"), pep("PEPQR"), config=strict) == \
        [1, 1, 1, 0, 1]
    assert not m.peptide


def test_i_equals_l_in_both_modes():
    for exact in (False, True):
        m = match_peptide(pep("PEPTIDE"), pep("PEPTLDE"), exact=exact)
        assert m.peptide and m.n_matched == 7
    assert exact_key(("I", "L", "K")) == ("L", "L", "K")


def test_swapped_adjacent_residues():
    # Forward: P, E align; P/T prefixes differ by 4 Da, so the walk
    # advances pred over P, then true over T and P; at T/P the prefixes
    # PEPT and PETP agree -> slot 3 = |T-P| < 0.1 = False, slot 2 is
    # never written. I, D, E align again. Backward (from slot 2) gives
    # the same by symmetry: 5 of 7 residues match.
    assert slots(pep("PEPTIDE"), pep("PETPIDE")) == [1, 1, 0, 0, 1, 1, 1]
    m = match_peptide(pep("PEPTIDE"), pep("PETPIDE"))
    assert (m.n_pred, m.n_true, m.n_matched, m.peptide) == (7, 7, 5, False)


def test_wrong_first_residue_needs_the_backward_pass():
    # A (71) vs P (97): prefix masses stay 26 Da apart for the whole
    # forward walk, so nothing aligns; from the C-terminus E..E align and
    # match, then A/P does not align: 6 of 7 match.
    pred, true = pep("AEPTIDE"), pep("PEPTIDE")
    fwd = MatchConfig(mode="forward")
    assert slots(pred, true, config=fwd) == [0] * 7
    assert slots(pred, true) == [0, 1, 1, 1, 1, 1, 1]
    assert slots(pred, true, config=MatchConfig(mode="backward")) == \
        [0, 1, 1, 1, 1, 1, 1]


def test_shifted_prefix_gg_for_n():
    # G/N do not align (57 vs 114); G+G vs N align at slot max(1,0)=1,
    # whose residues differ; P, E, K then match at slots 2-4. Slot 0 is
    # written False by the backward pass. No credit for GG vs N.
    pred, true = ("G", "G", "P", "E", "K"), ("N", "P", "E", "K")
    m = match_peptide(pred, true)
    assert m.slots.astype(int).tolist() == [0, 0, 1, 1, 1]
    assert (m.n_pred, m.n_true, m.n_matched, m.peptide) == (5, 4, 3, False)


def test_missing_and_empty_predictions():
    for pred in (None, ()):
        m = match_peptide(pred, pep("PEPTIDE"))
        assert (m.n_pred, m.n_true, m.n_matched, m.peptide) == \
            (0, 7, 0, False)
        assert len(m.slots) == 7


def test_n_terminal_token_is_its_own_slot():
    acetyl = "[UNIMOD:1]-"
    m = match_peptide((acetyl,) + pep("PEP"), pep("PEP"))
    assert m.slots.tolist() == [False, True, True, True]
    assert (m.n_pred, m.n_matched, m.peptide) == (4, 3, False)
    assert match_peptide((acetyl,) + pep("PEP"),
                         (acetyl,) + pep("PEP")).peptide


def test_different_lengths_never_match():
    # GGK vs NQ: slot 2 (K/Q) matches, the peptide cannot.
    m = match_peptide(pep("GGK"), pep("NQ"))
    assert m.slots.astype(int).tolist() == [0, 0, 1]
    assert not m.peptide


def test_unknown_token_and_bad_mode():
    with pytest.raises(KeyError, match="X"):
        match_peptide(pep("PEX"), pep("PEP"))
    with pytest.raises(ValueError, match="mode"):
        MatchConfig(mode="sideways")
    with pytest.raises(ValueError, match="mode"):
        match_masses([1.0], [1.0], mode="sideways")


def test_match_masses_does_not_modify_inputs():
    a = np.array([57.02, 57.02, 97.05])
    b = np.array([114.04, 97.05])
    a0, b0 = a.copy(), b.copy()
    match_masses(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


RESIDUES = [t.name for t in DEFAULT_VOCABULARY.tokens
            if not t.special and not t.n_terminal]
peptides = st.lists(st.sampled_from(RESIDUES), min_size=1, max_size=15)


@settings(max_examples=150, deadline=None)
@given(peptides, peptides)
def test_properties(a, b):
    a, b = tuple(a), tuple(b)
    # Identity, I/L blindness and symmetry of the counts.
    assert match_peptide(a, a, exact=True).peptide
    swapped = tuple({"I": "L", "L": "I"}.get(t, t) for t in a)
    assert match_peptide(swapped, a, exact=True).peptide
    ab, ba = match_peptide(a, b), match_peptide(b, a)
    assert ab.n_matched == ba.n_matched and ab.peptide == ba.peptide
    # Exact matching never credits more than mass matching.
    assert match_peptide(a, b, exact=True).n_matched <= ab.n_matched
    assert ab.n_matched <= min(len(a), len(b))
