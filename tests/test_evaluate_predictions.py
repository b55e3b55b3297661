"""Reading predictions (denovo/Casanovo mzTab, CSV) and joining to truth."""

import logging

import pytest

from denovo.core.peptide import precursor_mz, to_proforma
from denovo.evaluate.pipeline import evaluate_predictions
from denovo.evaluate.predictions import (
    PredictionFormatError,
    join,
    parse_spectrum_ref,
    read_predictions,
    read_truth,
)

TRUE = [("P", "E", "P", "T", "I", "D", "E"),
        ("[UNIMOD:1]-", "P", "E", "M[UNIMOD:35]", "K"),
        ("S", "A", "M", "P", "L", "E", "R"),
        ("C[UNIMOD:4]", "A", "K")]


def write_mgf(path, peptides, scans=None):
    """Annotated MGF: ProForma SEQ=, dummy peaks, SCANS as given."""
    lines = []
    for i, pep in enumerate(peptides):
        scan = i + 100 if scans is None else scans[i]
        lines += ["BEGIN IONS", f"TITLE=spec{i}",
                  f"PEPMASS={precursor_mz(pep, 2):.5f}", "CHARGE=2+",
                  f"SCANS={scan}", f"SEQ={to_proforma(pep)}",
                  "100.0 10.0", "200.0 20.0", "END IONS", ""]
    path.write_text("\n".join(lines))
    return path


def write_mztab(path, rows, *, runs=("truth.mgf",), header=None):
    """Casanovo-v4-like mzTab: rows of (sequence, score, spectra_ref)."""
    cols = header or ["PSH", "sequence", "PSM_ID", "accession",
                      "search_engine_score[1]", "spectra_ref",
                      "opt_ms_run[1]_aa_scores"]
    lines = ["MTD\tmzTab-version\t1.0.0", "MTD\tmzTab-mode\tSummary"]
    lines += [f"MTD\tms_run[{i}]-location\tfile:///data/{name}"
              for i, name in enumerate(runs, 1)]
    lines += ["", "\t".join(cols)]
    for k, row in enumerate(rows):
        seq, score, ref = row[:3]
        extra = list(row[3:])
        if header is None:
            cells = ["PSM", seq, str(k), "null", str(score), ref, "0.9"]
        else:
            cells = ["PSM", seq, str(score), ref] + extra
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def truth(tmp_path):
    return read_truth([write_mgf(tmp_path / "truth.mgf", TRUE)])


def test_parse_spectrum_ref():
    assert parse_spectrum_ref("ms_run[2]:index=5") == ("ms_run[2]",
                                                       "index", 5)
    assert parse_spectrum_ref(
        "ms_run[1]:controllerType=0 controllerNumber=1 scan=17") == \
        ("ms_run[1]", "scan", 17)
    assert parse_spectrum_ref("run.mgf:index=3") == ("run.mgf", "index", 3)
    assert parse_spectrum_ref("scan=9") == (None, "scan", 9)
    assert parse_spectrum_ref("ms_run[1]:spec0") == ("ms_run[1]", "title",
                                                     "spec0")


def test_casanovo_v4_mass_notation(tmp_path, truth):
    rows = [("PEPTLDE", 0.9, "ms_run[1]:index=0"),
            ("+42.011PEM+15.995K", 0.8, "ms_run[1]:index=1"),
            ("SAMPLEK", -0.5, "ms_run[1]:index=2")]  # index 3: none
    path = write_mztab(tmp_path / "casanovo.mztab", rows)
    preds = read_predictions(path)
    assert [p.peptide for p in preds[:2]] == [tuple("PEPTLDE"), TRUE[1]]
    [r] = evaluate_predictions(path, truth)
    assert (r.mass.n_spectra, r.mass.n_predicted, r.mass.n_correct) == \
        (4, 3, 2)
    # SAMPLEK vs SAMPLER: 6 of 7 residues (R/K differ by 28 Da).
    assert r.mass.n_aa_matched == 7 + 5 + 6
    assert r.mass.n_aa_true == 7 + 5 + 7 + 3
    assert r.exact.n_correct == 2
    assert r.n_rows == 3 and r.n_unmatched == 0


