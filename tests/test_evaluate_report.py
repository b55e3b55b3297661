"""Table/JSON/PNG output and the ``denovo evaluate`` command."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from denovo.cli import main
from denovo.core.peptide import to_casanovo
from denovo.evaluate.pipeline import evaluate_files
from denovo.evaluate.predictions import read_truth
from denovo.evaluate.report import format_table, to_json

from test_evaluate_predictions import TRUE, write_mgf, write_mztab

ROWS = [("PEPTLDE", 0.9, "ms_run[1]:index=0"),      # correct
        ("+42.011PEFK", 0.8, "ms_run[1]:index=1"),    # F/Mox: mass only
        ("SAMPLEK", 0.95, "ms_run[1]:index=2")]      # wrong; 3 unpredicted


@pytest.fixture
def files(tmp_path):
    truth = write_mgf(tmp_path / "truth.mgf", TRUE)
    return truth, write_mztab(tmp_path / "pred.mztab", ROWS)


def test_table_and_json(files):
    truth, pred = files
    [r] = evaluate_files([pred], [truth])
    table = format_table([r])
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["predictions", "mode", "spectra",
                                    "predicted"]
    mass = lines[2].split()
    # pep rec 2/4, pep prec 2/3; ranked wrong, right, right.
    assert mass[:4] == ["pred.mztab", "mass", "4", "3"]
    assert mass[6:8] == ["0.5000", "0.6667"]
    exact = lines[3].split()
    assert exact[1] == "exact" and exact[6] == "0.2500"
    data = to_json([r])["results"][0]
    assert data["mass"]["n_correct"] == 2 and data["exact"]["n_correct"] == 1
    assert data["mass"]["curve"]["coverage"] == [0.25, 0.5, 0.75]
    assert data["mass"]["curve"]["precision"] == pytest.approx(
        [0, 0.5, 2 / 3], abs=1e-6)
    assert data["residue_tol_da"] == 0.1 and data["mode"] == "best"


def test_cli_end_to_end(files, tmp_path):
    truth, pred = files
    out_json, out_png = tmp_path / "m.json", tmp_path / "pc.png"
    res = CliRunner().invoke(main, [
        "evaluate", str(pred), "--truth", str(truth), "--json",
        str(out_json), "--plot", str(out_png)])
    assert res.exit_code == 0, res.output
    assert "pred.mztab" in res.output and "exact" in res.output
    data = json.loads(out_json.read_text())
    assert data["results"][0]["mass"]["peptide_recall"] == 0.5
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(main, [
        "evaluate", str(pred), "-t", str(truth), "--no-exact",
        "--residue-tol", "0.02"])
    assert res.exit_code == 0, res.output
    assert "exact" not in res.output  # F/Mox no longer matches at 0.02
    assert res.output.splitlines()[2].split()[6] == "0.2500"


def test_cli_user_errors_are_one_line(files, tmp_path):
    truth, pred = files
    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", str(tmp_path / "none.mztab"),
                               "-t", str(truth)])
    assert res.exit_code == 1 and "none.mztab: no such file" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["evaluate", str(pred), "-t",
                               str(tmp_path / "none.mgf")])
    assert res.exit_code == 1 and "none.mgf" in res.output
    res = runner.invoke(main, ["evaluate", str(pred), "-t", str(truth),
                               "--labels", "a.mzid", "--labels", "b"])
    assert res.exit_code == 2 and "--labels" in res.output
    res = runner.invoke(main, ["evaluate", str(pred), "-t", str(truth),
                               "--fixed", "C"])
    assert res.exit_code == 2 and "AA=TOKEN" in res.output


def test_real_truth_with_mutated_predictions(tmp_path, real_file):
    """QEPlus2 labels; every 3rd prediction gets a heavy first residue.

    Oracle by construction: a first residue > 0.5 Da off costs exactly
    that residue (the backward pass recovers the rest) and the peptide.
    """
    path = real_file("QEPlus2_10212016_40_F5.mgf")
    truths = read_truth([path])
    assert len(truths) == 1094
    rng = np.random.default_rng(0)
    rows, wrong, n_res = [], 0, 0
    for i, t in enumerate(truths):
        pep = list(t.peptide)
        n_res += len(pep)
        if i % 3 == 0:
            pep[0] = "W" if pep[0] not in ("W", "[UNIMOD:1]-") else "G"
            wrong += 1
        rows.append((to_casanovo(tuple(pep)), rng.random(),
                     f"ms_run[1]:index={t.index}"))
    pred = write_mztab(tmp_path / "qe.mztab", rows,
                       runs=("QEPlus2_10212016_40_F5.mgf",))
    [r] = evaluate_files([pred], [path])
    m = r.mass
    assert m.n_correct == r.exact.n_correct == 1094 - wrong
    assert m.n_aa_pred == m.n_aa_true == n_res
    assert m.n_aa_matched == n_res - wrong
    assert m.peptide_recall == pytest.approx((1094 - wrong) / 1094)


def test_peptide_key_and_lists(tmp_path):
    from denovo.evaluate.peptide_lists import peptide_key, read_peptide_list

    assert peptide_key(("[UNIMOD:1]-", "P", "I", "M[UNIMOD:35]")) == "PLM"
    for text in ("K.PIM+15.995.R", "_.PLM._", "[Acetyl]-PIM[Oxidation]",
                 "pim"):
        assert peptide_key(text) == "PLM", text
    import gzip
    gz = tmp_path / "seen.txt.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("PEPTIDE\nSAMPLER\n")
    csv = tmp_path / "seen.csv"
    csv.write_text("sequence,irt\nC[UNIMOD:4]AK,1.0\n")
    assert read_peptide_list(gz) == {"PEPTLDE", "SAMPLER"}
    assert read_peptide_list(csv) == {"SEQUENCE", "CAK"}


def test_cli_unseen_subset(files, tmp_path):
    truth, pred = files
    seen = tmp_path / "seen.txt"
    seen.write_text("PEPTIDE\nSAMPLER\n")  # spectra 0 and 2 are "seen"
    out_json = tmp_path / "m.json"
    res = CliRunner().invoke(main, [
        "evaluate", str(pred), "-t", str(truth), "--seen", str(seen),
        "--json", str(out_json)])
    assert res.exit_code == 0, res.output
    assert "pred.mztab (unseen)" in res.output
    full, unseen = json.loads(out_json.read_text())["results"]
    assert full["mass"]["n_spectra"] == 4
    # Unseen: spectrum 1 (correct, mass mode) and 3 (not predicted).
    assert unseen["label"] == "pred.mztab (unseen)"
    assert (unseen["mass"]["n_spectra"], unseen["mass"]["n_correct"],
            unseen["exact"]["n_correct"]) == (2, 1, 0)
