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

__all__ = ["search_kernel", "node_log_odds", "step_variants",
           "edge_hashes"]


@njit(cache=True, nogil=True)
def _insert(score, a, b, c, d, hsh, count, k, node, s, va, vb, vc, vd, h):
    """Insert (s, va..vd) with token-sequence hash ``h`` into row
    ``node`` of the top-k arrays; an entry of the same hash (the same
    peptide so far, reached another way) keeps the better score only."""
    n = count[node]
    if n == k and s <= score[node, k - 1]:
        return  # (a copy of it, if any, scores at least as well)
    for q in range(n):
        if hsh[node, q] == h:
            if s <= score[node, q]:
                return
            for t in range(q, n - 1):  # drop the worse copy
                score[node, t] = score[node, t + 1]
                a[node, t] = a[node, t + 1]
                b[node, t] = b[node, t + 1]
                c[node, t] = c[node, t + 1]
                d[node, t] = d[node, t + 1]
                hsh[node, t] = hsh[node, t + 1]
            n -= 1
            score[node, n] = -np.inf
            break
    if n == k and s <= score[node, k - 1]:
        return
    pos = min(n, k - 1)
    while pos > 0 and score[node, pos - 1] < s:
        score[node, pos] = score[node, pos - 1]
        a[node, pos] = a[node, pos - 1]
        b[node, pos] = b[node, pos - 1]
        c[node, pos] = c[node, pos - 1]
        d[node, pos] = d[node, pos - 1]
        hsh[node, pos] = hsh[node, pos - 1]
        pos -= 1
    score[node, pos] = s
    a[node, pos] = va
    b[node, pos] = vb
    c[node, pos] = vc
    d[node, pos] = vd
    hsh[node, pos] = h
    count[node] = min(n + 1, k)


_HASH_BASE = 1000003


@njit(cache=True, nogil=True)
def edge_hashes(tok, is_nterm):
    """Per edge of a step table (``tok``: token indices, -1 padded), the
    multiplier and addend that extend a path's token hash by the edge's
    tokens (wrapping int64) and the cleavages it steps over (residues -
    1; an N-terminal token makes none): ``int64 [3, n_edges]``, computed
    once per table (:class:`denovo.core.search.EdgeTables`)."""
    out = np.zeros((3, tok.shape[0]), np.int64)
    for e in range(tok.shape[0]):
        mul = 1
        add = 0
        residues = 0
        for t in range(tok.shape[1]):
            if tok[e, t] >= 0:
                mul *= _HASH_BASE
                add = add * _HASH_BASE + tok[e, t] + 1
                residues += not is_nterm[tok[e, t]]
        out[0, e] = mul
        out[1, e] = add
        out[2, e] = max(residues - 1, 0)
    return out


