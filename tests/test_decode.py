"""Beam search and knapsack table against slow, independent references.

Masses in the references come from pyteomics, not from denovo's table;
the brute-force enumerator scores every peptide up to the slot limit.
"""

from itertools import product

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.constants import C13_SPACING
from denovo.core.decode import (
    DecodeConfig,
    Decoder,
    feasibility_table,
)
from denovo.core.vocab import DEFAULT_VOCABULARY, END, Vocabulary
from denovo.core.window import PrecursorWindow

H2O = pmass.calculate_mass(formula="H2O")
ACETYL = pmass.calculate_mass(formula="C2H2O")

SMALL = Vocabulary([t for t in DEFAULT_VOCABULARY.tokens
                    if t.name in ("G", "A", "S", "I", "L", "K",
                                  "[UNIMOD:1]-")])


def _oracle_mass(name):
    """Token mass from pyteomics (independent of denovo.core.vocab)."""
    return ACETYL if name == "[UNIMOD:1]-" else pmass.std_aa_mass[name]


def _random_log_probs(rng, n_slots, n_vocab, sharp=2.0):
    x = rng.normal(scale=sharp, size=(n_slots, n_vocab))
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x.astype(np.float32)


def brute_force(lp, vocab, precursor_mass, *, tol_ppm=20.0,
                isotopes=(0, 1), top_k=5, constrained=True):
    """Score every peptide of up to L - 1 tokens; I merged into L."""
    n_slots = lp.shape[0]
    names = [t.name for t in vocab.tokens]
    lp = lp.astype(np.float64)
    i_idx, l_idx = names.index("I"), names.index("L")
    merged = lp.copy()
    merged[:, l_idx] = np.logaddexp(lp[:, l_idx], lp[:, i_idx])
    residues = [i for i, t in enumerate(vocab.tokens)
                if not t.special and not t.n_terminal and i != i_idx]
    nterm = [i for i, t in enumerate(vocab.tokens) if t.n_terminal]
    tol = precursor_mass * tol_ppm * 1e-6
    out = []
    for n in range(1, n_slots):
        for first in residues + nterm:
            if first in nterm and n == 1:
                continue
            for rest in product(residues, repeat=n - 1):
                seq = (first,) + rest
                if constrained:
                    m = sum(_oracle_mass(names[j]) for j in seq) + H2O
                    if not any(abs(m + k * C13_SPACING - precursor_mass)
                               <= tol for k in isotopes):
                        continue
                total = sum(merged[t, j] for t, j in enumerate(seq))
                score = (total + lp[n, END]) / (n + 1)
                out.append((score, tuple(names[j] for j in seq)))
    out.sort(key=lambda x: -x[0])
    return out[:top_k]


def _peptide_mass(names):
    return sum(_oracle_mass(n) for n in names) + H2O


@pytest.fixture(scope="module")
def exhaustive():
    # beam larger than the number of prefixes: beam search = exhaustive
    return Decoder(SMALL, DecodeConfig(beam=5000, top_k=5))


def test_feasibility_table_against_enumeration():
    masses = np.array(sorted({pmass.std_aa_mass[a] for a in "GASPV"}))
    max_mass, res = 700.0, 0.01
    lo, hi = feasibility_table(masses, max_mass, res)
    sums = {0.0}
    frontier = {0.0}
    while frontier:
        frontier = {s + m for s in frontier for m in masses
                    if s + m <= max_mass} - sums
        sums |= frontier
    sums = np.array(sorted(sums))
    bins = (sums / res).astype(int)
    # no false negatives: every reachable sum lies in its bin's envelope
    assert np.all(lo[bins] <= sums + 1e-9)
    assert np.all(hi[bins] >= sums - 1e-9)
    # few false positives: marked bins lie next to a true sum
    marked = np.flatnonzero(lo[:int(max_mass / res)]
                            <= hi[:int(max_mass / res)])
    near = np.zeros(lo.size, bool)
    for d in (-1, 0, 1):
        near[np.clip(bins + d, 0, lo.size - 1)] = True
    assert near[marked].mean() > 0.99
    assert marked.size < 3 * len(set(bins))


