"""Peptide notations: parsing, formatting, masses (pyteomics as oracle)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyteomics import mass as pmass

from denovo.core import DEFAULT_VOCABULARY, Vocabulary
from denovo.core.peptide import (
    PeptideSyntaxError, UnknownModificationError, from_peprec, parse,
    peptide_mass, plain_sequence, precursor_mz, to_casanovo, to_peprec,
    to_proforma)

# Published Unimod monoisotopic deltas (unimod.org), independent of our
# composition table.
UNIMOD_DELTA = {4: 57.021464, 35: 15.994915, 7: 0.984016, 1: 42.010565,
                5: 43.005814, 385: -17.026549}
RESIDUE_TOKENS = [t.name for t in DEFAULT_VOCABULARY.tokens
                  if not t.special and not t.n_terminal]
NTERM_TOKENS = [t.name for t in DEFAULT_VOCABULARY.tokens if t.n_terminal]

peptides = st.tuples(
    st.one_of(st.none(), st.sampled_from(NTERM_TOKENS)),
    st.lists(st.sampled_from(RESIDUE_TOKENS), min_size=1, max_size=40),
).map(lambda p: ((p[0],) if p[0] else ()) + tuple(p[1]))


@pytest.mark.parametrize("text, expected", [
    ("PEPTIDE", ("P", "E", "P", "T", "I", "D", "E")),
    ("+42.011PEM+15.995K", ("[UNIMOD:1]-", "P", "E", "M[UNIMOD:35]", "K")),
    ("-17.027QPEC+57.021", ("[UNIMOD:385]-", "Q", "P", "E",
                            "C[UNIMOD:4]")),
    ("+43.006-17.027QK", ("[UNIMOD:5][UNIMOD:385]-", "Q", "K")),
    ("+43.006QN+0.984Q+0.984", ("[UNIMOD:5]-", "Q", "N[UNIMOD:7]",
                                "Q[UNIMOD:7]")),
    ("[Acetyl]-M[Oxidation]K", ("[UNIMOD:1]-", "M[UNIMOD:35]", "K")),
    ("[UNIMOD:1]-M[UNIMOD:35]K", ("[UNIMOD:1]-", "M[UNIMOD:35]", "K")),
    ("[Carbamyl][Ammonia-loss]-QK", ("[UNIMOD:5][UNIMOD:385]-", "Q", "K")),
    ("M[+15.9949]C[+57.02146]", ("M[UNIMOD:35]", "C[UNIMOD:4]")),
    ("M(+15.99)C(+57.02)", ("M[UNIMOD:35]", "C[UNIMOD:4]")),
    ("[+42.0106]-AK", ("[UNIMOD:1]-", "A", "K")),
    ("_.PEPC[UNIMOD:4]K._", ("P", "E", "P", "C[UNIMOD:4]", "K")),
    ("K.PEPK.R", ("P", "E", "P", "K")),
    ("-.PEPK.-", ("P", "E", "P", "K")),
    ("PEPTIDEK/2", ("P", "E", "P", "T", "I", "D", "E", "K")),
    ("N[Deamidated]Q[deamidation]", ("N[UNIMOD:7]", "Q[UNIMOD:7]")),
])
def test_parse_notations(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, token", [
    ("PEPS[Phospho]K", "Phospho"),
    ("PEPM+79.966K", "M+79.966"),
    ("PEPS[UNIMOD:21]K", "UNIMOD:21"),
    ("PEPM[UNIMOD:4]K", "M[UNIMOD:4]"),  # known mod, wrong residue
    ("PEPXK", "X"),
    ("[Phospho]-PEPK", "Phospho"),
])
def test_unknown_modifications_name_the_token(text, token):
    with pytest.raises(UnknownModificationError) as err:
        parse(text)
    assert err.value.token == token
    assert token in str(err.value) and text in str(err.value)
    assert parse(text, errors="skip") is None


@pytest.mark.parametrize("text", ["", "PE]P", "PEP-[Amidated]", "P E P",
                                  "[UNIMOD:1]-", "_..._"])
def test_syntax_errors(text):
    with pytest.raises(PeptideSyntaxError):
        parse(text)
    assert parse(text, errors="skip") is None


def test_fixed_modification_for_bare_residues():
    assert parse("PEPCK", fixed={"C": "C[UNIMOD:4]"}) == (
        "P", "E", "P", "C[UNIMOD:4]", "K")
    # an explicit modification is kept as written
    assert parse("PEPC[+57.021]K", fixed={"C": "C[UNIMOD:4]"})[3] == \
        "C[UNIMOD:4]"


def test_vocabulary_restricts_parsing():
    small = Vocabulary([t for t in DEFAULT_VOCABULARY.tokens[2:]
                        if t.name != "M[UNIMOD:35]"])
    with pytest.raises(UnknownModificationError):
        parse("PEM[Oxidation]K", vocabulary=small)


@settings(max_examples=300, deadline=None)
@given(peptides)
def test_round_trips(peptide):
    for style in ("unimod", "name", "delta"):
        assert parse(to_proforma(peptide, style=style)) == peptide
    assert parse(to_casanovo(peptide)) == peptide
    assert parse("_." + to_proforma(peptide) + "._") == peptide
    assert from_peprec(*to_peprec(peptide)) == peptide
    assert plain_sequence(peptide) == to_peprec(peptide)[0]


def test_peprec_format():
    pep = ("[UNIMOD:1]-", "P", "M[UNIMOD:35]", "C[UNIMOD:4]")
    assert to_peprec(pep) == ("PMC", "0|Acetyl|2|Oxidation|3|Carbamidomethyl")
    assert to_peprec(("A", "K")) == ("AK", "-")
    with pytest.raises(PeptideSyntaxError):
        from_peprec("AK", "1|Oxidation|2")
    with pytest.raises(UnknownModificationError):
        from_peprec("AK", "-1|Amidated")


def _oracle_mass(peptide):
    """Mass from pyteomics' residue table plus published Unimod deltas."""
    seq = plain_sequence(peptide)
    total = pmass.fast_mass(seq, ion_type="M", charge=0)
    for name in peptide:
        for acc in name.replace("]", "").split("[UNIMOD:")[1:]:
            total += UNIMOD_DELTA[int(acc.rstrip("-"))]
    return total


def test_masses_match_pyteomics_for_random_peptides():
    rng = np.random.default_rng(1)
    for _ in range(3000):
        n = rng.integers(1, 40)
        pep = tuple(rng.choice(RESIDUE_TOKENS, n))
        if rng.random() < 0.3:
            pep = (str(rng.choice(NTERM_TOKENS)),) + pep
        charge = int(rng.integers(1, 6))
        expected = _oracle_mass(pep)
        assert peptide_mass(pep) == pytest.approx(expected, abs=2e-5)
        plain = plain_sequence(pep)
        delta = expected - pmass.fast_mass(plain, ion_type="M", charge=0)
        oracle_mz = pmass.fast_mass(plain, ion_type="M", charge=charge) \
            + delta / charge
        assert precursor_mz(pep, charge) == pytest.approx(oracle_mz,
                                                          abs=1e-5)


def test_unmodified_masses_exact_to_pyteomics():
    for aa in "ACDEFGHIKLMNPQRSTVWY":
        assert peptide_mass((aa,)) == pytest.approx(
            pmass.fast_mass(aa), abs=1e-9)
