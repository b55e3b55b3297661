"""Engine modes: evidence only (no model), hybrid pooling, model only;
the model term against a slow reference; format-2 model files."""

from __future__ import annotations

import shutil
from importlib.resources import files

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.decode import BeamGuide
from denovo.core.peptide import peptide_key
from denovo.core.settings import load_default
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB
from denovo.engine.contract import FORMAT_VERSION
from denovo.engine.confidence import Confidence, candidate_features, FEATURES
from denovo.engine.pipeline import Engine
from denovo.engine.ranking import Ranker
from denovo.engine.session import ModelSession
from denovo.io import Spectrum, read_spectra

from test_engine import make_model, peptide_logits

EXAMPLE = files("denovo") / "data" / "example.mgf"


def _ladder(peptide, charge=2):
    mz = []
    for i in range(1, len(peptide)):
        mz.append(pmass.fast_mass(peptide[:i], ion_type="b", charge=1))
        mz.append(pmass.fast_mass(peptide[i:], ion_type="y", charge=1))
    mz = np.sort(np.array(mz))
    return Spectrum(mz, np.full(mz.size, 50.0, np.float32),
                    pmass.fast_mass(peptide, charge=charge), charge=charge,
                    index=0, source="x.mgf")


def test_model_term_matches_slow_reference():
    ranker = Ranker.build(VOCAB, load_default())
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(len(VOCAB)), size=21))
    peptides = [tuple("PEPTLDEK"), tuple("IAK"), ("A",) * 21]
    got = ranker.model_scores(lp, peptides)
    i, l_ = VOCAB.index("I"), VOCAB.index("L")
    merged = lp.copy()
    merged[:, i] = merged[:, l_] = np.logaddexp(lp[:, i], lp[:, l_])
    for score, pep in zip(got, peptides, strict=True):
        if len(pep) + 1 > 21:
            assert score == -np.inf
            continue
        want = (sum(merged[s, VOCAB.index(t)] for s, t in enumerate(pep))
                + merged[len(pep), 1]) / (len(pep) + 1)
        assert score == pytest.approx(want)


def test_evidence_mode_needs_no_model_and_reads_real_spectra():
    spectra = list(read_spectra(EXAMPLE))
    engine = Engine(None, mode="evidence")
    results = list(engine.run(spectra))
    assert [r.spectrum for r in results] == spectra
    assert {r.status for r in results} <= {"ok", "no_mass_match"}
    right = sum(bool(r.matches) and peptide_key(r.matches[0].candidate.tokens)
                == peptide_key(r.spectrum.peptide) for r in results)
    assert right >= 8, right  # 40 unseen real spectra; the model: ~0
    for r in results:
        for m in r.matches:
            assert m.candidate.mass_match
            assert len(m.candidate.aa_scores) == len(m.candidate.tokens)
            assert 0 <= m.terms["confidence"] <= 1
    with pytest.raises(ValueError, match="needs a model"):
        Engine(None, mode="hybrid")


def test_hybrid_pools_the_model_beam_with_the_search(tmp_path):
    """A spectrum whose ladder spells PEPTLDEK and a model that says
    PETPLDEK (same mass): both join the pool with both terms; the peaks
    decide. Where the peaks support nothing, nothing is reported."""
    from denovo.core.decode import DecodeConfig

    path = make_model(tmp_path / "m.onnx", peptide_logits(tuple("PETPLDEK")))
    session = ModelSession(path, threads=1)
    fitted = load_default().with_rank(model_weight=1.0)
    engine = Engine(session, mode="hybrid", fitted=fitted,
                    decode=DecodeConfig(top_k=50))
    (ladder,) = list(engine.run([_ladder("PEPTLDEK")]))
    best = ladder.matches[0]
    assert best.candidate.tokens == tuple("PEPTLDEK")
    assert {"evidence", "model", "confidence"} <= set(best.terms)
    sources = {m.candidate.tokens: m.terms["source"] for m in ladder.matches}
    assert sources[tuple("PETPLDEK")] == "model"
    assert sources[tuple("PEPTLDEK")] == "search"
    empty = Spectrum(np.array([200.0, 300.0]), np.ones(2, np.float32),
                     _ladder("PEPTLDEK").precursor_mz, charge=2, index=1,
                     source="x.mgf")
    (result,) = list(engine.run([empty]))
    assert result.status == "no_mass_match" and not result.matches
    (alone,) = list(Engine(session, mode="model").run([empty]))
    assert alone.matches[0].candidate.tokens == tuple("PETPLDEK")
    assert alone.matches[0].terms == {}


