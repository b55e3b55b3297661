"""Beam search with precise precursor-mass control, in Numba.

The model gives per-slot log-probabilities ``[L, V]``; decoding turns them
into peptides whose mass fits the precursor. A beam is (tokens, prefix
mass, log-prob sum). At each slot every beam is extended by every allowed
token, or finished with END — which is allowed only when the prefix mass
fits a precursor window ``M - k * C13_SPACING +- tol`` (``M`` the neutral
precursor mass minus water, ``k`` an allowed isotope error, ``tol`` in ppm
of the precursor mass). Prefixes that can no longer fit are pruned early:
those heavier than the largest window, and those whose remaining mass
cannot be filled by any residue combination, looked up in a knapsack table
of reachable masses (:func:`feasibility_table`).

Conventions
-----------
* I and L have the same mass, so they must not occupy two beams: their
  probabilities are merged (log-sum-exp) into one hypothesis reported as
  ``L``. Evaluation treats I = L, so nothing is lost.
* Score of a peptide = mean log-probability over its tokens (N-terminal
  modification, residues) and END, so long and short peptides compare
  fairly. Per-residue scores are the probabilities of the chosen tokens
  at their slots (I + L merged).
* When no candidate fits the precursor, the best peptides of the same
  beam search without mass constraint are returned (same score
  convention) with ``mass_match=False``: reported, flagged, never dropped.
* N-terminal tokens are allowed only at slot 0 and must be followed by a
  residue; PAD is never emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from .constants import C13_SPACING, H2O
from .evidence import N_FEATURES, _features_into, linear_score
from .vocab import DEFAULT_VOCABULARY, END, PAD, Vocabulary
from .window import PrecursorWindow

__all__ = [
    "DecodeConfig",
    "BeamGuide",
    "Candidate",
    "Decoder",
    "feasibility_table",
    "guided_beam_search_batch",
]

# Token kinds passed to the kernels.
_SKIP, _RESIDUE, _NTERM = 0, 1, 2
# Slack on float comparisons (Da), far below any tolerance in use.
_EPS = 1e-9


@njit(cache=True, nogil=True)
def feasibility_table(residue_masses, max_mass, resolution):
    """Knapsack table of residue-mass sums reachable with repetition.

    Bin ``b`` covers ``[b * resolution, (b + 1) * resolution)``; ``lo[b]``
    and ``hi[b]`` enclose every reachable exact sum in that bin (``lo >
    hi`` when none is). The envelopes are a conservative superset: a
    reachable mass is never reported unreachable, whatever the rounding,
    so pruning with it cannot drop a peptide that fits.

    Parameters
    ----------
    residue_masses : float64[n]
        Masses that may be added (all larger than ``resolution``).
    max_mass : float
        Largest mass to cover (Da).
    resolution : float
        Bin width (Da).

    Returns
    -------
    lo, hi : float64[n_bins]
    """
    n = int(max_mass / resolution) + 2
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    lo[0] = 0.0
    hi[0] = 0.0
    for b in range(n):
        if lo[b] > hi[b]:
            continue
        for m in residue_masses:
            a = lo[b] + m
            z = hi[b] + m
            first = int(a / resolution)
            if first >= n:
                continue
            last = min(int(z / resolution), n - 1)
            for t in range(first, last + 1):
                x = max(a, t * resolution)
                y = min(z, (t + 1) * resolution)
                if x < lo[t]:
                    lo[t] = x
                if y > hi[t]:
                    hi[t] = y
    return lo, hi


@njit(cache=True, nogil=True)
def _fillable(remaining, tol, lo, hi, resolution):
    """Can some residue combination weigh ``remaining +- tol``?"""
    a = remaining - tol
    z = remaining + tol
    if z < -_EPS:
        return False
    first = max(int(max(a, 0.0) / resolution), 0)
    last = int(max(z, 0.0) / resolution)
    if last >= lo.size:
        return True  # beyond the table: never prune
    for t in range(first, last + 1):
        if lo[t] <= z + _EPS and hi[t] >= a - _EPS:
            return True
    return False


@njit(cache=True, nogil=True)
def _fits(mass, centers, tol):
    for c in centers:
        if abs(mass - c) <= tol + _EPS:
            return True
    return False


@njit(cache=True, nogil=True)
def _top_desc(score, n, k, order):
    """Indices of the ``min(k, n)`` highest ``score[:n]`` into ``order``,
    best first, ties by index, NaN last: the head of
    ``np.argsort(-score[:n], kind='mergesort')`` without sorting all."""
    m = 0
    for c in range(n):
        s = score[c]
        if m == k:
            last = score[order[k - 1]]
            # enters only if strictly before the current last
            if not (s > last or (np.isnan(last) and not np.isnan(s))):
                continue
            pos = k - 1
        else:
            pos = m
            m += 1
        while pos > 0:
            prev = score[order[pos - 1]]
            if s > prev or (np.isnan(prev) and not np.isnan(s)):
                order[pos] = order[pos - 1]
                pos -= 1
            else:
                break
        order[pos] = c
    return m


@njit(cache=True, nogil=True)
def _search_inplace(lp, masses, kind, merge_from, merge_into, centers,
                    tol, lo, hi, resolution, max_residue, beam,
                    constrained, out_tokens, out_len, out_score, out_aa,
                    g_mz, g_weight, g_charge, g_w, g_bias, g_tol, g_ppm,
                    g_max_z, g_lambda):
    """Beam search for one spectrum; writes the top-k into ``out_*``.

    With ``g_lambda > 0`` the spectrum guides the beam: every extension
    also earns ``g_lambda`` times the cleavage log-odds of its new prefix
    mass (:mod:`denovo.core.evidence`, peaks ``g_mz``/``g_weight``,
    linear weights ``g_w``/``g_bias``), and finished peptides are ranked
    by mean model log-prob plus ``g_lambda`` times mean evidence.
    Returns the number of candidates found (sorted best first).
    """
    n_slots, n_vocab = lp.shape
    k_max = out_score.size
    tokens = np.zeros((beam, n_slots), np.int32)
    token_lp = np.zeros((beam, n_slots), np.float32)
    mass = np.zeros(beam)
    total = np.zeros(beam)
    new_tokens = np.zeros((beam, n_slots), np.int32)
    new_lp = np.zeros((beam, n_slots), np.float32)
    new_mass = np.zeros(beam)
    new_total = np.zeros(beam)
    cand_score = np.empty(beam * n_vocab)
    cand_model = np.empty(beam * n_vocab)
    cand_ev = np.empty(beam * n_vocab)
    evid = np.zeros(beam)
    new_evid = np.zeros(beam)
    feats = np.zeros(N_FEATURES)
    no_owner = np.zeros(0, np.int64)
    guided = g_lambda > 0.0 and constrained
    cand_parent = np.empty(beam * n_vocab, np.int64)
    cand_token = np.empty(beam * n_vocab, np.int64)
    step_lp = np.empty(n_vocab)
    order = np.empty(beam, np.int64)
    upper = -np.inf
    for c in centers:
        upper = max(upper, c + tol)
    n_found = 0
    n_active = 1  # the empty prefix
    for t in range(n_slots):
        # Finish beams with END (at least one residue needed).
        if t >= 1:
            end_lp = lp[t, END]
            for b in range(n_active):
                if t == 1 and kind[tokens[b, 0]] == _NTERM:
                    continue
                if constrained and not _fits(mass[b], centers, tol):
                    continue
                score = (total[b] + end_lp + g_lambda * evid[b]) / (t + 1)
                if n_found == k_max and score <= out_score[k_max - 1]:
                    continue
                pos = min(n_found, k_max - 1)
                while pos > 0 and out_score[pos - 1] < score:
                    out_score[pos] = out_score[pos - 1]
                    out_len[pos] = out_len[pos - 1]
                    for i in range(n_slots):
                        out_tokens[pos, i] = out_tokens[pos - 1, i]
                        out_aa[pos, i] = out_aa[pos - 1, i]
                    pos -= 1
                out_score[pos] = score
                out_len[pos] = t
                for i in range(n_slots):
                    out_tokens[pos, i] = PAD
                    out_aa[pos, i] = 0.0
                for i in range(t):
                    out_tokens[pos, i] = tokens[b, i]
                    out_aa[pos, i] = np.exp(token_lp[b, i])
                n_found = min(n_found + 1, k_max)
        if t == n_slots - 1:
            break  # no room for END after another token
        # Per-token log-probs of this slot, I merged into L.
        for v in range(n_vocab):
            step_lp[v] = lp[t, v]
        if merge_from >= 0 and merge_into >= 0:
            step_lp[merge_into] = np.logaddexp(lp[t, merge_into],
                                               lp[t, merge_from])
        slots_left = n_slots - 2 - t  # residues addable after this one
        n_cand = np.int64(0)  # not a literal: one signature of _top_desc
        for b in range(n_active):
            for v in range(n_vocab):
                kv = kind[v]
                if kv == _SKIP or v == merge_from:
                    continue
                if kv == _NTERM and t != 0:
                    continue
                x = step_lp[v]
                if x == -np.inf or np.isnan(x):
                    continue
                m = mass[b] + masses[v]
                if constrained:
                    if m > upper + _EPS:
                        continue
                    ok = False
                    for c in centers:
                        r = c - m
                        if r - tol > slots_left * max_residue + _EPS:
                            continue
                        if _fillable(r, tol, lo, hi, resolution):
                            ok = True
                            break
                    if not ok:
                        continue
                s = 0.0
                if guided and kv == _RESIDUE:
                    _features_into(g_mz, g_weight, m, centers[0], g_charge,
                                   g_tol, g_ppm, g_max_z, no_owner,
                                   np.int64(-1), feats)
                    s = linear_score(feats, g_w, g_bias)
                cand_model[n_cand] = total[b] + x
                cand_ev[n_cand] = evid[b] + s
                cand_score[n_cand] = total[b] + x + g_lambda * (evid[b] + s)
                cand_parent[n_cand] = b
                cand_token[n_cand] = v
                n_cand += 1
        if n_cand == 0:
            break
        n_keep = _top_desc(cand_score, n_cand, beam, order)
        for j in range(n_keep):
            c = order[j]
            p = cand_parent[c]
            v = cand_token[c]
            for i in range(t):
                new_tokens[j, i] = tokens[p, i]
                new_lp[j, i] = token_lp[p, i]
            new_tokens[j, t] = v
            new_lp[j, t] = step_lp[v]
            new_mass[j] = mass[p] + masses[v]
            new_total[j] = cand_model[c]
            new_evid[j] = cand_ev[c]
        tokens, new_tokens = new_tokens, tokens
        token_lp, new_lp = new_lp, token_lp
        mass, new_mass = new_mass, mass
        total, new_total = new_total, total
        evid, new_evid = new_evid, evid
        n_active = n_keep
    return n_found


@njit(cache=True, nogil=True)
def guided_beam_search_batch(log_probs, precursor_mass, masses, kind,
                             merge_from, merge_into, isotope_errors, tol_ppm,
                             lo, hi, resolution, beam, top_k, tol_da,
                             g_mz, g_weight, g_n, g_charge, g_w, g_bias,
                             g_tol, g_ppm, g_max_z, g_lambda, fallback):
    """Decode a batch with mass control; optionally fall back to
    unconstrained.

    Parameters
    ----------
    log_probs : float32[B, L, V]
    precursor_mass : float64[B]
        Neutral precursor masses (Da); a non-positive or NaN mass means
        "unknown" and gives unconstrained candidates only.
    masses : float64[V]
        Token masses (0 for special tokens).
    kind : int8[V]
        0 never emitted, 1 residue, 2 N-terminal modification.
    merge_from, merge_into : int
        Token merged into another (I into L), or -1.
    isotope_errors : int64[K]
    tol_ppm : float
    lo, hi : float64[n_bins]
        :func:`feasibility_table` of the residue masses.
    resolution : float
    beam, top_k : int
    tol_da : float
        Added to the ppm tolerance (Da); 0 for a pure ppm window.
    g_mz, g_weight : float64[B, P], g_n : int64[B], g_charge : int64[B]
        Evidence peaks per spectrum (``prepare_peaks``, padded, ``g_n``
        used) and precursor charges, for the guide; ``g_w``, ``g_bias``,
        ``g_tol``, ``g_ppm``, ``g_max_z``: the linear cleavage scorer and
        its fragment settings; ``g_lambda``: the guide's weight (0: off).
    fallback : bool
        Where nothing fits, return the unconstrained beam's peptides
        (flag 0); False leaves such rows empty (their callers would throw
        the candidates away).

    Returns
    -------
    tokens : int32[B, top_k, L]   (PAD after the peptide)
    lengths : int32[B, top_k]     (0 for an empty slot)
    scores : float64[B, top_k]    (mean token log-prob; -inf if empty)
    aa_scores : float32[B, top_k, L]
    flags : int8[B, top_k]        (1 fits, 0 no mass match, -1 empty)
    """
    n_batch, n_slots, n_vocab = log_probs.shape
    tokens = np.full((n_batch, top_k, n_slots), PAD, np.int32)
    lengths = np.zeros((n_batch, top_k), np.int32)
    scores = np.full((n_batch, top_k), -np.inf)
    aa = np.zeros((n_batch, top_k, n_slots), np.float32)
    flags = np.full((n_batch, top_k), -1, np.int8)
    max_residue = 0.0
    for v in range(n_vocab):
        if kind[v] == _RESIDUE:
            max_residue = max(max_residue, masses[v])
    centers = np.empty(isotope_errors.size)
    # typed, not literal, arguments: one signature of _search_inplace
    yes, no, zero = np.bool_(True), np.bool_(False), np.int64(0)
    for i in range(n_batch):
        pm = precursor_mass[i]
        found = 0
        if pm > 0.0:
            for j in range(isotope_errors.size):
                centers[j] = pm - H2O - isotope_errors[j] * C13_SPACING
            tol = pm * tol_ppm * 1e-6 + tol_da
            n = g_n[i]
            found = _search_inplace(
                log_probs[i], masses, kind, merge_from, merge_into,
                centers, tol, lo, hi, resolution, max_residue, beam, yes,
                tokens[i], lengths[i], scores[i], aa[i], g_mz[i, :n],
                g_weight[i, :n], g_charge[i], g_w, g_bias, g_tol, g_ppm,
                g_max_z, g_lambda)
            flags[i, :found] = 1
        if found == 0 and fallback:
            found = _search_inplace(
                log_probs[i], masses, kind, merge_from, merge_into,
                centers, 0.0, lo, hi, resolution, max_residue, beam, no,
                tokens[i], lengths[i], scores[i], aa[i], g_mz[i, :0],
                g_weight[i, :0], zero, g_w, 0.0, g_tol, g_ppm, g_max_z, 0.0)
            flags[i, :found] = 0
    return tokens, lengths, scores, aa, flags


@dataclass(frozen=True)
class DecodeConfig:
    """Beam-search settings (defaults as in ``denovo sequence``); the
    precursor window is a :class:`~denovo.core.window.PrecursorWindow`
    of its own, shared with the evidence search."""

    beam: int = 5  # beams kept per slot
    top_k: int = 1  # candidates returned per spectrum
    resolution: float = 0.01  # knapsack bin width (Da)
    merge_il: bool = True  # I and L as one hypothesis, reported as L
    # False: plain beam search without the precursor constraint (for
    # ablations); candidates that happen to fit are still flagged so.
    mass_control: bool = True

    def __post_init__(self):
        if self.beam < 1 or self.top_k < 1:
            raise ValueError("beam and top_k must be >= 1")
        if not 0 < self.resolution < 1:
            raise ValueError("resolution must be in (0, 1) Da")


class BeamGuide(NamedTuple):
    """The spectrum's fragment evidence inside the model's beam.

    Every extension of a beam earns ``strength`` times the cleavage
    log-odds of its new prefix mass (:mod:`denovo.core.evidence`) under
    the linear scorer ``w``/``bias``, read off the batch's evidence peaks
    (``mz``/``weight`` ``[B, P]``, ``n`` used per row) at the precursor
    ``charge`` of each row.
    """

    mz: np.ndarray
    weight: np.ndarray
    n: np.ndarray
    charge: np.ndarray
    w: np.ndarray
    bias: float
    tol: float
    ppm: bool
    max_z: int
    strength: float

    @classmethod
    def from_peaks(cls, peaks_list, charges, scorer,
                   strength: float) -> "BeamGuide | None":
        """The guide of a batch (``peaks_list``: one ``(mz, weight)`` per
        row, :func:`denovo.core.evidence.prepare_peaks`), None when off."""
        if strength <= 0:
            return None
        width = max((p[0].size for p in peaks_list), default=1) or 1
        mz = np.zeros((len(peaks_list), width))
        weight = np.zeros((len(peaks_list), width))
        n = np.zeros(len(peaks_list), np.int64)
        for k, (row_mz, row_weight) in enumerate(peaks_list):
            mz[k, :row_mz.size] = row_mz
            weight[k, :row_mz.size] = row_weight
            n[k] = row_mz.size
        ev = scorer.config
        return cls(mz, weight, n, np.asarray(charges, np.int64),
                   scorer.weight_array, float(scorer.bias),
                   float(ev.fragment_tol), ev.ppm,
                   int(ev.max_fragment_charge), float(strength))

    @classmethod
    def off(cls, batch: int) -> "BeamGuide":
        """No guidance (strength 0) for a batch of ``batch`` rows."""
        return cls(np.zeros((batch, 1)), np.zeros((batch, 1)),
                   np.zeros(batch, np.int64), np.zeros(batch, np.int64),
                   np.zeros(N_FEATURES), 0.0, 0.02, False, 2, 0.0)

    def rows(self, first: int, last: int) -> tuple:
        """The kernel's guide arguments for rows ``first:last``."""
        return (self.mz[first:last], self.weight[first:last],
                self.n[first:last], self.charge[first:last], self.w,
                self.bias, self.tol, self.ppm, self.max_z, self.strength)


