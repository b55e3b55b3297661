"""Labelled inputs: MGF SEQ, PEPREC, MSP, mzML + mzIdentML.

Labels are checked against the precursor m/z with masses from
psm_utils/pyteomics (an independent mass table): a wrongly parsed label
almost never lands within 20 ppm of the measured precursor.
"""

import re

import numpy as np
import pytest
from lxml import etree
from psm_utils import PSM as UtilsPSM
from psm_utils import Peptidoform, PSMList
from psm_utils.io import write_file
from pyteomics import mass as pmass
from pyteomics import mzid

from denovo.core.constants import C13_SPACING, PROTON
from denovo.core.peptide import (UnknownModificationError, parse,
                                 peptide_key, to_proforma)
from denovo.io import read_annotated, read_spectra
from denovo.io.errors import InputFileError
from denovo.io.labels import IdxmlPsm, join_rt_mz, load_idxml
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


# --- sources added 2026-11-29; pyteomics masses as the oracle -----------

def pyteomics_ppm(spectrum, charge=None) -> float:
    """Smallest ppm error of the label (pyteomics) vs the precursor."""
    charge = charge or spectrum.charge
    mass = pmass.calculate_mass(proforma=to_proforma(spectrum.peptide))
    theo = (mass + charge * PROTON) / charge
    return min(abs(spectrum.precursor_mz - theo - k * C13_SPACING / charge)
               / theo * 1e6 for k in (-1, 0, 1, 2))


@pytest.mark.parametrize("name, n", [
    ("hela_bibliospec_340.mgf", 340), ("proteometools_hcd_171.mgf", 171)])
def test_new_mgf_labels_fit_precursors(real_file, name, n):
    reader = read_annotated(real_file(name))
    spectra = list(reader)
    assert len(spectra) == reader.stats.n_labelled == n
    assert all(pyteomics_ppm(s) < PPM for s in spectra)
    # labels are the file's SEQ= lines, token for token
    seqs = [ln[4:].strip() for ln in open(real_file(name))
            if ln.startswith("SEQ=")]
    assert [to_proforma(s.peptide) for s in spectra] == seqs


def _nist_entries(path):
    """(name, Mods field) of every entry, read with a plain regex."""
    text = open(path).read()
    return re.findall(r"^Name: (\S+)\n(?:.*\n)*?Comment: .*?Mods=(\S+)",
                      text, flags=re.M)


def test_nist_bsa_library(real_file):
    path = real_file("nist_bsa_consensus_725.msp")
    reader = read_annotated(path)
    spectra = list(reader)
    entries = _nist_entries(path)
    assert len(spectra) == len(entries) == 725
    glu = {i for i, (_, mods) in enumerate(entries) if "Glu->pyro-Glu" in mods}
    assert len(glu) == 3
    for i, (s, (name, mods)) in enumerate(zip(spectra, entries,
                                              strict=True)):
        assert s.title == name
        if i in glu:  # -18.011 Da: no token, rejected, not mislabelled
            assert s.status == "skipped:unknown_modification"
            assert s.peptide is None
            continue
        assert s.ok and pyteomics_ppm(s) < PPM, (name, mods)
        bare = re.sub(r"\(\w+\)", "", name.split("/")[0])
        assert peptide_key(s.peptide) == bare.replace("I", "L")
        pyro = "pyro" in mods.lower()
        assert (s.peptide[0] == "[UNIMOD:385]-") == pyro
        if "Gln->pyro-Glu" in mods:
            assert s.peptide[1] == "Q"
        if "Pyro-carbamidomethyl" in mods:
            assert s.peptide[1] == "C[UNIMOD:4]"
        n_ox = mods.count("Oxidation")
        assert sum(t == "M[UNIMOD:35]" for t in s.peptide) == n_ox
    assert reader.stats.n_labelled == 722


