"""Annotation of peaks, the fitted noise model and its committed JSON."""

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo_training.data.annotate import (NOISE, PEAK_CLASSES,
                                           AnnotationConfig, annotate,
                                           model_view, spectrum_stats)
from denovo_training.data.noise_fit import fit
from denovo_training.data.noise_model import (DEFAULT_PATH, FittedNoise,
                                              load_params)
from denovo_training.data.real_labelled import load_real

PEP = ("G", "A", "S", "P", "V", "T", "L", "F", "W", "K")
SEQ = "GASPVTLFWK"
C13 = 1.003355


def _ion(i, kind, z=1):
    """pyteomics oracle: m/z of the ion with i residues."""
    part = SEQ[:i] if kind in "ab" else SEQ[-i:]
    return pmass.fast_mass(part, ion_type=kind, charge=z)


def test_annotate_labels_each_kind_of_peak():
    prec = pmass.fast_mass(SEQ, charge=2)
    b3, y4 = _ion(3, "b"), _ion(4, "y")
    peaks = {
        b3: "b/y", y4: "b/y", _ion(5, "y"): "b/y",
        y4 + C13: "isotope",
        _ion(2, "a"): "a",
        _ion(6, "b") - 18.010565: "loss",
        # Immonium: residue (amino acid - water) - CO + proton.
        pmass.fast_mass("F") - 18.010565 - 27.994915 + 1.00727646677:
            "immonium",
        prec: "precursor",
        # Internal b-type fragment "SPV": residues 3-5, no terminus.
        pmass.fast_mass("SPV", ion_type="b", charge=1): "internal",
        777.777: "noise",
    }
    mz = np.array(sorted(peaks))
    inten = np.linspace(1, 2, len(mz))
    ann = annotate(mz, inten, PEP, 2)
    for m, k in zip(ann.mz, ann.klass, strict=True):
        want = min((v for p, v in peaks.items() if abs(p - m) < 1e-6))
        assert PEAK_CLASSES[k] == want, m
    # The top b/y peak is the most intense of the three b/y peaks.
    by_int = [v for m, v in zip(mz, inten, strict=True)
              if peaks[m] == "b/y"]
    assert ann.by_ref == pytest.approx(max(by_int) / inten.max())
    assert ann.by_hit.sum() == 3
    stats = spectrum_stats(ann)
    assert stats["n_peaks"] == len(mz)
    assert stats["peaks_noise"] == 1
    assert stats["coverage"] == pytest.approx(3 / 18)
    total = sum(stats[f"share_{c.replace('/', '')}"] for c in PEAK_CLASSES)
    assert total == pytest.approx(1.0)


def test_model_view_matches_a_plain_reference():
    rng = np.random.default_rng(1)
    mz = rng.uniform(20, 1500, 400)
    inten = rng.lognormal(0, 2, 400).astype(np.float32)
    cfg = AnnotationConfig(max_peaks=50)
    got_mz, got_int = model_view(mz, inten, cfg)
    ref = [(m, v) for m, v in zip(mz, inten, strict=True) if m >= 50]
    top = max(v for _, v in ref)
    ref = [(m, v / top) for m, v in ref if v / top >= 0.01]
    ref = sorted(sorted(ref, key=lambda x: -x[1])[:50])
    np.testing.assert_allclose(got_mz, [m for m, _ in ref])
    np.testing.assert_allclose(got_int, [v for _, v in ref], rtol=1e-6)


def test_committed_parameters_are_complete():
    params = load_params()
    assert DEFAULT_PATH.name == "noise_model.json"
    assert params["n_spectra"] > 800  # the train side of the split
    assert "python -m denovo_training.data.fit_noise" in params["command"]
    for key in ("detection", "by_scatter", "a_ions", "losses", "immonium",
                "precursor", "internal", "noise", "charge", "length",
                "shared_level", "basic", "internal_spread"):
        assert key in params
    p = np.array(params["detection"]["p"])
    assert ((0 <= p) & (p <= 1)).all()
    assert abs(sum(params["noise"]["mz_weights"]) - 1) < 1e-9


