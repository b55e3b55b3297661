"""``denovo sequence`` never loses or fakes a result (issue 14).

Outputs that are inputs are refused, outputs appear only when a run
finishes, damaged inputs end with their own exit code and a row for every
spectrum known to exist, flagged rows sort below mass-matched ones,
tolerances take Da, spectrum ids are unique, the first run says it
compiled kernels.
"""

import csv
import subprocess
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner
from test_engine import _write_mgf, make_model, peptide_logits

from denovo.cli import EXIT_DAMAGED, EXIT_FAILED, EXIT_INTERRUPTED, main
from denovo.core.decode import DecodeConfig, Decoder
from denovo.core.vocab import DEFAULT_VOCABULARY
from denovo.engine import pipeline
from denovo.engine.firstrun import KernelCache
from denovo.core.window import PrecursorWindow
from denovo.engine.results import Summary
from denovo.io import PSM, Spectrum
from denovo.io.formats import count_spectra


@pytest.fixture(scope="module")
def pep_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "pep.onnx"
    return make_model(path, peptide_logits(tuple("PEPTLDEK")))


@pytest.fixture
def mgf(tmp_path):
    path = tmp_path / "run.mgf"
    _write_mgf(path, np.random.default_rng(5), 12)
    return path


def _run(args):
    return CliRunner().invoke(main, ["sequence", *map(str, args),
                                     "--no-progress"])


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_an_output_that_is_an_input_is_refused(tmp_path, mgf, pep_model,
                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = mgf.read_bytes()
    for args in (["-o", "run.mgf"], ["--csv", "./run.mgf"],
                 ["-o", "sub/../run.mgf"], ["-o", "a.tsv", "--csv",
                                            "a.tsv"]):
        result = _run(["run.mgf", "-m", pep_model, *args])
        assert result.exit_code == EXIT_FAILED, result.output
        assert "would overwrite" in result.output
        assert "Traceback" not in result.output
    assert mgf.read_bytes() == before
    assert not list(tmp_path.glob("*.partial"))


def test_a_failed_run_leaves_nothing_at_the_output_path(tmp_path, mgf,
                                                        pep_model):
    garbage = tmp_path / "garbage.mgf"
    garbage.write_text("this is not a spectrum file\n")
    out, table = tmp_path / "out.mztab", tmp_path / "out.csv"
    # The garbage file first: nothing was sequenced, nothing is kept.
    result = _run([garbage, mgf, "-m", pep_model, "-o", out, "--csv",
                   table])
    assert result.exit_code == EXIT_FAILED
    assert "garbage.mgf" in result.output
    assert not list(tmp_path.glob("out.*"))
    # The garbage file second, after a batch of rows: the rows are kept
    # as .partial files, never under the output names.
    result = _run([mgf, garbage, "-m", pep_model, "-o", out, "--csv",
                   table, "--batch-size", "2"])
    assert result.exit_code == EXIT_FAILED
    assert not out.exists() and not table.exists()
    partial = tmp_path / "out.csv.partial"
    assert len(_csv(partial)) > 0
    assert "PSM\t" in (tmp_path / "out.mztab.partial").read_text()


def test_a_missing_output_folder_is_created(tmp_path, mgf, pep_model):
    out = tmp_path / "missing" / "deeper" / "x.mztab"
    result = _run([mgf, "-m", pep_model, "-o", out])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "Traceback" not in result.output


@pytest.mark.parametrize("after_rows", [False, True])
def test_ctrl_c_leaves_no_header_only_output(tmp_path, mgf, pep_model,
                                             monkeypatch, after_rows):
    real_run = pipeline.Engine.run

    def interrupted(self, spectra):
        if after_rows:
            yield from list(real_run(self, spectra))[:5]
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.Engine, "run", interrupted)
    out = tmp_path / "out.mztab"
    result = _run([mgf, "-m", pep_model, "-o", out, "--batch-size", "1"])
    assert result.exit_code == EXIT_INTERRUPTED
    assert not out.exists()
    partial = tmp_path / "out.mztab.partial"
    assert partial.exists() == after_rows
    if after_rows:
        assert partial.read_text().count("\nPSM\t") == 5


