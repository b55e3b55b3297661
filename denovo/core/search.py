"""Search in mass space: peptides of the exact precursor mass, read off the
fragment evidence.

The spectrum proposes candidate prefix masses (every peak read as a b or
y ion, :func:`denovo.core.evidence.candidate_prefixes`) and scores each as
a cleavage (log-odds, :class:`denovo.core.evidence.EvidenceScorer`). A
peptide is a path from prefix mass 0 through some of these nodes to the
residue mass ``M`` of the precursor, every step one residue or — where no
cleavage is seen — two (three at either terminus, and inside too for a
spectrum where nothing else reaches the precursor). The path's score is the
sum of the log-odds of the cleavages it visits, a penalty per skipped
cleavage and the residues' log-priors. A dynamic programme in increasing
mass keeps the ``k`` best paths into every node, each with its exact
residue-mass sum, so a finished peptide is checked against the precursor
window with exact masses (one window per isotope error).

The dynamic programme lets two cleavages of one path claim the same peak
(the classic error: a path that follows the b ladder, then reads the y
peaks as b ions). :func:`peak_once_batch` re-scores finished peptides with
each peak given to one cleavage only; the engine ranks by that.

I and L share one mass and are searched as one residue, reported as L.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numba import njit

from .constants import C13_SPACING, H2O
from .evidence import (FEATURE_NAMES, ION_CHARGE, N_FEATURES, N_IONS,
                       EvidenceConfig,
                       EvidenceScorer, _best_peak, _features_into,
                       candidate_prefixes, features_batch, ion_mz,
                       linear_score, lower_bound, prepare_peaks)
from .settings import RankSettings
from .vocab import Vocabulary
from .window import PrecursorWindow

__all__ = ["SearchConfig", "EdgeTables", "EvidenceSearch",
           "peak_once_batch", "peak_once_features", "search_kernel",
           "cleavage_prefixes"]

_MAX_EDGE = 3  # residues per step at most (three only at a terminus)


@dataclass(frozen=True)
class SearchConfig:
    """Search settings: paths kept per node and peptides returned (the
    precursor window is a :class:`~denovo.core.window.PrecursorWindow`
    of its own)."""

    paths_per_node: int = 8
    top_k: int = 32  # finished peptides returned per isotope error
    min_length: int = 4

    def __post_init__(self):
        if self.paths_per_node < 1 or self.top_k < 1:
            raise ValueError("paths_per_node and top_k must be >= 1")


def token_priors(vocabulary: Vocabulary, rank: RankSettings) -> np.ndarray:
    """Each token's log-prior times the prior weight (I as L, tokens the
    fit never saw at its rarest value)."""
    prior = rank.token_log_prior
    floor = min(prior.values()) if prior else 0.0
    return rank.prior_weight * np.array(
        [prior.get("L" if t.name == "I" else t.name, floor)
         for t in vocabulary.tokens])


class EdgeTables:
    """Residue steps of one, two and three residues, sorted by mass.

    Compositions, not orders: a two-residue step with no cleavage seen
    between them cannot tell AB from BA, so one order (vocabulary order)
    stands for both. Each table holds mass, up to three token indices
    (-1 padded), the step's prior score and whether it starts with an
    N-terminal modification (allowed only from prefix mass 0).
    """

    def __init__(self, vocabulary: Vocabulary, rank: RankSettings):
        residues, nterm = [], []
        for i, tok in enumerate(vocabulary.tokens):
            if tok.special or tok.name == "I":
                continue
            # Deamidated N/Q weigh exactly D/E: the fragments cannot tell
            # them apart, so the search reads D/E and never N/Q+0.984.
            if tok.n_terminal:
                nterm.append(i)
            elif not tok.mods or tok.mods[0].accession != "UNIMOD:7":
                residues.append(i)
        masses = vocabulary.masses
        self.token_prior = tok_prior = token_priors(vocabulary, rank)
        gap = rank.gap_penalty

        def table(sizes, with_nterm):
            rows = []
            for size in sizes:
                for combo in itertools.combinations_with_replacement(
                        residues, size):
                    rows.append(((), combo))
                    if with_nterm and size <= 2:
                        rows.extend(((n,), combo) for n in nterm)
            mass = np.array([masses[list(n + c)].sum() for n, c in rows])
            order = np.argsort(mass, kind="mergesort")
            tokens = np.full((len(rows), _MAX_EDGE + 1), -1, np.int64)
            score = np.empty(len(rows))
            is_nterm = np.zeros(len(rows), np.bool_)
            for k, r in enumerate(order):
                n, c = rows[r]
                toks = n + c
                tokens[k, :len(toks)] = toks
                score[k] = tok_prior[list(toks)].sum() + gap * (len(c) - 1)
                is_nterm[k] = bool(n)
            return mass[order].copy(), tokens, score, is_nterm

        self.inner = table((1, 2), False)
        # for spectra where no path of 1-2 residue steps reaches the
        # precursor: steps of three residues inside the peptide too
        self.inner_wide = table((1, 2, 3), False)
        self.start = table((1, 2, 3), True)
        self.end = table((1, 2, 3), False)


@njit(cache=True, nogil=True)
def _insert(score, a, b, c, d, count, k, node, s, va, vb, vc, vd):
    """Insert (s, va..vd) into row ``node`` of the top-k arrays."""
    n = count[node]
    if n == k and s <= score[node, k - 1]:
        return
    pos = min(n, k - 1)
    while pos > 0 and score[node, pos - 1] < s:
        score[node, pos] = score[node, pos - 1]
        a[node, pos] = a[node, pos - 1]
        b[node, pos] = b[node, pos - 1]
        c[node, pos] = c[node, pos - 1]
        d[node, pos] = d[node, pos - 1]
        pos -= 1
    score[node, pos] = s
    a[node, pos] = va
    b[node, pos] = vb
    c[node, pos] = vc
    d[node, pos] = vd
    if n < k:
        count[node] = n + 1


@njit(cache=True, nogil=True)
def search_kernel(pos, s_node, total, node_tol, end_tol, in_mass, in_tok,
                  in_score, st_mass, st_tok, st_score, en_mass, en_tok,
                  en_score, k, top_k):
    """k-best paths of residue mass ``total +- end_tol``.

    ``pos`` are the node prefix masses, ``pos[0] == 0`` the start and the
    rest sorted candidates, with cleavage log-odds ``s_node``. Returns
    ``(tokens int64[top_k, L], lengths, scores, n_found)``, best first;
    tokens are vocabulary indices.
    """
    n = pos.shape[0]
    zero = np.int64(0)  # not a literal: one signature of _insert
    score = np.full((n, k), -np.inf)
    exact = np.zeros((n, k))
    back = np.full((n, k), -1, np.int64)
    back_rank = np.zeros((n, k), np.int64)
    edge = np.full((n, k), -1, np.int64)
    count = np.zeros(n, np.int64)
    count[0] = 1
    score[0, 0] = 0.0
    max_inner = in_mass[-1]
    max_start = st_mass[-1]
    for j in range(1, n):
        pj = pos[j]
        if pj <= max_start + node_tol:  # first step, from mass 0
            e = lower_bound(st_mass, pj - node_tol)
            while e < st_mass.shape[0] and st_mass[e] <= pj + node_tol:
                _insert(score, exact, back, back_rank, edge, count, k, j,
                        st_score[e] + s_node[j], st_mass[e], zero, zero, e)
                e += 1
        for i in range(j - 1, 0, -1):
            d = pj - pos[i]
            if d > max_inner + node_tol:
                break
            if count[i] == 0:
                continue
            lo = lower_bound(in_mass, d - 2 * node_tol)
            e = lo
            while e < in_mass.shape[0] and in_mass[e] <= d + 2 * node_tol:
                for r in range(count[i]):
                    x = exact[i, r] + in_mass[e]
                    if abs(x - pj) <= node_tol:
                        _insert(score, exact, back, back_rank, edge, count,
                                k, j, score[i, r] + in_score[e] + s_node[j],
                                x, i, r, e)
                e += 1
    # finish: the last step must land on the precursor window
    fin_score = np.full(top_k, -np.inf)
    fin_node = np.zeros(top_k, np.int64)
    fin_rank = np.zeros(top_k, np.int64)
    fin_edge = np.zeros(top_k, np.int64)
    fin_dummy = np.zeros(top_k)
    fin_count = np.zeros(1, np.int64)
    fs = fin_score.reshape(1, top_k)
    fn = fin_node.reshape(1, top_k)
    fr = fin_rank.reshape(1, top_k)
    fe = fin_edge.reshape(1, top_k)
    fd = fin_dummy.reshape(1, top_k)
    for i in range(1, n):
        for r in range(count[i]):
            need = total - exact[i, r]
            lo = lower_bound(en_mass, need - end_tol)
            e = lo
            while e < en_mass.shape[0] and en_mass[e] <= need + end_tol:
                _insert(fs, fd, fn, fr, fe, fin_count, top_k, zero,
                        score[i, r] + en_score[e], 0.0, i, r, e)
                e += 1
    n_found = fin_count[0]
    max_len = 3 * n + 8
    tokens = np.full((top_k, max_len), -1, np.int64)
    lengths = np.zeros(top_k, np.int64)
    buf = np.empty(max_len, np.int64)
    for f in range(n_found):
        m = 0
        e = fin_edge[f]
        for t in range(3, -1, -1):
            if en_tok[e, t] >= 0:
                buf[m] = en_tok[e, t]
                m += 1
        node = fin_node[f]
        r = fin_rank[f]
        while node > 0:
            e = edge[node, r]
            prev = back[node, r]
            if prev == 0:
                for t in range(3, -1, -1):
                    if st_tok[e, t] >= 0:
                        buf[m] = st_tok[e, t]
                        m += 1
                break
            for t in range(3, -1, -1):
                if in_tok[e, t] >= 0:
                    buf[m] = in_tok[e, t]
                    m += 1
            r = back_rank[node, r]
            node = prev
        for t in range(m):
            tokens[f, t] = buf[m - 1 - t]
        lengths[f] = m
    return tokens, lengths, fin_score, n_found


@njit(cache=True, nogil=True)
def node_log_odds(mz, weight, pos, total, charge, frag_tol, ppm, max_frag_z,
                  w, bias):
    """Cleavage log-odds (linear scorer ``w``, ``bias``) of the nodes
    ``pos[1:]`` of a peptide of residue mass ``total``; ``pos[0]``, the
    start, scores 0."""
    s_node = np.zeros(pos.shape[0])
    feats = np.zeros(N_FEATURES)
    owner = np.zeros(0, np.int64)
    for j in range(1, pos.shape[0]):
        _features_into(mz, weight, pos[j], total, charge, frag_tol, ppm,
                       max_frag_z, owner, np.int64(-1), feats)
        s_node[j] = linear_score(feats, w, bias)
    return s_node


@njit(cache=True, nogil=True)
def _peak_once_into(mz, weight, prefixes, total, charge, tol, ppm,
                    max_frag_z, owner, out):
    # Hands every peak to one cleavage (``owner``), then fills ``out``.
    owner[:] = -1
    for ion in range(N_IONS):
        z = ION_CHARGE[ion]
        if z > max_frag_z or (z > 1 and charge < 3):
            continue
        for s in range(prefixes.shape[0]):
            x = ion_mz(ion, prefixes[s], total)
            j = _best_peak(mz, weight, x, tol, ppm)
            if j >= 0 and owner[j] < 0:
                owner[j] = s
    for s in range(prefixes.shape[0]):
        _features_into(mz, weight, prefixes[s], total, charge, tol, ppm,
                       max_frag_z, owner, s, out[s])


@njit(cache=True, nogil=True)
def peak_once_features(mz, weight, prefixes, total, charge, tol, ppm,
                       max_frag_z):
    """Cleavage features ``[n_sites, N_FEATURES]``, each peak counted at
    one cleavage only.

    Peaks are handed out ion type by ion type (main b/y ions first, then
    isotopes, a ions and losses) in cleavage order: a peak already taken
    by one cleavage is not evidence for another.
    """
    owner = np.empty(mz.shape[0], np.int64)
    out = np.zeros((prefixes.shape[0], N_FEATURES))
    _peak_once_into(mz, weight, prefixes, total, charge, tol, ppm,
                    max_frag_z, owner, out)
    return out


SUMMARY_NAMES = ("covered", "longest_run", "explained", "terminal_missing",
                 "b_sites", "y_sites")
N_SUMMARY = len(SUMMARY_NAMES)


@njit(cache=True, nogil=True)
def peak_once_batch(mz, weight, tokens, lengths, masses, is_nterm, charge,
                    tol, ppm, max_frag_z):
    """Peak-once features of many peptides of one spectrum.

    Returns ``(sums [n, N_FEATURES], n_sites [n], summary [n, N_SUMMARY])``:
    the cleavage features summed over each peptide's cleavages (so a
    linear scorer's peptide score is ``sums @ w + n_sites * bias``), and
    whole-peptide statistics (:data:`SUMMARY_NAMES`): share of cleavages
    with a b or y ion, longest run of such cleavages (share), share of
    the spectrum's peak weight explained, cleavages without ions among
    the two at either end, shares of cleavages with a b / a y ion.
    ``tokens[n, L]`` are vocabulary indices; the y ions of a peptide are
    placed by its own residue mass.
    """
    n = tokens.shape[0]
    sums = np.zeros((n, N_FEATURES))
    n_sites = np.zeros(n)
    summary = np.zeros((n, N_SUMMARY))
    prefixes = np.empty(max(tokens.shape[1], 1))
    owner = np.empty(mz.shape[0], np.int64)
    feats = np.zeros((max(tokens.shape[1], 1), N_FEATURES))
    all_weight = 0.0
    for j in range(mz.shape[0]):
        all_weight += weight[j]
    for c in range(n):
        total = 0.0
        for t in range(lengths[c]):
            total += masses[tokens[c, t]]
        m = 0
        acc = 0.0
        for t in range(lengths[c] - 1):
            acc += masses[tokens[c, t]]
            if not is_nterm[tokens[c, t]]:
                prefixes[m] = acc
                m += 1
        out = feats[:m]
        out[:] = 0.0
        _peak_once_into(mz, weight, prefixes[:m], total, charge, tol, ppm,
                        max_frag_z, owner, out)
        covered = 0
        run = 0
        longest = 0
        b_sites = 0
        y_sites = 0
        terminal = 0
        for s in range(m):
            for f in range(N_FEATURES):
                sums[c, f] += out[s, f]
            b = out[s, 0] > 0 or out[s, 6] > 0
            y = out[s, 3] > 0 or out[s, 9] > 0
            b_sites += b
            y_sites += y
            if b or y:
                covered += 1
                run += 1
                longest = max(longest, run)
            else:
                run = 0
                if s < 2 or s >= m - 2:
                    terminal += 1
        explained = 0.0
        for j in range(mz.shape[0]):
            if owner[j] >= 0:
                explained += weight[j]
        n_sites[c] = m
        if m > 0:
            summary[c, 0] = covered / m
            summary[c, 1] = longest / m
            summary[c, 4] = b_sites / m
            summary[c, 5] = y_sites / m
        summary[c, 2] = explained / all_weight if all_weight > 0 else 0.0
        summary[c, 3] = terminal
    return sums, n_sites, summary


RANK_FEATURES = (tuple(f"sum_{n}" for n in FEATURE_NAMES)
                 + ("n_cleavages",) + SUMMARY_NAMES
                 + ("log_prior", "length", "n_term_mod"))


def ranking_weights(scorer: EvidenceScorer,
                    rank: RankSettings) -> np.ndarray:
    """Peptide ranking weights over :data:`RANK_FEATURES`: the fitted
    ``rank.ranker`` if there is one, else the plain peak-once sum
    (cleavage weights, bias per cleavage, priors at weight 1)."""
    if rank.ranker:
        names = tuple(rank.ranker.get("features", RANK_FEATURES))
        if names != RANK_FEATURES:
            raise ValueError("the ranking features differ from this "
                             "denovo's; refit them")
        return np.asarray(rank.ranker["weights"], np.float64)
    theta = np.zeros(len(RANK_FEATURES))
    theta[:N_FEATURES] = scorer.weight_array
    theta[N_FEATURES] = scorer.bias
    theta[RANK_FEATURES.index("log_prior")] = 1.0
    return theta


def cleavage_prefixes(tokens, vocabulary: Vocabulary) -> np.ndarray:
    """Prefix masses of the cleavages of a peptide (token names or ids)."""
    idx = [vocabulary.index(t) if isinstance(t, str) else int(t)
           for t in tokens]
    masses = vocabulary.masses[idx]
    n_term = vocabulary.n_terminal[idx]
    cum = np.cumsum(masses)
    # a cleavage follows every residue but the last; an N-terminal
    # modification is part of the first residue's fragments
    sites = [cum[i] for i in range(len(idx) - 1) if not n_term[i]]
    return np.asarray(sites, np.float64)


@dataclass(frozen=True)
class Found:
    """One peptide from the search: tokens, DP score, isotope error."""

    tokens: tuple
    score: float
    isotope_error: int


class EvidenceSearch:
    """The search for one vocabulary and scorer; see the module docstring.
    """

    def __init__(self, vocabulary: Vocabulary, scorer: EvidenceScorer,
                 rank: RankSettings | None = None,
                 config: SearchConfig = SearchConfig(),
                 window: PrecursorWindow | None = None):
        self.vocabulary = vocabulary
        self.scorer = scorer
        self.rank = rank = rank or RankSettings()
        self.config = config
        self.window = window = window or PrecursorWindow()
        self.evidence: EvidenceConfig = scorer.config
        self.tables = EdgeTables(vocabulary, rank)
        self._names = [t.name for t in vocabulary.tokens]
        self._masses = np.ascontiguousarray(vocabulary.masses, np.float64)
        self._nterm = np.ascontiguousarray(vocabulary.n_terminal, np.bool_)
        self._prior = self.tables.token_prior
        self._theta = ranking_weights(scorer, rank)
        self._w = scorer.weight_array
        self._bias = float(scorer.bias)
        self._isotopes = np.asarray(window.isotope_errors, np.int64)

    def peaks(self, mz, intensity, precursor_mz: float):
        """Peaks of one spectrum as the evidence kernels read them."""
        return prepare_peaks(mz, intensity, precursor_mz, self.evidence)

    def search(self, peaks, precursor_mass: float, charge: int) -> list:
        """Peptides for one spectrum (``peaks`` from :meth:`peaks`), best
        DP score first, over all isotope errors, duplicates removed.

        The nodes and their log-odds are computed once per isotope error;
        steps of three residues inside the peptide are tried only where
        the steps of one and two reach no peptide at all.
        """
        cfg = self.config
        nodes = self._nodes(peaks, precursor_mass, charge)
        window = float(self.window.half_width(precursor_mass))
        # A path's exact residue sum must meet each node it visits within
        # the fragment tolerance. (Widening it by the precursor window, for
        # nodes read off y ions, let near-isobaric alternatives crowd the
        # k best: top-1 recall 0.230 vs 0.261 on the held-out train slice.)
        node_tol = self._tol_da(precursor_mass)
        start, end = self.tables.start, self.tables.end
        for inner in (self.tables.inner, self.tables.inner_wide):
            paths = [(k, search_kernel(
                pos, s_node, total, node_tol, window, inner[0], inner[1],
                inner[2], start[0], start[1], start[2], end[0], end[1],
                end[2], cfg.paths_per_node, cfg.top_k))
                for k, total, pos, s_node in nodes]
            if any((out[1][:out[3]] >= cfg.min_length).any()
                   for _, out in paths):
                break  # the wide steps only where nothing was found
        found = {}
        for k, (tokens, lengths, scores, n) in paths:
            self._collect(found, tokens[:n], lengths[:n], scores[:n],
                          np.full(n, k))
        return sorted(found.values(), key=lambda f: -f.score)

    def _tol_da(self, precursor_mass: float) -> float:
        """The fragment tolerance in Da at this precursor mass."""
        ev = self.evidence
        return (ev.fragment_tol if not ev.ppm
                else ev.fragment_tol * 1e-6 * precursor_mass)

    def _nodes(self, peaks, precursor_mass: float, charge: int,
               node_score=None) -> list:
        """``(isotope error, residue mass, node masses, node log-odds)``
        for every allowed isotope error: the candidate prefixes (start at
        0) and their cleavage log-odds (the linear scorer, or
        ``node_score`` of their features)."""
        ev = self.evidence
        mz, weight = peaks
        tol_da = self._tol_da(precursor_mass)
        out = []
        for k in self.window.isotope_errors:
            total = float(precursor_mass - H2O - k * C13_SPACING)
            if total <= 0:
                continue
            pos = np.concatenate(([0.0], candidate_prefixes(
                mz, total, int(charge), int(ev.max_fragment_charge),
                tol_da)))
            if node_score is None:
                s_node = node_log_odds(
                    mz, weight, pos, total, int(charge),
                    float(ev.fragment_tol), ev.ppm,
                    int(ev.max_fragment_charge), self._w, self._bias)
            else:
                feats = features_batch(
                    mz, weight, pos[1:], total, int(charge),
                    float(ev.fragment_tol), ev.ppm,
                    int(ev.max_fragment_charge))
                s_node = np.concatenate(([0.0], node_score(feats)))
            out.append((k, total, pos, s_node))
        return out

    def _collect(self, found: dict, tokens, lengths, scores, iso) -> None:
        """Kernel rows -> ``found`` (token names -> :class:`Found`), the
        best score of each peptide, too short ones left out."""
        names = self._names
        for f in np.flatnonzero(lengths >= self.config.min_length):
            toks = tuple(names[t] for t in tokens[f, :lengths[f]])
            if toks not in found or found[toks].score < scores[f]:
                found[toks] = Found(toks, float(scores[f]), int(iso[f]))

    def search_with(self, peaks, precursor_mass: float, charge: int,
                    node_score) -> list:
        """:meth:`search` (steps of one and two residues only) with
        cleavage log-odds from ``node_score`` (features ``[n,
        N_FEATURES]`` -> ``[n]``) instead of the linear scorer: slower
        (Python between kernels), for comparing model classes."""
        cfg = self.config
        window = float(self.window.half_width(precursor_mass))
        tol_da = self._tol_da(precursor_mass)
        inner, start, end = (self.tables.inner, self.tables.start,
                             self.tables.end)
        found = {}
        for k, total, pos, s_node in self._nodes(
                peaks, precursor_mass, charge, node_score):
            tokens, lengths, scores, n = search_kernel(
                pos, s_node, total, tol_da, window, inner[0], inner[1],
                inner[2], start[0], start[1], start[2], end[0], end[1],
                end[2], cfg.paths_per_node, cfg.top_k)
            self._collect(found, tokens[:n], lengths[:n], scores[:n],
                          np.full(n, k))
        return sorted(found.values(), key=lambda f: -f.score)

    def encode(self, peptides) -> tuple[np.ndarray, np.ndarray]:
        """Token-name tuples -> ``(indices [n, L] padded -1, lengths)``."""
        width = max((len(p) for p in peptides), default=1)
        tokens = np.full((len(peptides), max(width, 1)), -1, np.int64)
        lengths = np.zeros(len(peptides), np.int64)
        index = self.vocabulary.index
        for i, pep in enumerate(peptides):
            tokens[i, :len(pep)] = [index(t) for t in pep]
            lengths[i] = len(pep)
        return tokens, lengths

    def rank_features(self, peaks, peptides, charge: int,
                      encoded=None) -> np.ndarray:
        """Whole-peptide ranking features ``[n, len(RANK_FEATURES)]``:
        peak-once cleavage features summed, cleavage count, the summary
        statistics of :func:`peak_once_batch`, residue log-prior (scaled
        by the scorer's prior weight), length and N-terminal
        modification. ``encoded``: :meth:`encode` of ``peptides``, when
        the caller has it."""
        ev = self.evidence
        tokens, lengths = encoded or self.encode(peptides)
        sums, n_sites, summary = peak_once_batch(
            peaks[0], peaks[1], tokens, lengths, self._masses, self._nterm,
            int(charge), float(ev.fragment_tol), ev.ppm,
            int(ev.max_fragment_charge))
        valid = tokens >= 0
        prior = np.where(valid, self._prior[tokens], 0.0).sum(axis=1)
        nterm = (valid & self._nterm[np.maximum(tokens, 0)]).any(axis=1)
        return np.column_stack([sums, n_sites, summary, prior,
                                lengths / 10.0, nterm])

    def rank_scores(self, peaks, peptides, charge: int,
                    encoded=None) -> np.ndarray:
        """Rank score of each peptide: the scorer's ranking weights over
        :meth:`rank_features`; by default the peak-once sum of cleavage
        log-odds plus the residue priors."""
        if not peptides:
            return np.zeros(0)
        return self.rank_features(peaks, peptides, charge,
                                  encoded) @ self._theta

    def site_scores(self, peaks, peptide, charge: int) -> np.ndarray:
        """Peak-once log-odds of each cleavage of one peptide."""
        ev = self.evidence
        idx = [self.vocabulary.index(t) for t in peptide]
        feats = peak_once_features(
            peaks[0], peaks[1], cleavage_prefixes(peptide, self.vocabulary),
            float(self._masses[idx].sum()), int(charge),
            float(ev.fragment_tol), ev.ppm, int(ev.max_fragment_charge))
        return self.scorer.score(feats)
