"""Peak matching and the physics score against a plain-Python model."""

import numpy as np
import pytest

from denovo.core.fragments import (
    ION_A, ION_B, ION_IMMONIUM, ION_Y, N_ION_TYPES, FragmentConfig,
    Fragments, fragment_mz, fragment_mz_batch,
)
from denovo.core.match import match, match_batch
from denovo.core.preprocess import PreprocessConfig, preprocess_batch


def reference(mz, intensity, frag_mz, frag_type, tol, unit):
    """O(F * P) model of the documented definitions."""
    matched = [0] * N_ION_TYPES
    total = [0] * N_ION_TYPES
    peak_types = [set() for _ in mz]
    for theo, t in zip(frag_mz.tolist(), frag_type.tolist(), strict=True):
        if t < 0:
            continue
        total[t] += 1
        window = tol if unit == "Da" else tol * 1e-6 * theo
        hits = [j for j, x in enumerate(mz.tolist())
                if abs(x - theo) <= window]
        matched[t] += bool(hits)
        for j in hits:
            peak_types[j].add(t)
    weights = [float(v) for v in intensity]
    all_int = sum(weights)
    explained = [sum(w for w, s in zip(weights, peak_types, strict=True)
                     if t in s) for t in range(N_ION_TYPES)]
    any_int = sum(w for w, s in zip(weights, peak_types, strict=True) if s)
    by_int = sum(w for w, s in zip(weights, peak_types, strict=True)
                 if s & {ION_B, ION_Y})
    fraction = any_int / all_int if all_int else 0.0
    n_by = total[ION_B] + total[ION_Y]
    score = (0.5 * by_int / all_int if all_int else 0.0) + (
        0.5 * (matched[ION_B] + matched[ION_Y]) / n_by if n_by else 0.0)
    return matched, total, explained, fraction, score


def synthetic_spectrum(rng, fragments, n_noise=30):
    """Some fragments plus jitter, plus noise peaks, unsorted."""
    keep = rng.random(len(fragments.mz)) < 0.5
    mz = np.concatenate([fragments.mz[keep]
                         + rng.normal(0, 0.01, keep.sum()),
                         rng.uniform(50, 2000, n_noise)])
    intensity = rng.gamma(1.0, 100.0, mz.size).astype(np.float32)
    return mz, intensity


PEPTIDES = [("P", "E", "P", "T", "I", "D", "E", "K"),
            ("[UNIMOD:1]-", "M[UNIMOD:35]", "A", "C[UNIMOD:4]", "R"),
            ("G", "G"), ("Q[UNIMOD:7]", "W", "N", "Y", "L", "L", "S")]
CONFIG = FragmentConfig(ion_types=("a", "b", "y"), losses=("H2O",),
                        immonium=True, max_fragment_charge=3)


@pytest.mark.parametrize("tol, unit", [(0.02, "Da"), (0.05, "Da"),
                                       (20.0, "ppm"), (0.0, "Da")])
def test_single_spectrum_matches_reference(tol, unit):
    rng = np.random.default_rng(7)
    for trial in range(60):
        pep = PEPTIDES[trial % len(PEPTIDES)]
        frags = fragment_mz(pep, int(rng.integers(1, 5)), config=CONFIG)
        mz, intensity = synthetic_spectrum(rng, frags)
        if trial % 5 == 0:  # exact hits, including at the tolerance edge
            mz[:3] = frags.mz[:3] + np.array([0.0, tol, -tol])[:mz[:3].size]
        got = match(mz, intensity, frags, tol=tol, unit=unit)
        ref = reference(mz, intensity, frags.mz, frags.ion_type, tol, unit)
        np.testing.assert_array_equal(got.matched, ref[0])
        np.testing.assert_array_equal(got.total, ref[1])
        np.testing.assert_allclose(got.explained, ref[2], rtol=1e-12)
        assert got.fraction == pytest.approx(ref[3], rel=1e-12)
        assert got.score == pytest.approx(ref[4], rel=1e-12)
        assert got.fragment_matched.sum() == sum(ref[0])
        assert 0.0 <= got.score <= 1.0


