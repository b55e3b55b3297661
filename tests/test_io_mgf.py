"""MGF reader: pyteomics as the oracle on real files, random round-trips."""

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyteomics import mgf as pyteomics_mgf

from denovo.io import read_spectra
from denovo.io._build import BAD_CHARGE
from denovo.io.mgf import parse_charge

REAL_MGF = [("QEPlus2_10212016_40_F5.mgf", 1094, 1094),
            ("pepnet_124.mgf", 124, 124),
            ("iprg2013_F13.mgf", 1406, 0)]


@pytest.mark.parametrize("name, n_spectra, n_labels", REAL_MGF)
def test_real_mgf_matches_pyteomics(real_file, name, n_spectra, n_labels):
    path = real_file(name)
    reader = read_spectra(path, fixed={"C": "C[UNIMOD:4]"})
    ours = list(reader)
    with pyteomics_mgf.MGF(str(path)) as oracle:
        theirs = list(oracle)
    assert len(ours) == len(theirs) == n_spectra
    assert reader.stats.n_labelled == n_labels
    assert reader.stats.ms_levels == {2: n_spectra}
    assert reader.stats.complete and reader.stats.damage is None
    for i, (s, t) in enumerate(zip(ours, theirs, strict=True)):
        params = t["params"]
        assert s.index == i and s.ok
        assert s.mz.dtype == np.float64 and s.intensity.dtype == np.float32
        np.testing.assert_array_equal(s.mz, t["m/z array"])
        np.testing.assert_allclose(s.intensity, t["intensity array"],
                                   rtol=1e-6)
        assert s.precursor_mz == params["pepmass"][0]
        assert s.charge == int(params["charge"][0])
        assert s.title == params["title"]
        assert s.rt == pytest.approx(params.get("rtinseconds"))
        assert s.scan == int(params["scans"])
        assert s.spectrum_id == f"{name}:{i}"


def test_gzip_reads_the_same(tmp_path, real_file):
    path = real_file("pepnet_124.mgf")
    packed = tmp_path / "renamed.dat"  # gzip found by magic bytes
    packed.write_bytes(gzip.compress(path.read_bytes()))
    plain = list(read_spectra(path))
    zipped = list(read_spectra(packed))
    assert len(plain) == len(zipped) == 124
    for a, b in zip(plain, zipped, strict=True):
        np.testing.assert_array_equal(a.mz, b.mz)
        assert a.peptide == b.peptide and a.title == b.title


@pytest.mark.parametrize("text, charge", [
    ("2+", 2), ("+3", 3), ("4", 4), (" 2+ ", 2), ("1-", -1),
    ("2+ and 3+", None), ("2+,3+", None), ("", None), (None, None),
    ("abc", BAD_CHARGE), ("2+ and x", BAD_CHARGE), ("2.5", BAD_CHARGE),
])
def test_parse_charge(text, charge):
    assert parse_charge(text) is charge or parse_charge(text) == charge


def test_header_defaults_and_extra_columns(tmp_path):
    text = ("COM=made by hand\nCHARGE=3+\n\n"
            "BEGIN IONS\nPEPMASS=400.5 1234.5\nTITLE=a\n"
            "100.0 1.0 1+\n90.0 2.0 2+\nEND IONS\n"
            "BEGIN IONS\nPEPMASS=401.5 99 2+\nTITLE=b\n# a comment\n"
            "100.0\t3.0\nEND IONS\n")
    path = tmp_path / "h.mgf"
    path.write_text(text)
    a, b = list(read_spectra(path))
    assert a.charge == 3 and b.charge == 2  # header default, PEPMASS charge
    np.testing.assert_array_equal(a.mz, [90.0, 100.0])  # sorted
    np.testing.assert_array_equal(a.intensity, [2.0, 1.0])
    assert b.precursor_mz == 401.5 and b.rt is None and b.scan is None


_mz = st.floats(50.0, 4000.0, allow_nan=False).map(lambda x: round(x, 5))
_peaks = st.lists(st.tuples(_mz, st.floats(0.0, 1e7).map(
    lambda x: round(x, 2))), min_size=1, max_size=30, unique_by=lambda p: p[0])
_title = st.text(st.characters(min_codepoint=33, max_codepoint=126,
                               blacklist_characters="="), min_size=1,
                 max_size=20)
_spectrum = st.fixed_dictionaries({
    "title": _title,
    "pepmass": st.floats(100.0, 3000.0).map(lambda x: round(x, 6)),
    "charge": st.one_of(st.none(), st.integers(1, 8)),
    "rt": st.one_of(st.none(), st.floats(0, 1e5).map(lambda x: round(x, 3))),
    "scan": st.one_of(st.none(), st.integers(0, 10**7)),
    "seq": st.one_of(st.none(), st.text("ACDEFGHIKLMNPQRSTVWY", min_size=1,
                                        max_size=25)),
    "peaks": _peaks,
    "eol": st.sampled_from(["\n", "\r\n"]),
})


def _write(spectrum) -> str:
    lines = ["BEGIN IONS", f"TITLE={spectrum['title']}",
             f"PEPMASS={spectrum['pepmass']}"]
    if spectrum["charge"] is not None:
        lines.append(f"CHARGE={spectrum['charge']}+")
    if spectrum["rt"] is not None:
        lines.append(f"RTINSECONDS={spectrum['rt']}")
    if spectrum["scan"] is not None:
        lines.append(f"SCANS={spectrum['scan']}")
    if spectrum["seq"] is not None:
        lines.append(f"SEQ={spectrum['seq']}")
    lines += [f"{mz} {i}" for mz, i in spectrum["peaks"]]
    lines.append("END IONS")
    return spectrum["eol"].join(lines) + spectrum["eol"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_spectrum, min_size=1, max_size=6))
def test_random_mgf_round_trip(tmp_path, spectra):
    path = tmp_path / "random.mgf"
    with open(path, "w", newline="") as fh:
        fh.write("\n".join(_write(s) for s in spectra))
    read = list(read_spectra(path))
    assert len(read) == len(spectra)
    for i, (s, r) in enumerate(zip(spectra, read, strict=True)):
        assert r.index == i and r.ok
        assert r.title == s["title"] and r.precursor_mz == s["pepmass"]
        assert r.charge == s["charge"] and r.rt == s["rt"]
        assert r.scan == s["scan"]
        assert r.peptide == (tuple(s["seq"]) if s["seq"] else None)
        peaks = sorted(s["peaks"])
        np.testing.assert_array_equal(r.mz, [p[0] for p in peaks])
        np.testing.assert_array_equal(
            r.intensity, np.array([p[1] for p in peaks], np.float32))
