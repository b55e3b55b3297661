"""Synthetic generator, peptide sources and batch collation.

Oracles: pyteomics for peptide and fragment masses, plain-Python
re-computation of what the generator promises (determinism, dropout,
noise, charge bounds).
"""

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.constants import PROTON
from denovo.core.preprocess import PreprocessConfig, preprocess
from denovo.core.vocab import DEFAULT_VOCABULARY
from denovo_training.data.batch import concat, to_arrays
from denovo_training.data.peptides import (
    DigestPeptides,
    ListPeptides,
    ModificationRates,
    RandomPeptides,
    apply_modifications,
    tryptic_digest,
)
from denovo_training.data.synthetic import (
    SimulationConfig,
    Simulator,
    ion_table,
    step_rng,
)

UNIMOD_DELTA = {"C[UNIMOD:4]": 57.021464, "M[UNIMOD:35]": 15.994915,
                "N[UNIMOD:7]": 0.984016, "Q[UNIMOD:7]": 0.984016}
NTERM_DELTA = {"[UNIMOD:1]-": 42.010565, "[UNIMOD:5]-": 43.005814,
               "[UNIMOD:385]-": -17.026549,
               "[UNIMOD:5][UNIMOD:385]-": 25.979265}


def pyteomics_mass(peptide) -> float:
    """Neutral mass from pyteomics plus UNIMOD deltas (independent)."""
    residues = "".join(t[0] for t in peptide if not t.endswith("-"))
    delta = sum(UNIMOD_DELTA.get(t, 0.0) + NTERM_DELTA.get(t, 0.0)
                for t in peptide)
    return pmass.fast_mass(residues) + delta


def test_step_rng_is_a_pure_function_of_seed_and_step():
    a = Simulator().batch(step_rng(3, 7), 8, SimulationConfig())
    b = Simulator().batch(step_rng(3, 7), 8, SimulationConfig())
    c = Simulator().batch(step_rng(3, 8), 8, SimulationConfig())
    assert a.peptides == b.peptides
    np.testing.assert_array_equal(a.mz, b.mz)
    np.testing.assert_array_equal(a.intensity, b.intensity)
    assert a.peptides != c.peptides


def test_clean_spectra_hold_exact_fragments_and_precursor():
    cfg = SimulationConfig(clean_fraction=1.0, min_length=8, max_length=14)
    raw = Simulator().batch(np.random.default_rng(1), 16, cfg)
    for i, peptide in enumerate(raw.peptides):
        z = int(raw.charge[i])
        expected = (pyteomics_mass(peptide) + z * PROTON) / z
        assert raw.precursor_mz[i] == pytest.approx(expected, abs=2e-5)
        mz, _ = raw.spectrum(i)
        residues = "".join(t[0] for t in peptide[-2:])
        # y2 of the peptide must be a peak (never dropped when clean).
        y2 = pmass.fast_mass(residues, ion_type="y", charge=1) + sum(
            UNIMOD_DELTA.get(t, 0.0) for t in peptide[-2:])
        assert np.min(np.abs(mz - y2)) < 1e-5
        assert np.all(np.diff(mz) >= 0)


def test_noise_dropout_and_ppm_error_behave():
    noisy = SimulationConfig(dropout=0.5, noise_peaks=50, fragment_ppm=10,
                             precursor_ppm=10, a_ions=False,
                             neutral_losses=False)
    quiet = SimulationConfig(dropout=0.0, noise_peaks=0, fragment_ppm=0,
                             precursor_ppm=0, a_ions=False,
                             neutral_losses=False)
    sim = Simulator()
    a = sim.batch(np.random.default_rng(5), 64, quiet)
    b = sim.batch(np.random.default_rng(5), 64, noisy)
    ions = ion_table(a.peptides, a.charge, a_ions=False,
                     neutral_losses=False)
    inside = (ions.mz >= 50) & (ions.mz <= 2500)
    assert len(a.mz) == inside.sum()  # every ion, nothing else
    # 50% dropout + ~50 noise peaks per spectrum.
    expected = 0.5 * inside.sum() + 50 * 64
    assert abs(len(b.mz) - expected) < 0.1 * expected
    ppm = (b.precursor_mz - a.precursor_mz) / a.precursor_mz * 1e6
    assert 5 < np.std(ppm) < 15


def test_charges_and_multiply_charged_fragments():
    cfg = SimulationConfig(charges=(4,), charge_weights=(1.0,))
    raw = Simulator().batch(np.random.default_rng(2), 4, cfg)
    assert set(raw.charge.tolist()) == {4}
    ions = ion_table(raw.peptides, raw.charge, max_fragment_charge=3)
    assert set(ions.charge.tolist()) == {1, 2, 3}
    ions = ion_table(raw.peptides, np.full(4, 2), max_fragment_charge=3)
    assert set(ions.charge.tolist()) == {1}


def test_intensity_model_prefers_y_ions():
    cfg = SimulationConfig(intensity_sigma=0.1, proline_boost=1.0)
    sim = Simulator()
    peptides = RandomPeptides().sample(np.random.default_rng(0), 32,
                                       min_length=10, max_length=10)
    ions = ion_table(peptides, np.full(32, 2), neutral_losses=False)
    inten = sim.intensity.predict(ions, np.random.default_rng(0), cfg)
    y = inten[(ions.series == 2) & (ions.charge == 1)].mean()
    b = inten[(ions.series == 1) & (ions.charge == 1)].mean()
    a = inten[(ions.series == 0)].mean()
    assert y > 1.5 * b > 1.5 * a


