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
           "N_SUMMARY", "RESIDUE_CLASSES", "CONTEXT_NAMES", "N_CONTEXT",
           "peak_once_sites",
           "residue_classes"]


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

# Residue context of the evidence. Whether a cleavage shows its b or y
# ion depends on the residues either side of it (a bond N-terminal to P
# breaks easily, one C-terminal to P seldom), and a peptide's first two
# residues, whose order the spectrum rarely shows (b1 is seldom seen),
# are not equally likely in either order. Counts per residue class (I
# and L one class, a modified residue its residue's): cleavages with a
# main b or y ion after / before a residue of the class, the same
# without one, and the class of the first and of the second residue.
RESIDUE_CLASSES = "ACDEFGHKLMNPQRSTVWY"
_N_CLASSES = len(RESIDUE_CLASSES)
CONTEXT_NAMES = tuple(f"{kind}_{aa}" for kind in (
    "seen_after", "seen_before", "unseen_after", "unseen_before", "first",
    "second") for aa in RESIDUE_CLASSES)
N_CONTEXT = len(CONTEXT_NAMES)


def residue_classes(vocabulary) -> np.ndarray:
    """Each token's index in :data:`RESIDUE_CLASSES` (-1: none, as for an
    N-terminal modification or a special token)."""
    out = np.full(len(vocabulary.tokens), -1, np.int64)
    for k, token in enumerate(vocabulary.tokens):
        residue = "L" if token.residue == "I" else token.residue
        if residue and residue in RESIDUE_CLASSES:
            out[k] = RESIDUE_CLASSES.index(residue)
    return out


@njit(cache=True, nogil=True)
def _cleavages(tokens, length, masses, is_nterm, classes, prefixes, left,
               right):
    # The cleavages of one peptide (after every residue but the last; an
    # N-terminal modification is part of the first residue's fragments):
    # prefix masses and the residue classes either side, into the
    # arrays; returns how many.
    m = 0
    acc = 0.0
    for t in range(length - 1):
        acc += masses[tokens[t]]
        if not is_nterm[tokens[t]]:
            prefixes[m] = acc
            left[m] = classes[tokens[t]]
            right[m] = classes[tokens[t + 1]]
            m += 1
    return m


@njit(cache=True, nogil=True)
def peak_once_batch(mz, weight, tokens, lengths, masses, is_nterm, classes,
                    charge, tol, ppm, max_frag_z):
    """Peak-once features of many peptides of one spectrum.

    Returns ``(sums [n, N_FEATURES], n_sites [n], summary [n, N_SUMMARY],
    context [n, N_CONTEXT])``:
    the cleavage features summed over each peptide's cleavages (so a
    linear scorer's peptide score is ``sums @ w + n_sites * bias``), and
    whole-peptide statistics (:data:`SUMMARY_NAMES`): share of cleavages
    with a b or y ion, longest run of such cleavages (share), share of
    the spectrum's peak weight explained, cleavages without ions among
    the two at either end, shares of cleavages with a b / a y ion.
    ``tokens[n, L]`` are vocabulary indices; the y ions of a peptide are
    placed by its own residue mass. ``context``: :data:`CONTEXT_NAMES`,
    with ``classes`` each token's residue class
    (:func:`residue_classes`).
    """
    n = tokens.shape[0]
    sums = np.zeros((n, N_FEATURES))
    n_sites = np.zeros(n)
    summary = np.zeros((n, N_SUMMARY))
    context = np.zeros((n, N_CONTEXT))
    k = _N_CLASSES
    prefixes = np.empty(max(tokens.shape[1], 1))
    left = np.empty(max(tokens.shape[1], 1), np.int64)  # residue classes
    right = np.empty(max(tokens.shape[1], 1), np.int64)  # of each site
    owner = np.empty(mz.shape[0], np.int64)
    feats = np.zeros((max(tokens.shape[1], 1), N_FEATURES))
    all_weight = 0.0
    for j in range(mz.shape[0]):
        all_weight += weight[j]
    for c in range(n):
        total = 0.0
        for t in range(lengths[c]):
            total += masses[tokens[c, t]]
        m = _cleavages(tokens[c], lengths[c], masses, is_nterm, classes,
                       prefixes, left, right)
        residue = 0  # the first two residues' classes
        for t in range(lengths[c]):
            cls = classes[tokens[c, t]]
            if cls >= 0 and residue < 2:
                context[c, (4 + residue) * k + cls] += 1.0
                residue += 1
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
            shift = 0 if (b or y) else 2 * k
            if left[s] >= 0:
                context[c, shift + left[s]] += 1.0
            if right[s] >= 0:
                context[c, shift + k + right[s]] += 1.0
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
    return sums, n_sites, summary, context


@njit(cache=True, nogil=True)
def peak_once_sites(mz, weight, tokens, lengths, masses, is_nterm, classes,
                    charge, tol, ppm, max_frag_z):
    """Each peptide's cleavages one by one, for a verifier that reads them
    (:mod:`denovo.engine.verifier`).

    Returns ``(features [n, S, N_FEATURES], left [n, S], right [n, S],
    n_sites [n])``: the peak-once features of every cleavage (the rows
    :func:`peak_once_batch` sums), the residue classes either side of it
    (:func:`residue_classes`; -1 past a peptide's last cleavage), with
    ``S`` the most cleavages of any of the peptides.
    """
    n = tokens.shape[0]
    width = 1
    for c in range(n):
        width = max(width, lengths[c] - 1)
    feats = np.zeros((n, width, N_FEATURES))
    left = np.full((n, width), -1, np.int64)
    right = np.full((n, width), -1, np.int64)
    n_sites = np.zeros(n, np.int64)
    prefixes = np.empty(width)
    owner = np.empty(mz.shape[0], np.int64)
    for c in range(n):
        total = 0.0
        for t in range(lengths[c]):
            total += masses[tokens[c, t]]
        m = _cleavages(tokens[c], lengths[c], masses, is_nterm, classes,
                       prefixes, left[c], right[c])
        _peak_once_into(mz, weight, prefixes[:m], total, charge, tol, ppm,
                        max_frag_z, owner, feats[c, :m])
        n_sites[c] = m
    return feats, left, right, n_sites
