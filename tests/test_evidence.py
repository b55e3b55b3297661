"""Evidence kernel and search: Numba against slow plain-Python references
and pyteomics fragment masses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core import evidence as ev
from denovo.core.search import (EdgeTables, EvidenceSearch,
                                cleavage_prefixes, peak_once_batch,
                                peak_once_features)
from denovo.core.config import ConfigError
from denovo.core.peak_once import CONTEXT_NAMES, residue_classes
from denovo.core.settings import FittedSettings, RankSettings, load_default
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB
from denovo.core.window import PrecursorWindow

PROTON = pmass.nist_mass["H+"][0][0]
WATER = pmass.calculate_mass(formula="H2O")
AMMONIA = pmass.calculate_mass(formula="NH3")
CARBONYL = pmass.calculate_mass(formula="CO")
ISO = 1.003355


def _ref_ions(p, total):
    """(series-charge name, m/z) of every ion the kernel reads, written
    out from the chemistry, not from the module's tables."""
    b1 = p + PROTON
    y1 = total - p + WATER + PROTON
    b2 = (p + 2 * PROTON) / 2
    y2 = (total - p + WATER + 2 * PROTON) / 2
    return [("b1", b1, 1), ("y1", y1, 1), ("b2", b2, 2), ("y2", y2, 2),
            ("b1_iso", b1 + ISO, 1), ("y1_iso", y1 + ISO, 1),
            ("b2_iso", b2 + ISO / 2, 2), ("y2_iso", y2 + ISO / 2, 2),
            ("a1", b1 - CARBONYL, 1),
            ("b1_h2o", b1 - WATER, 1), ("b1_nh3", b1 - AMMONIA, 1),
            ("y1_h2o", y1 - WATER, 1), ("y1_nh3", y1 - AMMONIA, 1),
            ("b2_h2o", b2 - WATER / 2, 2), ("y2_h2o", y2 - WATER / 2, 2)]


def _ref_features(mz, weight, p, total, charge, tol):
    f = dict.fromkeys(ev.FEATURE_NAMES, 0.0)
    hits = 0
    for name, x, z in _ref_ions(p, total):
        if z == 2 and charge < 3:
            continue
        near = [j for j in range(len(mz)) if abs(mz[j] - x) <= tol]
        if not near:
            continue
        j = max(near, key=lambda k: (weight[k], -k))
        f[name + "_hit"] = 1.0
        f[name + "_intensity"] = weight[j]
        if name in ("b1", "y1", "b2", "y2"):
            f[name + "_accuracy"] = 1 - abs(mz[j] - x) / tol
            hits += 1
    f["b1_and_y1"] = float(f["b1_hit"] and f["y1_hit"])
    f["b_and_y"] = float((f["b1_hit"] or f["b2_hit"])
                         and (f["y1_hit"] or f["y2_hit"]))
    f["n_main_hits"] = hits
    f["near_n_term"] = float(p < ev.TERMINAL_MASS)
    f["near_c_term"] = float(total - p < ev.TERMINAL_MASS)
    f["position"] = p / total
    f["position_sq"] = (p / total) ** 2
    return np.array([f[n] for n in ev.FEATURE_NAMES])


def _spectrum(peptide, charge=2, rng=None, noise=30):
    """b/y ladder (1+, and 2+ for charge >= 3) from pyteomics, plus noise."""
    rng = rng or np.random.default_rng(0)
    mz = []
    for i in range(1, len(peptide)):
        mz.append(pmass.fast_mass(peptide[:i], ion_type="b", charge=1))
        mz.append(pmass.fast_mass(peptide[i:], ion_type="y", charge=1))
        if charge >= 3:
            mz.append(pmass.fast_mass(peptide[i:], ion_type="y", charge=2))
    mz = np.array(mz + list(rng.uniform(100, 1500, noise)))
    intensity = np.concatenate([np.full(len(mz) - noise, 100.0),
                                rng.uniform(1, 20, noise)])
    precursor_mz = pmass.fast_mass(peptide, charge=charge)
    return mz, intensity, precursor_mz


