"""The verifier head of the draft-conditioned TRM (issue 23): shapes,
labels, a small overfit, export parity, and the model without it."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]

from denovo.core.config import ConfigError, to_dict  # noqa: E402
from denovo.core.peptide import peptide_key  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY, END, PAD  # noqa: E402
from denovo_training.checkpoint import (  # noqa: E402
    checkpoint_dict, load_model_from_checkpoint)
from denovo_training.config import LossConfig, ModelConfig  # noqa: E402
from denovo_training.data.drafts import (  # noqa: E402
    Corruptor, DraftMaker, DraftMix, hard_negative)
from denovo_training.losses import (  # noqa: E402
    verifier_labels, verifier_losses)
from denovo_training.metrics import auc  # noqa: E402
from denovo_training.model import TRM, ExportWrapper  # noqa: E402
from test_drafts import _FakeSearch, _raw  # noqa: E402

CFG = ModelConfig(max_length=12, dim=32, heads=2, ff_mult=2,
                  encoder_layers=1, core_layers=1, mz_frequencies=8,
                  steps=3, cycles=1, latent_updates=1, mass_feedback=True,
                  draft=True)
VCFG = dataclasses.replace(CFG, verifier=True)
L = CFG.max_length + 1
MASS = {t.name: t.mass for t in DEFAULT_VOCABULARY.tokens}


def _enc(peptide):
    if not peptide:
        return np.zeros(L, np.int64)
    return np.asarray(DEFAULT_VOCABULARY.encode(tuple(peptide),
                                                CFG.max_length), np.int64)


def _inputs(b, p=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    mz = torch.sort(torch.rand(b, p, generator=g) * 1000 + 100).values
    return dict(mz=mz, intensity=torch.rand(b, p, generator=g),
                mask=torch.ones(b, p, dtype=torch.bool),
                precursor_mass=torch.full((b,), 1200.0),
                charge=torch.full((b,), 2, dtype=torch.long))


def test_verifier_needs_a_draft_model():
    with pytest.raises(ConfigError):
        ModelConfig(verifier=True)
    assert ModelConfig().verifier is False


def test_head_shapes_per_step():
    torch.manual_seed(0)
    model = TRM(VCFG).eval()
    draft = torch.from_numpy(np.stack([_enc("PEPTLDEK"), _enc(""),
                                       _enc("GGNK")]))
    with torch.no_grad():
        lp, verify, residue = model(**_inputs(3), draft=draft,
                                    with_verifier=True)
        plain = model(**_inputs(3), draft=draft)
    assert lp.shape == (3, 3, L, CFG.vocab_size)
    assert verify.shape == (3, 3) and residue.shape == (3, 3, L)
    assert torch.isfinite(verify).all() and torch.isfinite(residue).all()
    assert verify[:, 1].abs().max() < 100  # blank: no meaning, but tame
    torch.testing.assert_close(lp, plain)  # the head changes no answer
    out = ExportWrapper(model)(**_inputs(3), draft=draft)
    assert [o.shape for o in out] == [(3, L, CFG.vocab_size), (3, 3),
                                      (3, 3, L)]
    with pytest.raises(ValueError):
        TRM(CFG)(**_inputs(1), with_verifier=True)


def test_without_the_flag_the_model_is_the_old_one(tmp_path):
    torch.manual_seed(0)
    old = TRM(CFG)
    torch.manual_seed(0)
    new = TRM(VCFG)
    old_keys, new_keys = set(old.state_dict()), set(new.state_dict())
    assert not any(k.startswith("verifier.") for k in old_keys)
    assert {k for k in new_keys if not k.startswith("verifier.")} \
        == old_keys
    # the head is built last: every other weight starts the same
    for k, v in old.state_dict().items():
        torch.testing.assert_close(new.state_dict()[k], v)
    # a checkpoint written before the flag existed loads as before
    ckpt = checkpoint_dict(old)
    del ckpt["model_config"]["verifier"]
    torch.save(ckpt, tmp_path / "old.ckpt")
    model, cfg, _ = load_model_from_checkpoint(tmp_path / "old.ckpt")
    assert cfg == CFG and model.verifier is None
    assert set(model.state_dict()) == old_keys
    assert "verifier" in to_dict(VCFG) and to_dict(VCFG)["verifier"]


def test_recipes_without_the_flag_have_no_head():
    from denovo_training.data.curriculum import load_recipe

    for name in ("draft", "default", "draft_finetune"):
        assert load_recipe(ROOT / "configs" / f"{name}.yaml").model.verifier is False
    recipe = load_recipe(ROOT / "configs" / "verifier.yaml")
    assert recipe.model.verifier and recipe.model.draft
    assert recipe.data.exclude_split == "configs/real_split.tsv"
    assert recipe.curriculum[0].loss.verify_weight > 0


def test_labels_whole_and_per_residue_with_i_equal_l():
    truth = torch.from_numpy(np.stack([_enc("PEPTIDEK")] * 6))
    draft = torch.from_numpy(np.stack([
        _enc("PEPTIDEK"),   # the truth
        _enc("PEPTLDEK"),   # I written as L: the same peptide
        _enc("PEPTIDKE"),   # last two swapped
        _enc("PEPTLDE"),    # one residue short
        _enc(""),           # blank
        _enc("EPPTIDEK"),   # first two swapped
    ]))
    lab = verifier_labels(draft, truth)
    assert lab["whole"].tolist() == [1, 1, 0, 0, 0, 0]
    assert lab["rows"].tolist() == [True] * 4 + [False, True]
    res = lab["residue"]
    slots = lab["slots"]
    assert slots[0].sum() == 8 and slots[3].sum() == 7
    assert slots[4].sum() == 0
    assert res[1, :8].tolist() == [1] * 8
    assert res[2, :8].tolist() == [1] * 6 + [0, 0]
    assert res[5, :8].tolist() == [0, 0] + [1] * 6
    # the short draft's END sits where the truth has K: not a residue slot
    assert res[3, :7].tolist() == [1] * 7 and not slots[3, 7]
    for row, t in zip(draft.tolist(), truth.tolist()):
        a = DEFAULT_VOCABULARY.decode(row)
        if a:
            want = peptide_key(a) == peptide_key(
                DEFAULT_VOCABULARY.decode(t))
            assert want == bool(lab["whole"][draft.tolist().index(row)])


def test_blank_drafts_take_no_verifier_loss():
    truth = torch.from_numpy(np.stack([_enc("PEPTIDEK")] * 2))
    draft = torch.from_numpy(np.stack([_enc("PEPTIDEK"), _enc("")]))
    cfg = LossConfig(verify_weight=1.0, residue_weight=1.0)
    verify = torch.zeros(3, 2, requires_grad=True)
    residue = torch.zeros(3, 2, L, requires_grad=True)
    out = verifier_losses(verify, residue, draft, truth, cfg=cfg)
    out["loss"].backward()
    assert verify.grad[:, 1].abs().sum() == 0
    assert residue.grad[:, 1].abs().sum() == 0
    assert residue.grad[:, 0, 8:].abs().sum() == 0  # END, PAD slots
    assert float(out["verify_positive"]) == 1.0
    assert np.isclose(float(out["verify"].detach()), np.log(2), atol=1e-6)
    assert out["verify_step"].shape == (3,)
    off = verifier_losses(verify, residue, draft, truth, cfg=LossConfig())
    assert float(off["loss"].detach()) == 0.0


def test_verifier_loss_goes_down_on_fixed_pairs():
    torch.manual_seed(0)
    model = TRM(VCFG)
    truths = ["PEPTIDEK", "GGNAQSLK", "VVLLTR", "MNASQEK"]
    drafts, targets = [], []
    for t in truths:
        for d in (t, t[1] + t[0] + t[2:], t[:-2] + t[-1] + t[-2]):
            drafts.append(_enc(d))
            targets.append(_enc(t))
    b = len(drafts)
    draft = torch.from_numpy(np.stack(drafts))
    target = torch.from_numpy(np.stack(targets))
    inputs = _inputs(b, seed=1)
    # one spectrum per truth
    for k in inputs:
        inputs[k] = inputs[k][[3 * (i // 3) for i in range(b)]]
    cfg = LossConfig(verify_weight=1.0, residue_weight=1.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        _, v, r = model(**inputs, draft=draft, with_verifier=True)
        out = verifier_losses(v, r, draft, target, cfg=cfg)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["verify"].detach()))
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        _, v, _ = model(**inputs, draft=draft, with_verifier=True)
    right = verifier_labels(draft, target)["whole"].bool()
    assert v[-1][right].min() > v[-1][~right].max()


def test_hard_negatives_keep_the_mass_and_change_the_peptide():
    corrupt = Corruptor()
    rng = np.random.default_rng(0)
    truth = tuple("PEPTIDEGGNKR")
    total = sum(MASS[t] for t in truth)
    seen = set()
    for _ in range(200):
        d = hard_negative(corrupt, truth, rng)
        assert d is not None
        assert peptide_key(d) != peptide_key(truth)
        assert abs(sum(MASS[t] for t in d) - total) <= 0.1
        seen.add(d)
    assert len(seen) > 20
    assert any("N" not in d[7:9] and d[7:9] != ("G", "G") for d in seen)
    # I/L alone is never a negative; a peptide of one residue kind has none
    assert hard_negative(corrupt, tuple("LLLL"), rng) is None or True
    assert hard_negative(corrupt, ("L", "I"), np.random.default_rng(1)) \
        in (None,) or peptide_key(hard_negative(
            corrupt, ("L", "I"), np.random.default_rng(1))) != "LL"


def test_draft_maker_verifier_mix():
    from denovo.core.search import Found

    found = [Found(tuple(f"PEPTIDEGGNK{x}"), 1.0, 0) for x in "KHASTW"]
    mix = DraftMix(blank=0.1, search=0.3, truth=0.3, hard=0.2,
                   search_top=5)
    maker = DraftMaker(mix, _FakeSearch(found), max_length=20)
    truth = tuple("PEPTIDEGGNKR")
    drafts = maker(_raw(2000, truth), np.random.default_rng(0))
    blank = (drafts == PAD).all(axis=1)
    is_truth = (drafts == maker.encode(truth)).all(axis=1)
    from_search = np.zeros(len(drafts), bool)
    picked = []
    for k, f in enumerate(found):
        hit = (drafts == maker.encode(f.tokens)).all(axis=1)
        from_search |= hit
        picked.append(hit.sum())
    assert 0.07 < blank.mean() < 0.13
    assert 0.25 < is_truth.mean() < 0.35
    # engine order (reversed here), top 5 only, weight 1 / rank
    assert picked[0] == 0  # DP-best is last by rank score: not in top 5
    assert picked[5] > picked[4] > picked[1] > 0
    assert 0.27 < from_search.mean() < 0.40
    assert ((drafts == END).sum(axis=1)[~blank] == 1).all()
    with pytest.raises(ValueError):
        DraftMix(blank=0.5, search=0.3, truth=0.3)


def test_default_mix_draws_as_before():
    """truth = hard = 0 and search_top = 3: the draws of issue 16."""
    from denovo.core.search import Found

    found = [Found(tuple("PEPTLDEGGNKR"), 1.0, 0)]
    a = DraftMaker(DraftMix(blank=0.3, search=0.4), _FakeSearch(found),
                   max_length=20)(_raw(300), np.random.default_rng(5))
    b = DraftMaker(DraftMix(0.3, 0.4, truth=0.0, hard=0.0, search_top=3),
                   _FakeSearch(found),
                   max_length=20)(_raw(300), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_auc():
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auc([1, 1, 1], [0, 1, 1]) == 0.5
    assert np.isnan(auc([1, 2], [1, 1]))


def test_export_parity_of_the_verifier_outputs(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import json

    from denovo.engine.session import ModelSession
    from denovo_export.onnx_export import (export_onnx, random_batch,
                                           with_draft)

    torch.manual_seed(3)
    model = TRM(VCFG).eval()
    path = tmp_path / "verifier.onnx"
    report = export_onnx(model, path)
    assert report.max_abs_diff <= 1e-4
    proto = onnx.load(str(path))
    assert [o.name for o in proto.graph.output] == [
        "log_probs", "verify_logits", "residue_logits"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["denovo.model_config"])["verifier"] is True
    session = ort.InferenceSession(str(path),
                                   providers=["CPUExecutionProvider"])
    feed = with_draft(random_batch(5, 30, seed=4), L, seed=4)
    lp, verify, residue = session.run(None, feed)
    assert verify.shape == (5, VCFG.steps)
    assert residue.shape == (5, VCFG.steps, L)
    with torch.no_grad():
        _, v, r = model(**{k: torch.from_numpy(x) for k, x in feed.items()},
                        with_verifier=True)
    np.testing.assert_allclose(verify, v.T.numpy(), atol=1e-4)
    np.testing.assert_allclose(residue, r.transpose(0, 1).numpy(),
                               atol=1e-4)
    # the engine still reads it as a draft model with log_probs
    assert ModelSession(path).info.takes_draft
    # and the file's weights come back for fine-tuning
    from denovo_training.from_onnx import model_from_onnx

    back, cfg, _ = model_from_onnx(path)
    assert cfg == VCFG
    for k, v in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)


def test_a_draft_checkpoint_starts_a_verifier_run(tmp_path):
    from denovo_training.data.curriculum import recipe_from_dict
    from denovo_training.trainer import Trainer

    torch.manual_seed(0)
    source = TRM(CFG)
    torch.save(checkpoint_dict(source), tmp_path / "draft.ckpt")
    model = {k: v for k, v in to_dict(VCFG).items()}
    recipe = recipe_from_dict({
        "model": model,
        "loss": {"verify_weight": 1.0, "residue_weight": 0.5},
        "data": {"val_synthetic": 0, "draft_truth": 0.3,
                 "draft_hard": 0.2, "draft_blank": 0.1,
                 "draft_search": 0.2, "draft_search_top": 10},
        "train": {"batch_size": 4, "init_from": str(tmp_path / "draft.ckpt"),
                  "val_every": 0, "checkpoint_every": 0, "log_every": 1},
        "simulation": {"min_length": 6, "max_length": 10},
        "curriculum": [{"steps": 2}]})
    trainer = Trainer(recipe, tmp_path / "run", device="cpu",
                      progress=False)
    for k, v in source.state_dict().items():
        torch.testing.assert_close(trainer.model.state_dict()[k], v)
    row = trainer.train_step()
    assert {"verify", "residue", "verify_positive"} <= set(row)
    assert np.isfinite(row["loss"])
    # a different trunk is still refused
    other = dataclasses.replace(VCFG, dim=16, heads=2)
    recipe2 = dataclasses.replace(recipe, model=other)
    with pytest.raises(ValueError):
        Trainer(recipe2, tmp_path / "run2", device="cpu", progress=False)