def test_casanovo_proforma_names_and_deltas(tmp_path, truth):
    rows = [("[Acetyl]-PEM[Oxidation]K", 1.0, "ms_run[1]:index=1"),
            ("C[+57.021]AK", 0.5, "ms_run[1]:index=3")]
    [r] = evaluate_predictions(write_mztab(tmp_path / "p.mztab", rows),
                             truth)
    assert r.mass.n_correct == r.exact.n_correct == 2


def test_mztab_modifications_column(tmp_path, truth):
    cols = ["PSH", "sequence", "search_engine_score[1]", "spectra_ref",
            "modifications"]
    rows = [("PEMK", 1.0, "ms_run[1]:index=1", "0-UNIMOD:1,3-UNIMOD:35"),
            ("CAK", 1.0, "ms_run[1]:index=3", "1-UNIMOD:4")]
    path = write_mztab(tmp_path / "std.mztab", rows, header=cols)
    assert [p.peptide for p in read_predictions(path)] == \
        [TRUE[1], TRUE[3]]


def test_opt_proforma_column_wins(tmp_path):
    cols = ["PSH", "sequence", "search_engine_score[1]", "spectra_ref",
            "opt_global_proforma"]
    rows = [("PEMK", 1.0, "ms_run[1]:index=1", "[UNIMOD:1]-PEM[UNIMOD:35]K")]
    path = write_mztab(tmp_path / "d.mztab", rows, header=cols)
    assert read_predictions(path)[0].peptide == TRUE[1]


def test_csv_variants(tmp_path, truth):
    a = tmp_path / "a.csv"
    a.write_text("file,index,peptide,score\n"
                 "truth.mgf,0,PEPTIDE,0.1\n"
                 "truth.mgf,3,C[UNIMOD:4]AK,0.2\n")
    b = tmp_path / "b.tsv"
    b.write_text("spectrum_ref\tsequence\tscore\n"
                 "truth.mgf:index=0\tPEPTIDE\t0.1\n"
                 "truth.mgf:scan=103\tC+57.021AK\t\n")
    c = tmp_path / "c.csv"
    c.write_text("title,peptide,score\nspec0,PEPTIDE,1\nspec3,CAK,2\n")
    for path in (a, b):
        [r] = evaluate_predictions(path, truth)
        assert (r.mass.n_predicted, r.mass.n_correct) == (2, 2)
    [r] = evaluate_predictions(c, truth)
    assert (r.mass.n_predicted, r.mass.n_correct) == (2, 1)  # C vs C+57


def test_top_k_rows_keep_the_best(tmp_path, truth):
    rows = [("GGGG", 0.1, "ms_run[1]:index=0"),
            ("PEPTIDE", 0.7, "ms_run[1]:index=0"),
            ("PEPTIDA", 0.3, "ms_run[1]:index=0")]
    [r] = evaluate_predictions(write_mztab(tmp_path / "k.mztab", rows), truth)
    assert (r.mass.n_predicted, r.mass.n_correct) == (1, 1)


def test_bad_peptide_is_no_prediction(tmp_path, truth, caplog):
    rows = [("PEPTIDE", 0.9, "ms_run[1]:index=0"),
            ("PEPX[+99.9]K", 0.8, "ms_run[1]:index=1"),
            ("null", 0.0, "ms_run[1]:index=2")]
    path = write_mztab(tmp_path / "bad.mztab", rows)
    with caplog.at_level(logging.WARNING):
        [r] = evaluate_predictions(path, truth)
    assert r.mass.n_predicted == 1
    assert f"{path}:7" in caplog.text  # file and line of the bad row


def test_format_errors_name_file_and_line(tmp_path, truth):
    no_psh = tmp_path / "x.mztab"
    no_psh.write_text("MTD\tmzTab-version\t1.0.0\n")
    with pytest.raises(PredictionFormatError, match="x.mztab: no PSH"):
        read_predictions(no_psh)
    bad_score = write_mztab(tmp_path / "s.mztab",
                            [("PEP", "high", "ms_run[1]:index=0")])
    with pytest.raises(PredictionFormatError, match=r"s.mztab:6: score"):
        read_predictions(bad_score)
    no_ref = tmp_path / "r.csv"
    no_ref.write_text("peptide,score\nPEP,1\n")
    with pytest.raises(PredictionFormatError,
                       match=r"r.csv:1: not a predictions table"):
        read_predictions(no_ref)
    with pytest.raises(PredictionFormatError, match="no such file"):
        read_predictions(tmp_path / "missing.mztab")
    wrong = write_mztab(tmp_path / "w.mztab",
                        [("PEP", 1, "ms_run[1]:index=99")])
    with pytest.raises(PredictionFormatError, match="wrong --truth"):
        join(read_predictions(wrong), truth, source=str(wrong))


