"""Train the evidence verifier on the engine's own candidate lists.

    python -m denovo_training.verifier_fit          # ~3 min, 1 thread

The verifier (:mod:`denovo.engine.verifier`) re-reads the engine's best
``top`` candidates cleavage by cleavage. It learns from what the engine
really proposes: for every annotated HCD spectrum of the train split the
engine's evidence mode lists its candidates (package settings, the
search and ranker the engine ships), and a list counts when the truth is
among its first ``top`` (I = L). Training is listwise: at every
recursion step, the softmax cross-entropy of the verified scores of the
list with the truth as target (deep supervision), plus ``site_weight``
times a per-cleavage binary cross-entropy (is this cleavage one of the
truth's, by prefix mass).

Spectra: the fit side of the split (``holdout(key)`` False), HeLa-340
and ProteomeTools-171 left out (the engine fit fits the model weight
and calibrations on them); the epoch kept is the one with the best
top-1 recall on the held-out slice (``holdout(key)``) and the left-out
sources together, both never fitted on. Dev is never read. The result is stored as ``verifier`` in the settings JSON
(``--out``, the package's HCD settings by default).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from denovo.core.decode import DecodeConfig
from denovo.core.peptide import peptide_key
from denovo.core.search import cleavage_prefixes
from denovo.core.settings import DEFAULT_SETTINGS_PATHS, FittedSettings
from denovo.core.evidence import N_FEATURES
from denovo.engine.verifier import (CHARGES, EvidenceVerifier, N_INPUTS,
                                    site_inputs)

from .evidence_scorer import (RANKER_LEAVE_OUT, TRAIN_MGF, holdout,
                              load_examples)

__all__ = ["Lists", "candidate_lists", "train", "main"]

TOP = 20  # candidates verified per spectrum
# the train-side lists the epoch is chosen on (never fitted on)
SELECT_ON = ("holdout", "leftout")


@dataclass
class Lists:
    """One spectrum's candidate list, as the verifier reads it."""

    part: str  # fit / holdout / leftout
    key: str
    charge: int
    rank: np.ndarray  # [n] the engine's rank scores
    feats: np.ndarray  # [n, S, N_FEATURES]
    left: np.ndarray  # [n, S]
    right: np.ndarray  # [n, S]
    site_labels: np.ndarray  # [n, S] cleavage is one of the truth's
    truth: int  # index of the truth in the list, -1: absent


def _part(ex) -> str:
    if ex.source in RANKER_LEAVE_OUT:
        return "leftout"
    return "holdout" if holdout(ex.key) else "fit"


def candidate_lists(examples, fitted: FittedSettings, top: int = TOP,
                    log=print, part: str | None = None) -> list[Lists]:
    """The engine's evidence-mode lists (its first ``top``) of
    ``examples``, with each candidate's cleavages; ``part`` names their
    set (by default the train side's: fit, holdout or leftout). The
    lists are the ranker's, without any verifier ``fitted`` has."""
    from denovo.engine import Engine, EngineConfig

    engine = Engine(None, mode="evidence",
                    fitted=fitted.with_rank(verifier={}),
                    decode=DecodeConfig(top_k=top),
                    config=EngineConfig(threads=1))
    search = engine.ranker.search
    out = []
    start = time.time()
    results = engine.run([ex.spectrum for ex in examples])
    for ex, result in zip(examples, results, strict=True):
        peptides = [m.candidate.tokens for m in result.matches]
        if not peptides:
            continue
        keys = [peptide_key(p) for p in peptides]
        tokens, lengths = search.encode(peptides)
        feats, left, right, n_sites = search.site_features(
            ex.peaks, tokens, lengths, ex.charge)
        labels = np.zeros(left.shape, bool)
        truth_sites = np.round(ex.sites, 2)
        for k in range(len(peptides)):
            prefixes = cleavage_prefixes(tokens[k, :lengths[k]],
                                         search.vocabulary)
            labels[k, :n_sites[k]] = np.isin(np.round(prefixes, 2),
                                             truth_sites)
        out.append(Lists(part or _part(ex), ex.key, ex.charge,
                         np.array([m.candidate.score
                                   for m in result.matches]),
                         feats, left, right, labels,
                         keys.index(ex.key) if ex.key in keys else -1))
    log(f"{len(out)} candidate lists in {time.time() - start:.0f} s")
    return out


def _tensors(lst: Lists, mean, scale):
    import torch

    x, mask = site_inputs(lst.feats, lst.left, lst.right, lst.charge,
                          mean, scale)
    return (torch.from_numpy(x), torch.from_numpy(mask.astype(np.float32)),
            torch.from_numpy(lst.rank.astype(np.float32)),
            torch.from_numpy(lst.site_labels.astype(np.float32)))


