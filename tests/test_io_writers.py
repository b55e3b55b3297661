"""mzTab and CSV writers, read back by pyteomics, psm_utils and pandas."""

import numpy as np
import pandas as pd
import pytest
from psm_utils import Peptidoform
from pyteomics import mztab

from denovo.core.constants import PROTON
from denovo.core.peptide import parse, plain_sequence
from denovo.io import PSM, CsvWriter, MzTabWriter, read_spectra
from denovo.io.mztab import PSM_COLUMNS, mztab_modifications

PEPTIDES = [("[UNIMOD:1]-", "A", "M[UNIMOD:35]", "C[UNIMOD:4]", "K"),
            ("P", "E", "P", "T", "I", "D", "E", "K"),
            ("[UNIMOD:5][UNIMOD:385]-", "Q[UNIMOD:7]", "N[UNIMOD:7]", "R")]


def _psms(spectra, rng):
    """Results for ``spectra``: two ranks for some, status rows for some."""
    out = []
    for s in spectra:
        if not s.ok or s.index % 7 == 3:
            out.append(PSM.from_spectrum(
                s, status="skipped:no_peaks" if s.ok else None))
            continue
        for rank in (1, 2) if s.index % 5 == 0 else (1,):
            peptide = PEPTIDES[(s.index + rank) % len(PEPTIDES)]
            out.append(PSM.from_spectrum(
                s, peptide=peptide, score=float(rng.uniform(-1, 0)),
                aa_scores=rng.uniform(0, 1, len(peptide)), rank=rank,
                charge=s.charge or 2))
    return out


@pytest.fixture
def results(real_file):
    rng = np.random.default_rng(0)
    runs = [real_file("pepnet_124.mgf"), real_file("ecoli_small.mzML")]
    psms = []
    for run in runs:
        spectra = list(read_spectra(run))
        psms += _psms(spectra[:40], rng)
    return runs, psms


def test_mztab_round_trip_pyteomics(tmp_path, results):
    runs, psms = results
    path = tmp_path / "out.mztab"
    with MzTabWriter(path, runs, fixed={"C": "C[UNIMOD:4]"},
                     settings={"beam": 5}) as writer:
        writer.write_many(psms[:10])
        # Flushed: the partial file is already readable, under its
        # temporary name; nothing is at the output path yet.
        assert not path.exists()
        partial = mztab.MzTab(str(writer.partial_path))
        assert len(partial.spectrum_match_table) == 10
        for psm in psms[10:]:
            writer.write(psm)
    table = mztab.MzTab(str(path))
    meta, df = table.metadata, table.spectrum_match_table
    assert meta["mzTab-version"] == "1.0.0"
    assert meta["ms_run[1]-location"].endswith("pepnet_124.mgf")
    assert meta["ms_run[2]-location"].endswith("ecoli_small.mzML")
    assert "Carbamidomethyl" in str(meta["fixed_mod[1]"])
    # each run's fragmentation, known when the run ends, in the metadata
    assert str(meta["ms_run[2]-fragmentation_method[1]"]) == \
        "collision-induced dissociation"
    assert "ms_run[1]-fragmentation_method[1]" not in meta
    assert meta["custom[1]"] == ("ms_run[1] spectra per fragmentation "
                                 "read", "not stated 40")  # the MGF
    assert meta["custom[2]"][1] == "CID 40"
    assert not list(tmp_path.glob("*.header"))
    assert list(df.columns) == list(PSM_COLUMNS)
    assert len(df) == len(psms)
    for (_, row), psm in zip(df.iterrows(), psms, strict=True):
        run = 1 if psm.source.endswith(".mgf") else 2
        ref = f"ms_run[{run}]:index={psm.index}" if run == 1 else \
            f"ms_run[{run}]:scan={psm.scan}"
        assert row["spectra_ref"] == ref
        assert row["opt_global_status"] == psm.status
        assert int(row["opt_global_rank"]) == psm.rank
        assert str(row["opt_global_title"]) == str(psm.title) or \
            psm.title is None
        if psm.peptide is None:
            assert pd.isna(row["sequence"])  # "null" in the file
            assert pd.isna(row["search_engine_score[1]"])
            continue
        proforma = row["opt_global_cv_MS:1003169_proforma_peptidoform_"
                       "sequence"]
        assert parse(proforma) == psm.peptide
        assert row["sequence"] == plain_sequence(psm.peptide)
        assert row["search_engine_score[1]"] == pytest.approx(
            psm.reported_score, abs=1e-6)
        assert row["opt_global_model_score"] == pytest.approx(psm.score,
                                                              abs=1e-6)
        aa = [float(a) for a in row["opt_global_aa_scores"].split(",")]
        np.testing.assert_allclose(aa, psm.aa_scores, atol=1e-5)
        if proforma.startswith("[UNIMOD:5][UNIMOD:385]-"):
            continue  # stacked N-terminal mods: pyteomics cannot parse
        # psm_utils (pyteomics masses) agrees with the written calc m/z.
        # Its theoretical_mz adds H atoms, not protons, so use the mass.
        mass = Peptidoform(proforma).theoretical_mass
        theo = (mass + psm.charge * PROTON) / psm.charge
        assert row["calc_mass_to_charge"] == pytest.approx(theo, abs=1e-5)
        assert row["exp_mass_to_charge"] == pytest.approx(psm.exp_mz,
                                                          abs=1e-6)


@pytest.mark.parametrize("peptide, cell", [
    (PEPTIDES[0], "0-UNIMOD:1,2-UNIMOD:35,3-UNIMOD:4"),
    (PEPTIDES[1], "null"),
    (PEPTIDES[2], "0-UNIMOD:5,0-UNIMOD:385,1-UNIMOD:7,2-UNIMOD:7"),
])
def test_mztab_modifications(peptide, cell):
    assert mztab_modifications(peptide) == cell


def test_mztab_text_cells_and_sources(tmp_path):
    runs = [tmp_path / "a" / "run.mgf", tmp_path / "b" / "run.mgf"]
    psm = PSM(source=str(runs[1]), index=3, title="tab\there\nnewline",
              status="skipped:bad_charge")
    path = tmp_path / "o.mztab"
    with MzTabWriter(path, runs) as writer:
        writer.write(psm)
        with pytest.raises(ValueError, match="not one of"):
            writer.write(PSM(source="other.mgf", index=0))
    row = mztab.MzTab(str(path)).spectrum_match_table.iloc[0]
    assert row["spectra_ref"] == "ms_run[2]:index=3"
    assert row["opt_global_title"] == "tab here newline"


def test_csv_round_trip(tmp_path, results):
    _, psms = results
    path = tmp_path / "out.csv"
    with CsvWriter(path) as writer:
        writer.write_many(psms)
    df = pd.read_csv(path, keep_default_na=False)
    assert len(df) == len(psms) == writer.n_rows
    for (_, row), psm in zip(df.iterrows(), psms, strict=True):
        name = psm.source.rsplit("/", 1)[-1]
        assert row["spectrum_id"] == f"{name}:{psm.index}"
        assert row["status"] == psm.status
        if psm.peptide is None:
            assert row["sequence"] == "" and row["score"] == ""
            continue
        assert parse(row["sequence"]) == psm.peptide
        assert float(row["score"]) == pytest.approx(psm.reported_score,
                                                    abs=1e-6)
        assert float(row["model_score"]) == pytest.approx(psm.score,
                                                          abs=1e-6)
        assert len(row["aa_scores"].split(",")) == len(psm.peptide)
