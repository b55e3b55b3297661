"""Preprocessing against spectrum_utils (real spectra) and plain Python."""

import math

import numpy as np
import pytest
from pyteomics import mass as pmass
from pyteomics import mgf

from denovo.core.preprocess import (
    PreprocessConfig, PreprocessedBatch, preprocess, preprocess_batch,
    preprocess_csr,
)

H_ATOM = pmass.nist_mass["H"][0][0]


def reference(mz, intensity, precursor_mz, charge, config):
    """Slow plain-Python model of the documented pipeline."""
    peaks = sorted(zip(mz.tolist(), intensity.tolist(), strict=True),
                   key=lambda p: p[0])
    lo = -math.inf if config.min_mz is None else config.min_mz
    hi = math.inf if config.max_mz is None else config.max_mz
    peaks = [p for p in peaks if lo <= p[0] <= hi]
    tol = config.remove_precursor_tol_da
    if tol is not None:
        neutral = (precursor_mz - H_ATOM) * charge
        centres = [precursor_mz] + [neutral / z + H_ATOM
                                    for z in range(1, charge + 1)]
        peaks = [p for p in peaks if all(abs(p[0] - c) > tol
                                         for c in centres)]
    if peaks:
        top = max(p[1] for p in peaks)
        peaks = [p for p in peaks
                 if p[1] > config.min_intensity_ratio * top]
    if len(peaks) > config.max_peaks:
        ranked = sorted(range(len(peaks)), key=lambda j: (-peaks[j][1], j))
        peaks = [peaks[j] for j in sorted(ranked[:config.max_peaks])]
    values = [float(np.sqrt(np.float32(p[1]))) if config.sqrt_intensity
              else p[1] for p in peaks]
    if config.normalize and values:
        norm = math.sqrt(sum(v * v for v in values))
        values = [v / norm for v in values]
    return (np.array([p[0] for p in peaks], np.float64),
            np.array(values, np.float32))


def spectrum_utils_pipeline(mz, intensity, precursor_mz, charge):
    """Casanovo v4 / depthcharge: the spectrum_utils calls it makes."""
    sus = pytest.importorskip("spectrum_utils.spectrum")
    spec = sus.MsmsSpectrum("", precursor_mz, charge,
                            mz.astype(np.float64),
                            intensity.astype(np.float32))
    spec.set_mz_range(50.0, 2500.0)
    if len(spec.mz):
        spec.remove_precursor_peak(2.0, "Da")
    if len(spec.mz):
        spec.filter_intensity(0.01, 150)
    if not len(spec.mz):
        return np.zeros(0), np.zeros(0, np.float32)
    spec.scale_intensity("root", 1)
    return spec.mz, spec.intensity / np.linalg.norm(spec.intensity)


def test_matches_spectrum_utils_on_real_spectra(real_file):
    spectra = list(mgf.read(str(real_file("QEPlus2_10212016_40_F5.mgf")),
                            use_index=False))
    assert len(spectra) > 1000
    mzs, ints, precs, charges = [], [], [], []
    for s in spectra:
        mzs.append(s["m/z array"])
        ints.append(s["intensity array"])
        precs.append(s["params"]["pepmass"][0])
        charges.append(int(s["params"]["charge"][0]))
    batch = preprocess_batch(mzs, ints, precs, charges)
    trimmed = 0
    for b, (mz, it, p, z) in enumerate(zip(mzs, ints, precs, charges,
                                           strict=True)):
        ref_mz, ref_int = spectrum_utils_pipeline(mz, it, p, z)
        n = batch.n_peaks[b]
        np.testing.assert_array_equal(batch.mz[b, :n], ref_mz)
        np.testing.assert_allclose(batch.intensity[b, :n], ref_int,
                                   rtol=2e-6)
        assert (batch.mz[b, n:] == 0).all()
        trimmed += n == 150
    assert trimmed > 100  # the top-k step really ran