@pytest.mark.parametrize("name, mods, proforma", [
    ("M(O)PCK/2", "1/0,M,Oxidation", "M[UNIMOD:35]PCK"),
    ("QEPK/2", "1/0,Q,Gln->pyro-Glu", "[UNIMOD:385]-QEPK"),
    ("CCK/1", "2/0,C,Pyro-carbamidomethyl/1,C,Carbamidomethyl",
     "[UNIMOD:385]-C[UNIMOD:4]C[UNIMOD:4]K"),
    ("EAK/1", "1/0,E,Glu->pyro-Glu", "E[Glu->pyro-Glu]AK"),
    ("AQK/2", "1/1,Q,Gln->pyro-Glu", "AQ[Gln->pyro-Glu]K"),  # not N-term
])
def test_msp_pyro_forms(name, mods, proforma):
    assert msp_label(name, mods) == proforma


def test_msp_glu_pyro_glu_is_unknown():
    with pytest.raises(UnknownModificationError):
        parse(msp_label("EAK/1", "1/0,E,Glu->pyro-Glu"))


def _oracle_idxml(path):
    """(RT, MZ, q, sequence, charge) of every PeptideIdentification."""
    out = []
    for ident in etree.parse(str(path)).iter("PeptideIdentification"):
        hit = ident.find("PeptideHit")
        out.append((float(ident.get("RT")), float(ident.get("MZ")),
                    float(hit.get("score")), hit.get("sequence"),
                    int(hit.get("charge"))))
    return out


# Six PSMs at q > 0 miss the precursor by 60-100 ppm (OMSSA searched at
# 0.05 Da): wrong identifications, hence the default q <= 0.01.
@pytest.mark.parametrize("max_q, n, n_fit", [
    (1.0, 44, 38), (0.04, 29, 27), (0.01, 14, 14)])
def test_idxml_join(real_file, max_q, n, n_fit):
    mzml, idxml = real_file("bsa1.mzML"), real_file("bsa1_omssa.idXML")
    oracle = [o for o in _oracle_idxml(idxml) if o[2] <= max_q]
    assert len(oracle) == n
    reader = read_annotated(mzml, labels=idxml, max_q=max_q)
    labelled = [s for s in reader if s.peptide]
    assert reader.stats.n_labelled == len(labelled) == n  # all join
    for s in labelled:
        rt, mz, _, seq, z = min(oracle, key=lambda o: abs(o[0] - s.rt))
        assert abs(rt - s.rt) < 0.5 and abs(mz - s.precursor_mz) < 0.01
        assert peptide_key(s.peptide) == re.sub(
            r"\([^)]*\)", "", seq).replace("I", "L")
        assert s.charge == z
    assert sum(pyteomics_ppm(s) < PPM for s in labelled) == n_fit


def test_join_rt_mz_tolerances():
    psms = [IdxmlPsm(100.0, 500.0, 0.0, 2, ("A", "K")),
            IdxmlPsm(100.2, 500.0, 0.01, 2, ("G", "K")),  # same spectrum
            IdxmlPsm(200.0, 600.0, 0.0, 2, ("L", "K")),  # m/z off by 0.02
            IdxmlPsm(300.0, 700.0, 0.0, 2, ("V", "K"))]  # RT off by 0.6
    spectra = [("a", 99.9, 500.005), ("b", 100.6, 500.0),
               ("c", 200.0, 600.02), ("d", 300.6, 700.0)]
    assert join_rt_mz(psms, spectra) == {"a": ("A", "K")}


def test_idxml_rejects_other_scores(tmp_path):
    path = tmp_path / "x.idXML"
    path.write_text(
        '<IdXML><IdentificationRun><PeptideIdentification score_type='
        '"OMSSA" higher_score_better="false" MZ="400" RT="10">'
        '<PeptideHit score="1" sequence="PEPK" charge="2"/>'
        '</PeptideIdentification></IdentificationRun></IdXML>')
    with pytest.raises(InputFileError, match="not a q-value"):
        load_idxml(path)
    text = path.read_text().replace('"OMSSA"', '"q-value"')
    path.write_text(text.replace("PEPK", "PEPM(Oxidation)K.(Amidated)"))
    (psm,) = load_idxml(path, max_q=1)
    assert psm.label == "skipped:unknown_modification"
