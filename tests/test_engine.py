"""The engine: ONNX contract, session checks, pipeline and CLI.

Models are tiny graphs built with ``onnx.helper`` (no torch): fixed
logits, optionally shifted by a function of the inputs, plus denovo
metadata. Precursor m/z values come from pyteomics.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from pyteomics import mass as pmass

from denovo.cli import main
from denovo.core.preprocess import PreprocessConfig
from denovo.core.vocab import DEFAULT_VOCABULARY, END
from denovo.engine import session as session_module
from denovo.engine.contract import (FORMAT_VERSION, ModelFileError,
                                    ModelInfo, metadata_props)
from denovo.core.decode import DecodeConfig
from denovo.engine.pipeline import Engine, EngineConfig
from denovo.engine.session import ModelSession
from denovo.io import Spectrum

VOCAB = DEFAULT_VOCABULARY
ALL_INPUTS = ("mz", "intensity", "mask", "precursor_mass", "charge")


def make_model(path, logits, *, meta=None, inputs=ALL_INPUTS, scale=0.0):
    """ONNX model: log_softmax(logits + scale * f(inputs)), [B, L, V]."""
    n_slots, n_vocab = logits.shape
    spec = {"mz": (TensorProto.FLOAT, ["B", "P"]),
            "intensity": (TensorProto.FLOAT, ["B", "P"]),
            "mask": (TensorProto.BOOL, ["B", "P"]),
            "precursor_mass": (TensorProto.FLOAT, ["B"]),
            "charge": (TensorProto.INT64, ["B"])}
    init = [numpy_helper.from_array(logits[None].astype(np.float32), "T"),
            numpy_helper.from_array(np.array([1], np.int64), "ax"),
            numpy_helper.from_array(np.array([scale], np.float32), "k")]
    mk = helper.make_node
    nodes = [mk("ReduceSum", ["intensity", "ax"], ["s1"], keepdims=1)]
    terms = ["s1"]
    if "mask" in inputs:
        nodes += [mk("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
                  mk("ReduceSum", ["mf", "ax"], ["s2"], keepdims=1)]
        terms.append("s2")
    if "mz" in inputs:
        nodes.append(mk("ReduceSum", ["mz", "ax"], ["s3"], keepdims=1))
        terms.append("s3")
    if "precursor_mass" in inputs:
        nodes.append(mk("Unsqueeze", ["precursor_mass", "ax"], ["s4"]))
        terms.append("s4")
    if "charge" in inputs:
        nodes += [mk("Cast", ["charge"], ["cf"], to=TensorProto.FLOAT),
                  mk("Unsqueeze", ["cf", "ax"], ["s5"])]
        terms.append("s5")
    nodes += [mk("Sum", terms, ["s"]), mk("Mul", ["s", "k"], ["z"]),
              mk("Unsqueeze", ["z", "ax"], ["z3"]),
              mk("Add", ["z3", "T"], ["logits"]),
              mk("LogSoftmax", ["logits"], ["log_probs"], axis=-1)]
    graph = helper.make_graph(
        nodes, "standin",
        [helper.make_tensor_value_info(n, *spec[n]) for n in inputs],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT,
                                       ["B", n_slots, n_vocab])], init)
    return save_model(graph, path, n_slots, meta)


def save_model(graph, path, n_slots, meta=None):
    """Save ``graph`` as a checked opset-17 model with denovo metadata
    (default: the default vocabulary and ``n_slots - 1`` residues)."""
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if meta is None:
        meta = metadata_props(vocabulary=VOCAB, preprocess=PreprocessConfig(),
                              max_length=n_slots - 1, refinement_steps=1)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def peptide_logits(peptide, n_slots=21):
    """Logits that spell ``peptide`` then END with high confidence."""
    logits = np.zeros((n_slots, len(VOCAB)), np.float32)
    for t, name in enumerate(peptide):
        logits[t, VOCAB.index(name)] = 8.0
    logits[len(peptide):, END] = 8.0
    return logits


def _spectrum(rng, precursor_mz, charge, index, *, n_peaks=40, **kw):
    mz = np.sort(rng.uniform(150, 1400, n_peaks))
    inten = rng.uniform(1, 100, n_peaks).astype(np.float32)
    return Spectrum(mz, inten, precursor_mz, charge=charge, index=index,
                    source="x.mgf", **kw)


@pytest.fixture(scope="module")
def pep_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "pep.onnx"
    return make_model(path, peptide_logits(tuple("PEPTLDEK")))


def test_metadata_round_trip():
    pre = PreprocessConfig(max_peaks=100)
    meta = metadata_props(vocabulary=VOCAB, preprocess=pre, max_length=30,
                          refinement_steps=3, provenance={"commit": "abc"},
                          model_config={"dim": 64})
    assert all(isinstance(v, str) for v in meta.values())
    assert json.loads(meta["denovo.format_version"]) == FORMAT_VERSION
    info = ModelInfo.from_metadata(meta)
    assert info.vocabulary == VOCAB
    assert info.preprocess == pre
    assert (info.max_length, info.n_slots, info.refinement_steps) == \
        (30, 31, 3)
    assert info.provenance == {"commit": "abc"}


@pytest.mark.parametrize("change, message", [
    (lambda m: {}, "not a denovo model"),
    (lambda m: {**m, "denovo.format_version": "5"}, "not supported"),
    (lambda m: {**m, "denovo.evidence_scorer": '{"weights": [1.0]}'},
     "evidence scorer"),
    (lambda m: {**m, "denovo.takes_draft": "1"}, "takes_draft"),
    (lambda m: {**m, "denovo.max_length": "{oops"}, "not valid JSON"),
    (lambda m: {k: v for k, v in m.items() if k != "denovo.vocabulary"},
     "missing"),
    (lambda m: {**m, "denovo.max_length": "0"}, "max_length"),
    (lambda m: {**m, "denovo.preprocessing": '{"max_peaks": 5}'},
     "preprocessing"),
    (lambda m: {**m, "denovo.vocabulary": json.dumps(
        {**VOCAB.to_dict(), "tokens": ["<pad>", "<end>", "X"],
         "masses": [0, 0, 1.0]})}, "vocabulary"),
])
def test_metadata_errors(change, message):
    meta = metadata_props(vocabulary=VOCAB, preprocess=PreprocessConfig(),
                          max_length=20, refinement_steps=1)
    with pytest.raises(ModelFileError, match=message):
        ModelInfo.from_metadata(change(meta), source="m.onnx")


def test_session_rejects_bad_files(tmp_path, monkeypatch):
    text = tmp_path / "not.onnx"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="cannot be loaded"):
        ModelSession(text)
    with pytest.raises(ModelFileError, match="not found"):
        ModelSession(tmp_path / "missing.onnx")
    bare = make_model(tmp_path / "bare.onnx", peptide_logits("PEK"),
                      meta={"producer": "someone"})
    with pytest.raises(ModelFileError, match="not a denovo model"):
        ModelSession(bare)
    meta = metadata_props(vocabulary=VOCAB, preprocess=PreprocessConfig(),
                          max_length=5, refinement_steps=1)
    wrong = make_model(tmp_path / "wrong.onnx", peptide_logits("PEK"),
                       meta=meta)  # 21 slots, metadata says 6
    with pytest.raises(ModelFileError, match="shape"):
        ModelSession(wrong)
    monkeypatch.setattr(session_module, "DEFAULT_MODEL",
                        tmp_path / "default.onnx")
    with pytest.raises(ModelFileError, match="default model"):
        ModelSession(None)


def test_engine_finds_the_peptide_at_the_right_charge(pep_model):
    rng = np.random.default_rng(1)
    peptide = "PEPTLDEK"
    mz3 = pmass.calculate_mass(sequence=peptide, charge=3)
    mz2 = pmass.calculate_mass(sequence=peptide, charge=2)
    spectra = [
        _spectrum(rng, mz2, 2, 0),
        _spectrum(rng, mz3, None, 1),  # unknown charge: 2 and 3 tried
        _spectrum(rng, 2100.0, 2, 2),  # too heavy for 20 residues
        Spectrum(np.zeros(0), np.zeros(0, np.float32), 500.0, index=3,
                 source="x.mgf", status="skipped:no_peaks"),
        _spectrum(rng, mz2, 2, 4, n_peaks=3),
    ]
    # peaks of the last one all lie near the precursor: none survive
    spectra[4] = Spectrum(np.array([mz2 - 0.5, mz2, mz2 + 0.5]),
                          np.ones(3, np.float32), mz2, charge=2, index=4,
                          source="x.mgf")
    session = ModelSession(pep_model, threads=1)
    engine = Engine(session, config=EngineConfig(batch_size=2), mode="model")
    results = list(engine.run(spectra))
    assert [r.spectrum.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.status for r in results] == [
        "ok", "ok", "no_mass_match", "skipped:no_peaks",
        "skipped:no_peaks_after_preprocessing"]
    best = results[1].matches[0]
    assert best.candidate.tokens == tuple("PEPTLDEK")
    assert best.charge == 3
    assert results[0].matches[0].charge == 2
    fallback = results[2].matches[0].candidate
    assert not fallback.mass_match
    assert fallback.tokens == tuple("PEPTLDEK")
    assert [len(r.psms()) for r in results] == [1] * 5


def test_engine_feeds_only_declared_inputs(tmp_path):
    rng = np.random.default_rng(2)
    path = make_model(tmp_path / "two.onnx", peptide_logits("PEPTLDEK"),
                      inputs=("mz", "intensity"), scale=1e-3)
    session = ModelSession(path, threads=1)
    assert session.input_names == ("mz", "intensity")
    mz = pmass.calculate_mass(sequence="PEPTLDEK", charge=2)
    out = list(Engine(session, mode="model").run(
        [_spectrum(rng, mz, 2, 0)]))
    assert out[0].status == "ok"


def _write_mgf(path, rng, n):
    lines = []
    for i in range(n):
        peptide = "PEPTLDEK" if i % 2 else "ACDEFGHK"
        mz = pmass.calculate_mass(sequence=peptide, charge=2)
        lines += ["BEGIN IONS", f"TITLE=s{i}", f"PEPMASS={mz:.6f}"]
        if i % 3:
            lines.append("CHARGE=2+")
        for x in np.sort(rng.uniform(150, 1200, 30)):
            lines.append(f"{x:.4f} {rng.uniform(1, 100):.1f}")
        lines.append("END IONS")
    lines += ["BEGIN IONS", "TITLE=empty", "PEPMASS=500.0", "CHARGE=2+",
              "END IONS"]
    path.write_text("\n".join(lines) + "\n")
    return n + 1


def test_cli_writes_one_row_per_spectrum(tmp_path, pep_model):
    mgf = tmp_path / "run.mgf"
    n = _write_mgf(mgf, np.random.default_rng(3), 9)
    out, table = tmp_path / "out.mztab", tmp_path / "out.csv"
    result = CliRunner().invoke(main, [
        "sequence", str(mgf), "-m", str(pep_model), "-o", str(out),
        "--mode", "model",
        "--csv", str(table), "--beam", "3", "--batch-size", "4",
        "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"spectra in:        {n}" in result.output
    rows = [ln.split("\t") for ln in out.read_text().splitlines()
            if ln.startswith("PSM\t")]
    assert len(rows) == n
    with open(table) as fh:
        records = list(csv.DictReader(fh))
    assert [r["spectrum_id"] for r in records] == [
        f"run.mgf:{i}" for i in range(n)]
    statuses = [r["status"] for r in records]
    assert statuses[-1] == "skipped:no_peaks"
    assert statuses[1] == "ok"
    assert records[1]["sequence"] == "PEPTLDEK"


def test_cli_real_file_one_row_each(tmp_path, pep_model, real_file):
    path = real_file("pepnet_124.mgf")
    table = tmp_path / "out.csv"
    result = CliRunner().invoke(main, [
        "sequence", str(path), "-m", str(pep_model), "--csv", str(table),
        "--mode", "model",
        "--no-progress"])
    assert result.exit_code == 0, result.output
    with open(table) as fh:
        ids = [r["spectrum_id"] for r in csv.DictReader(fh)]
    assert ids == [f"pepnet_124.mgf:{i}" for i in range(124)]


def test_cli_errors_are_clean(tmp_path, pep_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    for args, message in [
        (["sequence", str(tmp_path / "none.mgf"), "-m", str(pep_model)],
         "file not found"),
        (["sequence", str(pep_model), "-m", str(bad)], "cannot be loaded"),
        (["sequence", "x.mgf", "-m", str(pep_model), "--charges", "a"],
         "not a list of integers"),
    ]:
        result = runner.invoke(main, args + ["--no-progress"])
        assert result.exit_code != 0
        assert message in result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, (TypeError, KeyError))
    assert not list(tmp_path.glob("*.mztab"))  # nothing half-written


def test_sequence_runs_without_torch(tmp_path, pep_model):
    mgf = tmp_path / "run.mgf"
    _write_mgf(mgf, np.random.default_rng(4), 4)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from click.testing import CliRunner\n"
        "from denovo.cli import main\n"
        f"r = CliRunner().invoke(main, ['sequence', {str(mgf)!r}, '-m', "
        f"{str(pep_model)!r}, '--csv', {str(tmp_path / 'o.csv')!r}, "
        "'--no-progress'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert sys.modules['torch'] is None\n"
        "assert not any(m.startswith(('torch.', 'denovo_training',\n"
        "                             'denovo_export'))\n"
        "               for m in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rescoring_prefers_the_candidate_the_peaks_support(tmp_path):
    from denovo.core.fragments import fragment_mz

    # Two same-mass readings, the model slightly prefers the wrong one.
    logits = peptide_logits(tuple("PEPTLDEK"))
    logits[0, VOCAB.index("E")] = 7.9
    logits[1, VOCAB.index("P")] = 7.9
    model = make_model(tmp_path / "two.onnx", logits)
    true = tuple("EPPTLDEK")
    frags = fragment_mz(true, 2)
    mz = np.sort(frags.mz)
    spectrum = Spectrum(mz, np.full(mz.size, 10.0, np.float32),
                        pmass.calculate_mass(sequence="EPPTLDEK", charge=2),
                        charge=2, index=0, source="x.mgf")
    session = ModelSession(model, threads=1)
    plain = Engine(session, decode=DecodeConfig(beam=5), mode="model")
    rescored = Engine(session, decode=DecodeConfig(beam=5), rescore=True,
                      mode="model")
    (before,) = list(plain.run([spectrum]))
    (after,) = list(rescored.run([spectrum]))
    assert before.matches[0].candidate.tokens == tuple("PEPTLDEK")
    assert after.matches[0].candidate.tokens == true
    assert len(after.matches) == 1  # still top_k = 1 reported


def test_peak_sorted_batches_keep_each_result_with_its_spectrum(real_file):
    """Sorting a window by peak count must not mix spectra up: batches of
    one (no sorting, no padding) give the same answers as sorted batches."""
    from denovo.io import read_spectra
    spectra = list(read_spectra(real_file("pepnet_124.mgf")))[:48]
    session = ModelSession(None, threads=1)
    decode = DecodeConfig(beam=2)
    single = list(Engine(session, decode=decode,
                         config=EngineConfig(batch_size=1)).run(spectra))
    sorted_ = list(Engine(session, decode=decode,
                          config=EngineConfig(batch_size=5)).run(spectra))
    assert len(single) == len(sorted_) == len(spectra)
    n_peaks = [len(s.mz) for s in spectra]
    assert len(set(n_peaks)) > 10  # the window really gets reordered
    for a, b in zip(single, sorted_, strict=True):
        assert a.spectrum is b.spectrum and a.status == b.status
        assert [m.candidate.tokens for m in a.matches] == \
            [m.candidate.tokens for m in b.matches]
        assert np.allclose([m.candidate.score for m in a.matches],
                           [m.candidate.score for m in b.matches], atol=1e-4)


def test_bundled_models_are_found_by_name(tmp_path, monkeypatch, pep_model):
    import shutil
    shutil.copy(pep_model, tmp_path / "mini.onnx")
    monkeypatch.setattr(session_module, "MODELS_DIR", tmp_path)
    assert ModelSession("mini", threads=1).path == tmp_path / "mini.onnx"
    # an existing file of that name wins over the bundled model
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mini").write_bytes((tmp_path / "mini.onnx").read_bytes())
    assert ModelSession("mini", threads=1).path.name == "mini"
    with pytest.raises(ModelFileError, match=r"bundled models: mini\)"):
        ModelSession("nope", threads=1)


def test_every_bundled_model_sequences_the_example():
    from denovo.engine.session import bundled_models
    from denovo.io import read_spectra
    from importlib.resources import files

    models = bundled_models()
    assert {"default", "draft"} <= set(models)
    spectra = list(read_spectra(files("denovo") / "data" / "example.mgf"))[:8]
    for name in models:
        session = ModelSession(name, threads=1)
        results = list(Engine(session).run(spectra))
        assert [r.spectrum for r in results] == spectra, name
        assert all(r.matches for r in results), name
    assert ModelSession("default").info.refinement_steps == 1
    draft = ModelSession("draft").info
    assert draft.refinement_steps == 3 and draft.takes_draft
