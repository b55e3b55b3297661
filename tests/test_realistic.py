"""Realistic simulator: charge model, sources, batches, MGF and CLI."""

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from denovo.core.peptide import precursor_mz
from denovo.io import read_spectra
from denovo_training.data.annotate import annotate, spectrum_stats
from denovo_training.data.ms2pip_library import LibraryIntensity
from denovo_training.data.peptides import ListPeptides
from denovo_training.data.peptide_model import _features
from denovo_training.data.realistic import (ChargeModel, RealisticPeptides,
                                            RealisticSimulator, simulate_mgf)
from denovo_training.data.synthetic import SimulationConfig

CFG = SimulationConfig(min_length=7, max_length=20)


def _peptide_file(path, letters, n=30, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["".join(rng.choice(list(letters), 10)) + "K" for _ in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _simulator(tmp_path, **kw):
    source = ListPeptides(_peptide_file(tmp_path / "p.txt", "AGLSTVEP"))
    return RealisticSimulator(
        source, intensity=LibraryIntensity(None, live=False), **kw)


def test_charge_model_recovers_a_known_model():
    rng = np.random.default_rng(0)
    peps = [tuple(rng.choice(list("AGLKRH"), rng.integers(6, 30)))
            for _ in range(6000)]
    truth = ChargeModel((2, 3, 4), ((1.0, -1.0, 0.0, 0.0),
                                    (-1.0, 0.5, 0.5, 0.0),
                                    (-2.0, 0.5, 0.6, 0.0)))
    charges = truth.sample(rng, peps)
    fitted = ChargeModel.fit(peps, charges)
    err = np.abs(fitted.probabilities(peps) - truth.probabilities(peps))
    assert err.mean() < 0.03
    assert ChargeModel.from_dict(fitted.to_dict()) == fitted
    assert _features([("[UNIMOD:1]-", "K", "H")]).tolist() == \
        [[1.0, 0.2, 2.0, 1.0]]


def test_mixture_draws_sources_by_weight(tmp_path):
    a = ListPeptides(_peptide_file(tmp_path / "a.txt", "AG"))
    b = ListPeptides(_peptide_file(tmp_path / "b.txt", "ST"))
    mix = RealisticPeptides([a, b], [3, 1])
    peps = mix.sample(np.random.default_rng(0), 4000, min_length=6,
                      max_length=20)
    share_a = np.mean(["A" in p or "G" in p for p in peps])
    assert share_a == pytest.approx(0.75, abs=0.03)
    assert len(set(mix.unique(np.random.default_rng(1), 20))) == 20


def test_batch_is_well_formed_and_reproducible(tmp_path):
    sim = _simulator(tmp_path)
    raw = sim.batch(np.random.default_rng(5), 16, CFG)
    again = sim.batch(np.random.default_rng(5), 16, CFG)
    np.testing.assert_array_equal(raw.mz, again.mz)
    assert raw.offsets[0] == 0 and raw.offsets[-1] == len(raw.mz)
    assert (np.diff(raw.offsets) > 0).all()
    assert raw.intensity.dtype == np.float32 and (raw.intensity > 0).all()
    assert set(raw.charge.tolist()) <= {2, 3, 4}
    for i, pep in enumerate(raw.peptides):
        mz, _ = raw.spectrum(i)
        assert (np.diff(mz) >= 0).all()
        want = precursor_mz(pep, int(raw.charge[i]))
        assert abs(raw.precursor_mz[i] - want) / want < 20e-6


def test_clean_spectra_hold_the_full_ladder_only(tmp_path):
    sim = _simulator(tmp_path)
    clean = SimulationConfig(min_length=7, max_length=20, clean_fraction=1)
    raw = sim.batch(np.random.default_rng(0), 8, clean)
    for i, pep in enumerate(raw.peptides):
        stats = spectrum_stats(annotate(*raw.spectrum(i), pep,
                                        int(raw.charge[i])))
        assert stats["peaks_noise"] == 0
        assert stats["coverage"] > 0.5


def test_realistic_spectra_have_noise_and_partial_coverage(tmp_path):
    # MS2PIP-like predictions spanning three decades (the fitted b/y
    # model is for those, not for the narrow heuristic fallback).
    sim = _simulator(tmp_path)
    spread = np.random.default_rng(1)
    sim.intensity.lookup = lambda peps, zs: [
        10.0 ** spread.uniform(-3, 0, (4, len(p) - 1)) for p in peps]
    raw = sim.batch(np.random.default_rng(0), 64, CFG)
    stats = [spectrum_stats(annotate(*raw.spectrum(i), p, int(raw.charge[i])))
             for i, p in enumerate(raw.peptides)]
    assert np.median([s["peaks_noise"] for s in stats]) > 10
    assert 0.1 < np.median([s["coverage"] for s in stats]) < 0.95


def test_simulate_mgf_round_trips(tmp_path):
    peps = _peptide_file(tmp_path / "p.txt", "AGLSTVEPMC")
    out = tmp_path / "sim.mgf"
    assert simulate_mgf(out, 10, peptides=peps, seed=3,
                        batch_size=4) == 10
    spectra = list(read_spectra(out))
    assert len(spectra) == 10 and all(s.ok for s in spectra)
    for s in spectra:
        assert s.peptide is not None and s.charge in (2, 3, 4)
        want = precursor_mz(s.peptide, s.charge)
        assert abs(s.precursor_mz - want) / want < 20e-6
    with pytest.raises(ValueError, match="peptide list"):
        simulate_mgf(out, 1)


def test_cli_simulate(tmp_path):
    from denovo.cli import main

    peps = _peptide_file(tmp_path / "p.txt", "AGLSTVEP")
    out = tmp_path / "cli.mgf"
    runner = CliRunner()
    res = runner.invoke(main, ["simulate", "--peptides", str(peps), "--n",
                               "5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sum(1 for _ in read_spectra(out)) == 5
    res = runner.invoke(main, ["simulate", "--n", "5", "-o", str(out)])
    assert res.exit_code != 0 and "--peptides" in res.output


def test_simulate_does_not_import_torch(tmp_path):
    peps = _peptide_file(tmp_path / "p.txt", "AGLSTVEP")
    code = ("import sys\nfrom denovo.cli import main\n"
            "try:\n    main(['simulate', '--peptides', sys.argv[1], '--n',"
            " '3', '-o', sys.argv[2]])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    res = subprocess.run([sys.executable, "-c", code, str(peps),
                          str(tmp_path / "x.mgf")], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr


def test_only_fitted_derived_ions_are_drawn(tmp_path):
    # a ions on, every other extra off: each peak must be b/y or a (an
    # a-H2O / a-NH3 drawn as an a ion would show up as noise).
    import copy

    from denovo_training.data.noise_model import load_params

    params = copy.deepcopy(load_params())
    for fit in (*params["a_ions"].values(), *params["losses"].values()):
        fit["orphan"]["p"] = 0.0
        fit["p"] = 1.0 if fit in params["a_ions"].values() else 0.0
    params["isotope_per_da"]["p"] = 0.0
    params["immonium"]["p"] = {}
    params["internal"]["p"] = 0.0
    for fit in params["precursor"].values():
        fit["p"] = 0.0
    params["noise"]["base"]["p"] = 0.0
    params["noise"]["log_count"].update(intercept=-50.0, sigma=0.0)
    sim = _simulator(tmp_path, params=params)
    raw = sim.batch(np.random.default_rng(0), 16, CFG)
    stats = [spectrum_stats(annotate(*raw.spectrum(i), p, int(raw.charge[i])))
             for i, p in enumerate(raw.peptides)]
    assert sum(s["peaks_noise"] for s in stats) == 0
    assert sum(s["peaks_a"] for s in stats) > 16


def test_length_model_follows_and_smooths_the_real_lengths():
    from denovo_training.data.peptide_model import LengthModel

    peps = [("A",) * 8] * 90 + [("A",) * 12] * 10
    model = LengthModel.fit(peps)
    p = model.probabilities(6, 20)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == p[1] == 0  # shorter than any real peptide
    assert p[8 - 6] > 5 * p[12 - 6] > 0
    assert 0 < p[20 - 6] < p[12 - 6]  # unseen but possible
    lengths = model.sample(np.random.default_rng(0), 2000, min_length=6,
                           max_length=20)
    assert lengths.min() >= 8 and lengths.max() <= 20
    assert np.mean(lengths == 8) == pytest.approx(p[2], abs=0.03)
    assert LengthModel.from_dict(model.to_dict()) == model


def test_batch_draws_fitted_lengths_with_a_fallback(tmp_path):
    import copy

    from denovo_training.data.noise_model import load_params

    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list("AGLSTVEP"), k - 1)) + "K"
             for k in (8, 14) for _ in range(30)]
    (tmp_path / "p.txt").write_text("\n".join(lines) + "\n")
    source = ListPeptides(tmp_path / "p.txt")
    params = copy.deepcopy(load_params())
    params["length"] = {"counts": [0] * 8 + [900] + [0] * 5 + [100]}

    def share_short(params):
        sim = RealisticSimulator(source, params=params,
                                 intensity=LibraryIntensity(None, live=False))
        raw = sim.batch(np.random.default_rng(1), 400, CFG)
        return np.mean([len(p) == 8 for p in raw.peptides])

    # Lengths 9-13 and 15-20 (smoothing) are not in the list: the
    # source's own draw stands in for them.
    assert share_short(params) > 0.75
    del params["length"]  # older files: the source's lengths
    assert share_short(params) == pytest.approx(0.5, abs=0.08)


def test_first_immonium_ion_stands_for_a1(tmp_path):
    import copy

    from denovo_training.data.noise_model import load_params

    params = copy.deepcopy(load_params())
    imm = params["immonium"]
    imm["p"] = {}
    imm["first"]["p"] = {r: 1.0 for r in "LSTVEP"}
    # No unexplained peaks: one could fall next to a1 by chance.
    params["noise"]["base"]["p"] = 0.0
    params["noise"]["log_count"].update(intercept=-50.0, sigma=0.0)
    source = ListPeptides(_peptide_file(tmp_path / "p.txt", "LSTVEP"))
    cfg = SimulationConfig(min_length=7, max_length=20, fragment_ppm=0.0)

    def spectra(a_rate):
        for fit in params["a_ions"].values():
            fit["p"] = fit["orphan"]["p"] = a_rate
        sim = RealisticSimulator(source, params=params,
                                 intensity=LibraryIntensity(None, live=False))
        raw = sim.batch(np.random.default_rng(0), 8, cfg)
        return [(raw.spectrum(i)[0],
                 annotate(*raw.spectrum(i), p, int(raw.charge[i])))
                for i, p in enumerate(raw.peptides)]

    for _, ann in spectra(0.0):
        assert ann.immonium_obs[0] > 0  # the first residue's, always
    for mz, ann in spectra(1.0):
        # One peak at a1, not an a ion and an immonium ion on top.
        a1 = mz[np.abs(mz - ann.mz[ann.klass == 2].min()) < 0.02]
        assert len(a1) == 1


def test_isotope_rate_follows_the_parent_level(tmp_path):
    sim = _simulator(tmp_path)
    iso = sim.params["isotope_per_da"]
    rate = sim._isotope_rate(np.array([0.01, 1.0]))
    assert rate.shape == (2,) and ((0 <= rate) & (rate <= 1)).all()
    iso["by_parent"] = {"log10_parent": [-2.0, -1.0], "p": [0.1, 0.9]}
    assert sim._isotope_rate(np.array([10 ** -1.875, 1.0])).tolist() == \
        pytest.approx([0.1, 0.9])
    del iso["by_parent"]  # older files: one flat rate
    assert sim._isotope_rate(np.array([0.01, 1.0])).tolist() == \
        [iso["p"], iso["p"]]


def test_losses_follow_the_parent_residues(tmp_path):
    import copy

    from denovo.core.fragments import ION_B
    from denovo_training.data.noise_model import load_params

    params = copy.deepcopy(load_params())
    for fit in params["losses"].values():
        fit["by_prone"] = {"prone": {"p": 1.0, "orphan": {"p": 0.0}},
                           "other": {"p": 0.0, "orphan": {"p": 0.0}}}
        fit["by_charge"] = {"all": {"p": 0.5}, "2": {"p": 0.5}}
    params["loss_spread"]["sigma"] = 0.0
    sim = _simulator(tmp_path, params=params)
    raw = sim.batch(np.random.default_rng(0), 24, CFG)
    prone = other = 0
    for i, p in enumerate(raw.peptides):
        ann = annotate(*raw.spectrum(i), p, int(raw.charge[i]))
        seen = (ann.loss_obs > 0) & (ann.loss_parent > 0)
        b = ann.loss_type == ION_B  # y losses can meet other peaks
        prone += (seen & b & ann.loss_prone).sum()
        other += (seen & b & ~ann.loss_prone).sum()
    assert prone > 20 and other <= prone * 0.05
    # Older files: one rate, no spread, no residue offsets.
    for fit in params["losses"].values():
        del fit["by_prone"], fit["by_charge"]
    del params["loss_spread"], params["immonium"]["offset"]
    raw = _simulator(tmp_path, params=params).batch(
        np.random.default_rng(0), 4, CFG)
    assert len(raw.peptides) == 4


def test_basic_model_picks_peptides_by_their_basic_residues():
    from denovo_training.data.peptide_model import BasicModel, n_basic

    # Real: 10-token peptides with one basic residue (9 in 10) or two.
    real = [tuple("AGLSTVEPGK")] * 90 + [tuple("AGLSKVEPGK")] * 10
    model = BasicModel.fit(real)
    p = model.probabilities(10)
    assert p[1] > 0.8 and 0 < p[2] < 0.2 and p.sum() == pytest.approx(1)
    # An unseen length falls back to the pooled histogram.
    assert model.probabilities(30) == pytest.approx(
        np.array([0, 0.9, 0.1]))
    # A pool rich in basic residues (like a library) is thinned to it.
    pool = [tuple("AGLSTVEPGK")] * 100 + [tuple("AGLSKVEPGK")] * 300
    picked = model.select(np.random.default_rng(0), pool, 1000, 10)
    assert np.mean(n_basic(picked) == 1) == pytest.approx(p[1], abs=0.04)
    # Counts the pool lacks: the nearest it has.
    only3 = [tuple("AKLSKVEPGK")] * 5
    assert n_basic(model.select(np.random.default_rng(0), only3, 9,
                                10)).tolist() == [3] * 9
    assert BasicModel.from_dict(model.to_dict()) == model


def test_batch_draws_fitted_basic_residues_or_not(tmp_path):
    import copy

    from denovo_training.data.noise_model import load_params
    from denovo_training.data.peptide_model import BasicModel, n_basic

    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list("AGLSTVEP"), 9)) + "K" for _ in
             range(20)] + ["".join(rng.choice(list("AGKRHP"), 9)) + "K"
                           for _ in range(60)]
    (tmp_path / "p.txt").write_text("\n".join(lines) + "\n")
    source = ListPeptides(tmp_path / "p.txt")
    params = copy.deepcopy(load_params())
    params["basic"] = BasicModel.fit([tuple("AGLSTVEPGK")] * 50).to_dict()

    def one_basic(params):
        sim = RealisticSimulator(source, params=params,
                                 intensity=LibraryIntensity(None, live=False))
        raw = sim.batch(np.random.default_rng(1), 300, CFG)
        return np.mean(n_basic(raw.peptides) == 1)

    assert one_basic(params) > 0.9
    del params["basic"]  # older files: the source's own mix
    assert one_basic(params) < 0.5