def test_fitted_noise_samples_follow_the_parameters():
    params = load_params()
    noise = FittedNoise(params)
    rng = np.random.default_rng(0)
    prec = np.full(4000, 600.0)
    charge = np.full(4000, 2)
    counts, mz, level = noise.sample(rng, prec, charge)
    assert counts.shape == (4000,) and len(mz) == counts.sum() == len(level)
    mass = (600.0 - 1.00727646677) * 2
    c = params["noise"]["log_count"]
    want = np.exp(c["intercept"] + c["slope_log10_mass"] * np.log10(mass))
    assert np.median(counts) == pytest.approx(want - 1, rel=0.1, abs=2)
    assert mz.min() >= 50 and mz.max() <= 1.5 * mass
    assert level.min() > 0
    # Same seed, same noise.
    again = noise.sample(np.random.default_rng(0), prec, charge)
    np.testing.assert_array_equal(again[1], mz)


def test_fit_on_a_few_real_spectra(shared_data):
    spectra = load_real(shared_data)[:60]
    if len(spectra) < 60:
        pytest.skip("not enough real spectra")

    def flat(peptides, charges):
        # Independent of ms2pip: every b/y ion predicted equally intense.
        return [np.ones((4, len(p) - p[0].endswith("-") - 1))
                for p in peptides]

    params = fit(spectra, flat, rounds=1)
    assert 50 <= params["n_spectra"] <= 60
    for group in (params["a_ions"], params["losses"]):
        for fitted in group.values():
            assert 0 <= fitted["p"] <= 1
            assert 0 <= fitted["orphan"]["p"] <= 1
    real = [spectrum_stats(annotate(s.mz, s.intensity, s.peptide, s.charge))
            for s in spectra]
    noise_peaks = np.median([r["peaks_noise"] for r in real])
    assert noise_peaks > 0
    assert NOISE == len(PEAK_CLASSES) - 1


def _synthetic_real(slope: float, n: int = 160):
    """Spectra simulated with a known b/y slope, as if they were real."""
    import copy
    from types import SimpleNamespace

    from denovo_training.data.noise_fit import _Fixed
    from denovo_training.data.realistic import RealisticSimulator
    from denovo_training.data.synthetic import SimulationConfig

    rng = np.random.default_rng(3)
    peptides = [tuple(rng.choice(list("AGLSTVEPD"), rng.integers(8, 15)))
                + ("K",) for _ in range(n)]
    preds = {p: 10.0 ** rng.uniform(-3.0, 0.0, (4, len(p) - 1))
             for p in peptides}
    truth = copy.deepcopy(load_params())
    truth["by_scatter"].update(slope=slope, sigma=0.3)
    charges = np.full(n, 2)
    sim = RealisticSimulator(None, intensity=_Fixed([preds[p]
                                                     for p in peptides]),
                             params=truth)
    batch = sim.spectra(rng, peptides, charges,
                        SimulationConfig(min_length=1, max_length=100))
    spectra = [SimpleNamespace(mz=batch.spectrum(i)[0],
                               intensity=batch.spectrum(i)[1],
                               peptide=p, charge=2)
               for i, p in enumerate(peptides)]
    return spectra, lambda peps, zs: [preds[p] for p in peps]


def test_calibration_recovers_the_by_slope():
    # The 1% view threshold flattens the seen slope; calibration by
    # simulation must undo that, from below.
    spectra, predict_by = _synthetic_real(0.9)
    direct = fit(spectra, predict_by, rounds=0)["by_scatter"]
    fitted = fit(spectra, predict_by, rounds=3)["by_scatter"]
    assert direct["slope"] < 0.8
    assert abs(fitted["slope"] - 0.9) < 0.08
    assert fitted["sigma"] == pytest.approx(0.3, abs=0.06)


def test_shared_level_is_the_cross_class_covariance():
    from types import SimpleNamespace

    from denovo_training.data.noise_fit import _adjust, _shared_level

    rng = np.random.default_rng(0)

    def spectra(tau):
        out = []
        for _ in range(400):
            u = rng.normal(0, tau)
            klass = np.repeat(np.arange(2, 8), 3)
            out.append(SimpleNamespace(
                klass=klass, by_ref=1.0,
                intensity=10.0 ** (u - 1 + rng.normal(0, 0.3, len(klass)))))
        return out

    assert _shared_level(spectra(0.3))["sigma"] == pytest.approx(0.3,
                                                                 abs=0.05)
    assert _shared_level(spectra(0.0))["sigma"] < 0.08
    params = {"shared_level": {"sigma": 0.3, "cov": 0.09}}
    _adjust(params, {"shared_level": {"cov": 0.09}},
            {"shared_level": {"cov": 0.05}})
    assert params["shared_level"]["sigma"] == pytest.approx(np.sqrt(0.13))