def test_peak_counted_once_per_type():
    # One peak matched by b1 and b2 at a wide tolerance: counted once for
    # b; y explains it too; the total fraction counts it once.
    frags = Fragments(np.array([100.1, 100.3, 100.2]),
                      np.array([ION_B, ION_B, ION_Y], np.int8),
                      np.array([1, 2, 1], np.int32), np.ones(3, np.int8),
                      np.zeros(3, np.int8))
    got = match([100.2, 500.0], [3.0, 1.0], frags, tol=0.15)
    np.testing.assert_array_equal(got.matched[[ION_B, ION_Y]], [2, 1])
    np.testing.assert_allclose(got.explained[[ION_B, ION_Y]], [3.0, 3.0])
    assert got.explained[ION_A] == got.explained[ION_IMMONIUM] == 0.0
    assert got.fraction == pytest.approx(0.75)
    assert got.score == pytest.approx(0.5 * 0.75 + 0.5 * 1.0)


def test_empty_inputs_score_zero():
    frags = fragment_mz(("P", "E", "K"), 2)
    got = match([], [], frags)
    assert got.fraction == got.score == 0.0 and got.total.sum() == 4
    got = match([100.0], [1.0], fragment_mz(("K",), 2))
    assert got.score == 0.0 and got.total.sum() == 0


def test_batch_equals_single_on_preprocessed_spectra():
    rng = np.random.default_rng(8)
    peptides = [PEPTIDES[i % len(PEPTIDES)] for i in range(24)]
    charges = rng.integers(1, 5, len(peptides))
    frags = fragment_mz_batch(peptides, charges, config=CONFIG)
    raw = [synthetic_spectrum(
        rng, fragment_mz(p, int(z), config=CONFIG), n_noise=200)
        for p, z in zip(peptides, charges, strict=True)]
    spectra = preprocess_batch(
        [r[0] for r in raw], [r[1] for r in raw], [3000.0] * len(raw),
        charges, config=PreprocessConfig(max_peaks=64))
    got = match_batch(spectra, frags, tol=25.0, unit="ppm")
    for b in range(len(peptides)):
        n, k = spectra.n_peaks[b], frags.n_fragments[b]
        single = match(spectra.mz[b, :n], spectra.intensity[b, :n],
                       Fragments(*(a[b, :k] for a in frags[:5])), tol=25.0,
                       unit="ppm")
        np.testing.assert_array_equal(got.matched[b], single.matched)
        np.testing.assert_array_equal(got.total[b], single.total)
        np.testing.assert_array_equal(got.explained[b], single.explained)
        assert got.score[b] == single.score
        assert got.fraction[b] == single.fraction
    assert (got.score > 0).any()


def test_true_peptide_outscores_decoy():
    rng = np.random.default_rng(9)
    target = ("P", "E", "P", "T", "I", "D", "E", "K")
    decoy = ("K", "E", "D", "I", "T", "P", "E", "P")
    mz, intensity = synthetic_spectrum(rng, fragment_mz(target, 2))
    good = match(mz, intensity, fragment_mz(target, 2), tol=0.05)
    bad = match(mz, intensity, fragment_mz(decoy, 2), tol=0.05)
    assert good.score > bad.score + 0.2


def test_bad_arguments():
    frags = fragment_mz(("P", "E", "K"), 2)
    with pytest.raises(ValueError, match="unit"):
        match([100.0], [1.0], frags, unit="mDa")
    with pytest.raises(ValueError, match=">= 0"):
        match([100.0], [1.0], frags, tol=-1.0)
    with pytest.raises(ValueError, match="2 m/z values but 1"):
        match([100.0, 200.0], [1.0], frags)
    spectra = preprocess_batch([np.array([100.0])], [np.ones(1)], [500.0],
                               [2])
    with pytest.raises(ValueError, match="1 spectra but 2"):
        match_batch(spectra, fragment_mz_batch([("P", "K")] * 2, 2))
