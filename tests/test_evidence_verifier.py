"""The evidence verifier: its cleavage kernel against per-peptide
features, its NumPy forward pass against a plain-Python reference, and
how the engine applies it (no torch here)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from denovo.core.evidence import FEATURE_NAMES, N_FEATURES
from denovo.core.peak_once import RESIDUE_CLASSES, peak_once_features
from denovo.core.search import cleavage_prefixes
from denovo.core.settings import load_default
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB
from denovo.engine.pipeline import Engine
from denovo.engine.ranking import Ranker
from denovo.engine.verifier import CHARGES, N_INPUTS, EvidenceVerifier

from test_ranking import _ladder

PEPTIDES = [tuple("PEPTLDEK"), ("[UNIMOD:1]-",) + tuple("AGIK"),
            tuple("ACDEFGHIK"), tuple("GGGR")]


def _random_verifier(hidden=5, steps=3, seed=0, rank_scale=1.0, top=20,
                     members=2):
    rng = np.random.default_rng(seed)
    k = members
    shapes = {"mean": (N_FEATURES,), "scale": (N_FEATURES,),
              "w_in": (k, N_INPUTS, hidden), "b_in": (k, hidden),
              "w_h": (k, hidden, hidden), "w_z": (k, hidden, hidden),
              "w_c": (k, hidden, hidden), "b_z": (k, hidden),
              "w_out": (k, hidden), "w_site": (k, hidden), "b_site": (k,)}
    arrays = {k: rng.normal(0, 0.5, s).astype(np.float32)
              for k, s in shapes.items()}
    arrays["scale"] = np.abs(arrays["scale"]) + 0.5
    return EvidenceVerifier(steps, top, rank_scale, arrays)


def _search_and_peaks(peptide=tuple("PEPTLDEK")):
    ranker = Ranker.build(VOCAB, load_default())
    spectrum = _ladder("".join(peptide))
    search = ranker.search
    return ranker, search, search.peaks(spectrum.mz, spectrum.intensity,
                                        spectrum.precursor_mz), spectrum


def test_site_kernel_matches_per_peptide_features_and_residues():
    _, search, peaks, _ = _search_and_peaks()
    tokens, lengths = search.encode(PEPTIDES)
    feats, left, right, n_sites = search.site_features(peaks, tokens,
                                                       lengths, 2)
    ev = search.evidence
    for k, peptide in enumerate(PEPTIDES):
        idx = [VOCAB.index(t) for t in peptide]
        expect = peak_once_features(
            peaks[0], peaks[1], cleavage_prefixes(peptide, VOCAB),
            float(VOCAB.masses[idx].sum()), 2, float(ev.fragment_tol),
            ev.ppm, int(ev.max_fragment_charge))
        m = len(expect)
        assert n_sites[k] == m
        np.testing.assert_allclose(feats[k, :m], expect)
        assert not feats[k, m:].any()
        residues = ["L" if t == "I" else t for t in peptide
                    if not t.endswith("-")]
        assert [RESIDUE_CLASSES[c] for c in left[k, :m]] == residues[:-1]
        assert [RESIDUE_CLASSES[c] for c in right[k, :m]] == residues[1:]
        assert (left[k, m:] == -1).all() and (right[k, m:] == -1).all()
    assert feats[0, :, FEATURE_NAMES.index("b1_hit")].sum() > 0


def _slow_run(verifier, feats, left, right, charge):
    """The forward pass written out cleavage by cleavage, member by member,
    averaged."""
    arrays = verifier.arrays
    members = len(arrays["w_out"])
    return sum(_slow_member(
        verifier.steps, {k: (v[j] if v.ndim and len(v) == members
                             and k not in ("mean", "scale") else v)
                         .astype(np.float64) for k, v in arrays.items()},
        feats, left, right, charge) for j in range(members)) / members


def _slow_member(steps, a, feats, left, right, charge):
    hidden = a["b_in"].size
    out_scores = [[0.0] * len(left) for _ in range(steps)]
    for c in range(len(left)):
        sites = [s for s in range(left.shape[1]) if left[c, s] >= 0]
        h = []
        for s in sites:
            x = [0.0] * N_INPUTS
            for f in range(N_FEATURES):
                x[f] = (feats[c, s, f] - a["mean"][f]) / a["scale"][f]
            x[N_FEATURES + left[c, s]] = 1.0
            x[N_FEATURES + len(RESIDUE_CLASSES) + right[c, s]] = 1.0
            z_ = min(charge, CHARGES[-1])
            if z_ in CHARGES:
                x[N_INPUTS - len(CHARGES) + CHARGES.index(z_)] = 1.0
            h.append([max(0.0, a["b_in"][j] + sum(
                x[i] * a["w_in"][i, j] for i in range(N_INPUTS)))
                for j in range(hidden)])
        z = [[0.0] * hidden for _ in sites]
        for t in range(steps):
            new = []
            for i in range(len(sites)):
                ctx = [(z[i - 1][j] if i > 0 else 0.0)
                       + (z[i + 1][j] if i + 1 < len(sites) else 0.0)
                       for j in range(hidden)]
                new.append([math.tanh(a["b_z"][j] + sum(
                    h[i][q] * a["w_h"][q, j] + z[i][q] * a["w_z"][q, j]
                    + ctx[q] * a["w_c"][q, j] for q in range(hidden)))
                    for j in range(hidden)])
            z = new
            out_scores[t][c] = sum(z[i][j] * a["w_out"][j]
                                   for i in range(len(sites))
                                   for j in range(hidden))
    return np.array(out_scores)


@pytest.mark.parametrize("charge", [1, 2, 3, 5])
def test_forward_pass_matches_plain_python(charge):
    _, search, peaks, _ = _search_and_peaks()
    tokens, lengths = search.encode(PEPTIDES)
    feats, left, right, _ = search.site_features(peaks, tokens, lengths,
                                                 charge)
    verifier = _random_verifier()
    got, sites = verifier.run(feats, left, right, charge)
    np.testing.assert_allclose(got, _slow_run(verifier, feats, left, right,
                                              charge), rtol=1e-4, atol=1e-4)
    assert sites.shape == (verifier.steps,) + left.shape


def test_settings_round_trip_and_refusals():
    verifier = _random_verifier()
    back = EvidenceVerifier.from_dict(verifier.to_dict())
    assert back.steps == verifier.steps and back.top == verifier.top
    for k, v in verifier.arrays.items():
        np.testing.assert_allclose(back.arrays[k], v, atol=1e-6)  # 6 dp
    data = verifier.to_dict()
    with pytest.raises(ValueError, match="rank_scale"):
        EvidenceVerifier.from_dict({**data, "rank_scale": 0.0})
    with pytest.raises(ValueError, match="refit"):
        EvidenceVerifier.from_dict({**data, "feature_names": ["x"]})
    with pytest.raises(ValueError, match="refit"):
        EvidenceVerifier.from_dict({**data, "w_in": [[0.0] * 5] * 3})


def _engine(verifier):
    fitted = load_default()
    fitted = fitted.with_rank(verifier={} if verifier is None
                              else verifier.to_dict())
    from denovo.core.decode import DecodeConfig
    return Engine(None, mode="evidence", fitted=fitted,
                  decode=DecodeConfig(top_k=40))


def test_engine_verifies_the_best_and_keeps_the_rest_behind():
    spectrum = _ladder("PEPTLDEK")
    plain = next(iter(_engine(None).run([spectrum]))).matches
    # a verifier that corrects nothing leaves scores and order as they are
    zero = _random_verifier(top=5)
    zero = replace(zero, arrays={**zero.arrays,
                                 "w_out": np.zeros_like(zero.arrays["w_out"])})
    same = next(iter(_engine(zero).run([spectrum]))).matches
    assert [m.candidate.tokens for m in same] \
        == [m.candidate.tokens for m in plain]
    np.testing.assert_allclose([m.candidate.score for m in same],
                               [m.candidate.score for m in plain], atol=1e-9)
    # a random one reorders the first five only, and the rest stay behind
    top = 5
    noisy = _random_verifier(top=top, seed=3, rank_scale=0.5)
    got = next(iter(_engine(noisy).run([spectrum]))).matches
    assert len(got) == len(plain) > top
    first = {m.candidate.tokens for m in plain[:top]}
    assert {m.candidate.tokens for m in got[:top]} == first
    assert [m.candidate.tokens for m in got[:top]] \
        != [m.candidate.tokens for m in plain[:top]]
    assert [m.candidate.tokens for m in got[top:]] \
        == [m.candidate.tokens for m in plain[top:]]
    scores = [m.candidate.score for m in got]
    assert min(scores[:top]) >= max(scores[top:])
    assert scores == sorted(scores, reverse=True)