def test_confidence_features_and_probabilities():
    terms = [{"evidence": 4.0, "model": -1.0, "source": "search"},
             {"evidence": 1.0, "model": -2.0, "source": "model"}]
    feats = candidate_features([5.0, 2.0], terms, [10, 8], 3, [1.5, 3.0])
    assert feats.shape == (2, len(FEATURES))
    assert feats[0, FEATURES.index("lead")] == 3.0
    assert feats[1, FEATURES.index("lead")] == -3.0
    assert feats[0, FEATURES.index("charge_3_plus")] == 1.0
    assert feats[1, FEATURES.index("mass_error_ppm")] == 3.0
    conf = Confidence(tuple([1.0] + [0.0] * (len(FEATURES) - 1)), 0.0)
    p = conf(feats)
    assert p[0] > p[1] and np.all((p > 0) & (p < 1))
    assert Confidence.from_dict(conf.to_dict()) == conf


def test_model_files_carry_their_scorer_and_format_1_still_reads(
        tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from denovo_export.onnx_export import set_fitted_settings

    path = tmp_path / "model.onnx"
    shutil.copy(ModelSession("default").path, path)
    fitted = load_default().with_rank(model_weight=3.0)
    set_fitted_settings(path, fitted)
    info = ModelSession(path).info
    assert info.format_version == FORMAT_VERSION
    assert info.fitted == fitted and not info.takes_draft
    # the bundled model carries ion-trap settings fitted for it
    assert set(info.fitted_by_fragmentation) == {"CID"}
    trap = load_default("CID").with_rank(model_weight=0.5)
    set_fitted_settings(path, trap, "CID")
    info = ModelSession(path).info
    assert info.fitted == fitted  # the main settings stay
    assert info.fitted_by_fragmentation == {"CID": trap}
    assert Engine(ModelSession(path)).ion_trap == trap
    old = make_model(tmp_path / "v1.onnx", peptide_logits(("P", "K")))
    import onnx
    proto = onnx.load(str(old))
    for p in proto.metadata_props:
        if p.key == "denovo.format_version":
            p.value = "1"
    onnx.save(proto, str(old))
    v1 = ModelSession(old).info
    assert v1.format_version == 1 and v1.fitted is None
    assert v1.fitted_by_fragmentation == {}
    # the engine falls back to the packaged settings
    engine = Engine(ModelSession(old), mode="hybrid")
    assert engine.fitted == load_default()
    assert engine.ion_trap == load_default("CID")


def test_evidence_guides_the_model_beam():
    """Beam width 1, a model that slightly prefers PETPLDEK and a spectrum
    whose ladder spells PEPTLDEK: the guided beam follows the peaks, the
    plain beam the model."""
    from denovo.core.decode import DecodeConfig, Decoder

    fitted = load_default()
    search = Ranker.build(VOCAB, fitted).search
    spectrum = _ladder("PEPTLDEK")
    peaks = search.peaks(spectrum.mz, spectrum.intensity,
                         spectrum.precursor_mz)
    logits = 0.6 * peptide_logits(tuple("PETPLDEK")) \
        + 0.5 * peptide_logits(tuple("PEPTLDEK"))
    lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    decoder = Decoder(VOCAB, DecodeConfig(beam=1))
    mass = np.array([(spectrum.precursor_mz - 1.00727646677) * 2])
    plain = decoder.candidates(decoder.decode_arrays(lp[None], mass))[0]
    guided = decoder.candidates(decoder.decode_arrays(
        lp[None], mass, BeamGuide.from_peaks([peaks], [2], fitted.scorer,
                                             1.0)))[0]
    assert plain[0].tokens == tuple("PETPLDEK")
    assert guided[0].tokens == tuple("PEPTLDEK")
    assert BeamGuide.from_peaks([peaks], [2], fitted.scorer, 0.0) is None


def _copy_model(path, n_slots=21):
    """A draft-conditioned stand-in: it returns its draft, sure of it
    (blank draft: END in every slot... PAD is never chosen by a beam)."""
    from onnx import TensorProto, helper, numpy_helper

    from denovo.core.preprocess import PreprocessConfig
    from denovo.engine.contract import metadata_props
    from test_engine import save_model

    v = len(VOCAB)
    init = [numpy_helper.from_array(np.array(v, np.int64), "depth"),
            numpy_helper.from_array(np.array([0.0, 9.0], np.float32),
                                    "values")]
    nodes = [helper.make_node("OneHot", ["draft", "depth", "values"],
                              ["logits"], axis=-1),
             helper.make_node("LogSoftmax", ["logits"], ["log_probs"],
                              axis=-1)]
    graph = helper.make_graph(
        nodes, "copy",
        [helper.make_tensor_value_info("charge", TensorProto.INT64, ["B"]),
         helper.make_tensor_value_info("draft", TensorProto.INT64,
                                       ["B", n_slots])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT,
                                       ["B", n_slots, v])], init)
    meta = metadata_props(vocabulary=VOCAB, preprocess=PreprocessConfig(),
                          max_length=n_slots - 1, refinement_steps=1,
                          takes_draft=True)
    return save_model(graph, path, n_slots, meta)


