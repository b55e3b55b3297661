"""benchmarks/nine_species.py on the stand-in, with fabricated predictions.

Sequencing is not exercised (``--predictions``); the evaluation half runs
through the real ``denovo evaluate`` command. Expected numbers follow
from how the predictions are fabricated: every 4th peptide gets a first
residue heavier by > 0.5 Da, which costs that residue and the peptide.
"""

import importlib.util
import sys
import json
from pathlib import Path

import pytest

from denovo.core.peptide import to_casanovo
from denovo.evaluate.predictions import read_truth

from test_evaluate_predictions import write_mztab

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / \
    "nine_species.py"


@pytest.fixture(scope="module")
def ns():
    # benchmark scripts import their sibling helpers (benchmarks/machine.py)
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("nine_species", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fabricate(mgf: Path, out: Path) -> dict:
    """Casanovo-style mzTab for ``mgf``; returns expected counts."""
    truths = read_truth([mgf])
    rows, wrong, n_res = [], 0, 0
    for i, t in enumerate(truths):
        pep = list(t.peptide)
        n_res += len(pep)
        if i % 4 == 0:
            pep[0] = "W" if pep[0] not in ("W", "[UNIMOD:1]-") else "G"
            wrong += 1
        rows.append((to_casanovo(tuple(pep)), 1.0 - i / 1000,
                     f"ms_run[1]:index={t.index}"))
    write_mztab(out, rows, runs=(mgf.name,))
    return {"n": len(truths), "wrong": wrong, "n_res": n_res}


def test_zero_shot_on_stand_in(ns, tmp_path, shared_data):
    work, preds, out = tmp_path / "w", tmp_path / "p", tmp_path / "res"
    stand_in = ns.build_stand_in(work / "stand_in", size=12)
    species = ns.find_species(stand_in)
    assert set(species) == set(ns.STAND_IN)
    preds.mkdir()
    expect = {name: fabricate(files[0], preds / f"{name}.mztab")
              for name, files in species.items()}
    argv = ["zero-shot", "--stand-in", "--stand-in-size", "12",
            "--predictions", str(preds), "--work", str(work),
            "--out", str(out)]
    rows = ns.main(argv)
    assert set(rows) == set(species)
    for name, e in expect.items():
        mass = rows[name]["mass"]
        assert mass["n_spectra"] == e["n"] == 12
        assert mass["n_correct"] == e["n"] - e["wrong"]
        assert mass["n_aa_matched"] == e["n_res"] - e["wrong"]
        assert rows[name]["exact"]["n_correct"] == e["n"] - e["wrong"]
    data = json.loads((out / "nine_species_zero_shot_stand_in.json")
                      .read_text())
    assert data["meta"]["command"].endswith(" ".join(argv))
    md = (out / "nine_species_zero_shot_stand_in.md").read_text()
    # 12 spectra, 3 wrong per species -> peptide recall 0.75 everywhere.
    assert "| mean | 48 |" in md and md.count("0.7500") >= 5


def test_loso_dry_run_builds_commands(ns, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "apis").mkdir(parents=True)
    (data / "apis" / "a1.mgf").write_text("")
    (data / "yeast.mgf").write_text("")
    (data / "notes.txt").write_text("")
    assert list(ns.find_species(data)) == ["apis", "yeast"]
    rows = ns.main(["loso", "--data", str(data), "--config", "c.yaml",
                    "--work", str(tmp_path / "w"), "--out",
                    str(tmp_path / "o"), "--dry-run"])
    assert rows == {}
    lines = capsys.readouterr().out.splitlines()
    train = [ln for ln in lines if ln.startswith("$ denovo train")]
    assert len(train) == 2
    assert "without_apis" not in train[0]
    assert str(data / "yeast.mgf") in train[0]  # apis held out
    assert str(data / "apis" / "a1.mgf") not in train[0]
    assert any("export" in ln and "without_yeast.onnx" in ln
               for ln in lines)
    assert sum("sequence" in ln for ln in lines) == 2


@pytest.mark.slow
def test_stand_in_through_denovo_sequence(ns, tmp_path, shared_data):
    """Whole pipeline with a flat-logits ONNX model: every stand-in
    spectrum is sequenced, written to mzTab and joined back."""
    test_engine = pytest.importorskip("test_engine")
    import numpy as np

    model = test_engine.make_model(
        tmp_path / "flat.onnx",
        np.zeros((41, len(test_engine.VOCAB)), np.float32))
    rows = ns.main(["zero-shot", "--stand-in", "--stand-in-size", "8",
                    "--model", str(model), "--work", str(tmp_path / "w"),
                    "--out", str(tmp_path / "o")])
    assert set(rows) == set(ns.STAND_IN)
    for r in rows.values():
        assert r["mass"]["n_spectra"] == r["mass"]["n_predicted"] == 8
        assert r["n_unmatched_rows"] == 0