@njit(cache=True, nogil=True)
def search_kernel(pos, s_node, total, node_tol, end_tol, in_mass, in_tok,
                  in_score, st_mass, st_tok, st_score, en_mass, en_tok,
                  en_score, k, top_k, s_skip, in_hash, st_hash, en_hash):
    """k-best paths of residue mass ``total +- end_tol``.

    ``pos`` are the node prefix masses, ``pos[0] == 0`` the start and the
    rest sorted candidates, with cleavage log-odds ``s_node``. Returns
    ``(tokens int64[top_k, L], lengths, scores, n_found, steps)``, best
    first; tokens are vocabulary indices. ``steps[f, t]`` numbers the DP step
    (edge) that wrote token ``t`` of path ``f``, from 0 at the N
    terminus: a step of several residues is a composition whose other
    orders score the same.

    A step of several residues also pays ``s_skip`` per cleavage it
    steps over (that of the node it lands on; the last node's for the
    final step): the log-odds of a cleavage without peaks there (zeros
    where the edge scores already hold a gap penalty).

    A node keeps one path per token sequence (a hash of it): the same
    residues reached through other nodes or other step splits would
    crowd its ``k`` places with copies. ``*_hash`` (int64 [3, n_edges],
    :func:`edge_hashes`): per edge, the multiplier and addend that extend
    a path's hash by its tokens, and the cleavages it steps over.
    """
    n = pos.shape[0]
    zero = np.int64(0)  # not a literal: one signature of _insert
    score = np.full((n, k), -np.inf)
    exact = np.zeros((n, k))
    back = np.full((n, k), -1, np.int64)
    back_rank = np.zeros((n, k), np.int64)
    edge = np.full((n, k), -1, np.int64)
    hsh = np.zeros((n, k), np.int64)
    count = np.zeros(n, np.int64)
    count[0] = 1
    score[0, 0] = 0.0
    in_mul, in_add, in_skip = in_hash[0], in_hash[1], in_hash[2]
    st_mul, st_add, st_skip = st_hash[0], st_hash[1], st_hash[2]
    en_mul, en_add, en_skip = en_hash[0], en_hash[1], en_hash[2]
    max_inner = in_mass[-1]
    max_start = st_mass[-1]
    for j in range(1, n):
        pj = pos[j]
        if pj <= max_start + node_tol:  # first step, from mass 0
            e = lower_bound(st_mass, pj - node_tol)
            while e < st_mass.shape[0] and st_mass[e] <= pj + node_tol:
                _insert(score, exact, back, back_rank, edge, hsh, count,
                        k, j, st_score[e] + s_node[j]
                        + st_skip[e] * s_skip[j], st_mass[e], zero,
                        zero, e, st_add[e])
                e += 1
        lo = 0  # first step mass >= d - 2 tol: d grows as i falls
        for i in range(j - 1, 0, -1):
            d = pj - pos[i]
            if d > max_inner + node_tol:
                break
            if count[i] == 0:
                continue
            while lo < in_mass.shape[0] and in_mass[lo] < d - 2 * node_tol:
                lo += 1
            e = lo
            while e < in_mass.shape[0] and in_mass[e] <= d + 2 * node_tol:
                for r in range(count[i]):
                    x = exact[i, r] + in_mass[e]
                    if abs(x - pj) <= node_tol:
                        s_j = s_node[j] + in_skip[e] * s_skip[j]
                        _insert(score, exact, back, back_rank, edge, hsh,
                                count, k, j,
                                score[i, r] + in_score[e] + s_j, x, i, r, e,
                                hsh[i, r] * in_mul[e] + in_add[e])
                e += 1
    # finish: the last step must land on the precursor window
    fin_score = np.full(top_k, -np.inf)
    fin_node = np.zeros(top_k, np.int64)
    fin_rank = np.zeros(top_k, np.int64)
    fin_edge = np.zeros(top_k, np.int64)
    fin_dummy = np.zeros(top_k)
    fin_hash = np.zeros((1, top_k), np.int64)
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
                _insert(fs, fd, fn, fr, fe, fin_hash, fin_count, top_k,
                        zero, score[i, r] + en_score[e]
                        + en_skip[e] * s_skip[i], 0.0, i, r, e,
                        hsh[i, r] * en_mul[e] + en_add[e])
                e += 1
    n_found = fin_count[0]
    # every residue weighs at least the lightest step, plus an N-terminal
    # token and the finishing step's slack
    max_len = int(total / in_mass[0]) + 8
    tokens = np.full((top_k, max_len), -1, np.int64)
    steps = np.full((top_k, max_len), -1, np.int64)
    lengths = np.zeros(top_k, np.int64)
    buf = np.empty(max_len, np.int64)
    sbuf = np.empty(max_len, np.int64)  # step of each token, from C
    for f in range(n_found):
        m = 0
        n_steps = 0
        e = fin_edge[f]
        for t in range(3, -1, -1):
            if en_tok[e, t] >= 0:
                buf[m] = en_tok[e, t]
                sbuf[m] = n_steps
                m += 1
        n_steps += 1
        node = fin_node[f]
        r = fin_rank[f]
        while node > 0:
            e = edge[node, r]
            prev = back[node, r]
            if prev == 0:
                for t in range(3, -1, -1):
                    if st_tok[e, t] >= 0:
                        buf[m] = st_tok[e, t]
                        sbuf[m] = n_steps
                        m += 1
                n_steps += 1
                break
            for t in range(3, -1, -1):
                if in_tok[e, t] >= 0:
                    buf[m] = in_tok[e, t]
                    sbuf[m] = n_steps
                    m += 1
            n_steps += 1
            r = back_rank[node, r]
            node = prev
        for t in range(m):
            tokens[f, t] = buf[m - 1 - t]
            steps[f, t] = n_steps - 1 - sbuf[m - 1 - t]
        lengths[f] = m
    return tokens, lengths, fin_score, n_found, steps


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


