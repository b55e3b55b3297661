"""Broken inputs: clear errors for unreadable files, statuses otherwise.

The corpus is generated in ``tmp_path``; every case checks the rule of
issue 3 point 4 it stands for: one ``InputFileError`` naming file and
position, or one yielded spectrum per block with a ``skipped:`` status,
or everything before the damage yielded and the damage recorded.
"""

import gzip
import logging

import numpy as np
import pytest

from denovo.io import InputFileError, read_annotated, read_spectra

GOOD = ("BEGIN IONS\nTITLE=t{i}\nPEPMASS=500.25\nCHARGE=2+\nSCANS={i}\n"
        "SEQ=PEPTIDEK\n100.5 10\n200.25 20.5\n300.125 30\nEND IONS\n")


def good_blocks(n, start=0):
    return "".join(GOOD.format(i=i) for i in range(start, start + n))


def write(tmp_path, name, text):
    path = tmp_path / name
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(path, mode) as fh:
        fh.write(text)
    return path


def read_all(path, **kw):
    reader = read_spectra(path, **kw)
    return list(reader), reader.stats


@pytest.mark.parametrize("name, content, position", [
    ("empty.mgf", "", "line 1"),
    ("garbage.mgf", "\x00\x01 this is not\nan MGF file\n", "line 2"),
    ("garbage.mzML", "<html>not mzml", "start of file"),
    ("empty.mzML", "", "file is empty"),
    ("empty.msp", "", "line 1"),
])
def test_unreadable_file_raises_one_clear_error(tmp_path, name, content,
                                                position):
    path = write(tmp_path, name, content)
    with pytest.raises(InputFileError) as info:
        read_all(path)
    message = str(info.value)
    assert str(path) in message and position in message
    assert info.value.path == str(path)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_spectra(tmp_path / "absent.mgf")
    path = write(tmp_path, "data.xyz", "hello\n")
    with pytest.raises(InputFileError, match="unknown file format"):
        read_spectra(path)
    with pytest.raises(InputFileError, match="directory"):
        read_spectra(tmp_path)


def test_sniffs_format_without_extension(tmp_path):
    path = write(tmp_path, "spectra.txt", good_blocks(2))
    spectra, stats = read_all(path)
    assert stats.format == "mgf" and len(spectra) == 2


@pytest.mark.parametrize("field, status", [
    ("PEPMASS=500.25\n", "skipped:bad_precursor"),  # removed
    ("CHARGE=2+\n", None),  # removed: charge unknown, still ok
])
def test_missing_fields(tmp_path, field, status):
    text = good_blocks(1) + GOOD.format(i=1).replace(field, "") \
        + good_blocks(1, 2)
    spectra, stats = read_all(write(tmp_path, "f.mgf", text))
    assert len(spectra) == 3
    assert [s.index for s in spectra] == [0, 1, 2]
    if status is None:
        assert spectra[1].ok and spectra[1].charge is None
    else:
        assert spectra[1].status == status
        assert np.isnan(spectra[1].precursor_mz)
    assert spectra[0].ok and spectra[2].ok


@pytest.mark.parametrize("old, new, status", [
    ("CHARGE=2+", "CHARGE=abc", "skipped:bad_charge"),
    ("CHARGE=2+", "CHARGE=2-", "skipped:bad_charge"),
    ("PEPMASS=500.25", "PEPMASS=abc", "skipped:bad_precursor"),
    ("PEPMASS=500.25", "PEPMASS=-3", "skipped:bad_precursor"),
    ("200.25 20.5", "200.25 nan", "skipped:nan_values"),
    ("200.25 20.5", "inf 20.5", "skipped:nan_values"),
    ("200.25 20.5", "200.25 -20.5", "skipped:negative_values"),
    ("200.25 20.5", "200.25 twenty", "skipped:bad_peaks"),
    ("200.25 20.5", "200.25", "skipped:bad_peaks"),
    ("100.5 10\n200.25 20.5\n300.125 30\n", "", "skipped:no_peaks"),
    ("SEQ=PEPTIDEK", "SEQ=PEPT[UNIMOD:21]IDEK",
     "skipped:unknown_modification"),
    ("SEQ=PEPTIDEK", "SEQ=PEP+79.966TIDEK", "skipped:unknown_modification"),
    ("SEQ=PEPTIDEK", "SEQ=PEP((T", "skipped:bad_label"),
])
def test_bad_spectrum_keeps_its_row(tmp_path, caplog, old, new, status):
    text = good_blocks(2) + GOOD.format(i=2).replace(old, new) \
        + good_blocks(2, 3)
    path = write(tmp_path, "f.mgf", text)
    with caplog.at_level(logging.WARNING, logger="denovo.io"):
        spectra, stats = read_all(path)
    assert len(spectra) == 5 == stats.n_spectra
    assert [s.status for s in spectra] == ["ok"] * 2 + [status] + ["ok"] * 2
    assert stats.statuses[status] == 1 and stats.n_skipped == 1
    assert stats.damage is None and stats.complete
    # The warning names the file and the block's line (block 2: line 21).
    assert any(str(path) in r.message and "line 21" in r.message
               and status in r.message for r in caplog.records)
    if "label" in status or "modification" in status:
        assert spectra[2].peptide is None
        assert spectra[2].mz.size == 3