def _module(hidden: int, steps: int, residues: bool = True):
    import torch
    from torch import nn

    class Verifier(nn.Module):
        """The torch twin of :class:`EvidenceVerifier`'s forward pass."""

        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(N_INPUTS, hidden)
            self.h = nn.Linear(hidden, hidden)
            self.z = nn.Linear(hidden, hidden, bias=False)
            self.c = nn.Linear(hidden, hidden, bias=False)
            self.out = nn.Linear(hidden, 1, bias=False)
            self.site = nn.Linear(hidden, 1)
            self.rank_scale = nn.Parameter(torch.ones(()))
            keep = torch.ones(N_INPUTS)
            if not residues:  # ablation: no residue classes
                keep[N_FEATURES:N_INPUTS - len(CHARGES)] = 0
            self.register_buffer("keep", keep)

        def forward(self, x, mask, rank):
            m = mask[..., None]
            h = torch.relu(self.inp(x * self.keep)) * m
            base = self.h(h)
            z = torch.zeros_like(h)
            scores, sites = [], []
            for _ in range(steps):
                ctx = torch.zeros_like(z)
                ctx[:, 1:] = ctx[:, 1:] + z[:, :-1]
                ctx[:, :-1] = ctx[:, :-1] + z[:, 1:]
                z = torch.tanh(base + self.z(z) + self.c(ctx)) * m
                scores.append(self.rank_scale * rank
                              + self.out(z).squeeze(-1).sum(1))
                sites.append(self.site(z).squeeze(-1))
            return scores, sites

    return Verifier()


def _batch(tensors, idx):
    """Lists ``idx`` padded into one batch: inputs [B*n, S, D], masks, rank
    scores [B, n], site labels, and which candidates are real [B, n]."""
    import torch

    n = max(tensors[i][0].shape[0] for i in idx)
    s = max(tensors[i][0].shape[1] for i in idx)
    parts = [[], [], [], [], []]
    for i in idx:
        x, mask, rank, labels = tensors[i]
        dn, ds = n - x.shape[0], s - x.shape[1]
        pad = torch.nn.functional.pad
        parts[0].append(pad(x, (0, 0, 0, ds, 0, dn)))
        parts[1].append(pad(mask, (0, ds, 0, dn)))
        parts[2].append(pad(rank, (0, dn)))
        parts[3].append(pad(labels, (0, ds, 0, dn)))
        parts[4].append(pad(torch.ones(x.shape[0]), (0, dn)))
    x, mask, rank, labels, real = (torch.stack(p) for p in parts)
    return (x.flatten(0, 1), mask.flatten(0, 1), rank, labels.flatten(0, 1),
            real)


def _scores(model, batch):
    """Per step, the verified scores [B, n] of a batch (padding -inf)."""
    x, mask, rank, _, real = batch
    scores, sites = model(x, mask, rank.flatten())
    shape = rank.shape
    return ([_padded_out(real > 0, sc.view(shape)) for sc in scores],
            sites)


def _padded_out(keep, values):
    import torch

    return torch.where(keep, values, torch.full_like(values, -1e9))


def _ensemble_scores(models, batch):
    """The seed ensemble's last-step scores: the mean of its members'."""
    return sum(_scores(m, batch)[0][-1] for m in models) / len(models)


def recall_at_1(models, lists, tensors, part: str) -> float:
    """Share of ``part``'s lists whose truth the ensemble puts first
    (lists without the truth count as misses)."""
    import torch

    idx = [i for i, lst in enumerate(lists) if lst.part == part]
    hits = 0
    with torch.no_grad():
        for first in range(0, len(idx), 64):
            chunk = idx[first:first + 64]
            with_truth = [i for i in chunk if lists[i].truth >= 0]
            if not with_truth:
                continue
            best = _ensemble_scores(models, _batch(tensors, with_truth))
            best = best.argmax(dim=1).tolist()
            hits += sum(b == lists[i].truth
                        for b, i in zip(best, with_truth, strict=True))
    return hits / max(len(idx), 1)


