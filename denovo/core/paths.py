"""The k-best dynamic programme over a spectrum's prefix masses (Numba).

Nodes are the candidate prefix masses a spectrum proposes
(:func:`denovo.core.evidence.candidate_prefixes`) with their cleavage
log-odds (:func:`node_log_odds`); :func:`search_kernel` keeps the ``k``
best paths into every node, each with its exact residue-mass sum, and
returns the best peptides whose sum fits the precursor.
:class:`denovo.core.search.EvidenceSearch` drives it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .evidence import N_FEATURES, _features_into, linear_score
from .sorting import lower_bound

__all__ = ["search_kernel", "node_log_odds"]


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