@dataclass(frozen=True)
class Candidate:
    """One decoded peptide.

    ``score`` is the mean log-probability over tokens and END;
    ``aa_scores`` the per-token probabilities; ``mass_match`` is False
    for the unconstrained fallback.
    """

    tokens: tuple
    score: float
    aa_scores: tuple
    mass_match: bool


class Decoder:
    """Mass-controlled beam search for one vocabulary.

    Holds the kernel inputs derived from the vocabulary and the knapsack
    table, which grows on demand with the largest precursor seen.

    Parameters
    ----------
    vocabulary
        Output vocabulary of the model (index order = logit order).
    config
        Beam-search settings.
    window
        The precursor window peptides must fit.
    """

    def __init__(self, vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                 config: DecodeConfig = DecodeConfig(),
                 window: PrecursorWindow | None = None):
        self.vocabulary = vocabulary
        self.config = config
        self.window = window = window or PrecursorWindow()
        self.masses = np.ascontiguousarray(vocabulary.masses, np.float64)
        kind = np.full(len(vocabulary), _RESIDUE, np.int8)
        for i, tok in enumerate(vocabulary.tokens):
            if tok.special:
                kind[i] = _SKIP
            elif tok.n_terminal:
                kind[i] = _NTERM
        kind[PAD] = kind[END] = _SKIP
        self.kind = kind
        residues = self.masses[kind == _RESIDUE]
        if residues.size == 0 or residues.min() <= config.resolution:
            raise ValueError("vocabulary needs residues heavier than the "
                             "knapsack resolution")
        self._residues = np.unique(residues)
        self.merge_from = self.merge_into = -1
        if config.merge_il and "I" in vocabulary and "L" in vocabulary:
            self.merge_from = vocabulary.index("I")
            self.merge_into = vocabulary.index("L")
        self.isotope_errors = np.asarray(window.isotope_errors, np.int64)
        self._lo = self._hi = np.zeros(0)
        self._table_mass = 0.0

    def table(self, max_mass: float) -> tuple[np.ndarray, np.ndarray]:
        """Knapsack table covering at least ``max_mass`` Da (cached)."""
        if max_mass > self._table_mass:
            covered = max(2000.0, 1.5 * max_mass)
            self._lo, self._hi = feasibility_table(
                self._residues, covered, self.config.resolution)
            self._table_mass = covered
        return self._lo, self._hi

    def decode_arrays(self, log_probs: np.ndarray,
                      precursor_mass: np.ndarray,
                      guide: BeamGuide | None = None, pool=None,
                      fallback: bool = True) -> tuple:
        """Run :func:`guided_beam_search_batch`; see it for the returned
        arrays.

        Parameters
        ----------
        log_probs : float32[B, L, V]
        precursor_mass : float64[B], neutral (NaN or <= 0 if unknown).
        guide
            The spectrum's fragment evidence added at every extension, or
            None.
        pool
            A ``concurrent.futures`` executor: the rows are split among
            its threads (the kernel releases the GIL); same result.
        fallback
            Rows where no peptide fits get the unconstrained beam's
            peptides (flagged); False leaves them empty.
        """
        lp = np.ascontiguousarray(log_probs, np.float32)
        pm = np.ascontiguousarray(precursor_mass, np.float64).reshape(-1)
        if lp.ndim != 3 or lp.shape[2] != len(self.vocabulary):
            raise ValueError(f"log_probs must be [B, L, "
                             f"{len(self.vocabulary)}], got {lp.shape}")
        if pm.shape[0] != lp.shape[0]:
            raise ValueError("one precursor mass per spectrum expected")
        if lp.shape[1] < 2:
            raise ValueError("need at least 2 slots (a residue and END)")
        known = pm[np.isfinite(pm)]
        lo, hi = self.table(float(known.max()) if known.size else 0.0)
        cfg = self.config
        b = lp.shape[0]
        guide = guide if guide is not None else BeamGuide.off(b)
        target = pm if cfg.mass_control else np.full_like(pm, np.nan)
        tol_ppm, tol_da = self.window.kernel_tolerances

        def rows(first, last):
            return guided_beam_search_batch(
                lp[first:last], target[first:last], self.masses, self.kind,
                self.merge_from, self.merge_into, self.isotope_errors,
                tol_ppm, lo, hi, float(cfg.resolution), int(cfg.beam),
                int(cfg.top_k), tol_da, *guide.rows(first, last),
                bool(fallback))

        n_parts = min(getattr(pool, "_max_workers", 1), b) if pool else 1
        if n_parts <= 1:
            out = rows(0, b)
        else:
            cuts = np.linspace(0, b, n_parts + 1).astype(int)
            parts = list(pool.map(rows, cuts[:-1], cuts[1:]))
            out = tuple(np.concatenate([p[k] for p in parts])
                        for k in range(5))
        if not cfg.mass_control:
            out[4][:] = np.where(out[4] < 0, -1, self._fits(out, pm))
        return out

    def _fits(self, arrays: tuple, precursor_mass: np.ndarray) -> np.ndarray:
        """1 where a candidate's mass fits the precursor window, else 0."""
        tokens, lengths = arrays[0], arrays[1]
        mass = self.masses[tokens].sum(axis=2) + H2O  # PAD weighs 0
        fit = self.window.fits(mass, precursor_mass[:, None])
        return (fit & (lengths > 0)).astype(np.int8)

    def candidates(self, arrays: tuple) -> list[list[Candidate]]:
        """Turn :meth:`decode_arrays` output into candidate lists."""
        tokens, lengths, scores, aa, flags = arrays
        names = [t.name for t in self.vocabulary.tokens]
        out = []
        for i in range(tokens.shape[0]):
            row = []
            for k in range(tokens.shape[1]):
                if flags[i, k] < 0:
                    continue
                n = int(lengths[i, k])
                row.append(Candidate(
                    tokens=tuple(names[j] for j in tokens[i, k, :n]),
                    score=float(scores[i, k]),
                    aa_scores=tuple(float(x) for x in aa[i, k, :n]),
                    mass_match=bool(flags[i, k] == 1)))
            out.append(row)
        return out

    def decode(self, log_probs: np.ndarray,
               precursor_mass: float) -> list[Candidate]:
        """Candidates for one spectrum, best first."""
        lp = np.asarray(log_probs)[None]
        return self.candidates(
            self.decode_arrays(lp, np.array([precursor_mass])))[0]

    def decode_batch(self, log_probs: np.ndarray,
                     precursor_mass: np.ndarray) -> list[list[Candidate]]:
        """Candidates for each spectrum of a batch, best first."""
        return self.candidates(self.decode_arrays(log_probs,
                                                  precursor_mass))