def _cut_mzml(tmp_path, real_file, n_spectra=40):
    data = real_file("yeast_small.mzML").read_bytes()
    starts = [i for i in range(len(data))
              if data.startswith(b"<spectrum ", i)]
    path = tmp_path / "cut.mzML"
    path.write_bytes(data[:starts[n_spectra] + 500])
    return path


def test_damaged_input_exit_code_rows_and_one_report(tmp_path, real_file,
                                                     pep_model):
    cut = _cut_mzml(tmp_path, real_file)
    table = tmp_path / "out.csv"
    proc = subprocess.run(
        [sys.executable, "-c", "from denovo.cli import main; main()",
         "sequence", str(cut), "-m", str(pep_model), "--csv", str(table),
         "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == EXIT_DAMAGED, proc.stderr
    assert proc.stderr.count("damaged file:") == 1
    assert "Traceback" not in proc.stderr
    rows = _csv(table)
    statuses = [r["status"] for r in rows]
    # 40 spectra read (33 MS2); the other 102 of the 142 announced are
    # lost; the lost one with a tag is MS1, so 101 rows stand for them.
    assert statuses.count("skipped:unreadable") == 101
    assert len(rows) == 33 + 101
    ids = [r["spectrum_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert ids[-1] == "cut.mzML:141"


def test_flagged_rows_never_outrank_matched_ones(tmp_path, mgf, pep_model):
    # Precursors too heavy for 20 residues: no peptide fits.
    peaks = "\n".join(f"{x:.1f} 10.0" for x in range(200, 1000, 50))
    with open(mgf, "a") as fh:
        for mz in (4100.0, 4200.0, 4300.0):
            fh.write(f"BEGIN IONS\nPEPMASS={mz}\nCHARGE=1+\n{peaks}\n"
                     "END IONS\n")
    table = tmp_path / "out.csv"
    # model mode: flagged rows carry the best unconstrained peptide (the
    # search modes write no peptide for them)
    result = _run([mgf, "-m", pep_model, "--csv", table, "--beam", "1",
                   "--mode", "model"])
    assert result.exit_code == 0, result.output
    rows = [r for r in _csv(table) if r["sequence"]]
    statuses = {r["status"] for r in rows}
    assert statuses == {"ok", "no_mass_match"}
    ranked = sorted(rows, key=lambda r: float(r["score"]), reverse=True)
    flags = [r["status"] == "no_mass_match" for r in ranked]
    assert flags == sorted(flags)  # all matched rows first
    for r in rows:  # the raw score keeps its own column
        assert float(r["model_score"]) <= 0.0
        assert 0.0 <= float(r["score"]) <= 1.0


def test_reported_score_orders_matched_above_flagged():
    spec = Spectrum(np.ones(1), np.ones(1, np.float32), 500.0, index=0,
                    source="x.mgf")
    pep = ("P", "E", "K")
    worst_matched = PSM.from_spectrum(spec, peptide=pep, score=-50.0)
    best_flagged = PSM.from_spectrum(spec, peptide=pep, score=0.0,
                                     status="no_mass_match")
    calibrated = PSM.from_spectrum(spec, peptide=pep, score=-1.0,
                                   confidence=0.0)
    assert best_flagged.reported_score == 0.0
    assert worst_matched.reported_score > 0.0
    assert calibrated.reported_score > best_flagged.reported_score
    assert PSM.from_spectrum(spec, peptide=pep, score=-0.1,
                             confidence=0.8).reported_score == 0.8
    assert PSM.from_spectrum(spec).reported_score is None


def test_precursor_tolerance_in_da(tmp_path, mgf, pep_model):
    decoder_ppm = Decoder(DEFAULT_VOCABULARY, DecodeConfig(beam=3),
                          PrecursorWindow(tol_ppm=5.0))
    decoder_da = Decoder(DEFAULT_VOCABULARY, DecodeConfig(beam=3),
                         PrecursorWindow(tol_da=0.05))
    tokens = [DEFAULT_VOCABULARY.index(a) for a in "PEPTLDEK"]
    logits = peptide_logits(tuple("PEPTLDEK"))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    mass = DEFAULT_VOCABULARY.masses[tokens].sum() + 18.010565 + 0.03
    best = [d.candidates(d.decode_arrays(log_probs[None],
                                         np.array([mass])))[0][0]
            for d in (decoder_ppm, decoder_da)]
    # 0.03 Da = 33 ppm: only the Da window lets PEPTLDEK fit.
    assert best[0].tokens != tuple("PEPTLDEK")
    assert best[1].tokens == tuple("PEPTLDEK") and best[1].mass_match
    out = tmp_path / "o.mztab"
    result = _run([mgf, "-m", pep_model, "-o", out,
                   "--precursor-tol", "0.02Da"])
    assert result.exit_code == 0, result.output
    assert "precursor_tol = 0.02 Da" in out.read_text()
    result = _run([mgf, "-m", pep_model, "-o", out, "--precursor-tol",
                   "0.02 parsecs"])
    assert result.exit_code == 2 and "0.02Da" in result.output


def test_spectrum_ids_are_unique_across_same_named_files(tmp_path,
                                                         pep_model):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        _write_mgf(tmp_path / sub / "run.mgf", np.random.default_rng(1), 3)
    table = tmp_path / "out.csv"
    result = _run([tmp_path / "a" / "run.mgf", tmp_path / "b" / "run.mgf",
                   "-m", pep_model, "--csv", table])
    assert result.exit_code == 0, result.output
    ids = [r["spectrum_id"] for r in _csv(table)]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert ids[0] == "a/run.mgf:0" and ids[4] == "b/run.mgf:0"


def test_spectra_are_counted_for_the_progress_bar(tmp_path, mgf,
                                                  real_file):
    assert count_spectra(mgf) == 13
    assert count_spectra(real_file("yeast_small.mzML")) == 142
    assert count_spectra(real_file("nist_bsa_consensus_725.msp")) == 725
    assert count_spectra(tmp_path / "none.mgf") is None


def test_first_run_compilation_is_detected(tmp_path, monkeypatch):
    from numba import njit
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    module = types.ModuleType("denovo._kernel_for_test")
    code = "def twice(x):\n    return 2 * x\n"
    source = tmp_path / "kernel_for_test.py"
    source.write_text(code)
    exec(compile(code, str(source), "exec"), module.__dict__)
    module.twice = njit(cache=True)(module.twice)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    cache = KernelCache().start()
    assert module.twice(2) == 4
    assert cache.compiled() == 1
    summary = Summary(n_compiled=1, warm_up_seconds=12.5)
    assert "compiled 1 Numba kernels in 12.5s" in summary.first_run_note
    assert Summary().first_run_note is None


def test_summary_says_what_the_files_state_and_warns_for_ion_traps():
    from collections import Counter
    quiet = Summary(fragmentation=Counter({"HCD": 5, None: 2}),
                    fragment_tol_da=0.02)
    assert "fragmentation:     HCD 5" in quiet.text()
    assert "--fragment-tol" not in quiet.text()
    trap = Summary(fragmentation=Counter({"CID": 7}), fragment_tol_da=0.02)
    assert "7 spectra are ion-trap CID" in trap.text()
    assert "--fragment-tol 0.5Da" in trap.text()
    wide = Summary(fragmentation=Counter({"CID": 7}), fragment_tol_da=0.5)
    assert "--fragment-tol" not in wide.text()
    assert "fragmentation" not in Summary().text()  # MGF: nothing said
    read = Summary(fragmentation=Counter({"CID (estimated)": 7}),
                   fragment_tol_da=0.02, ion_trap_tol_da=0.5,
                   ion_trap_settings="scorer fitted on HCD spectra, "
                   "confidence on CID")
    assert "read at 0.5 Da fragment tolerance with the ion-trap settings " \
        "(scorer fitted on HCD spectra, confidence on CID)" in read.text()
    assert "--fragment-tol" not in read.text()
    files = Summary(fragmentation=Counter({"CID": 3, None: 2}),
                    fragmentation_by_file={"/d/a.mzML": Counter({"CID": 3}),
                                           "/d/b.mgf": Counter({None: 2})})
    assert "  a.mzML: CID 3\n  b.mgf: not stated 2" in files.text()