@pytest.mark.parametrize("seed", range(4))
def test_exhaustive_beam_equals_brute_force(exhaustive, seed):
    rng = np.random.default_rng(seed)
    lp = _random_log_probs(rng, 6, len(SMALL))
    alphabet = ["G", "A", "S", "L", "K"]
    peptide = ["[UNIMOD:1]-"] * (seed % 2) + list(
        rng.choice(alphabet, size=3 + seed % 2))
    isotope = seed % 2  # also test a precursor off by one 13C
    pm = _peptide_mass(peptide) + isotope * C13_SPACING
    want = brute_force(lp, SMALL, pm, top_k=5)
    got = exhaustive.decode(lp, pm)
    assert len(want) >= 1
    assert [c.tokens for c in got] == [w[1] for w in want]
    np.testing.assert_allclose([c.score for c in got],
                               [w[0] for w in want], rtol=1e-6)
    assert all(c.mass_match for c in got)


def test_isotope_errors_are_honoured():
    rng = np.random.default_rng(7)
    lp = _random_log_probs(rng, 6, len(SMALL))
    pm = _peptide_mass(["G", "A", "K", "S"]) + C13_SPACING
    strict = Decoder(SMALL, DecodeConfig(beam=5000, top_k=3),
                     PrecursorWindow(isotope_errors=(0,)))
    loose = Decoder(SMALL, DecodeConfig(beam=5000, top_k=3),
                    PrecursorWindow(isotope_errors=(0, 1)))
    assert brute_force(lp, SMALL, pm, isotopes=(0,)) == []
    assert not any(c.mass_match for c in strict.decode(lp, pm))
    got = loose.decode(lp, pm)
    want = brute_force(lp, SMALL, pm, isotopes=(0, 1), top_k=3)
    assert [c.tokens for c in got] == [w[1] for w in want]


def test_small_beam_respects_mass_and_never_beats_exhaustive(exhaustive):
    rng = np.random.default_rng(3)
    small = Decoder(SMALL, DecodeConfig(beam=3, top_k=5))
    for _ in range(10):
        lp = _random_log_probs(rng, 6, len(SMALL))
        pm = _peptide_mass(list(rng.choice(["G", "A", "S", "K"], 4)))
        best = exhaustive.decode(lp, pm)[0]
        for c in small.decode(lp, pm):
            if not c.mass_match:
                continue
            assert c.score <= best.score + 1e-9
            m = _peptide_mass(c.tokens)
            assert abs(m - pm) <= 20e-6 * pm + 1e-9


def test_default_vocabulary_candidates_fit_precursor():
    rng = np.random.default_rng(11)
    names = [t.name for t in DEFAULT_VOCABULARY.tokens]
    dec = Decoder(DEFAULT_VOCABULARY, DecodeConfig(beam=5, top_k=3))
    lp = np.stack([_random_log_probs(rng, 21, len(names))
                   for _ in range(16)])
    pm = rng.uniform(700, 2200, size=16)
    tol = 20e-6 * pm
    n_match = 0
    for row, p, t in zip(dec.decode_batch(lp, pm), pm, tol,
                           strict=True):
        assert 1 <= len(row) <= 3
        for c in row:
            assert "I" not in c.tokens
            assert all(not DEFAULT_VOCABULARY.tokens[
                DEFAULT_VOCABULARY.index(x)].n_terminal
                for x in c.tokens[1:])
            m = sum(DEFAULT_VOCABULARY.masses[DEFAULT_VOCABULARY.index(x)]
                    for x in c.tokens) + H2O
            if c.mass_match:
                n_match += 1
                assert min(abs(m + k * C13_SPACING - p)
                           for k in (0, 1)) <= t + 1e-9
        scores = [c.score for c in row]
        assert scores == sorted(scores, reverse=True)
    assert n_match > 0


