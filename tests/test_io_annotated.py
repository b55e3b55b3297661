"""Labelled inputs: MGF SEQ, PEPREC, MSP, mzML + mzIdentML.

Labels are checked against the precursor m/z with masses from
psm_utils/pyteomics (an independent mass table): a wrongly parsed label
almost never lands within 20 ppm of the measured precursor.
"""

import numpy as np
import pytest
from psm_utils import PSM as UtilsPSM
from psm_utils import Peptidoform, PSMList
from psm_utils.io import write_file
from pyteomics import mzid

from denovo.core.constants import C13_SPACING, PROTON
from denovo.core.peptide import to_proforma
from denovo.io import read_annotated, read_spectra
from denovo.io.msp import msp_label

PPM = 20.0


def fits_precursor(spectrum, charge=None) -> bool:
    """Label m/z (psm_utils masses) matches the precursor or an isotope."""
    charge = charge or spectrum.charge
    # psm_utils' theoretical_mz adds H atoms, not protons: use the mass.
    mass = Peptidoform(to_proforma(spectrum.peptide)).theoretical_mass
    theo = (mass + charge * PROTON) / charge
    return any(abs(spectrum.precursor_mz - theo - k * C13_SPACING / charge)
               < PPM * 1e-6 * theo for k in (-1, 0, 1, 2))


@pytest.mark.parametrize("name, fixed, n_fit", [
    ("QEPlus2_10212016_40_F5.mgf", None, 1094),
    ("pepnet_124.mgf", {"C": "C[UNIMOD:4]"}, 124),
])
def test_mgf_labels_fit_precursors(real_file, name, fixed, n_fit):
    reader = read_annotated(real_file(name), fixed=fixed)
    spectra = list(reader)
    assert reader.stats.n_labelled == len(spectra) == n_fit
    assert sum(fits_precursor(s) for s in spectra) == n_fit


def test_pepnet_needs_fixed_carbamidomethyl(real_file):
    spectra = list(read_spectra(real_file("pepnet_124.mgf")))
    with_c = [s for s in spectra if "C" in s.peptide]
    assert with_c and not any(fits_precursor(s) for s in with_c)
    assert all(s.title == "".join(s.peptide) for s in spectra)


def test_qeplus_modified_labels(real_file):
    spectra = list(read_spectra(real_file("QEPlus2_10212016_40_F5.mgf")))
    assert spectra[1].peptide[2] == "C[UNIMOD:4]"
    tokens = {t for s in spectra for t in s.peptide}
    assert {"C[UNIMOD:4]", "M[UNIMOD:35]"} <= tokens
    assert "C" not in tokens  # every cysteine is written modified


def test_msp_library(real_file):
    reader = read_annotated(real_file("proteometools_hcd_82.msp"))
    spectra = list(reader)
    assert len(spectra) == reader.stats.n_labelled == 82
    assert all(s.ok and fits_precursor(s) for s in spectra)
    first = spectra[0]
    assert first.title == "AFLYEIIDIGK/2" and first.charge == 2
    assert first.peptide == tuple("AFLYEIIDIGK")
    assert first.precursor_mz == 641.3581 and first.mz.size == 24
    assert first.mz[0] == 129.1019 and first.intensity[0] == 15873


@pytest.mark.parametrize("name, mods, proforma", [
    ("PEPTIDE/2", "0", "PEPTIDE"),
    ("ACMK/2", "2/1,C,Carbamidomethyl/2,M,Oxidation",
     "AC[UNIMOD:4]M[UNIMOD:35]K"),
    ("ACMK/2", "1/0,A,Acetyl", "[UNIMOD:1]-ACMK"),
    ("ACMK/2", "1/3,K,Phospho", "ACMK[Phospho]"),
])
def test_msp_modifications(name, mods, proforma):
    assert msp_label(name, mods) == proforma