def test_two_truth_files_by_ms_run(tmp_path):
    truths = read_truth([write_mgf(tmp_path / "a.mgf", TRUE[:2]),
                         write_mgf(tmp_path / "b.mgf", TRUE[2:])])
    rows = [("PEPTIDE", 1, "ms_run[1]:index=0"),
            ("SAMPLER", 1, "ms_run[2]:index=0"),
            ("CAK", 1, "ms_run[2]:index=1")]
    path = write_mztab(tmp_path / "ab.mztab", rows,
                       runs=("a.mgf.gz", "b.mgf"))
    [r] = evaluate_predictions(path, truths)
    assert (r.mass.n_spectra, r.mass.n_correct) == (4, 2)
    bad = write_mztab(tmp_path / "c.mztab", rows, runs=("x.mgf", "y.mgf"))
    with pytest.raises(PredictionFormatError, match="none of the truth"):
        evaluate_predictions(bad, truths)


def test_duplicate_scans_fall_back_to_index(tmp_path):
    truths = read_truth([write_mgf(tmp_path / "t.mgf", TRUE,
                                   scans=[0, 0, 0, 0])])
    rows = [("SAMPLER", 1, "ms_run[1]:index=2"),
            ("SAMPLER", 1, "ms_run[1]:scan=0")]  # ambiguous: unmatched
    [r] = evaluate_predictions(write_mztab(tmp_path / "d.mztab", rows,
                                           runs=("t.mgf",)), truths)
    assert (r.mass.n_correct, r.n_unmatched) == (1, 1)


def test_mzml_truth_joined_by_scan(tmp_path, real_file):
    spectra = real_file("yeast_small.mzML")
    truths = read_truth([spectra], labels=[real_file("yeast_small.mzid")])
    assert len(truths) == 65 and all(t.scan for t in truths)
    rows = [(to_proforma(t.peptide), 1.0,
             f"ms_run[1]:controllerType=0 controllerNumber=1 scan={t.scan}")
            for t in truths[:40]]
    path = write_mztab(tmp_path / "y.mztab", rows,
                       runs=("yeast_small.mzML",))
    [r] = evaluate_predictions(path, truths)
    assert r.mass.n_correct == r.exact.n_correct == 40
    assert r.mass.peptide_recall == pytest.approx(40 / 65)


def test_denovo_writers_round_trip(tmp_path):
    """Files written by denovo.io's MzTabWriter and CsvWriter."""
    from denovo.io import PSM, CsvWriter, MzTabWriter, read_spectra

    mgf = write_mgf(tmp_path / "truth.mgf", TRUE)
    truths = read_truth([mgf])
    spectra = list(read_spectra(mgf))
    preds = [TRUE[0], TRUE[1], tuple("SAMPLEK"), None]
    psms = [PSM.from_spectrum(s, peptide=p, score=0.5 + i / 10,
                              status="ok" if p else "skipped:no_peaks")
            for i, (s, p) in enumerate(zip(spectra, preds, strict=True))]
    psms.append(PSM.from_spectrum(spectra[2], peptide=TRUE[2], score=0.1,
                                  rank=2))  # lower-ranked, ignored
    with MzTabWriter(tmp_path / "d.mztab", [str(mgf)]) as w:
        w.write_many(psms)
    with CsvWriter(tmp_path / "d.csv") as w:
        w.write_many(psms)
    for name in ("d.mztab", "d.csv"):
        [r] = evaluate_predictions(tmp_path / name, truths)
        assert (r.n_rows, r.n_unmatched) == (5, 0)
        assert (r.mass.n_predicted, r.mass.n_correct) == (3, 2), name
        assert r.mass.n_aa_matched == 7 + 5 + 6
