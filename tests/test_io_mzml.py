"""mzML / mzXML readers: counts and fields against pyteomics."""

import base64
import gzip
from collections import Counter

import numpy as np
import pytest
from pyteomics import mzml

from denovo.io import read_spectra
from denovo.io.mzml import fragmentation, scan_number

# name: (MS2 spectra, spectra per MS level); the README's 101 for
# proteometools_pool is its total of MS1 + MS2 entries.
REAL_MZML = {
    "bsa1.mzML": (1120, {1: 564, 2: 1120}),
    "ecoli_small.mzML": (139, {2: 139}),
    "proteometools_pool.mzML": (94, {1: 7, 2: 94}),
    "yeast_small.mzML": (118, {1: 24, 2: 118}),
}


def _oracle(path):
    """MS level counts and MS2 spectra by pyteomics' default reader."""
    levels, ms2 = Counter(), []
    for s in mzml.read(str(path)):
        levels[s["ms level"]] += 1
        if s["ms level"] == 2:
            ms2.append(s)
    return levels, ms2


@pytest.mark.parametrize("name", sorted(REAL_MZML))
def test_real_mzml_matches_pyteomics(real_file, name):
    path = real_file(name)
    n_ms2, levels = REAL_MZML[name]
    reader = read_spectra(path)
    ours = list(reader)
    oracle_levels, theirs = _oracle(path)
    assert len(ours) == len(theirs) == n_ms2
    assert dict(reader.stats.ms_levels) == dict(oracle_levels) == levels
    assert reader.stats.complete and reader.stats.damage is None
    for s, t in zip(ours, theirs, strict=True):
        assert s.index == t["index"] and s.native_id == t["id"]
        np.testing.assert_array_equal(s.mz, t["m/z array"])
        np.testing.assert_allclose(s.intensity, t["intensity array"],
                                   rtol=1e-6)
        ion = t["precursorList"]["precursor"][0]["selectedIonList"][
            "selectedIon"][0]
        assert s.precursor_mz == pytest.approx(ion["selected ion m/z"])
        assert s.charge == ion.get("charge state")
        start = t["scanList"]["scan"][0]["scan start time"]
        factor = {"minute": 60.0, "second": 1.0}[start.unit_info]
        assert s.rt == pytest.approx(factor * start)
    indices = [s.index for s in ours]
    assert indices == sorted(set(indices))


def test_scan_numbers(real_file):
    spectra = list(read_spectra(real_file("yeast_small.mzML")))
    assert spectra[0].scan == 2 and spectra[0].index == 1
    assert all(s.scan == scan_number(s.native_id) for s in spectra)
    assert scan_number("spectrum=2442") is None
    bsa = next(iter(read_spectra(real_file("bsa1.mzML"))))
    assert bsa.scan is None and bsa.native_id == "spectrum=2442"


def test_gzipped_mzml(tmp_path, real_file):
    path = real_file("ecoli_small.mzML")
    packed = tmp_path / "ecoli.mzML.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    sniffed = tmp_path / "no_extension"  # format and gzip from content
    sniffed.write_bytes(packed.read_bytes())
    plain, zipped = list(read_spectra(path)), list(read_spectra(packed))
    assert len(zipped) == len(plain) == 139
    reader = read_spectra(sniffed)
    assert reader.format == "mzml" and len(list(reader)) == 139
    assert all(np.array_equal(a.mz, b.mz)
               for a, b in zip(plain, zipped, strict=True))


def _peaks(mz, intensity):
    pairs = np.empty(2 * len(mz), ">f4")
    pairs[0::2], pairs[1::2] = mz, intensity
    return base64.b64encode(pairs.tobytes()).decode()


def _scan(num, level, rt_s, mz, intensity, precursor=None, inner=""):
    prec = ""
    if precursor is not None:
        mz_p, z = precursor
        charge = f' precursorCharge="{z}"' if z else ""
        prec = f'<precursorMz precursorIntensity="10"{charge}>{mz_p}' \
               "</precursorMz>"
    return (f'<scan num="{num}" msLevel="{level}" peaksCount="{len(mz)}" '
            f'retentionTime="PT{rt_s}S">{prec}<peaks precision="32" '
            'byteOrder="network" pairOrder="m/z-int">'
            f"{_peaks(mz, intensity)}</peaks>{inner}</scan>")


def test_generated_mzxml(tmp_path):
    rng = np.random.default_rng(0)
    peaks = [np.sort(rng.uniform(100, 1500, n)).astype(np.float32)
             for n in (5, 7, 3, 4)]
    ms2a = _scan(2, 2, 61.5, peaks[1], peaks[1] * 2, (500.25, 2))
    ms2b = _scan(3, 2, 62.0, peaks[2], peaks[2], (612.5, None))
    body = (_scan(1, 1, 60.0, peaks[0], peaks[0], inner=ms2a + ms2b)
            + _scan(4, 3, 63.0, peaks[3], peaks[3], (400.0, 3)))
    text = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<mzXML xmlns='
            '"http://sashimi.sourceforge.net/schema_revision/mzXML_3.2">'
            f'<msRun scanCount="4">{body}</msRun></mzXML>')
    path = tmp_path / "run.mzXML"
    path.write_text(text)
    reader = read_spectra(path)
    a, b = list(reader)
    assert dict(reader.stats.ms_levels) == {1: 1, 2: 2, 3: 1}
    assert (a.scan, a.native_id, a.index, a.charge) == (2, "scan=2", 1, 2)
    assert a.rt == pytest.approx(61.5) and a.precursor_mz == 500.25
    np.testing.assert_allclose(a.mz, peaks[1])
    np.testing.assert_allclose(a.intensity, peaks[1] * 2)
    assert b.charge is None and b.ok and b.index == 2


@pytest.mark.parametrize("activation, filter_line, want", [
    ("beam-type collision-induced dissociation collision energy", None,
     "HCD"),
    ("", "FTMS + c NSI d Full ms2 488.73@hcd42.00 [100.00-990.00]", "HCD"),
    ("collision-induced dissociation collision energy", None, "CID"),
    ("collision-induced dissociation", "ITMS + c NSI d Full ms2 "
     "500.2@cid35.00 [135.00-1500.00]", "CID"),
    ("collision-induced dissociation", "FTMS + c NSI d Full ms2 "
     "500.2@cid35.00 [135.00-1500.00]", "CID-FT"),
    ("CID", None, "CID"), ("HCD", None, "HCD"), ("ETD", None, "ETD"),
    ("electron transfer dissociation", "FTMS + c ESI d Full ms2 "
     "600.3@etd30.00@hcd20.00 [120-2000]", "EThcD"),
    ("", None, None), ("collision energy", "", None),
])
def test_fragmentation_from_activation_and_filter(activation, filter_line,
                                                   want):
    assert fragmentation(activation, filter_line) == want


def test_real_files_state_their_fragmentation(real_file):
    """The ion-trap and the Orbitrap files say what they are; an MGF
    says nothing."""
    def classes(name):
        return Counter(s.fragmentation for s in read_spectra(real_file(name)))
    assert classes("bsa1.mzML") == Counter({"CID": 1120})
    assert classes("yeast_small.mzML") == Counter({"HCD": 118})
    assert set(classes("QEPlus2_10212016_40_F5.mgf")) == {None}