def test_random_peptides_lengths_frequencies_and_mods():
    rates = ModificationRates(oxidation=1.0, acetyl=1.0)
    peps = RandomPeptides(rates).sample(np.random.default_rng(0), 500,
                                        min_length=6, max_length=9)
    assert all(6 <= len(p) <= 9 for p in peps)
    assert all(t in DEFAULT_VOCABULARY for p in peps for t in p)
    assert "M" not in {t for p in peps for t in p}
    assert sum(p[0] == "[UNIMOD:1]-" for p in peps) > 300
    assert all(p[-1] in "KR" for p in peps) is False  # 80% tryptic only
    assert np.mean([p[-1] in ("K", "R") for p in peps]) > 0.7


def test_apply_modifications_fixed_cysteine():
    toks = apply_modifications("ACMC", np.random.default_rng(0),
                               ModificationRates(oxidation=0.0,
                                                 acetyl=0.0, carbamyl=0.0,
                                                 ammonia_loss=0.0,
                                                 carbamyl_ammonia_loss=0.0))
    assert toks == ("A", "C[UNIMOD:4]", "M", "C[UNIMOD:4]")


def test_tryptic_digest_rules():
    assert tryptic_digest("AAAKPBBBRCCCCCCK", missed_cleavages=0,
                          min_length=1) == ["AAAKPBBBR", "CCCCCCK"]
    assert "AAAKPBBBRCCCCCCK" in tryptic_digest(
        "AAAKPBBBRCCCCCCK", missed_cleavages=1, min_length=1)


def test_list_and_fasta_sources(tmp_path):
    path = tmp_path / "peps.txt"
    path.write_text("PEPTIDEK\n_.M[UNIMOD:35]ASSIVEK._\nBADX\n")
    src = ListPeptides(path, ModificationRates(oxidation=0.0))
    assert src.sequences == ["MASSIVEK", "PEPTIDEK"]
    got = src.sample(np.random.default_rng(0), 10, min_length=8,
                     max_length=8)
    assert {"".join(p) for p in got} <= {"MASSIVEK", "PEPTIDEK"}
    fasta = tmp_path / "p.fasta"
    fasta.write_text(">p1\nMAAAAAKGGGGGGR\n>p2\nSSSSSSSK\n")
    dig = DigestPeptides(fasta, missed_cleavages=0, min_length=6)
    assert dig.sequences == ["GGGGGGR", "MAAAAAK", "SSSSSSSK"]
    with pytest.raises(ValueError, match="no peptide"):
        dig.sample(np.random.default_rng(0), 1, min_length=20,
                   max_length=30)


def test_to_arrays_uses_the_shared_preprocessing():
    raw = Simulator().batch(np.random.default_rng(4), 6, SimulationConfig())
    cfg = PreprocessConfig(max_peaks=50)
    arrays = to_arrays(raw, preprocess=cfg, max_length=30)
    assert arrays["mz"].shape == (6, 50)
    for i in range(6):
        mz, inten = raw.spectrum(i)
        ref_mz, ref_int = preprocess(mz, inten, raw.precursor_mz[i],
                                     int(raw.charge[i]), config=cfg)
        n = int(arrays["mask"][i].sum())
        np.testing.assert_allclose(arrays["mz"][i, :n], ref_mz, rtol=1e-7)
        np.testing.assert_array_equal(arrays["intensity"][i, :n], ref_int)
    mass = pyteomics_mass(raw.peptides[0])
    assert arrays["precursor_mass"][0] == pytest.approx(mass, rel=3e-5)
    t = arrays["targets"][0]
    assert t[len(raw.peptides[0])] == 1 and t.shape == (31,)


def test_concat_keeps_spectra_apart():
    sim = Simulator()
    a = sim.batch(np.random.default_rng(0), 3, SimulationConfig())
    b = sim.batch(np.random.default_rng(1), 2, SimulationConfig())
    ab = concat([a, b])
    assert len(ab) == 5 and ab.peptides[3] == b.peptides[0]
    np.testing.assert_array_equal(ab.spectrum(4)[0], b.spectrum(1)[0])
    np.testing.assert_array_equal(ab.spectrum(1)[0], a.spectrum(1)[0])


def test_real_dataset_excludes_and_counts(real_file):
    from denovo_training.data.real import RealDataset, split_by_peptide

    path = real_file("yeast_small.mzML")
    data = RealDataset([path], max_length=30)
    assert len(data) == 65  # the identified spectra
    assert data.excluded["unlabelled"] == 118 - 65
    short = RealDataset([path], max_length=10)
    assert len(short) + sum(v for k, v in short.excluded.items()
                            if k.startswith("longer")) == 65
    train, dev = split_by_peptide([s.peptide for s in data.spectra],
                                  fractions=(0.7, 0.3))
    keys = {data.spectra[i].peptide for i in train}
    assert not keys & {data.spectra[i].peptide for i in dev}
    assert len(train) + len(dev) == 65
