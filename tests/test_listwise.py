"""The listwise verifier loss and its groups: the loss against a plain
Python reference, one right draft per group, off by default, and a few
training steps."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]

from denovo.core.config import to_dict  # noqa: E402
from denovo.core.peptide import peptide_key, precursor_mz, to_proforma  # noqa: E402
from denovo.core.search import Found  # noqa: E402
from denovo_training.config import LossConfig  # noqa: E402
from denovo_training.data.curriculum import (  # noqa: E402
    DataConfig, load_recipe, recipe_from_dict)
from denovo_training.data.drafts import (  # noqa: E402
    DraftMaker, DraftMix, group_peptides)
from denovo_training.losses import (  # noqa: E402
    listwise_loss, step_weights, verifier_labels, verifier_losses)
from test_drafts import _FakeSearch, _raw  # noqa: E402
from test_verifier import VCFG, _enc  # noqa: E402

TRUTH = tuple("PEPTIDEGGNKR")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _reference(logits, group, right, weights):
    """Plain Python: mean over groups of >= 2 drafts of
    -log softmax(group logits)[right], weighted over steps."""
    total = 0.0
    for t, w in enumerate(weights):
        losses = []
        for g in sorted(set(group) - {-1}):
            rows = [i for i, x in enumerate(group) if x == g]
            if len(rows) < 2:
                continue
            (hit,) = [i for i in rows if right[i]]
            z = sum(math.exp(logits[t][i]) for i in rows)
            losses.append(-(logits[t][hit] - math.log(z)))
        total += w * sum(losses) / len(losses)
    return total


def test_listwise_loss_matches_a_plain_python_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 10, generator=g) * 2
    group = torch.tensor([-1, 0, 0, 0, 1, 1, 2, -1, 3, 3])
    right = torch.tensor([1, 0, 1, 0, 1, 0, 1, 0, 0, 1.0])  # group 2: one
    for weighting in ("uniform", "linear"):
        w = step_weights(3, weighting)
        out = listwise_loss(logits, group, right, w)
        want = _reference(logits.tolist(), group.tolist(), right.tolist(),
                          w.tolist())
        assert float(out["loss"]) == pytest.approx(want, rel=1e-5)
    last = logits[-1]
    hits = [bool(last[[1, 2, 3]].argmax() == 1),
            bool(last[[4, 5]].argmax() == 0),
            bool(last[[8, 9]].argmax() == 1)]
    assert float(out["top1"]) == pytest.approx(np.mean(hits))
    # gradients only reach the grouped rows of groups with a choice
    x = logits.clone().requires_grad_(True)
    listwise_loss(x, group, right, w)["loss"].backward()
    assert x.grad[:, [0, 6, 7]].abs().sum() == 0
    assert (x.grad[:, [1, 2, 3, 4, 5, 8, 9]].abs() > 0).all()
    with pytest.raises(ValueError):
        listwise_loss(logits, group, torch.zeros(10), w)


def test_a_group_has_exactly_one_right_draft():
    # engine order (reversed DP order): the truth written with L for I,
    # a duplicate, wrong ones, one too long for the slots
    found = [Found(p, 1.0, 0) for p in [
        tuple("PEPTIDEGGNKRAAAAAAAAAA"), tuple("PEPTIDEGGNKH"),
        tuple("PEPTIDENNKR"), tuple("PEPTIDEGGNKH"), tuple("PEPTLDEGGNKR"),
        tuple("EPPTIDEGGNKR")]]
    search = _FakeSearch(found)
    calls = []
    search_fn = search.search
    search.search = lambda *a: calls.append(1) or search_fn(*a)
    maker = DraftMaker(DraftMix(), search, max_length=20, group_top=2)
    raw = _raw(3, TRUTH)
    out = maker.groups(raw, keys=[7, 8, 7])
    assert len(calls) == 2  # the key 7 is searched once
    assert out.group.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(out.raw) == 9
    np.testing.assert_array_equal(out.raw.spectrum(4)[0], raw.spectrum(1)[0])
    targets = torch.from_numpy(np.stack([maker.encode(TRUTH)] * 9))
    right = verifier_labels(torch.from_numpy(out.drafts), targets)["whole"]
    for g in range(3):
        assert right[out.group == g].sum() == 1
        assert right[out.group == g][0] == 1  # the truth comes first
    # the 2 best wrong ones in engine order, without the truth (I = L) or
    # the overlong one
    assert [DraftMaker.encode(maker, p).tolist() for p in [
        tuple("EPPTIDEGGNKR"), tuple("PEPTIDEGGNKH")]] == \
        out.drafts[1:3].tolist()
    # no search result: a group of one, the truth
    alone = group_peptides(TRUTH, [], 5)
    assert alone == [TRUTH]
    many = group_peptides(TRUTH, [p.tokens for p in found] * 3, 8)
    keys = [peptide_key(p) for p in many]
    assert len(keys) == len(set(keys)) and keys.count(peptide_key(TRUTH)) == 1


def test_off_by_default_and_old_recipes_unchanged():
    assert LossConfig().listwise_weight == 0.0
    assert DataConfig().draft_group_top == 0
    for name in ("verifier", "draft", "default"):
        recipe = load_recipe(ROOT / "configs" / f"{name}.yaml")
        assert recipe.data.draft_group_top == 0
        assert all(s.loss.listwise_weight == 0 for s in recipe.curriculum)
    listwise = load_recipe(ROOT / "configs" / "verifier_listwise.yaml")
    assert listwise.data.draft_group_top > 0
    assert listwise.data.exclude_split == "configs/real_split.tsv"
    assert listwise.data.train_files == ("runs/real/train_core.mgf",)
    assert listwise.train.init_from == "runs/verifier/last.ckpt"
    assert listwise.model == load_recipe(
        ROOT / "configs" / "verifier.yaml").model
    # a group passed with the weight at 0 changes nothing
    draft = torch.from_numpy(np.stack([_enc("PEPTIDEK"), _enc("PEPTIDKE")]))
    truth = torch.from_numpy(np.stack([_enc("PEPTIDEK")] * 2))
    v, r = torch.randn(3, 2), torch.randn(3, 2, draft.shape[1])
    cfg = LossConfig(verify_weight=1.0, residue_weight=0.5)
    a = verifier_losses(v, r, draft, truth, cfg=cfg)
    b = verifier_losses(v, r, draft, truth, cfg=cfg,
                        group=torch.tensor([0, 0]))
    assert set(a) == set(b) and float(a["loss"]) == float(b["loss"])
    on = verifier_losses(v, r, draft, truth, group=torch.tensor([0, 0]),
                         cfg=dataclasses.replace(cfg, listwise_weight=2.0))
    assert float(on["loss"]) == pytest.approx(
        float(a["loss"]) + 2.0 * float(on["listwise"]))


def _write_mgf(path, peptides):
    lines = []
    for i, pep in enumerate(peptides):
        lines += ["BEGIN IONS", f"TITLE=spec{i}",
                  f"PEPMASS={precursor_mz(pep, 2):.5f}", "CHARGE=2+",
                  f"SEQ={to_proforma(pep)}", "150.1 10.0", "250.2 20.0",
                  "420.3 5.0", "END IONS", ""]
    path.write_text("\n".join(lines))
    return path


def _recipe(tmp_path, **extra):
    data = {"val_synthetic": 0, "draft_truth": 0.3, "draft_hard": 0.2,
            "draft_blank": 0.1, "draft_search": 0.2,
            "train_files": [str(_write_mgf(tmp_path / "train.mgf", [
                TRUTH, tuple("SAMPLER"), tuple("GGNAQSLK")]))]}
    data.update(extra.pop("data", {}))
    loss = {"verify_weight": 0.5, "residue_weight": 0.5}
    loss.update(extra.pop("loss", {}))
    return recipe_from_dict({
        "model": to_dict(VCFG), "loss": loss, "data": data,
        "train": {"batch_size": 4, "val_every": 0, "checkpoint_every": 0,
                  "log_every": 1, "warmup_steps": 1},
        "simulation": {"min_length": 6, "max_length": 10},
        "curriculum": [{"steps": 3, "real_fraction": 0.5}]})


def test_without_groups_the_batch_is_the_old_one(tmp_path):
    from denovo_training.trainer import Trainer, step_rng

    trainer = Trainer(_recipe(tmp_path), tmp_path / "run", device="cpu",
                      progress=False)
    stage = trainer.curriculum.update(0)
    new = trainer._train_batch(step_rng(0, 0, 0), stage)
    rng = step_rng(0, 0, 0)
    old = trainer._tensors(trainer._raw_batch(rng, 4, stage), rng)
    assert "group" not in new and set(new) == set(old)
    for k in old:
        torch.testing.assert_close(new[k], old[k])


def test_listwise_training_steps(tmp_path):
    from denovo_training.trainer import Trainer

    recipe = _recipe(tmp_path, data={"draft_group_top": 3},
                     loss={"listwise_weight": 1.0})
    trainer = Trainer(recipe, tmp_path / "run", device="cpu",
                      progress=False)
    wrong = [Found(p, 1.0, 0) for p in (
        tuple("PEPTIDEGGNKH"), tuple("EPPTIDEGGNKR"), tuple("SAMPLRE"),
        tuple("GGNQASLK"), tuple("PEPTLDEGGNKR"))]
    trainer.drafts.search = _FakeSearch(wrong)
    stage = trainer.curriculum.update(0)
    from denovo_training.trainer import step_rng

    batch = trainer._train_batch(step_rng(0, 0, 0), stage)
    group = batch["group"]
    assert (group[:2] == -1).all() and len(group) > 4
    right = verifier_labels(batch["draft"], batch["targets"])["whole"]
    for g in group[group >= 0].unique():
        assert right[group == g].sum() == 1
    rows = [trainer.train_step() for _ in range(3)]
    for row in rows:
        assert {"listwise", "listwise_top1", "verify"} <= set(row)
        assert np.isfinite(row["loss"]) and row["listwise"] > 0
    bad = _recipe(tmp_path, loss={"listwise_weight": 1.0})
    with pytest.raises(ValueError):
        Trainer(bad, tmp_path / "bad", device="cpu", progress=False)