def test_features_match_plain_python_reference():
    rng = np.random.default_rng(3)
    cfg = ev.EvidenceConfig(fragment_tol=0.02)
    for trial in range(5):
        mz, intensity, prec = _spectrum("PEPTLDEKAGR", charge=2 + trial % 3,
                                        rng=rng, noise=60)
        charge = 2 + trial % 3
        peaks = ev.prepare_peaks(mz, intensity, prec, cfg)
        total = (prec - PROTON) * charge - WATER
        prefixes = np.concatenate([rng.uniform(50, total - 50, 40),
                                   cleavage_prefixes(tuple("PEPTLDEKAGR"),
                                                     VOCAB)])
        got = ev.prefix_features(peaks, prefixes, total, charge, cfg)
        for k, p in enumerate(prefixes):
            want = _ref_features(peaks[0], peaks[1], p, total, charge, 0.02)
            np.testing.assert_allclose(got[k], want, atol=1e-9,
                                       err_msg=f"prefix {p}")


def test_peaks_are_ranked_and_cleaned():
    mz = np.array([40.0, 300.0, 200.0, 500.0, 500.5, 700.0])
    intensity = np.array([9.0, 1.0, 5.0, 2.0, 8.0, 3.0])
    cfg = ev.EvidenceConfig(max_peaks=3, remove_precursor_tol=1.0)
    got_mz, weight = ev.prepare_peaks(mz, intensity, 500.2, cfg)
    # below min_mz and near the precursor removed; the 3 strongest kept
    np.testing.assert_array_equal(got_mz, [200.0, 300.0, 700.0])
    np.testing.assert_allclose(
        weight, [1.0, 1 - math.log2(3) / 8, 1 - math.log2(2) / 8])


def test_candidate_prefixes_read_every_peak_as_b_and_y():
    mz = np.array([200.0, 400.0])
    total = 1000.0
    got = ev.candidate_prefixes(mz, total, 3, 2, 1e-6)
    want = []
    for x in mz:
        for z in (1, 2):
            neutral = x * z - z * PROTON
            want += [neutral, total + WATER - neutral]
    want = sorted(w for w in want if 0 < w < total)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # charge 2 precursors: fragments of charge 1 only
    assert ev.candidate_prefixes(mz, total, 2, 2, 1e-6).size == 4


def _hand_scorer(**extra):
    w = np.zeros(ev.N_FEATURES)
    for i, name in enumerate(ev.FEATURE_NAMES):
        if name in ("b1_hit", "y1_hit", "b2_hit", "y2_hit"):
            w[i] = 3.0
        elif name.endswith("_intensity"):
            w[i] = 0.5
    return ev.EvidenceScorer(weights=tuple(w), bias=-2.0, **extra)


def _hand_rank():
    prior = {t.name: -3.0 for t in VOCAB.tokens if not t.special}
    return RankSettings(token_log_prior=prior, prior_weight=0.1,
                        gap_penalty=-2.0)


@pytest.mark.parametrize("peptide, charge", [
    ("PEPTLDEKAGR", 2), ("SAMPLERVNK", 3), ("GWTHEFCLK", 2),
    ("MLSDHQRAIK", 4)])
def test_search_reads_a_clean_ladder(peptide, charge):
    mz, intensity, prec = _spectrum(peptide, charge)
    search = EvidenceSearch(VOCAB, _hand_scorer(), _hand_rank())
    peaks = search.peaks(mz, intensity, prec)
    found = search.search(peaks, (prec - PROTON) * charge, charge)
    assert found, "nothing found"
    assert found[0].isotope_error == 0
    peptides = [f.tokens for f in found]
    ranked = np.argsort(-search.rank_scores(peaks, peptides, charge))
    best = "".join(peptides[ranked[0]])
    assert best == peptide.replace("I", "L")


