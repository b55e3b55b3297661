"""Training the evidence verifier: the exported NumPy verifier computes
what the torch module computed, and listwise training learns a rule the
rank score does not know."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from denovo.core.evidence import FEATURE_NAMES, N_FEATURES  # noqa: E402
from denovo.core.peak_once import RESIDUE_CLASSES  # noqa: E402
from denovo_training import verifier_fit as vf  # noqa: E402

PRO = RESIDUE_CLASSES.index("P")
B1 = FEATURE_NAMES.index("b1_hit")


def _list(rng, part, n=6, s=7, truth=0):
    """A fake list: candidates with random main-ion hits and residues;
    the truth is the one candidate without an unseen cleavage before P,
    which the rank score cannot tell (equal for all)."""
    feats = np.zeros((n, s, N_FEATURES))
    feats[..., B1] = rng.integers(0, 2, (n, s))
    left = rng.integers(0, len(RESIDUE_CLASSES), (n, s))
    right = rng.integers(0, len(RESIDUE_CLASSES), (n, s))
    right[right == PRO] = 0
    lengths = rng.integers(3, s + 1, n)
    for k in range(n):
        if k != truth:  # a wrong one: P after an unseen cleavage
            j = rng.integers(0, lengths[k])
            right[k, j] = PRO
            feats[k, j, B1] = 0
        left[k, lengths[k]:] = right[k, lengths[k]:] = -1
        feats[k, lengths[k]:] = 0
    return vf.Lists(part, f"k{rng.integers(1e9)}", 2, np.zeros(n), feats,
                    left, right, left >= 0, truth)


def test_export_matches_the_torch_module(one_torch_thread):
    rng = np.random.default_rng(0)
    lists = [_list(rng, "fit", truth=int(rng.integers(0, 6)))
             for _ in range(3)]
    model = vf._module(hidden=6, steps=3)
    mean, scale = rng.normal(0, 1, N_FEATURES), rng.uniform(0.5, 2,
                                                            N_FEATURES)
    verifier = vf.export_ensemble([model], mean, scale, steps=3)
    for lst in lists:
        lst.rank = rng.normal(0, 3, len(lst.rank))
        x, mask, rank, _ = vf._tensors(lst, mean, scale)
        with torch.no_grad():
            scores, sites = model(x, mask, rank)
        corrections, logits = verifier.run(lst.feats, lst.left, lst.right,
                                           lst.charge)
        for t in range(3):
            np.testing.assert_allclose(
                verifier.rank_scale * lst.rank + corrections[t],
                scores[t].numpy(), rtol=1e-4, atol=1e-4)
            m = lst.left >= 0
            np.testing.assert_allclose(logits[t][m], sites[t].numpy()[m],
                                       rtol=1e-4, atol=1e-4)


def test_ensemble_export_is_the_mean_of_its_members(one_torch_thread):
    rng = np.random.default_rng(2)
    lst = _list(rng, "fit")
    lst.rank = rng.normal(0, 3, len(lst.rank))
    mean, scale = np.zeros(N_FEATURES), np.ones(N_FEATURES)
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        members.append(vf._module(hidden=4, steps=2))
        with torch.no_grad():
            members[-1].rank_scale.fill_(0.5 + seed)
    ensemble = vf.export_ensemble(members, mean, scale, steps=2)
    assert ensemble.arrays["w_h"].shape == (3, 4, 4)
    alone = [vf.export_ensemble([m], mean, scale, steps=2)
             for m in members]
    args = (lst.feats, lst.left, lst.right, lst.charge)
    np.testing.assert_allclose(
        ensemble.scores(lst.rank, *args),
        np.mean([v.scores(lst.rank, *args) for v in alone], axis=0),
        rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        ensemble.run(*args)[1],
        np.mean([v.run(*args)[1] for v in alone], axis=0),
        rtol=1e-5, atol=1e-5)


def test_listwise_training_learns_what_the_rank_score_cannot(
        one_torch_thread):
    rng = np.random.default_rng(1)
    lists = ([_list(rng, "fit", truth=int(rng.integers(0, 6)))
              for _ in range(60)]
             + [_list(rng, part, truth=int(rng.integers(0, 6)))
                for part in ("holdout", "leftout") for _ in range(20)])
    verifier, info = vf.train(lists, hidden=8, steps=2, epochs=15,
                              log=lambda *_: None)
    assert info["n_lists"] == 60 and 1 <= info["epoch"] <= 15
    # by the rank score alone (all equal) the first candidate wins: 1/6
    hits = 0
    for lst in lists[60:]:
        scores = verifier.scores(lst.rank, lst.feats, lst.left, lst.right,
                                 lst.charge)
        hits += int(np.argmax(scores) == lst.truth)
    assert hits / 40 > 0.8
    assert info["selection_recall"] > 0.8