def test_internal_rates_by_charge_older_files_without(tmp_path):
    import copy

    from denovo_training.data.noise_model import load_params

    params = copy.deepcopy(load_params())
    params["internal"]["p"] = 0.5
    params["internal"]["by_charge"] = {"all": {"p": 0.5}, "2": {"p": 0.0},
                                       "3": {"p": 1.0}}
    params.pop("internal_spread", None)
    sim = _simulator(tmp_path, params=params)
    peps = sim.source.sample(np.random.default_rng(0), 6, min_length=7,
                             max_length=20)
    clean = np.zeros(6, bool)

    def n_peaks(z):  # internal peaks, plus a few immonium / precursor
        spec, _, _ = sim._peptide_peaks(np.random.default_rng(0), peps,
                                        np.full(6, z), clean,
                                        np.full(6, 1000.0))
        return len(spec)

    assert n_peaks(3) > n_peaks(2) + 6 * 20  # rate 1 at 3+, 0 at 2+
    # Older files: one rate for every charge, no spread.
    del params["internal"]["by_charge"]
    for fit in params["precursor"].values():
        fit.pop("by_charge", None)
    raw = _simulator(tmp_path, params=params).batch(
        np.random.default_rng(0), 4, CFG)
    assert len(raw.peptides) == 4


def test_internal_spread_widens_the_internal_counts(tmp_path):
    import copy

    from denovo_training.data.noise_model import load_params

    params = copy.deepcopy(load_params())
    params["internal"]["p"] = 0.3
    params["internal"].pop("by_charge", None)

    def counts(sigma):
        params["internal_spread"] = {"sigma": sigma}
        sim = _simulator(tmp_path, params=params)
        peps = [tuple("AGLSTVEPGK")] * 300
        spec, _, _ = sim._peptide_peaks(
            np.random.default_rng(0), peps, np.full(300, 2),
            np.zeros(300, bool), np.full(300, 1000.0))
        return np.bincount(spec, minlength=300)

    assert counts(0.0).mean() == pytest.approx(counts(1.5).mean(), rel=0.2)
    assert counts(1.5).var() > 2 * counts(0.0).var()