def test_every_peptide_fits_the_precursor_exactly():
    peptide = "VLSAADKTNVK"
    mz, intensity, prec = _spectrum(peptide, 2)
    search = EvidenceSearch(VOCAB, _hand_scorer(), _hand_rank(),
                            window=PrecursorWindow(tol_ppm=10))
    mass = (prec - PROTON) * 2
    for iso in (0, 1):  # the monoisotopic peak was missed: still found
        found = search.search(search.peaks(mz, intensity, prec),
                              mass + iso * ISO, 2)
        assert "".join(found[0].tokens) == peptide
        for f in found:
            pep = "".join("C" if t.startswith("C") else t[0]
                          for t in f.tokens if not t.endswith("-"))
            theo = sum(VOCAB.masses[VOCAB.index(t)] for t in f.tokens) \
                + WATER
            assert any(abs(theo - (mass + (iso - k) * ISO)) <= mass * 1e-5
                       for k in (0, 1)), pep


def test_two_residue_steps_bridge_a_missing_cleavage():
    peptide = "PEPTLDEKAGR"
    mz, intensity, prec = _spectrum(peptide, 2, noise=0)
    # remove every peak of the cleavage after "PEPTL"
    b = pmass.fast_mass("PEPTL", ion_type="b", charge=1)
    y = pmass.fast_mass("DEKAGR", ion_type="y", charge=1)
    keep = (np.abs(mz - b) > 0.05) & (np.abs(mz - y) > 0.05)
    search = EvidenceSearch(VOCAB, _hand_scorer(), _hand_rank())
    peaks = search.peaks(mz[keep], intensity[keep], prec)
    found = search.search(peaks, (prec - PROTON) * 2, 2)
    keys = {"".join(f.tokens) for f in found}
    # the gap holds L and D in one step (a composition, either order)
    assert keys & {"PEPTLDEKAGR", "PEPTDLEKAGR"}


def test_edge_tables_hold_compositions_with_their_masses():
    tables = EdgeTables(VOCAB, _hand_rank())
    for mass, tokens, *_ in (tables.inner, tables.start, tables.end):
        assert np.all(np.diff(mass) >= 0)
        for m, row in zip(mass[::97], tokens[::97], strict=True):
            idx = row[row >= 0]
            assert math.isclose(m, VOCAB.masses[idx].sum(), abs_tol=1e-9)
    names = {VOCAB.tokens[i].name for i in tables.inner[1].ravel() if i >= 0}
    assert "I" not in names and "N[UNIMOD:7]" not in names  # L, D stand in
    nterm = tables.start[3]
    assert nterm.any() and not any(
        VOCAB.tokens[i].n_terminal for i in tables.inner[1].ravel() if i >= 0)


