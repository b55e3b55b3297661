"""The k-best path search against brute-force enumeration, and the other
orders of its composition steps.

The oracle enumerates every peptide of a tiny vocabulary up to length 7,
spells each in every way the search's steps allow (one residue per step,
or a composition of two — three at a terminus — written in vocabulary
order) and scores every spelling in plain Python with the same node
scores; a wide enough search must return exactly the best of these.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.constants import PROTON
from denovo.core.paths import step_variants
from denovo.core.search import RANK_FEATURES, EvidenceSearch, SearchConfig
from denovo.core.settings import RankSettings
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary
from denovo.core.window import PrecursorWindow

from test_evidence import _hand_scorer

TINY = Vocabulary([t for t in DEFAULT_VOCABULARY.tokens
                   if t.name in ("G", "A", "S", "P", "V",
                                              "T")])
RESIDUES = [t.name for t in TINY.tokens if not t.special]


def _rank(gap=-5.0, ranker=False):
    """Rank settings; with ``ranker`` a peptide ranker of random weights
    (a fixed seed), whose per-cleavage terms then score the paths."""
    prior = {"G": -1.0, "A": -1.5, "S": -2.0, "P": -2.5, "V": -1.2,
             "T": -1.8}
    learned = {}
    if ranker:
        weights = np.random.default_rng(7).normal(0, 1, len(RANK_FEATURES))
        learned = {"features": list(RANK_FEATURES),
                   "weights": weights.tolist()}
    return RankSettings(token_log_prior=prior, prior_weight=1.0,
                        gap_penalty=gap, ranker=learned)


def _spectrum(peptide, charge=2, extra=()):
    """b/y ladder of ``peptide`` (pyteomics), with the ions of ``extra``
    peptides mixed in: peaks that several spellings share."""
    mz = []
    for pep in (peptide, *extra):
        for i in range(1, len(pep)):
            mz.append(pmass.fast_mass(pep[:i], ion_type="b", charge=1))
            mz.append(pmass.fast_mass(pep[i:], ion_type="y", charge=1))
    mz = np.unique(np.round(mz, 6))
    intensity = np.linspace(50.0, 100.0, mz.size)
    return mz, intensity, pmass.fast_mass(peptide, charge=charge)


def _mass(tokens):
    return sum(TINY.masses[TINY.index(t)] for t in tokens)


def _brute_force(search, peaks, precursor_mass, charge, max_len=7):
    """Every spelling's best path score, by peptide: the plain-Python
    oracle of :func:`denovo.core.paths.search_kernel`."""
    k, total, pos, s_node, s_skip = search._nodes(peaks, precursor_mass,
                                                  charge)[0]
    assert k == 0
    node_tol = search._tol_da(precursor_mass)
    end_tol = float(search.window.half_width(precursor_mass))
    tables = search.tables
    step_score = {}  # composition (sorted by vocabulary index) -> score
    for table in (tables.start, tables.inner, tables.end):
        for toks, score in zip(table[1], table[2], strict=True):
            key = tuple(TINY.tokens[i].name for i in toks if i >= 0)
            step_score[key] = score
    order = {name: i for i, name in enumerate(RESIDUES)}

    def spellings(peptide):
        """Splits of ``peptide`` into steps the search may take."""
        n = len(peptide)
        for cuts in itertools.product((0, 1), repeat=n - 1):
            bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
            steps = [peptide[a:b] for a, b in zip(bounds, bounds[1:])]
            limits = [3 if i in (0, len(steps) - 1) else 2
                      for i in range(len(steps))]
            if all(len(s) <= m for s, m in zip(steps, limits)) and all(
                    list(s) == sorted(s, key=order.get) for s in steps):
                yield steps

    def path_score(steps):
        """Best score over the nodes a spelling can land on (-inf if a
        cleavage it lands on has no node within the tolerance)."""
        at = {0: 0.0}  # node -> best score of the steps so far
        x = 0.0
        for i, step in enumerate(steps):
            x += _mass(step)
            skips = len(step) - 1
            if i == len(steps) - 1:  # the finishing step
                if abs(total - x) > end_tol:
                    return -math.inf
                return max(v + step_score[tuple(step)] + skips * s_skip[j]
                           for j, v in at.items())
            near = [j for j in range(1, len(pos))
                    if abs(x - pos[j]) <= node_tol]
            if not near:
                return -math.inf
            best = max(at.values())  # any node before may lead here
            at = {j: best + step_score[tuple(step)] + s_node[j]
                  + skips * s_skip[j] for j in near}
        return -math.inf

    out = {}
    for n in range(search.config.min_length, max_len + 1):
        for peptide in itertools.product(RESIDUES, repeat=n):
            if abs(_mass(peptide) - total) > end_tol:
                continue
            for steps in spellings(peptide):
                s = path_score(steps)
                if s > out.get(peptide, -math.inf):
                    out[peptide] = s
    return {p: s for p, s in out.items() if s > -math.inf}


@pytest.mark.parametrize("rank_paths, ranker", [
    (False, False), (True, False), (True, True)])
@pytest.mark.parametrize("peptide, extra", [
    ("GASPVT", ("GATSPV",)), ("SAGVPT", ("SGAVTP", "TPAGSV")),
    ("VGGSAT", ())])
def test_search_returns_the_brute_force_best(peptide, extra, rank_paths,
                                             ranker):
    mz, intensity, prec = _spectrum(peptide, extra=extra)
    top_k = 12
    search = EvidenceSearch(
        TINY, _hand_scorer(), _rank(ranker=ranker),
        SearchConfig(paths_per_node=500, top_k=top_k, min_length=4,
                     rank_paths=rank_paths, orders=0),
        window=PrecursorWindow(tol_ppm=10, isotope_errors=(0,)))
    peaks = search.peaks(mz, intensity, prec)
    mass = (prec - PROTON) * 2
    want = _brute_force(search, peaks, mass, 2)
    found = search.search(peaks, mass, 2)
    assert len(found) == min(top_k, len(want))
    best = sorted(want.values(), reverse=True)[:top_k]
    np.testing.assert_allclose([f.score for f in found], best, atol=1e-9)
    for f in found:  # every peptide with the score the oracle gives it
        assert math.isclose(want[f.tokens], f.score, abs_tol=1e-9)
    assert len({f.tokens for f in found}) == len(found)  # no copies


def test_steps_say_how_the_search_spelled_a_peptide():
    mz, intensity, prec = _spectrum("GASPVT")
    search = EvidenceSearch(
        TINY, _hand_scorer(), _rank(),
        SearchConfig(min_length=4, orders=0),
        window=PrecursorWindow(tol_ppm=10, isotope_errors=(0,)))
    [(_, (tokens, lengths, _, n, steps))] = search._paths(
        search.peaks(mz, intensity, prec), (prec - PROTON) * 2, 2)
    assert n > 0
    names = [tuple(TINY.tokens[i].name for i in tokens[f, :lengths[f]])
             for f in range(n)]
    for f in range(n):
        sizes = np.bincount(steps[f, :lengths[f]])
        assert sizes.sum() == lengths[f] and sizes.min() >= 1
        assert (steps[f, lengths[f]:] == -1).all()
        assert max(sizes[1:-1], default=1) <= 2  # inner steps
    top = names.index(tuple("GASPVT"))
    # a full ladder: one residue per step
    assert list(steps[top, :6]) == list(range(6))


def _variants(rows, limit):
    """:func:`step_variants` of peptides given as (tokens, step sizes)."""
    width = max(len(t) for t, _ in rows)
    tokens = np.full((len(rows), width), -1, np.int64)
    steps = np.full_like(tokens, -1)
    for i, (toks, sizes) in enumerate(rows):
        tokens[i, :len(toks)] = [DEFAULT_VOCABULARY.index(t) for t in toks]
        steps[i, :len(toks)] = np.repeat(np.arange(len(sizes)), sizes)
    lengths = np.array([len(t) for t, _ in rows])
    out, out_len, parent = step_variants(tokens, lengths, steps,
                                         DEFAULT_VOCABULARY.n_terminal,
                                         limit)
    names = [tuple(DEFAULT_VOCABULARY.tokens[i].name
                   for i in out[r, :out_len[r]]) for r in range(len(out))]
    return names, parent.tolist()


def test_step_variants_permute_every_composition_step():
    got, parent = _variants([(tuple("GASPV"), (2, 1, 2)),
                             (tuple("KL"), (1, 1))], 16)
    assert got[0] == tuple("GASPV") and got[-1] == tuple("KL")
    assert set(got[1:-1]) == {tuple("AGSPV"), tuple("GASVP"),
                              tuple("AGSVP")}
    assert parent == [0, 0, 0, 0, 1]
    assert len(_variants([(tuple("GASPV"), (2, 1, 2))], 2)[0]) == 3
    # three residues: their distinct orders; a repeated one counts once
    got, _ = _variants([(tuple("GAS"), (3,)), (tuple("GGA"), (3,))], 16)
    assert sorted(got[1:6]) == sorted(
        set(itertools.permutations("GAS")) - {tuple("GAS")})
    assert sorted(got[7:]) == [tuple("AGG"), tuple("GAG")]
    # an N-terminal modification stays first
    got, _ = _variants([(("[UNIMOD:1]-", "G", "A", "G", "K"), (4, 1))], 16)
    assert sorted(got[1:]) == [("[UNIMOD:1]-", "A", "G", "G", "K"),
                               ("[UNIMOD:1]-", "G", "G", "A", "K")]


def test_ranked_holds_the_other_orders_best_first():
    peptide = "PEPTLDEKAGR"
    mz, intensity, prec = _ladder_without("PEPTL", peptide)
    search = EvidenceSearch(DEFAULT_VOCABULARY, _hand_scorer(), _rank())
    peaks = search.peaks(mz, intensity, prec)
    found, scores, (tokens, lengths) = search.ranked(
        peaks, (prec - PROTON) * 2, 2)
    keys = ["".join(f.tokens) for f in found]
    # the search spells the L-D step one way; both orders are proposed
    assert {"PEPTLDEKAGR", "PEPTDLEKAGR"} <= set(keys)
    assert len(set(keys)) == len(keys)
    assert np.all(np.diff(scores) <= 0)
    np.testing.assert_allclose(
        scores, search.rank_scores(peaks, [f.tokens for f in found], 2))
    want_tokens, want_lengths = search.encode([f.tokens for f in found])
    np.testing.assert_array_equal(lengths, want_lengths)
    np.testing.assert_array_equal(tokens[:, :want_tokens.shape[1]],
                                  want_tokens)
    assert (tokens[:, want_tokens.shape[1]:] == -1).all()
    none, _, _ = EvidenceSearch(DEFAULT_VOCABULARY, _hand_scorer(), _rank(),
                             SearchConfig(orders=0)).ranked(
        peaks, (prec - PROTON) * 2, 2)
    assert len({"PEPTLDEKAGR", "PEPTDLEKAGR"} & {
        "".join(f.tokens) for f in none}) == 1


def _ladder_without(prefix, peptide):
    """b/y ladder of ``peptide`` without the ions of the cleavage after
    ``prefix`` (pyteomics masses)."""
    mz = [pmass.fast_mass(peptide[:i], ion_type="b", charge=1)
          for i in range(1, len(peptide))]
    mz += [pmass.fast_mass(peptide[i:], ion_type="y", charge=1)
           for i in range(1, len(peptide))]
    cut = len(prefix)
    drop = {pmass.fast_mass(peptide[:cut], ion_type="b", charge=1),
            pmass.fast_mass(peptide[cut:], ion_type="y", charge=1)}
    mz = np.array(sorted(x for x in mz if x not in drop))
    return mz, np.full(mz.size, 100.0), pmass.fast_mass(peptide, charge=2)


def test_skip_scores_are_those_of_a_cleavage_without_peaks():
    from denovo.core.paths import node_log_odds

    search = EvidenceSearch(DEFAULT_VOCABULARY, _hand_scorer(),
                            _rank(ranker=True))
    total = 1500.0
    pos = np.concatenate(([0.0], np.linspace(60, 1440, 40)))
    empty = np.zeros(0)
    want = node_log_odds(empty, empty, pos, total, 3, 0.02, False, 2,
                         search._path_w, search._path_bias)
    np.testing.assert_allclose(search._empty_scores(pos, total), want,
                               atol=1e-12)