def train(lists: list[Lists], *, hidden: int = 16, steps: int = 3,
          epochs: int = 30, lr: float = 3e-3, weight_decay: float = 1e-3,
          site_weight: float = 0.2, residues: bool = True, seeds: int = 1,
          batch_size: int = 8, log=print) -> tuple[EvidenceVerifier, dict]:
    """Fit ``seeds`` models on the ``fit`` lists; keep the epoch at which
    their mean (the ensemble, one verifier) has the best top-1 recall on
    the :data:`SELECT_ON` lists."""
    import torch

    fit = [lst for lst in lists if lst.part == "fit"]
    rows = np.concatenate([lst.feats[lst.left >= 0] for lst in fit])
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0) + 1e-6
    tensors = [_tensors(lst, mean, scale) for lst in lists]
    models, opts, rngs = [], [], []
    for seed in range(seeds):
        torch.manual_seed(seed)
        models.append(_module(hidden, steps, residues))
        opts.append(torch.optim.Adam(models[-1].parameters(), lr=lr,
                                     weight_decay=weight_decay))
        rngs.append(np.random.default_rng(seed))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    train_idx = [i for i, lst in enumerate(lists)
                 if lst.part == "fit" and lst.truth >= 0 and len(lst.rank) > 1]
    sizes = {p: sum(lst.part == p for lst in lists) for p in SELECT_ON}
    best = (-1.0, None, -1)
    history = []
    for epoch in range(epochs):
        total = 0.0
        for model, opt, rng in zip(models, opts, rngs, strict=True):
            model.train()
            order = rng.permutation(train_idx)
            for first in range(0, len(order), batch_size):
                chunk = list(order[first:first + batch_size])
                batch = _batch(tensors, chunk)
                scores, sites = _scores(model, batch)
                truth = torch.tensor([lists[i].truth for i in chunk])
                loss = sum(torch.nn.functional.cross_entropy(sc, truth)
                           for sc in scores) / steps
                if site_weight:
                    mask, labels = batch[1], batch[3]
                    loss = loss + site_weight * sum(
                        (bce(st, labels, reduction="none") * mask).sum()
                        / mask.sum() for st in sites) / steps
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(chunk)
            model.eval()
        recall = {part: recall_at_1(models, lists, tensors, part)
                  for part in SELECT_ON}
        held = sum(recall[p] * sizes[p] for p in SELECT_ON) / sum(
            sizes.values())
        loss = total / (len(train_idx) * seeds)
        history.append({"epoch": epoch + 1, "loss": loss, **recall})
        if held > best[0] + 1e-9:
            best = (held, [{k: v.clone() for k, v in m.state_dict().items()}
                           for m in models], epoch + 1)
        log(f"epoch {epoch + 1}: loss {loss:.4f}, recall@1 "
            + ", ".join(f"{p} {r:.3f}" for p, r in recall.items()))
    for model, state in zip(models, best[1], strict=True):
        model.load_state_dict(state)
    verifier = export_ensemble(models, mean, scale, steps)
    return verifier, {"epoch": best[2], "selection_recall": best[0],
                      "history": history, "n_lists": len(train_idx),
                      "hidden": hidden, "steps": steps, "seeds": seeds,
                      "site_weight": site_weight, "residues": residues}


def export_ensemble(models, mean, scale, steps: int, top: int = TOP
                    ) -> EvidenceVerifier:
    """One NumPy verifier computing the mean of ``models`` (members)."""
    def a(t):
        return t.detach().numpy().astype(np.float32)

    def stack(get):
        return np.stack([get(m) for m in models])

    arrays = {"mean": mean.astype(np.float32),
              "scale": scale.astype(np.float32),
              "w_in": stack(lambda m: a(m.inp.weight).T
                            * a(m.keep)[:, None]),
              "b_in": stack(lambda m: a(m.inp.bias)),
              "w_h": stack(lambda m: a(m.h.weight).T),
              "b_z": stack(lambda m: a(m.h.bias)),
              "w_z": stack(lambda m: a(m.z.weight).T),
              "w_c": stack(lambda m: a(m.c.weight).T),
              "w_out": stack(lambda m: a(m.out.weight)[0]),
              "w_site": stack(lambda m: a(m.site.weight)[0]),
              "b_site": stack(lambda m: a(m.site.bias)[0])}
    scale_ = sum(float(m.rank_scale.detach()) for m in models) / len(models)
    return EvidenceVerifier(steps, top, scale_, arrays)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=TRAIN_MGF)
    parser.add_argument("--scorer", type=Path,
                        default=DEFAULT_SETTINGS_PATHS["HCD"],
                        help="settings to start from [%(default)s]")
    parser.add_argument("--out", type=Path,
                        help="settings JSON to write [--scorer]")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=8,
                        help="models averaged into the verifier")
    args = parser.parse_args(argv)
    if not args.train.exists():
        parser.error(f"{args.train} not found (run `python "
                     "benchmarks/real_split.py --mgf` first)")
    import torch

    torch.set_num_threads(1)
    fitted = FittedSettings.load(args.scorer).with_rank(verifier={})
    examples = load_examples([args.train], fitted.scorer.config,
                             fragmentation="HCD", keep_spectra=True)
    lists = candidate_lists(examples, fitted)
    verifier, info = train(lists, epochs=args.epochs, steps=args.steps,
                           hidden=args.hidden, seeds=args.seeds)
    record = {k: v for k, v in info.items() if k != "history"}
    record["date"] = time.strftime("%Y-%m-%d")
    fitted = fitted.with_rank(verifier={**verifier.to_dict(),
                                        "provenance": record})
    out = args.out or args.scorer
    fitted.save(out)
    print(f"kept epoch {info['epoch']} (recall@1 {info['selection_recall']:.3f}"
          f" on {' + '.join(SELECT_ON)}); wrote {out}")


if __name__ == "__main__":
    main()
