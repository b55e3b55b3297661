"""Fragment resolution read off the peaks of files that do not state it."""

from __future__ import annotations

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.resolution import HIGH, LOW, fragment_resolution
from denovo.io import Spectrum, read_spectra

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def _spectra(n, error_da, rng, noise_peaks=30):
    """Ladders of random peptides, fragments off by ~``error_da``."""
    out = []
    for k in range(n):
        pep = "".join(rng.choice(list(RESIDUES), size=rng.integers(8, 14)))
        ions = [pmass.fast_mass(pep[:i], ion_type="b", charge=1)
                for i in range(1, len(pep))]
        ions += [pmass.fast_mass(pep[i:], ion_type="y", charge=1)
                 for i in range(1, len(pep))]
        ions = np.array(ions) + rng.normal(0, error_da, len(ions))
        noise = rng.uniform(100, 1500, noise_peaks)
        mz = np.sort(np.concatenate([ions, noise]))
        out.append(Spectrum(mz, rng.uniform(1, 100, mz.size).astype(
            np.float32), pmass.fast_mass(pep, charge=2), charge=2,
            index=k, source="x.mgf"))
    return out


def _write_mgf(path, spectra):
    from denovo.io.mgf_writer import MgfWriter

    with MgfWriter(path) as writer:
        for s in spectra:
            writer.write(s.mz, s.intensity, precursor_mz=s.precursor_mz,
                         charge=s.charge, title=f"t{s.index}")
    return path


@pytest.mark.parametrize("error_da, want", [(0.003, HIGH), (0.15, LOW),
                                            (0.3, LOW)])
def test_resolution_of_simulated_ladders(error_da, want):
    rng = np.random.default_rng(1)
    assert fragment_resolution(_spectra(300, error_da, rng)) == want


def test_too_few_spectra_cannot_tell():
    rng = np.random.default_rng(2)
    assert fragment_resolution(_spectra(2, 0.003, rng)) is None
    assert fragment_resolution([]) is None


@pytest.mark.parametrize("name, want", [
    ("nist_bsa_consensus_725.msp", LOW),  # NIST's ion-trap CID library
    ("QEPlus2_10212016_40_F5.mgf", HIGH), ("iprg2013_F13.mgf", HIGH),
    ("proteometools_hcd_82.msp", HIGH), ("hela_bibliospec_340.mgf", HIGH)])
def test_resolution_of_real_files(real_file, name, want):
    assert fragment_resolution(read_spectra(real_file(name))) == want


def test_a_low_resolution_mgf_is_read_at_the_ion_trap_tolerance(tmp_path):
    from click.testing import CliRunner

    from denovo.cli import main

    path = _write_mgf(tmp_path / "trap.mgf",
                      _spectra(300, 0.2, np.random.default_rng(3)))
    out = tmp_path / "out.csv"
    args = ["sequence", str(path), "--mode", "evidence", "--csv", str(out),
            "--no-progress"]
    auto = CliRunner().invoke(main, args)
    assert auto.exit_code == 0, auto.output
    assert "CID (estimated) 300" in auto.output
    assert "read at 0.5 Da" in auto.output
    # a tolerance the user gives holds for every spectrum, of either class
    given = CliRunner().invoke(main, args + ["--fragment-tol", "0.02Da"])
    assert given.exit_code == 0, given.output
    assert "CID (estimated) 300" in given.output
    assert "read at 0.02 Da" in given.output
    # a class the user gives holds for every spectrum: no estimate
    for cls, said in (("HCD", "HCD 300"), ("CID", "CID 300")):
        forced = CliRunner().invoke(main, args + ["--fragmentation", cls])
        assert forced.exit_code == 0, forced.output
        assert f"fragmentation:     {said} " in forced.output
        assert "estimated" not in forced.output


def test_the_mztab_says_how_each_run_was_read(tmp_path):
    from click.testing import CliRunner
    from pyteomics import mztab

    from denovo.cli import main

    path = _write_mgf(tmp_path / "trap.mgf",
                      _spectra(40, 0.2, np.random.default_rng(4)))
    out = tmp_path / "out.mztab"
    run = CliRunner().invoke(main, [
        "sequence", str(path), "--mode", "evidence", "-o", str(out),
        "--no-progress", "--fragmentation", "CID"])
    assert run.exit_code == 0, run.output
    meta = mztab.MzTab(str(out)).metadata
    assert meta["ms_run[1]-fragmentation_method[1]"] == \
        "collision-induced dissociation"
    assert meta["custom[1]"][1] == "CID 40"
    settings = [str(v) for k, v in meta.items() if "setting" in k]
    assert "fragment_tol[CID] = 0.5 Da" in settings
    assert "fragment_tol[HCD] = 0.02 Da" in settings
