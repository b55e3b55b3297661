"""The mass-controlled beam search kernels (Numba); see
:mod:`denovo.core.decode` for the conventions and the Python interface.

A beam is (tokens, prefix mass, log-prob sum). At each slot every beam is
extended by every allowed token, or finished with END — which is allowed
only when the prefix mass fits a precursor window ``M - k * C13_SPACING
+- tol``. Prefixes that can no longer fit are pruned early: those heavier
than the largest window, and those whose remaining mass cannot be filled
by any residue combination, looked up in a knapsack table of reachable
masses (:func:`feasibility_table`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .constants import C13_SPACING, H2O
from .evidence import N_FEATURES, _features_into, linear_score
from .vocab import END, PAD

__all__ = ["feasibility_table", "guided_beam_search_batch",
           "beam_search_row", "SKIP",
           "RESIDUE", "NTERM"]

# Token kinds passed to the kernels.
SKIP, RESIDUE, NTERM = 0, 1, 2
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
def beam_search_row(lp, masses, kind, merge_from, merge_into, centers,
                    tol, lo, hi, resolution, max_residue, beam,
                    constrained, out_tokens, out_len, out_score, out_aa,
                    g_mz, g_weight, g_charge, g_w, g_bias, g_tol, g_ppm,
                    g_max_z, g_lambda, start_mass):
    """Beam search for one spectrum; writes the top-k into ``out_*``.

    Every beam starts at prefix mass ``start_mass`` (the delta of a fixed
    N-terminal modification that is not among the tokens, else 0).

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
    mass[0] = start_mass
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
                if t == 1 and kind[tokens[b, 0]] == NTERM:
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
                if kv == SKIP or v == merge_from:
                    continue
                if kv == NTERM and t != 0:
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
                if guided and kv == RESIDUE:
                    # y ions at the isotope-0 residue mass: placing them at
                    # the search's isotope error, or scoring every window,
                    # found no more peptides on the unseen train-side
                    # spectra in a one-off trial and cost decode time
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


def guided_beam_search_batch(log_probs, precursor_mass, masses, kind,
                             merge_from, merge_into, isotope_errors, tol_ppm,
                             lo, hi, resolution, beam, top_k, tol_da,
                             g_mz, g_weight, g_n, g_charge, g_w, g_bias,
                             g_tol, g_ppm, g_max_z, g_lambda, fallback,
                             start_mass=0.0):
    """Decode a batch with mass control; optionally fall back to
    unconstrained. A Python loop over the rows calling
    :func:`beam_search_row` (a Numba wrapper around it would compile and
    optimise the row kernel's code a second time on the first run).

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
    start_mass : float
        Prefix mass every beam starts at: a fixed N-terminal
        modification's delta (its token is not among the columns).

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
        if kind[v] == RESIDUE:
            max_residue = max(max_residue, float(masses[v]))
    # typed, not literal, arguments: one signature of beam_search_row
    yes, no = np.bool_(True), np.bool_(False)
    g_charge = np.asarray(g_charge, np.int64)
    beam, merge_from, merge_into = int(beam), int(merge_from), int(merge_into)
    tol_ppm, tol_da = float(tol_ppm), float(tol_da)
    g_w_args = (g_w, float(g_bias), float(g_tol), bool(g_ppm), int(g_max_z))
    g_lambda = float(g_lambda)
    start_mass = float(start_mass)
    for i in range(n_batch):
        pm = float(precursor_mass[i])
        centers = np.empty(isotope_errors.size)
        found = 0
        if pm > 0.0:
            for j in range(isotope_errors.size):
                centers[j] = pm - H2O - isotope_errors[j] * C13_SPACING
            tol = pm * tol_ppm * 1e-6 + tol_da
            n = g_n[i]
            found = beam_search_row(
                log_probs[i], masses, kind, merge_from, merge_into,
                centers, tol, lo, hi, resolution, max_residue, beam, yes,
                tokens[i], lengths[i], scores[i], aa[i], g_mz[i, :n],
                g_weight[i, :n], g_charge[i], *g_w_args, g_lambda,
                start_mass)
            flags[i, :found] = 1
        if found == 0 and fallback:
            found = beam_search_row(
                log_probs[i], masses, kind, merge_from, merge_into,
                centers, 0.0, lo, hi, resolution, max_residue, beam, no,
                tokens[i], lengths[i], scores[i], aa[i], g_mz[i, :0],
                g_weight[i, :0], g_charge[i] * 0, g_w, 0.0, *g_w_args[2:],
                0.0, start_mass)
            flags[i, :found] = 0
    return tokens, lengths, scores, aa, flags