def test_peak_once_counts_each_peak_at_one_cleavage():
    mz, intensity, prec = _spectrum("PEPTLDEKAGR", 2, noise=0)
    cfg = ev.EvidenceConfig()
    peaks = ev.prepare_peaks(mz, intensity, prec, cfg)
    total = (prec - PROTON) * 2 - WATER
    site = cleavage_prefixes(tuple("PEPTLDEKAGR"), VOCAB)[4]
    twice = np.array([site, site])  # one cleavage listed twice
    once = peak_once_features(peaks[0], peaks[1], twice, total, 2,
                              cfg.fragment_tol, False, 2)
    free = ev.prefix_features(peaks, twice, total, 2, cfg)
    assert free[1, 0] == 1 and once[1, 0] == 0  # b1 hit only counted once
    np.testing.assert_allclose(once[0], free[0])
    # the batch kernel sums exactly these rows, per peptide
    search = EvidenceSearch(VOCAB, _hand_scorer(), _hand_rank())
    tokens, lengths = search.encode([tuple("PEPTLDEKAGR"), tuple("GGG")])
    sums, n_sites, summary, context = peak_once_batch(
        peaks[0], peaks[1], tokens, lengths, VOCAB.masses,
        VOCAB.n_terminal, residue_classes(VOCAB), 2, cfg.fragment_tol,
        False, 2)
    sites = cleavage_prefixes(tuple("PEPTLDEKAGR"), VOCAB)
    rows = peak_once_features(peaks[0], peaks[1], sites, total, 2,
                              cfg.fragment_tol, False, 2)
    np.testing.assert_allclose(sums[0], rows.sum(axis=0))
    assert list(n_sites) == [10, 2]
    assert summary[0, 0] == 1.0 and summary[0, 1] == 1.0  # full ladder
    assert summary[0, 3] == 0 and summary[1, 0] < 1
    # residue context, by hand: PEPTLDEKAGR's ten cleavages all show an
    # ion, so each is "seen" after its left and before its right residue
    names = dict(zip(CONTEXT_NAMES, context[0]))
    assert names["seen_after_P"] == 2 and names["seen_before_P"] == 1
    assert names["seen_after_E"] == 2 and names["seen_before_R"] == 1
    assert names["seen_after_L"] == 1 and names["seen_before_L"] == 1
    assert names["first_P"] == 1 and names["second_E"] == 1
    assert sum(v for n, v in names.items() if n.startswith("unseen")) == 0
    assert context[0].sum() == 2 * 10 + 2
    ggg = dict(zip(CONTEXT_NAMES, context[1]))  # two cleavages, G|G
    assert ggg["seen_after_G"] + ggg["unseen_after_G"] == 2
    assert ggg["seen_before_G"] + ggg["unseen_before_G"] == 2
    assert ggg["first_G"] == ggg["second_G"] == 1 and context[1].sum() == 6


def test_settings_round_trip_and_version_check(tmp_path):
    rank = RankSettings(model_weight=2.0, confidence={
        "evidence": {"weights": [0] * 9, "bias": 0.0}})
    fitted = FittedSettings(_hand_scorer(), rank)
    path = tmp_path / "s.json"
    fitted.save(path)
    assert FittedSettings.load(path) == fitted
    data = fitted.to_dict()
    assert set(data) >= {"weights", "bias", "model_weight", "confidence"}
    data["feature_names"] = data["feature_names"][:-1]
    with pytest.raises(ValueError, match="refit"):
        FittedSettings.from_dict(data)
    with pytest.raises(ConfigError, match="model_weight"):
        FittedSettings.from_dict({**fitted.to_dict(), "model_weight": "x"})
    with pytest.raises(ConfigError, match="typo"):
        FittedSettings.from_dict({**fitted.to_dict(), "typo": 1})


def test_packaged_scorer_loads_and_fits_the_kernel():
    scorer = load_default().scorer
    assert len(scorer.weights) == ev.N_FEATURES
    # the record keeps the module name the scorer was fitted with
    assert scorer.provenance.get("command", "").startswith((
        "python -m denovo_training.evidence_scorer",
        "python -m training.evidence_scorer"))


def test_ranker_fitted_on_fewer_features_weighs_the_rest_zero():
    from denovo.core.search import RANK_FEATURES, ranking_weights

    names = [n for n in RANK_FEATURES if n not in CONTEXT_NAMES]
    rank = RankSettings(ranker={"features": names,
                                "weights": list(range(len(names)))})
    theta = ranking_weights(_hand_scorer(), rank)
    assert theta[[RANK_FEATURES.index(n) for n in names]].tolist() \
        == list(range(len(names)))
    assert not theta[[RANK_FEATURES.index(n) for n in CONTEXT_NAMES]].any()
    with pytest.raises(ValueError, match="refit"):
        ranking_weights(_hand_scorer(), RankSettings(ranker={
            "features": names + ["no_such_feature"],
            "weights": [0.0] * (len(names) + 1)}))