def test_missing_end_ions_mid_file(tmp_path):
    broken = GOOD.format(i=1).replace("END IONS\n", "")
    text = good_blocks(1) + broken + good_blocks(2, 2)
    spectra, stats = read_all(write(tmp_path, "f.mgf", text))
    assert [s.status for s in spectra] == [
        "ok", "skipped:truncated", "ok", "ok"]
    assert [s.index for s in spectra] == [0, 1, 2, 3]
    assert "no END IONS" in stats.warnings[0]


def test_truncated_mgf_yields_everything_before(tmp_path, caplog):
    text = good_blocks(3)
    cut = text[:text.rindex("200.25")]  # cut inside the last block
    with caplog.at_level(logging.ERROR, logger="denovo.io"):
        spectra, stats = read_all(write(tmp_path, "cut.mgf", cut))
    assert [s.status for s in spectra] == ["ok", "ok", "skipped:truncated"]
    assert "without END IONS" in stats.damage
    assert any("damaged" in r.message for r in caplog.records)


def test_gzipped_truncated_mgf(tmp_path):
    data = gzip.compress(good_blocks(400).encode())
    path = write(tmp_path, "cut.mgf.gz", data[:len(data) // 2])
    spectra, stats = read_all(path)
    assert 0 < len(spectra) < 400
    assert stats.damage and "unreadable" in stats.damage
    assert all(s.ok for s in spectra[:-1])
    # A gzip cut before the first block ends is an error, not a crash.
    path = write(tmp_path, "tiny.mgf.gz", data[:20])
    with pytest.raises(InputFileError):
        read_all(path)


def test_stray_lines_are_reported(tmp_path):
    text = good_blocks(1) + "500.0 12\n" + good_blocks(1, 1)
    spectra, stats = read_all(write(tmp_path, "f.mgf", text))
    assert len(spectra) == 2 and "line 11" in stats.warnings[0]


def test_many_bad_spectra_do_not_flood_the_log(tmp_path, caplog):
    text = good_blocks(50).replace("CHARGE=2+", "CHARGE=x")
    with caplog.at_level(logging.WARNING, logger="denovo.io"):
        spectra, stats = read_all(write(tmp_path, "f.mgf", text))
    assert stats.statuses["skipped:bad_charge"] == 50
    assert len(caplog.records) <= 21


def _mzml_bytes(real_file):
    return real_file("ecoli_small.mzML").read_bytes()


def test_truncated_mzml_yields_everything_before(tmp_path, real_file):
    data = _mzml_bytes(real_file)
    starts = [i for i in range(len(data))
              if data.startswith(b"<spectrum ", i)][:12]
    cut = data[:starts[10] + 500]  # inside the 11th spectrum
    spectra, stats = read_all(write(tmp_path, "cut.mzML", cut))
    assert all(s.ok for s in spectra[:10])
    assert "unreadable after spectrum" in stats.damage
    assert "index 9" in stats.damage
    # Every spectrum the file announces (139, all MS2) keeps a record:
    # the 11th from its start tag (id known), the rest from the count.
    lost = spectra[10:]
    assert len(spectra) == 139
    assert {s.status for s in lost} == {"skipped:unreadable"}
    assert [s.index for s in spectra] == list(range(139))
    assert lost[0].native_id is not None and lost[1].native_id is None
    gz = write(tmp_path, "cut.mzML.gz", gzip.compress(data)[:30000])
    spectra, stats = read_all(gz)
    assert sum(s.ok for s in spectra) > 0 and stats.damage
    assert len(spectra) == 139


def test_mzml_cut_before_any_spectrum(tmp_path, real_file):
    data = _mzml_bytes(real_file)
    cut = data[:data.index(b"<spectrum ") + 100]
    with pytest.raises(InputFileError) as info:
        read_all(write(tmp_path, "cut.mzML", cut))
    assert "cut.mzML" in str(info.value) and "line" in str(info.value)


def test_bad_label_files(tmp_path):
    mgf = write(tmp_path, "f.mgf", good_blocks(2))
    bad = write(tmp_path, "labels.peprec", "a b c\n1 2 3\n")
    with pytest.raises(InputFileError, match="header lacks"):
        read_annotated(mgf, labels=bad)
    short = write(tmp_path, "short.peprec",
                  "spec_id modifications peptide charge\nt0 -\n")
    with pytest.raises(InputFileError, match="line 2"):
        read_annotated(mgf, labels=short)
    junk = write(tmp_path, "junk.mzid", "<notxml")
    with pytest.raises(InputFileError, match="junk.mzid"):
        read_annotated(mgf, labels=junk)