# the orders of three residues, the identity first; rows 0 and 2 begin
# with the two orders of two residues
_PERMS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1],
                   [2, 1, 0]], np.int64)


@njit(cache=True, nogil=True)
def step_variants(tokens, lengths, steps, is_nterm, limit):
    """Every path with the other orders of its composition steps.

    ``tokens``, ``lengths``, ``steps``: kernel rows (:func:`search_kernel`).
    A step of two or three residues is permuted (a leading N-terminal
    token stays first), all steps of a path at once, repeated residues
    giving one order only; at most ``limit`` variants per path. Returns
    ``(tokens, lengths, parent)``: each path first, then its variants,
    ``parent`` the row of the path a variant came from.
    """
    n, width = tokens.shape
    out = np.full((n * (limit + 1), width), -1, np.int64)
    out_len = np.zeros(n * (limit + 1), np.int64)
    parent = np.zeros(n * (limit + 1), np.int64)
    start = np.zeros(width, np.int64)  # residue span of each step
    size = np.zeros(width, np.int64)
    n_orders = np.zeros(width, np.int64)
    orders = np.zeros((width, 6), np.int64)  # rows of _PERMS per step
    digit = np.zeros(width, np.int64)
    m = 0
    for f in range(n):
        length = lengths[f]
        out[m, :length] = tokens[f, :length]
        out_len[m] = length
        parent[m] = f
        m += 1
        # the steps of several residues and their distinct orders
        n_multi = 0
        t = 0
        while t < length:
            s = steps[f, t]
            u = t
            while u < length and steps[f, u] == s:
                u += 1
            a = t + 1 if (t == 0 and is_nterm[tokens[f, t]]) else t
            if u - a >= 2:
                start[n_multi] = a
                size[n_multi] = u - a
                count = 0
                for p in range(6 if u - a == 3 else 3):
                    if u - a == 2 and p == 1:
                        continue  # two residues: rows 0 and 2
                    dup = False
                    for q in range(count):
                        same = True
                        for x in range(u - a):
                            if (tokens[f, a + _PERMS[p, x]]
                                    != tokens[f, a + _PERMS[orders[n_multi,
                                                                 q], x]]):
                                same = False
                                break
                        if same:
                            dup = True
                            break
                    if not dup:
                        orders[n_multi, count] = p
                        count += 1
                if count > 1:
                    n_orders[n_multi] = count
                    n_multi += 1
            t = u
        if n_multi == 0:
            continue
        # every combination but the identity, in mixed radix
        digit[:n_multi] = 0
        made = 0
        while made < limit:
            c = 0
            while c < n_multi:
                digit[c] += 1
                if digit[c] < n_orders[c]:
                    break
                digit[c] = 0
                c += 1
            if c == n_multi:
                break  # wrapped round: all made
            out[m, :length] = tokens[f, :length]
            for c in range(n_multi):
                p = orders[c, digit[c]]
                for x in range(size[c]):
                    out[m, start[c] + x] = tokens[f, start[c] + _PERMS[p, x]]
            out_len[m] = length
            parent[m] = f
            m += 1
            made += 1
    return out[:m], out_len[:m], parent[:m]
