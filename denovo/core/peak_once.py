"""Peptides re-scored with every observed peak counted once (Numba).

The search's path score lets two cleavages of one path claim the same
peak; these kernels hand every peak to one cleavage of a peptide (main
b/y ions first) and sum the cleavage features, which the engine ranks by
(:meth:`denovo.core.search.EvidenceSearch.rank_scores`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .evidence import (ION_CHARGE, N_FEATURES, N_IONS, _best_peak,
                       _features_into, ion_mz)

__all__ = ["peak_once_features", "peak_once_batch", "SUMMARY_NAMES",
           "N_SUMMARY"]


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
