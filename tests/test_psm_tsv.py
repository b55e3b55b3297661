"""psm_utils' TSV output, read back by psm_utils itself."""

from __future__ import annotations

import csv
from importlib.resources import files

import pytest
from click.testing import CliRunner

from denovo.cli import main
from denovo.io import read_spectra

EXAMPLE = files("denovo") / "data" / "example.mgf"


def test_psm_utils_reads_the_peptides_denovo_reports(tmp_path):
    psm_utils_io = pytest.importorskip("psm_utils.io")
    tsv, table = tmp_path / "out.tsv", tmp_path / "out.csv"
    result = CliRunner().invoke(main, [
        "sequence", str(EXAMPLE), "--mode", "evidence", "--psm-tsv",
        str(tsv), "--csv", str(table), "--top-match", "2",
        "--no-progress"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out.mztab").exists()  # only what was asked
    psms = psm_utils_io.read_file(tsv, filetype="tsv")
    with open(table, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sequence"]]
    assert len(psms) == len(rows) > 40  # top 2 of 40 spectra
    titles = {s.title for s in read_spectra(EXAMPLE)}
    for psm, row in zip(psms, rows, strict=True):
        assert psm.peptidoform.proforma == f"{row['sequence']}/{row['charge']}"
        assert psm.peptidoform.precursor_charge == int(row["charge"])
        assert psm.spectrum_id in titles and psm.run == "example"
        assert psm.score == pytest.approx(float(row["score"]), abs=1e-6)
        assert psm.rank == int(row["rank"]) and psm.is_decoy is False
        assert psm.precursor_mz == pytest.approx(float(row["precursor_mz"]))
        assert {"rank_score", "evidence"} <= set(psm.rescoring_features)
        assert psm.metadata["status"] == "ok"
