"""Tests for denovo_export.onnx_export: parity, contract and metadata."""

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from denovo.core.preprocess import PreprocessConfig  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY  # noqa: E402
from denovo.engine import contract  # noqa: E402
from denovo_export.onnx_export import (  # noqa: E402
    export_onnx, random_batch, with_draft)
from denovo.core.config import from_dict  # noqa: E402
from denovo_training.config import ModelConfig  # noqa: E402
from denovo_training.checkpoint import checkpoint_dict  # noqa: E402
from denovo_training.model import TRM  # noqa: E402

CFG = ModelConfig(max_length=10, dim=32, heads=4, ff_mult=2,
                  encoder_layers=1, core_layers=1, steps=2, cycles=2,
                  latent_updates=1, mz_frequencies=16)
PREPROCESS = PreprocessConfig(max_peaks=120, min_mz=60.0).to_dict()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = TRM(CFG).eval()
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    report = export_onnx(model, path, preprocess=PREPROCESS,
                         provenance={"git": "abc123"},
                         metadata={"denovo.note": "test"},
                         batches=[random_batch(2, 400, seed=9)])
    return model, path, report


def _session(path):
    return ort.InferenceSession(str(path),
                                providers=["CPUExecutionProvider"])


def test_parity_within_tolerance_on_varying_shapes(exported):
    model, path, report = exported
    assert report.max_abs_diff <= 1e-4
    shapes = {(b, p) for b, p, _ in report.diffs}
    assert len({b for b, _ in shapes}) >= 3
    assert len({p for _, p in shapes}) >= 3
    assert (2, 400) in shapes
    # Independent re-check with a fresh session and a new shape.
    feed = random_batch(6, 77, seed=123)
    onnx_lp = _session(path).run(["log_probs"], feed)[0]
    with torch.no_grad():
        ref = model(**{k: torch.from_numpy(v) for k, v in feed.items()})
    assert onnx_lp.shape == (6, CFG.max_length + 1, len(DEFAULT_VOCABULARY))
    np.testing.assert_allclose(onnx_lp, ref[-1].numpy(), atol=1e-4)


def test_mass_feedback_model_exports_with_parity(tmp_path):
    cfg = dataclasses.replace(CFG, mass_feedback=True)
    torch.manual_seed(1)
    report = export_onnx(TRM(cfg).eval(), tmp_path / "fb.onnx",
                         preprocess=PREPROCESS,
                         batches=[random_batch(3, 90, seed=4)])
    assert report.max_abs_diff <= 1e-4


def test_graph_follows_the_contract(exported):
    _, path, _ = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    types = {1: "float32", 7: "int64", 9: "bool"}
    for inp in proto.graph.input:
        kind, shape = contract.INPUTS[inp.name]
        t = inp.type.tensor_type
        assert types[t.elem_type] == kind
        dims = [d.dim_param for d in t.shape.dim]
        assert dims == list(shape)
    assert [o.name for o in proto.graph.output] == ["log_probs"]
    # a model without drafts has every input but the optional draft
    assert {i.name for i in proto.graph.input} == set(contract.INPUTS) - {
        "draft"}


def test_draft_model_exports_a_draft_input_with_parity(tmp_path):
    from denovo.engine.session import ModelSession

    cfg = dataclasses.replace(CFG, mass_feedback=True, draft=True)
    torch.manual_seed(2)
    model = TRM(cfg).eval()
    path = tmp_path / "draft.onnx"
    report = export_onnx(model, path, preprocess=PREPROCESS)
    assert report.max_abs_diff <= 1e-4
    proto = onnx.load(str(path))
    (draft,) = [i for i in proto.graph.input if i.name == "draft"]
    dims = draft.type.tensor_type.shape.dim
    assert dims[0].dim_param == "B" and dims[1].dim_value == cfg.max_length + 1
    session = ModelSession(path)
    assert session.info.takes_draft
    assert session.info.format_version == contract.FORMAT_VERSION
    # the draft changes the answer; no draft = an all-PAD (blank) draft
    batch = with_draft(random_batch(4, 40, seed=3), cfg.max_length + 1)
    inputs = {k: v for k, v in batch.items() if k != "draft"}
    with_d = session.run(**batch)
    blank = session.run(**inputs)
    zeros = session.run(**inputs, draft=np.zeros_like(batch["draft"]))
    np.testing.assert_array_equal(blank, zeros)
    assert np.abs(with_d - blank).max() > 1e-3


def test_metadata_round_trips_through_onnxruntime(exported):
    _, path, report = exported
    meta = _session(path).get_modelmeta().custom_metadata_map
    assert meta == report.metadata
    assert meta["denovo.note"] == "test"
    info = contract.ModelInfo.from_metadata(meta, source=str(path))
    assert info.max_length == CFG.max_length
    assert info.refinement_steps == CFG.steps
    assert info.vocabulary == DEFAULT_VOCABULARY
    assert info.provenance == {"git": "abc123"}
    assert json.loads(meta["denovo.preprocessing"]) == PREPROCESS
    assert from_dict(ModelConfig, info.model_config, partial=False) == CFG


