"""Search in mass space: peptides of the exact precursor mass, read off the
fragment evidence.

The spectrum proposes candidate prefix masses (every peak read as a b or
y ion, :func:`denovo.core.evidence.candidate_prefixes`) and scores each as
a cleavage (log-odds, :class:`denovo.core.evidence.EvidenceScorer`). A
peptide is a path from prefix mass 0 through some of these nodes to the
residue mass ``M`` of the precursor, every step one residue or — where no
cleavage is seen — two (three at either terminus, and inside too for a
spectrum where nothing else reaches the precursor). A path is scored the
way the engine ranks peptides (``SearchConfig.rank_paths``): the peptide
ranker's weights on the summed cleavage features and its cost per
cleavage at every cleavage it visits, the same for a cleavage without
peaks at every one it steps over, and the ranker's residue-prior and
length terms per residue (only the ranker's whole-peptide statistics,
such as the longest run of cleavages, are left to the ranking). A
dynamic programme in increasing mass keeps the ``k`` best paths into
every node, one per token sequence, each with its exact residue-mass
sum, so a finished peptide is checked against the precursor window with
exact masses (one window per isotope error).

A step of several residues is a composition: every order of it scores
the same, the programme writes one, and the engine adds the others
(:meth:`EvidenceSearch.ranked`, ``SearchConfig.orders``) for the
ranking to choose.

The dynamic programme (:mod:`denovo.core.paths`) lets two cleavages of
one path claim the same peak (the classic error: a path that follows the
b ladder, then reads the y peaks as b ions).
:func:`~denovo.core.peak_once.peak_once_batch` re-scores finished
peptides with each peak given to one cleavage only; the engine ranks by
that.

Measured on the held-out train slice (``benchmarks/search_paths.py``):
the cleavage scorer's own log-odds as path scores charge every cleavage
its prior odds (about -3.9, against the ranker's -0.35), so the search
preferred few heavy residues and lost long, fully covered peptides that
the ranking would have put first.

I and L share one mass and are searched as one residue, reported as L.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .constants import C13_SPACING, H2O
from .evidence import (FEATURE_NAMES, N_FEATURES, TERMINAL_MASS,
                       EvidenceConfig, EvidenceScorer, candidate_prefixes,
                       features_batch, prepare_peaks)
from .paths import edge_hashes, node_log_odds, search_kernel, step_variants
from .peak_once import (CONTEXT_NAMES, SUMMARY_NAMES, peak_once_batch,
                        peak_once_features, peak_once_sites,
                        residue_classes)
from .settings import RankSettings
from .vocab import Vocabulary, merge_il
from .window import PrecursorWindow

__all__ = ["SearchConfig", "EdgeTables", "EvidenceSearch",
           "peak_once_batch", "peak_once_features", "search_kernel",
           "cleavage_prefixes"]

_MAX_EDGE = 3  # residues per step at most (three only at a terminus)
# columns of the main-ion hits (b1, y1, b2, y2) among the cleavage features
_MAIN_HITS = [FEATURE_NAMES.index(f"{ion}_hit")
              for ion in ("b1", "y1", "b2", "y2")]


@dataclass(frozen=True)
class SearchConfig:
    """Search settings: paths kept per node and peptides returned (the
    precursor window is a :class:`~denovo.core.window.PrecursorWindow`
    of its own)."""

    paths_per_node: int = 8
    top_k: int = 32  # finished peptides returned per isotope error
    min_length: int = 4  # tokens, a fixed N-terminal one not counted
    # The earlier, peak-once based reordering pass (one run of residues
    # without main ions at a time, for the N best peptides; 0: off):
    # ``orders`` supersedes it; kept for ``benchmarks/reorder_ranker.py``.
    reorder: int = 0
    # Variants per peptide with its multi-residue DP steps (compositions,
    # which the DP spells in one order) in their other orders
    # (:meth:`EvidenceSearch.ranked`); 0: off ...
    orders: int = 16
    # ... for this many of the best peptides by rank score (ordering all
    # of them found no more: ``benchmarks/search_paths.py``)
    ordered: int = 8
    # Paths scored by the peptide ranker's per-cleavage and per-residue
    # terms (its weights on the summed cleavage features, the cleavage
    # count, priors and length) instead of the cleavage scorer's
    # log-odds: the search then prefers what the ranking prefers. The
    # scorer's bias (a cleavage's prior odds) charges every cleavage
    # ~3.9 and so favours few heavy residues; the ranker's, 0.35.
    rank_paths: bool = True

    def __post_init__(self):
        if self.paths_per_node < 1 or self.top_k < 1:
            raise ValueError("paths_per_node and top_k must be >= 1")


# Log-prior of a variable modification the fit never saw, per modified
# site, on top of its residue's: one site in ten carries it.
VARIABLE_MOD_LOG_PRIOR = math.log(0.1)


def token_priors(vocabulary: Vocabulary, rank: RankSettings) -> np.ndarray:
    """Each token's log-prior times the prior weight (I as L).

    A token the fit never saw: a residue with a fixed modification takes
    its residue's prior, a fixed N-terminal token 0 (every peptide has
    it), a variable modification its residue's (or, on top of a fixed
    one, the fixed token's) plus :data:`VARIABLE_MOD_LOG_PRIOR` per
    modification (a variable N-terminal one that alone); anything else
    the fit's rarest value. Without priors every token scores 0.
    """
    prior = rank.token_log_prior
    floor = min(prior.values()) if prior else 0.0
    fixed = vocabulary.fixed

    def unseen(tok):
        if not prior or tok.special or not tok.mods:
            return floor
        if tok.n_terminal:
            return (0.0 if fixed.get("N-term") == tok.name
                    else VARIABLE_MOD_LOG_PRIOR * len(tok.mods))
        base, n_variable = tok.residue, len(tok.mods)
        if tok.residue in fixed:
            n_variable -= 1
            if fixed[tok.residue] in prior:
                base = fixed[tok.residue]
        if merge_il((base,))[0] not in prior:
            return floor
        return (prior[merge_il((base,))[0]]
                + VARIABLE_MOD_LOG_PRIOR * n_variable)

    return rank.prior_weight * np.array(
        [prior[name] if (name := merge_il((t.name,))[0]) in prior
         else unseen(t) for t in vocabulary.tokens])


class EdgeTables:
    """Residue steps of one, two and three residues, sorted by mass.

    Compositions, not orders: a two-residue step with no cleavage seen
    between them cannot tell AB from BA, so one order (vocabulary order)
    stands for both. Each table holds mass, up to three token indices
    (-1 padded), the step's prior score and whether it starts with an
    N-terminal modification (allowed only from prefix mass 0). With a
    fixed N-terminal token (``vocabulary.fixed["N-term"]``) every first
    step starts with it, before up to three residues.
    """

    def __init__(self, vocabulary: Vocabulary, rank: RankSettings,
                 prior_scale: float = 1.0, per_residue: float = 0.0,
                 gap: float | None = None):
        fixed_nterm = vocabulary.fixed.get("N-term")
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
        # a step's score: its tokens' priors (scaled), ``per_residue``
        # per residue and ``gap`` per cleavage it steps over
        step_prior = prior_scale * tok_prior + per_residue * np.array(
            [not t.n_terminal for t in vocabulary.tokens])
        gap = rank.gap_penalty if gap is None else gap

        if fixed_nterm is not None:
            nterm = [vocabulary.index(fixed_nterm)]

        def table(sizes, with_nterm):
            rows = []
            for size in sizes:
                for combo in itertools.combinations_with_replacement(
                        residues, size):
                    if fixed_nterm is not None and with_nterm:
                        rows.extend(((n,), combo) for n in nterm)
                        continue
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
                score[k] = step_prior[list(toks)].sum() + gap * (len(c) - 1)
                is_nterm[k] = bool(n)
            return mass[order].copy(), tokens, score, is_nterm

        self.inner = table((1, 2), False)
        # for spectra where no path of 1-2 residue steps reaches the
        # precursor: steps of three residues inside the peptide too
        self.inner_wide = table((1, 2, 3), False)
        self.start = table((1, 2, 3), True)
        self.end = table((1, 2, 3), False)
        # the kernel's per-edge hash terms and skipped cleavages
        n_term = np.ascontiguousarray(vocabulary.n_terminal, np.bool_)
        self.hashes = {name: edge_hashes(getattr(self, name)[1], n_term)
                       for name in ("inner", "inner_wide", "start", "end")}


RANK_FEATURES = (tuple(f"sum_{n}" for n in FEATURE_NAMES)
                 + ("n_cleavages",) + SUMMARY_NAMES
                 + ("log_prior", "length", "n_term_mod") + CONTEXT_NAMES)


def ranking_weights(scorer: EvidenceScorer,
                    rank: RankSettings) -> np.ndarray:
    """Peptide ranking weights over :data:`RANK_FEATURES`: the fitted
    ``rank.ranker`` if there is one, else the plain peak-once sum
    (cleavage weights, bias per cleavage, priors at weight 1). A ranker
    fitted on fewer features (before the residue context existed)
    weighs the others 0."""
    theta = np.zeros(len(RANK_FEATURES))
    if rank.ranker:
        names = tuple(rank.ranker.get("features", RANK_FEATURES))
        weights = rank.ranker["weights"]
        unknown = sorted(set(names) - set(RANK_FEATURES))
        if unknown or len(names) != len(weights):
            raise ValueError("the ranking features differ from this "
                             f"denovo's ({', '.join(unknown[:3]) or 'count'}"
                             "); refit them")
        theta[[RANK_FEATURES.index(n) for n in names]] = weights
        return theta
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
        self._theta = theta = ranking_weights(scorer, rank)
        if config.rank_paths:
            # the ranker's decomposable terms: per cleavage its weights
            # on the summed features and the cleavage count; per residue
            # its prior weight and length term (``length`` is in tens)
            i_prior = RANK_FEATURES.index("log_prior")
            i_length = RANK_FEATURES.index("length")
            self._path_w = np.ascontiguousarray(theta[:N_FEATURES])
            self._path_bias = float(theta[N_FEATURES])
            self.tables = EdgeTables(vocabulary, rank,
                                     prior_scale=float(theta[i_prior]),
                                     per_residue=float(theta[i_length]) / 10,
                                     gap=0.0)
        else:
            self._path_w = scorer.weight_array
            self._path_bias = float(scorer.bias)
            self.tables = EdgeTables(vocabulary, rank)
        self._names = [t.name for t in vocabulary.tokens]
        self._index = {name: i for i, name in enumerate(self._names)}
        self._masses = np.ascontiguousarray(vocabulary.masses, np.float64)
        self._nterm = np.ascontiguousarray(vocabulary.n_terminal, np.bool_)
        self._classes = residue_classes(vocabulary)
        # a fixed N-terminal token starts every peptide: the ranking
        # features count it neither as a modification nor in the length
        fixed = vocabulary.fixed.get("N-term")
        self.fixed_nterm = -1 if fixed is None else vocabulary.index(fixed)
        # min_length counts the residues and optional tokens
        self._min_tokens = config.min_length + (fixed is not None)
        self._prior = self.tables.token_prior
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
        found = {}
        for k, (tokens, lengths, scores, n, _) in self._paths(
                peaks, precursor_mass, charge):
            self._collect(found, tokens[:n], lengths[:n], scores[:n],
                          np.full(n, k))
        return sorted(found.values(), key=lambda f: -f.score)

    def ranked(self, peaks, precursor_mass: float, charge: int,
               keep: int | None = None) -> tuple:
        """What the engine's evidence stage proposes: the search's
        peptides and, for the ``config.ordered`` best of them by rank
        score, the other orders of their composition steps (up to
        ``config.orders`` each, :func:`~denovo.core.paths.
        step_variants`), by rank score, the ``keep`` best (by default as
        many as the search returns: ``top_k`` per isotope error), as
        :class:`Found` with their rank scores and their encoding
        (:meth:`encode`). The variants are made and scored as arrays;
        only the kept become Python objects."""
        rows = [(k, out) for k, out in self._paths(peaks, precursor_mass,
                                                   charge) if out[3]]
        nothing = [], np.zeros(0), (np.zeros((0, 1), np.int64),
                                    np.zeros(0, np.int64))
        if not rows:
            return nothing
        # the kernel's rows are as wide as its worst case: cut to fit
        width = max(int(out[1][:out[3]].max()) for _, out in rows)
        tokens = np.full((sum(out[3] for _, out in rows), width), -1,
                         np.int64)
        steps = np.full_like(tokens, -1)
        at = 0
        for _, (tok, _, _, n, stp) in rows:
            w = min(width, tok.shape[1])
            tokens[at:at + n, :w] = tok[:n, :w]
            steps[at:at + n, :w] = stp[:n, :w]
            at += n
        lengths = np.concatenate([out[1][:out[3]] for _, out in rows])
        dp = np.concatenate([out[2][:out[3]] for _, out in rows])
        iso = np.concatenate([np.full(out[3], k) for k, out in rows])
        long = lengths >= self._min_tokens
        tokens, steps = tokens[long], steps[long]
        lengths, dp, iso = lengths[long], dp[long], iso[long]
        if not len(lengths):
            return nothing
        scores = self.rank_scores(peaks, None, charge,
                                  encoded=(tokens, lengths))
        parent = np.arange(len(lengths))
        if self.config.orders:
            # the other orders of the best peptides' composition steps
            best = np.argsort(-scores, kind="stable")[:self.config.ordered]
            v_tokens, v_lengths, v_parent = step_variants(
                tokens[best], lengths[best], steps[best], self._nterm,
                self.config.orders)
            extra = np.ones(len(v_parent), bool)
            extra[np.searchsorted(v_parent, np.arange(len(best)))] = False
            if extra.any():
                v_tokens, v_lengths = v_tokens[extra], v_lengths[extra]
                scores = np.concatenate([scores, self.rank_scores(
                    peaks, None, charge, encoded=(v_tokens, v_lengths))])
                tokens = np.concatenate([tokens, v_tokens])
                lengths = np.concatenate([lengths, v_lengths])
                parent = np.concatenate([parent, best[v_parent[extra]]])
        keep = keep or self.config.top_k * len(self._isotopes)
        name = self._names.__getitem__
        found, kept, seen = [], [], set()
        for r in np.argsort(-scores, kind="stable"):
            toks = tuple(map(name, tokens[r, :lengths[r]].tolist()))
            if toks in seen:
                continue
            seen.add(toks)
            p = parent[r]
            found.append(Found(toks, float(dp[p]), int(iso[p])))
            kept.append(r)
            if len(found) == keep:
                break
        return found, scores[kept], (tokens[kept], lengths[kept])

    def _paths(self, peaks, precursor_mass: float, charge: int) -> list:
        """The kernel's output per isotope error, ``(k, (tokens,
        lengths, scores, n_found, steps))``: steps of one and two
        residues, or of three too inside where those reach nothing."""
        cfg = self.config
        nodes = self._nodes(peaks, precursor_mass, charge)
        window = float(self.window.half_width(precursor_mass))
        # A path's exact residue sum must meet each node it visits within
        # the fragment tolerance. (Widening it by the precursor window, for
        # nodes read off y ions, let near-isobaric alternatives crowd the
        # k best: top-1 recall 0.230 vs 0.261 on the held-out train slice.)
        node_tol = self._tol_da(precursor_mass)
        start, end = self.tables.start, self.tables.end
        hashes = self.tables.hashes
        for name in ("inner", "inner_wide"):
            inner = getattr(self.tables, name)
            paths = [(k, search_kernel(
                pos, s_node, total, node_tol, window, inner[0], inner[1],
                inner[2], start[0], start[1], start[2], end[0], end[1],
                end[2], cfg.paths_per_node, cfg.top_k, s_skip,
                hashes[name], hashes["start"], hashes["end"]))
                for k, total, pos, s_node, s_skip in nodes]
            if any((out[1][:out[3]] >= self._min_tokens).any()
                   for _, out in paths):
                break  # the wide steps only where nothing was found
        return paths

    def _tol_da(self, precursor_mass: float) -> float:
        """The fragment tolerance in Da at this precursor mass."""
        ev = self.evidence
        return (ev.fragment_tol if not ev.ppm
                else ev.fragment_tol * 1e-6 * precursor_mass)

    def _nodes(self, peaks, precursor_mass: float, charge: int,
               node_score=None) -> list:
        """``(isotope error, residue mass, node masses, node scores,
        skip scores)`` for every allowed isotope error: the candidate
        prefixes (start at 0), their cleavage scores (the path weights'
        linear score, or ``node_score`` of their features) and, with
        ``rank_paths``, what a cleavage without peaks scores there (what
        a step pays per cleavage it skips; else zeros: the edges hold
        the gap penalty)."""
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
            def scores(m, w):
                if node_score is None:
                    return node_log_odds(
                        m, w, pos, total, int(charge),
                        float(ev.fragment_tol), ev.ppm,
                        int(ev.max_fragment_charge), self._path_w,
                        self._path_bias)
                feats = features_batch(
                    m, w, pos[1:], total, int(charge),
                    float(ev.fragment_tol), ev.ppm,
                    int(ev.max_fragment_charge))
                return np.concatenate(([0.0], node_score(feats)))

            s_node = scores(mz, weight)
            if not self.config.rank_paths:
                s_skip = np.zeros_like(s_node)
            elif node_score is None:
                s_skip = self._empty_scores(pos, total)
            else:
                s_skip = scores(mz[:0], weight[:0])
            out.append((k, total, pos, s_node, s_skip))
        return out

    def _empty_scores(self, pos, total: float) -> np.ndarray:
        """The path weights' score of a cleavage without peaks at each
        node (``pos[0]``, the start, 0): only the position features are
        non-zero, as :func:`~denovo.core.evidence.prefix_features` sets
        them."""
        w, names = self._path_w, FEATURE_NAMES
        x = pos / total
        out = (self._path_bias
               + w[names.index("near_n_term")] * (pos < TERMINAL_MASS)
               + w[names.index("near_c_term")] * (total - pos < TERMINAL_MASS)
               + w[names.index("position")] * x
               + w[names.index("position_sq")] * x * x)
        out[0] = 0.0
        return out

    def _collect(self, found: dict, tokens, lengths, scores, iso) -> None:
        """Kernel rows -> ``found`` (token names -> :class:`Found`), the
        best score of each peptide, too short ones left out."""
        name = self._names.__getitem__
        for f in np.flatnonzero(lengths >= self._min_tokens):
            toks = tuple(map(name, tokens[f, :lengths[f]].tolist()))
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
        for k, total, pos, s_node, s_skip in self._nodes(
                peaks, precursor_mass, charge, node_score):
            tokens, lengths, scores, n, _ = search_kernel(
                pos, s_node, total, tol_da, window, inner[0], inner[1],
                inner[2], start[0], start[1], start[2], end[0], end[1],
                end[2], cfg.paths_per_node, cfg.top_k, s_skip,
                *(self.tables.hashes[t] for t in ("inner", "start", "end")))
            self._collect(found, tokens[:n], lengths[:n], scores[:n],
                          np.full(n, k))
        return sorted(found.values(), key=lambda f: -f.score)

    def encode(self, peptides) -> tuple[np.ndarray, np.ndarray]:
        """Token-name tuples -> ``(indices [n, L] padded -1, lengths)``."""
        width = max((len(p) for p in peptides), default=1)
        tokens = np.full((len(peptides), max(width, 1)), -1, np.int64)
        lengths = np.zeros(len(peptides), np.int64)
        index = self._index
        for i, pep in enumerate(peptides):
            try:
                tokens[i, :len(pep)] = [index[t] for t in pep]
            except KeyError:  # the vocabulary's own error names the token
                tokens[i, :len(pep)] = [self.vocabulary.index(t)
                                        for t in pep]
            lengths[i] = len(pep)
        return tokens, lengths

    def rank_features(self, peaks, peptides, charge: int,
                      encoded=None) -> np.ndarray:
        """Whole-peptide ranking features ``[n, len(RANK_FEATURES)]``:
        peak-once cleavage features summed, cleavage count, the summary
        statistics of :func:`peak_once_batch`, residue log-prior (scaled
        by the scorer's prior weight), length and N-terminal
        modification, and the residue context of the evidence
        (:data:`~denovo.core.peak_once.CONTEXT_NAMES`). ``encoded``:
        :meth:`encode` of ``peptides``, when the caller has it."""
        ev = self.evidence
        tokens, lengths = encoded or self.encode(peptides)
        sums, n_sites, summary, context = peak_once_batch(
            peaks[0], peaks[1], tokens, lengths, self._masses, self._nterm,
            self._classes, int(charge), float(ev.fragment_tol), ev.ppm,
            int(ev.max_fragment_charge))
        valid = tokens >= 0
        prior = np.where(valid, self._prior[tokens], 0.0).sum(axis=1)
        nterm = (valid & self._nterm[np.maximum(tokens, 0)]).any(axis=1)
        if self.fixed_nterm >= 0:
            fixed = tokens[:, 0] == self.fixed_nterm
            nterm = nterm & ~fixed
            lengths = lengths - fixed
        return np.column_stack([sums, n_sites, summary, prior,
                                lengths / 10.0, nterm, context])

    def site_features(self, peaks, tokens, lengths, charge: int) -> tuple:
        """Every cleavage of encoded peptides, for the evidence verifier:
        :func:`~denovo.core.peak_once.peak_once_sites`."""
        ev = self.evidence
        return peak_once_sites(
            peaks[0], peaks[1], np.ascontiguousarray(tokens, np.int64),
            np.ascontiguousarray(lengths, np.int64), self._masses,
            self._nterm, self._classes, int(charge), float(ev.fragment_tol),
            ev.ppm, int(ev.max_fragment_charge))

    def rank_scores(self, peaks, peptides, charge: int,
                    encoded=None) -> np.ndarray:
        """Rank score of each peptide: the scorer's ranking weights over
        :meth:`rank_features`; by default the peak-once sum of cleavage
        log-odds plus the residue priors."""
        if encoded is None and not peptides:
            return np.zeros(0)
        return self.rank_features(peaks, peptides, charge,
                                  encoded) @ self._theta

    def reorderings(self, peaks, peptides, charge: int) -> list:
        """Every other order of each run of 2-3 residues of ``peptides``
        with no main b or y ion at the cleavages inside it (one run
        changed at a time), as ``(tokens, index of the peptide it came
        from)``: the orders the search's composition steps cannot tell
        apart, for the rank score to decide. A run of more residues is
        left as it is."""
        seen = set(peptides)
        out = []
        for k, peptide in enumerate(peptides):
            for variant in self._reordered(peaks, peptide, charge):
                if variant not in seen:
                    seen.add(variant)
                    out.append((variant, k))
        return out

    def _reordered(self, peaks, peptide, charge: int):
        ev = self.evidence
        idx = [self._index[t] for t in peptide]
        feats = peak_once_features(
            peaks[0], peaks[1], cleavage_prefixes(idx, self.vocabulary),
            float(self._masses[idx].sum()), int(charge),
            float(ev.fragment_tol), ev.ppm, int(ev.max_fragment_charge))
        seen = (feats[:, _MAIN_HITS] > 0).any(axis=1)
        first = 1 if self._nterm[idx[0]] else 0  # N-terminal token stays
        start = first
        for cut in range(first, len(peptide)):
            # residue ``cut`` ends a run if the cleavage after it is seen
            last = cut == len(peptide) - 1 or seen[cut - first]
            if not last:
                continue
            if 2 <= cut + 1 - start <= 3:
                run = peptide[start:cut + 1]
                for order in sorted(set(itertools.permutations(run))):
                    if order != run:
                        yield peptide[:start] + order + peptide[cut + 1:]
            start = cut + 1

    def site_scores(self, peaks, peptide, charge: int) -> np.ndarray:
        """Peak-once log-odds of each cleavage of one peptide."""
        ev = self.evidence
        idx = [self.vocabulary.index(t) for t in peptide]
        feats = peak_once_features(
            peaks[0], peaks[1], cleavage_prefixes(peptide, self.vocabulary),
            float(self._masses[idx].sum()), int(charge),
            float(ev.fragment_tol), ev.ppm, int(ev.max_fragment_charge))
        return self.scorer.score(feats)