CONFIGS = [
    PreprocessConfig(),
    PreprocessConfig(max_peaks=5, min_intensity_ratio=0.2),
    PreprocessConfig(min_mz=None, max_mz=None, remove_precursor_tol_da=None,
                     min_intensity_ratio=0.0, sqrt_intensity=False,
                     normalize=False, max_peaks=12),
    PreprocessConfig(min_mz=300.0, max_mz=1200.0,
                     remove_precursor_tol_da=30.0, max_peaks=3),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_random_spectra_match_plain_python(config):
    rng = np.random.default_rng(5)
    cases = []
    for i in range(300):
        n = int(rng.integers(0, 40))
        mz = rng.uniform(0.0, 3000.0, n)
        if i % 3 == 0:  # few distinct intensities: ties at the cut-off
            intensity = rng.integers(0, 6, n).astype(np.float32)
        else:
            intensity = rng.gamma(1.0, 1e4, n).astype(np.float32)
        if i % 4 == 0:
            mz.sort()
        cases.append((mz, intensity, float(rng.uniform(200, 1500)),
                      int(rng.integers(0, 5))))
    batch = preprocess_batch([c[0] for c in cases], [c[1] for c in cases],
                             [c[2] for c in cases], [c[3] for c in cases],
                             config=config)
    assert batch.mz.shape == (300, config.max_peaks)
    for b, (mz, it, p, z) in enumerate(cases):
        ref_mz, ref_int = reference(mz, it, p, z, config)
        got_mz, got_int = preprocess(mz, it, p, z, config=config)
        n = batch.n_peaks[b]
        np.testing.assert_array_equal(got_mz, ref_mz)
        np.testing.assert_allclose(got_int, ref_int, rtol=2e-6)
        np.testing.assert_array_equal(batch.mz[b, :n], got_mz)
        np.testing.assert_array_equal(batch.intensity[b, :n], got_int)


def test_edge_cases():
    empty = np.zeros(0)
    mz, it = preprocess(empty, empty, 500.0, 2)
    assert mz.size == 0 and it.dtype == np.float32
    # Everything outside the m/z range, or the precursor only.
    assert preprocess([10.0, 3000.0], [1, 1], 500.0, 2)[0].size == 0
    assert preprocess([500.5, 998.0], [1, 1], 500.0, 2)[0].size == 0
    # Zero intensities never pass the "strictly above" threshold.
    assert preprocess([100.0, 200.0], [0, 0], 500.0, 2)[0].size == 0
    # Ties at the cut-off keep the lower m/z; output sorted by m/z.
    mz, it = preprocess([400.0, 300.0, 200.0, 100.0], [5, 5, 9, 5], 900.0, 2,
                        config=PreprocessConfig(max_peaks=2))
    np.testing.assert_array_equal(mz, [100.0, 200.0])
    assert np.linalg.norm(it) == pytest.approx(1.0, rel=1e-6)
    # Unknown charge (None or 0) removes only the precursor m/z itself.
    mz, _ = preprocess([300.0, 500.0, 998.0], [1, 1, 1], 500.0, None)
    np.testing.assert_array_equal(mz, [300.0, 998.0])
    batch = preprocess_batch([], [], [], [])
    assert batch.mz.shape == (0, 150) and batch.mask.shape == (0, 150)


def test_batch_mask_and_out_buffer():
    rng = np.random.default_rng(6)
    mzs = [rng.uniform(60, 2000, n) for n in (0, 10, 400)]
    ints = [rng.uniform(1, 100, len(m)).astype(np.float32) for m in mzs]
    fresh = preprocess_batch(mzs, ints, [700.0] * 3, [2, 3, 2])
    np.testing.assert_array_equal(fresh.mask.sum(axis=1), fresh.n_peaks)
    assert fresh.n_peaks[0] == 0 and fresh.n_peaks[2] == 150
    buf = PreprocessedBatch(np.full((5, 160), 9.0),
                            np.full((5, 160), 9, np.float32),
                            np.zeros(5, np.int64))
    got = preprocess_batch(mzs, ints, [700.0] * 3, [2, 3, 2], out=buf)
    assert np.shares_memory(got.mz, buf.mz) and got.mz.shape == (3, 160)
    np.testing.assert_array_equal(got.mz[:, :150], fresh.mz)
    assert (got.intensity[:, 150:] == 0).all()
    with pytest.raises(ValueError, match="need"):
        preprocess_batch(mzs, ints, [700.0] * 3, [2, 3, 2],
                         out=PreprocessedBatch(*(a[:2] for a in buf)))


def test_bad_input_is_reported():
    with pytest.raises(ValueError, match="2 m/z values but 1"):
        preprocess([1.0, 2.0], [1.0], 500.0, 2)
    with pytest.raises(ValueError, match="non-finite"):
        preprocess([1.0, np.nan], [1.0, 1.0], 500.0, 2)
    with pytest.raises(ValueError, match="spectrum 1: precursor"):
        preprocess_csr([1.0, 2.0], [1.0, 1.0], [0, 1, 2], [500.0, -1.0],
                       [2, 2])
    with pytest.raises(ValueError, match="offsets"):
        preprocess_csr([1.0, 2.0], [1.0, 1.0], [0, 3], [500.0], [2])


def test_config_round_trip_and_validation():
    config = PreprocessConfig(max_mz=None, min_intensity_ratio=0,
                              max_peaks=200)
    data = config.to_dict()
    assert data["min_intensity_ratio"] == 0.0
    assert PreprocessConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown.*n_peaks"):
        PreprocessConfig.from_dict({**data, "n_peaks": 1})
    with pytest.raises(ValueError, match="missing.*normalize"):
        PreprocessConfig.from_dict({k: v for k, v in data.items()
                                    if k != "normalize"})
    partial = PreprocessConfig.from_dict({"max_peaks": 64}, partial=True)
    assert partial == PreprocessConfig(max_peaks=64)
    for bad in ({"max_peaks": 0}, {"max_peaks": 1.5}, {"normalize": 1},
                {"min_intensity_ratio": None}, {"min_mz": float("nan")},
                {"min_mz": 100.0, "max_mz": 50.0},
                {"remove_precursor_tol_da": -1.0}):
        with pytest.raises(ValueError):
            PreprocessConfig(**bad)