def test_il_merged_and_reported_as_l():
    names = [t.name for t in SMALL.tokens]
    n_slots = 4
    p = np.full((n_slots, len(names)), 1e-6)
    p[0, names.index("I")] = 0.3
    p[0, names.index("L")] = 0.3
    p[0, names.index("K")] = 0.4  # K wins unless I and L are merged
    p[1, END] = 1.0
    lp = np.log(p / p.sum(1, keepdims=True)).astype(np.float32)
    dec = Decoder(SMALL, DecodeConfig(beam=2, top_k=2))
    got = dec.decode(lp, np.nan)  # unknown precursor: unconstrained
    assert got[0].tokens == ("L",) and not got[0].mass_match
    assert got[0].aa_scores[0] == pytest.approx(0.6, rel=1e-4)
    assert all("I" not in c.tokens for c in got)
    unmerged = Decoder(SMALL, DecodeConfig(beam=2, top_k=2,
                                           merge_il=False))
    assert unmerged.decode(lp, np.nan)[0].tokens == ("K",)


def test_no_mass_match_falls_back_to_unconstrained(exhaustive):
    rng = np.random.default_rng(5)
    lp = _random_log_probs(rng, 5, len(SMALL))
    pm = 250.0  # no peptide of the small vocabulary weighs this
    assert brute_force(lp, SMALL, pm) == []
    got = exhaustive.decode(lp, pm)
    want = brute_force(lp, SMALL, pm, constrained=False)
    assert [c.tokens for c in got] == [w[1] for w in want]
    assert not any(c.mass_match for c in got)


def test_nterm_only_at_slot_zero_and_never_alone():
    names = [t.name for t in SMALL.tokens]
    nt = names.index("[UNIMOD:1]-")
    p = np.full((5, len(names)), 1e-3)
    p[:, nt] = 1.0  # the model loves the N-terminal token everywhere
    p[:, 0] = 5.0  # and PAD
    lp = np.log(p / p.sum(1, keepdims=True)).astype(np.float32)
    for c in Decoder(SMALL, DecodeConfig(beam=50, top_k=10)).decode(
            lp, np.nan):
        assert "<pad>" not in c.tokens
        assert nt not in [names.index(x) for x in c.tokens[1:]]
        assert len([x for x in c.tokens if x != "[UNIMOD:1]-"]) >= 1


def test_decoder_rejects_bad_shapes():
    dec = Decoder(SMALL)
    with pytest.raises(ValueError, match="log_probs"):
        dec.decode_arrays(np.zeros((2, 5, 3), np.float32), np.ones(2))
    with pytest.raises(ValueError, match="precursor"):
        dec.decode_arrays(np.zeros((2, 5, len(SMALL)), np.float32),
                          np.ones(3))
    with pytest.raises(ValueError):
        DecodeConfig(beam=0)


def test_without_mass_control_candidates_are_unconstrained_but_flagged():
    from denovo.core.decode import DecodeConfig, Decoder

    v = DEFAULT_VOCABULARY
    rng = np.random.default_rng(3)
    lp = np.log(rng.dirichlet(np.ones(len(v)), size=(4, 8))).astype(
        np.float32)
    target = ("P", "E", "K")
    pm = sum(v.masses[v.index(t)] for t in target) + H2O
    free = Decoder(v, DecodeConfig(beam=3, mass_control=False))
    controlled = Decoder(v, DecodeConfig(beam=3))
    fits = []
    for row in lp:
        (cand,) = free.decode(row, pm)
        mass = sum(v.masses[v.index(t)] for t in cand.tokens) + H2O
        fit = any(abs(mass - (pm - k * C13_SPACING)) <= pm * 20e-6
                  for k in (0, 1))
        assert cand.mass_match == fit
        fits.append(fit)
        (constrained,) = controlled.decode(row, pm)
        assert constrained.mass_match
    assert not all(fits)  # random log-probs rarely hit the mass


def test_rows_split_among_threads_decode_the_same():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    vocab = DEFAULT_VOCABULARY
    lp = np.log(rng.dirichlet(np.ones(len(vocab)), size=(7, 21)))
    pm = rng.uniform(800, 2000, 7)
    decoder = Decoder(vocab, DecodeConfig(beam=4, top_k=3))
    one = decoder.decode_arrays(lp.astype(np.float32), pm)
    with ThreadPoolExecutor(3) as pool:
        split = decoder.decode_arrays(lp.astype(np.float32), pm, pool=pool)
    for a, b in zip(one, split, strict=True):
        np.testing.assert_array_equal(a, b)