def test_checkpoint_export_uses_ema_and_stored_metadata(tmp_path):
    torch.manual_seed(1)
    raw = TRM(CFG).eval()
    torch.manual_seed(2)
    ema_model = TRM(CFG).eval()
    ckpt = checkpoint_dict(raw, ema=ema_model.state_dict(),
                           preprocess=PREPROCESS,
                           vocabulary=DEFAULT_VOCABULARY.to_dict(),
                           provenance={"steps": 7})
    ckpt_path = tmp_path / "last.ckpt"
    torch.save(ckpt, ckpt_path)
    path = tmp_path / "from_ckpt.onnx"
    report = export_onnx(ckpt_path, path, all_steps=True,
                         provenance={"note": "x"})
    assert report.max_abs_diff <= 1e-4
    feed = random_batch(3, 20, seed=5)
    final, steps = _session(path).run(["log_probs", "step_log_probs"], feed)
    with torch.no_grad():
        ref = ema_model(**{k: torch.from_numpy(v) for k, v in feed.items()})
    np.testing.assert_allclose(final, ref[-1].numpy(), atol=1e-4)
    np.testing.assert_allclose(steps, ref.numpy(), atol=1e-4)
    meta = _session(path).get_modelmeta().custom_metadata_map
    prov = json.loads(meta["denovo.provenance"])
    assert prov == {"steps": 7, "note": "x"}


def test_int8_variant_keeps_metadata_and_reports_parity(exported, tmp_path):
    model, _, _ = exported
    report = export_onnx(model, tmp_path / "m.onnx", preprocess=PREPROCESS,
                         variants=["int8"])
    variant = report.variants["int8"]
    assert variant["path"].exists()
    assert np.isfinite(variant["max_abs_diff"])
    meta = _session(variant["path"]).get_modelmeta().custom_metadata_map
    assert meta == report.metadata


def test_fp16_variant_still_resolves_small_mz_shifts(exported, tmp_path):
    # fp16 spaces values near m/z 1500 by 1 Da; the variant must keep the
    # m/z arithmetic in full precision and so see a 0.02 Da shift.
    model, _, _ = exported
    report = export_onnx(model, tmp_path / "m.onnx", preprocess=PREPROCESS,
                         variants=["fp16"])
    variant = report.variants["fp16"]
    assert np.isfinite(variant["max_abs_diff"])
    feed = random_batch(4, 30, seed=3)
    # x.25 and x.27 fall on the same fp16 value (x): only full
    # precision tells them apart.
    feed["mz"] = (np.floor(feed["mz"] % 500) + 1500.25).astype(np.float32)
    shifted = {**feed, "mz": feed["mz"] + np.float32(0.02)}
    changes = []
    for path in (report.path, variant["path"]):
        session = _session(path)
        a = session.run(["log_probs"], feed)[0]
        b = session.run(["log_probs"], shifted)[0]
        changes.append(np.abs(a - b).max())
    assert changes[0] > 1e-3
    assert changes[1] > 0.5 * changes[0]


def test_parity_failure_raises(exported, tmp_path):
    model, _, _ = exported
    with pytest.raises(RuntimeError, match="differs from PyTorch"):
        export_onnx(model, tmp_path / "m.onnx", preprocess=PREPROCESS,
                    tolerance=-1.0)


def test_incomplete_preprocessing_is_rejected(exported, tmp_path):
    model, _, _ = exported
    with pytest.raises(ValueError, match="max_mz"):
        export_onnx(model, tmp_path / "m.onnx",
                    preprocess={"max_peaks": 150})


def test_vocabulary_size_mismatch_is_rejected(tmp_path):
    model = TRM(ModelConfig(**{**CFG.__dict__, "vocab_size": 12}))
    with pytest.raises(ValueError, match="vocabulary has 30 tokens"):
        export_onnx(model, tmp_path / "m.onnx", preprocess=PREPROCESS)


def test_parity_on_real_spectra(exported, real_file, tmp_path):
    from denovo_export.onnx_export import spectra_batch

    model, _, _ = exported
    batch = spectra_batch(real_file("bsa1.mzML"), PreprocessConfig(),
                          limit=16)
    report = export_onnx(model, tmp_path / "m.onnx",
                         preprocess=PreprocessConfig(), batches=[batch])
    assert report.diffs[-1][:2] == batch["mz"].shape
    assert report.diffs[-1][2] <= 1e-4


def test_cli_export(exported, tmp_path):
    from click.testing import CliRunner

    from denovo.cli import main

    model, _, _ = exported
    ckpt = tmp_path / "last.ckpt"
    torch.save(checkpoint_dict(model, preprocess=PREPROCESS), ckpt)
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(main, ["export", str(ckpt), str(out)])
    assert result.exit_code == 0, result.output
    assert "max |ONNX - PyTorch|" in result.output and out.exists()
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(main, ["export", str(bad), str(out)])
    assert result.exit_code != 0
    assert "bad.ckpt" in result.output and "Traceback" not in result.output


def test_cli_export_without_torch_prints_hint(monkeypatch, tmp_path):
    import sys

    from click.testing import CliRunner

    from denovo.cli import main
    from denovo_training.commands import TORCH_HINT

    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "torch", None)  # import fails
    result = CliRunner().invoke(main, ["export", str(ckpt),
                                       str(tmp_path / "m.onnx")])
    assert result.exit_code != 0
    assert TORCH_HINT.splitlines()[0] in result.output