def test_msp_unknown_modification(tmp_path):
    path = tmp_path / "lib.msp"
    path.write_text(
        "Name: ACSK/2\nComment: Parent=300.5 Mods=1/2,S,Phospho\n"
        "Num peaks: 2\n100.1\t5\t\"b1\"\n200.2\t7\n\n"
        "Name: ACK/2\nComment: Parent=250.5 Mods=0\nNum peaks: 3\n"
        "100.1\t5\n")
    a, b = list(read_spectra(path))
    assert a.status == "skipped:unknown_modification" and a.peptide is None
    assert b.status == "skipped:truncated"  # 1 of 3 announced peaks


def _oracle_mzid(path):
    """spectrumID -> rank-1 passing item, by pyteomics directly."""
    out = {}
    for result in mzid.read(str(path), retrieve_refs=True):
        items = [i for i in result["SpectrumIdentificationItem"]
                 if i["rank"] == 1 and i["passThreshold"]]
        if items:
            out.setdefault(result["spectrumID"], items[0])
    return out


def test_mzml_mzid_join(real_file):
    mzml_path, mzid_path = real_file("yeast_small.mzML"), \
        real_file("yeast_small.mzid")
    reader = read_annotated(mzml_path, labels=mzid_path)
    spectra = list(reader)
    assert len(spectra) == 118 and reader.stats.n_labelled == 65
    oracle = _oracle_mzid(mzid_path)
    assert {s.native_id for s in spectra if s.peptide} == set(oracle)
    for s in spectra:
        if s.peptide is None:
            continue
        item = oracle[s.native_id]
        assert "".join(t[0] for t in s.peptide) == item["PeptideSequence"]
        z = item["chargeState"]
        mass = Peptidoform(to_proforma(s.peptide)).theoretical_mass
        assert (mass + z * PROTON) / z == pytest.approx(
            item["calculatedMassToCharge"], abs=2e-3)
    modified = [s for s in spectra if s.peptide and any(
        "[" in t for t in s.peptide)]
    assert modified


def test_mgf_peprec_join(tmp_path, real_file):
    mgf = real_file("QEPlus2_10212016_40_F5.mgf")
    truth = list(read_spectra(mgf))
    # Written by psm_utils (an independent PEPREC writer), every third
    # spectrum left out to check that unlabelled spectra stay unlabelled.
    psms = [UtilsPSM(peptidoform=f"{to_proforma(s.peptide, style='name')}"
                     f"/{s.charge}", spectrum_id=s.title)
            for s in truth if s.index % 3]
    peprec = tmp_path / "labels.peprec"
    write_file(PSMList(psm_list=psms), peprec, filetype="peprec")
    reader = read_annotated(mgf, labels=peprec)
    joined = list(reader)
    assert reader.stats.n_labelled == len(psms)
    for s, t in zip(joined, truth, strict=True):
        assert s.peptide == (t.peptide if s.index % 3 else None)
        assert np.array_equal(s.mz, t.mz)


def test_peprec_separators_and_bad_labels(tmp_path):
    mgf = tmp_path / "f.mgf"
    mgf.write_text("".join(
        f"BEGIN IONS\nTITLE=s{i}\nPEPMASS=400\nCHARGE=2\n100 1\nEND IONS\n"
        for i in range(4)))
    for sep in (",", "\t", "  "):
        peprec = tmp_path / "l.csv"
        peprec.write_text(sep.join(["spec_id", "modifications", "peptide"])
                          + "\n" + "\n".join([
                              sep.join(["s0", "2|Oxidation", "AMK"]),
                              sep.join(["s1", "1|Phospho", "SK"]),
                              sep.join(["s2", "-", "PEPTIDE"])]) + "\n")
        s = list(read_annotated(mgf, labels=peprec))
        assert s[0].peptide == ("A", "M[UNIMOD:35]", "K")
        assert s[1].status == "skipped:unknown_modification"
        assert s[2].peptide == tuple("PEPTIDE") and s[3].peptide is None
