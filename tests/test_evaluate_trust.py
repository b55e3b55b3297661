"""Evaluation that cannot mislead (issue 14): spectra checked against
their truth, unreadable predictions refused, calibration measured, the
model's own training peptides split seen from unseen."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_engine import make_model, peptide_logits
from test_evaluate_predictions import TRUE, write_mgf, write_mztab

from denovo.cli import main
from denovo.core.peptide import to_proforma
from denovo.core.preprocess import PreprocessConfig
from denovo.core.vocab import DEFAULT_VOCABULARY
from denovo.engine.contract import metadata_props
from denovo.evaluate.calibration import calibration
from denovo.evaluate.pipeline import evaluate_files, evaluate_predictions
from denovo.evaluate.predictions import PredictionFormatError, read_truth
from denovo.evaluate.training_peptides import (
    BloomFilter,
    TrainingPeptides,
    read_peptide_file,
    read_training_peptides,
    training_peptides_metadata,
)


@pytest.fixture
def truth_mgf(tmp_path):
    return write_mgf(tmp_path / "truth.mgf", TRUE)


def _csv(path, rows):
    lines = ["sequence,score,spectrum_id,precursor_mz"]
    lines += [f"{s},{score},{ref},{mz}" for s, score, ref, mz in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_predictions_of_another_file_stop_with_an_error(tmp_path,
                                                        truth_mgf):
    truths = read_truth([truth_mgf])
    rows = [(to_proforma(p), 0.9, f"ms_run[1]:index={i}")
            for i, p in enumerate(TRUE)]
    other = write_mztab(tmp_path / "o.mztab", rows, runs=("other.mgf",))
    with pytest.raises(PredictionFormatError,
                       match="4 of 4 predictions are not the truth"):
        evaluate_predictions(other, truths)
    same = write_mztab(tmp_path / "s.mztab", rows, runs=("truth.mgf",))
    [r] = evaluate_predictions(same, truths)
    assert r.mass.n_correct == 4


def test_precursor_mismatch_stops_unless_partial_match_is_allowed(
        tmp_path, truth_mgf):
    truths = read_truth([truth_mgf])
    from denovo.core.peptide import precursor_mz
    good = [precursor_mz(p, 2) for p in TRUE]
    rows = [(to_proforma(p), 0.9, f"truth.mgf:{i}",
             good[i] + (0 if i == 0 else 3.0)) for i, p in enumerate(TRUE)]
    path = _csv(tmp_path / "p.csv", rows)
    with pytest.raises(PredictionFormatError, match="precursor m/z"):
        evaluate_predictions(path, truths)
    [r] = evaluate_predictions(path, truths, allow_partial=True)
    assert (r.mass.n_predicted, r.n_unmatched) == (1, 3)
    # A minority of disagreeing rows is left out, not scored.
    rows = [(to_proforma(p), 0.9, f"truth.mgf:{i}",
             good[i] + (3.0 if i == 0 else 0)) for i, p in enumerate(TRUE)]
    [r] = evaluate_predictions(_csv(tmp_path / "q.csv", rows), truths)
    assert (r.mass.n_predicted, r.n_unmatched) == (3, 1)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--truth",
                                       str(truth_mgf)])
    assert result.exit_code != 0 and "--allow-partial-match" in \
        result.output
    result = CliRunner().invoke(main, [
        "evaluate", str(path), "--truth", str(truth_mgf),
        "--allow-partial-match"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("text", [
    "just some notes\nabout nothing\n",
    "",
    "sequence,score,spectrum_id\n",
    "sequence,score,spectrum_id\nXX!!,1,truth.mgf:0\n",
])
def test_unreadable_predictions_are_an_error(tmp_path, truth_mgf, text):
    path = tmp_path / "notes.txt"
    path.write_text(text)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--truth",
                                       str(truth_mgf)])
    assert result.exit_code == 1, result.output
    assert "notes.txt" in result.output and "Traceback" not in \
        result.output


def test_expected_calibration_error():
    scores = np.full(10, 0.9)
    assert calibration(scores, [True] * 9 + [False]).ece == \
        pytest.approx(0.0)
    assert calibration(scores, [True] * 5 + [False] * 5).ece == \
        pytest.approx(0.4)
    cal = calibration([0.05, 0.15, 0.95, 1.0], [False, True, True, True])
    assert list(cal.count) == [1, 1, 2]
    assert cal.ece == pytest.approx((0.05 + 0.85 + 2 * 0.025) / 4)
    assert calibration([-2.0, 0.5], [True, False]) is None
    assert calibration([np.nan, 0.5], [True, True]).n == 1


def test_ece_reported_and_reliability_plotted(tmp_path, truth_mgf):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    rows = [(to_proforma(p), s, f"ms_run[1]:index={i}")
            for i, (p, s) in enumerate(zip(TRUE, (0.9, 0.8, 0.3, 0.6),
                                           strict=True))]
    path = write_mztab(tmp_path / "p.mztab", rows, runs=("truth.mgf",))
    png, js = tmp_path / "c.png", tmp_path / "m.json"
    result = CliRunner().invoke(main, [
        "evaluate", str(path), "--truth", str(truth_mgf), "--plot",
        str(png), "--json", str(js)])
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output
    data = json.loads(js.read_text())["results"][0]["mass"]
    assert data["ece"] == pytest.approx(1 - np.mean([0.9, 0.8, 0.3, 0.6]))
    assert sum(data["reliability"]["count"]) == 4
    height, width = mpimg.imread(png).shape[:2]
    assert width > 2 * height  # two panels side by side


def test_bloom_filter_has_no_false_negatives_and_its_stated_fp_rate():
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHKLMNPQRSTVWY"))
    members = {"".join(rng.choice(letters, 12)) for _ in range(20000)}
    bloom = BloomFilter.for_items(len(members), 0.01)
    for key in members:
        bloom.add(key)
    assert all(key in bloom for key in members)
    others = {"".join(rng.choice(letters, 11)) for _ in range(20000)}
    rate = np.mean([key in bloom for key in others])
    assert bloom.fp_rate == pytest.approx(0.01, rel=0.2)
    assert rate < 2 * bloom.fp_rate
    again = BloomFilter.from_dict(json.loads(json.dumps(bloom.to_dict())))
    assert all(key in again for key in list(members)[:500])


def test_model_records_training_peptides_and_evaluate_splits(tmp_path,
                                                             truth_mgf):
    meta = metadata_props(vocabulary=DEFAULT_VOCABULARY,
                          preprocess=PreprocessConfig(), max_length=20,
                          refinement_steps=1)
    # TRUE[0] is a real training peptide (written with I, recorded I=L),
    # TRUE[1] a simulated one; TRUE[2:] were never trained on.
    meta.update(training_peptides_metadata(
        [to_proforma(TRUE[0])], [TRUE[1], tuple("WWWWK")]))
    model = make_model(tmp_path / "m.onnx", peptide_logits(tuple("PEK")),
                       meta=meta)
    recorded = read_training_peptides(model)
    assert "PEPTLDE" in recorded and "PEMK" in recorded
    assert "SAMPLER" not in recorded
    rows = [(to_proforma(p), 0.9, f"ms_run[1]:index={i}")
            for i, p in enumerate(TRUE[:3])]
    path = write_mztab(tmp_path / "p.mztab", rows, runs=("truth.mgf",))
    results = evaluate_files([path], [truth_mgf], model=model)
    by_label = {r.label: r.mass for r in results}
    assert by_label["p.mztab (seen in training)"].n_spectra == 2
    unseen = by_label["p.mztab (unseen in training)"]
    assert (unseen.n_spectra, unseen.n_correct) == (2, 1)
    result = CliRunner().invoke(main, ["evaluate", str(path), "--truth",
                                       str(truth_mgf), "-m", str(model)])
    assert result.exit_code == 0, result.output
    assert "unseen in training" in result.output
    plain = make_model(tmp_path / "plain.onnx", peptide_logits(("K",)))
    with pytest.raises(ValueError, match="records no training peptides"):
        read_training_peptides(plain)


def test_peptide_files_and_split_tables(tmp_path):
    split = tmp_path / "split.tsv"
    split.write_text("file\tindex\tpeptide\tkey\tsplit\n"
                     "a.mgf\t0\tPEPTIDE\tPEPTLDE\ttrain\n"
                     "a.mgf\t1\tSAMPLER\tSAMPLER\tdev\n")
    assert read_peptide_file(split) == {"PEPTLDE"}
    plain = tmp_path / "list.txt"
    plain.write_text("PEPTIDEK\nM[UNIMOD:35]AK\n")
    assert read_peptide_file(plain) == {"PEPTLDEK", "MAK"}
    both = TrainingPeptides(["PEPTLDEK"])
    assert "PEPTLDEK" in both and "MAK" not in both