def test_loss_parents_prone_by_residue():
    # GASPVTLFWK: water leaves S/T/E/D, ammonia K/R/Q/N side chains.
    from denovo.core.fragments import ION_B, ION_Y, LOSS_H2O, LOSS_NH3

    from denovo_training.data.derived_ions import prone_parent

    spec = np.zeros(5, int)
    is_y = np.array([False, False, False, True, True])
    cleavage = np.array([2, 3, 8, 9, 9])  # b2, b3, b8, y1, y1
    code = np.array([LOSS_H2O, LOSS_H2O, LOSS_NH3, LOSS_NH3, LOSS_H2O])
    assert prone_parent([SEQ], spec, is_y, cleavage, code).tolist() == \
        [False, True, False, True, False]
    ann = annotate(np.array([500.0]), np.array([1.0]), PEP, 2)
    b = (ann.loss_type == ION_B) & (ann.loss_code == LOSS_H2O)
    assert ann.loss_prone[b].tolist() == [False, False] + [True] * 7
    y = (ann.loss_type == ION_Y) & (ann.loss_code == LOSS_NH3)
    assert ann.loss_prone[y].all()  # every y ion holds the K


def test_loss_spread_is_the_variance_beyond_chance():
    from denovo_training.data.derived_ions import loss_spread

    rng = np.random.default_rng(0)
    parent = np.ones(40)

    def rows(rates):
        return [((rng.random(40) < r).astype(float), parent) for r in rates]

    flat = loss_spread(rows(np.full(400, 0.3)))
    spread = loss_spread(rows(rng.choice([0.1, 0.5], 400)))
    assert flat["sigma"] < 0.3 < spread["sigma"]
    assert spread["var"] > 2 * flat["var"]


def test_immonium_fit_by_residue_and_charge():
    from denovo_training.data.derived_ions import charge_factor, immonium_fit

    rng = np.random.default_rng(0)
    n = 4000
    res = rng.choice(list("LK"), n)
    charge = rng.choice([2, 3], n)
    level = 10.0 ** (np.where(res == "L", -0.5, -1.5)
                     + rng.normal(0, 0.1, n))
    level *= rng.random(n) < np.where(charge == 2, 0.6, 0.3)
    fit = immonium_fit(res, level, np.zeros(n, bool), charge)
    off = fit["offset"]
    assert off["L"]["mu"] - off["K"]["mu"] == pytest.approx(1.0, abs=0.05)
    assert fit["pooled"]["sigma"] == pytest.approx(0.1, abs=0.03)
    factor = charge_factor(fit["by_charge"], np.array([2, 3, 5]))
    assert factor[0] / factor[1] == pytest.approx(2.0, abs=0.2)
    assert factor[2] == 1.0  # an unseen charge
    assert charge_factor(None, np.array([2, 3])).tolist() == [1.0, 1.0]


def test_calibration_scales_each_residue_rate():
    from denovo_training.data.noise_fit import _adjust

    params = {"immonium": {"p": {"L": 0.4, "K": 0.1, "W": 0.5},
                           "by_charge": {"all": {"p": 0.3}}}}
    target = {"immonium": {"p": {"L": 0.3, "K": 0.2, "W": 0.5},
                           "by_charge": {"all": {"p": 0.3}}}}
    got = {"immonium": {"p": {"L": 0.6, "K": 0.1},  # W not seen
                        "by_charge": {"all": {"p": 0.3}}}}
    _adjust(params, target, got)
    assert params["immonium"]["p"] == pytest.approx(
        {"L": 0.2, "K": 0.2, "W": 0.5})


def test_internal_and_precursor_rates_by_charge_and_spread():
    spectra, predict_by = _synthetic_real(0.9, n=60)
    for s in spectra[::2]:
        s.charge = 3  # annotated at 3+: other precursor m/z, same ions
    out = fit(spectra, predict_by, rounds=0)
    rates = out["internal"]["by_charge"]
    assert set(rates) == {"all", "2", "3"}
    assert rates["2"]["p"] == pytest.approx(rates["3"]["p"], abs=0.05)
    pre = out["precursor"]["M"]["by_charge"]
    assert pre["2"]["p"] > 0.1 > pre["3"]["p"]  # none drawn at 3+ m/z
    assert {"var", "scale", "sigma"} <= set(out["internal_spread"])