def test_draft_model_refines_the_search_drafts(tmp_path, monkeypatch):
    """The engine gives a draft-conditioned model the search's
    best-ranked peptides (``drafts`` per spectrum, one ONNX call per
    batch), scores every candidate under its best refined distribution,
    and does not run the model where the search finds nothing."""
    session = ModelSession(_copy_model(tmp_path / "copy.onnx"), threads=1)
    assert session.info.takes_draft and "draft" in session.input_names
    fed = []
    run = session.run

    def spy(**inputs):
        fed.append(inputs["draft"].copy())
        return run(**inputs)

    monkeypatch.setattr(session, "run", spy)
    fitted = load_default().with_rank(model_weight=1.0, drafts=2,
                                      beam_guide=0.0)
    from denovo.core.decode import DecodeConfig
    from denovo.engine.rows import Row

    engine = Engine(session, mode="hybrid", fitted=fitted,
                    decode=DecodeConfig(top_k=50))
    ladder = _ladder("PEPTLDEK")
    empty = Spectrum(np.array([200.0, 300.0]), np.ones(2, np.float32),
                     ladder.precursor_mz, charge=2, index=1, source="x.mgf")
    results = list(engine.run([ladder, empty]))
    assert len(fed) == 1  # one batched call
    peaks = engine.ranker.search.peaks(ladder.mz, ladder.intensity,
                                       ladder.precursor_mz)
    row = Row(0, ladder, 2, (ladder.precursor_mz - 1.00727646688) * 2,
              peaks)
    engine.ranker.find(row)
    found, scores = row.found, row.found_scores
    assert found[0].tokens == tuple("PEPTLDEK")  # best-ranked first
    assert (np.diff(scores) <= 0).all()
    np.testing.assert_allclose(scores, engine.ranker.search.rank_scores(
        peaks, [f.tokens for f in found], 2))
    want = [VOCAB.encode(f.tokens, 20) for f in found[:2]]
    np.testing.assert_array_equal(fed[0], np.stack(want))  # no row for empty
    best = results[0].matches[0]
    assert best.candidate.tokens == tuple("PEPTLDEK")
    # the copy model is sure of its drafts: model term ~ 0 for both
    terms = {m.candidate.tokens: m.terms["model"]
             for m in results[0].matches}
    for f in found[:2]:
        assert terms[f.tokens] > -0.01
    assert results[1].status == "no_mass_match"


def test_stated_ion_trap_spectra_are_read_with_the_ion_trap_settings():
    """Spectra whose file states ion-trap CID go through the same engine
    with the ion-trap settings (0.5 Da); the others as before; None turns
    it off."""
    from dataclasses import replace

    from denovo.engine.pipeline import ION_TRAP_SEARCH

    spectra = list(read_spectra(EXAMPLE))[:12]
    trap = [replace(s, fragmentation="CID") for s in spectra]
    auto = list(Engine(None, mode="evidence").run(trap[:6] + spectra[6:]))
    wide = list(Engine(None, mode="evidence",
                       fitted=load_default("CID"),
                       search=ION_TRAP_SEARCH).run(spectra[:6]))
    plain = list(Engine(None, mode="evidence").run(spectra))
    off = list(Engine(None, mode="evidence", ion_trap=None).run(trap))

    def peptides(results):
        return [[m.candidate.tokens for m in r.matches] for r in results]
    assert peptides(auto[:6]) == peptides(wide)
    assert peptides(auto[6:]) == peptides(plain[6:])
    assert peptides(off) == peptides(plain)
    assert peptides(wide) != peptides(plain[:6])  # the tolerance mattered
