"""Fit the engine's ranking weight and confidence for a model.

    python -m denovo_training.engine_fit     # package scorer, evidence mode
    python -m denovo_training.engine_fit --model default --write-model

The evidence scorer (``python -m denovo_training.evidence_scorer``) says how
strong a cleavage is; this command fits what sits on top of it, on
annotated **train-side** spectra only:

* ``beam_guide``, the weight of the cleavage evidence added at every
  extension of the model's beam, and ``model_weight``, the weight of the
  model's mean log-probability in the hybrid rank score, chosen together
  by top-1 peptide recall on train-side spectra
  the model was never trained on (by default the train side of the
  sources added after the bundled models were trained: HeLa and
  ProteomeTools-171), because a model scores the spectra it memorised far
  too well; for a draft-conditioned model also ``drafts``, how many of
  the search's best peptides it refines per spectrum, and
  ``draft_scoring``, which of its distributions scores the candidates;
* the confidence calibration of each ranking mode
  (:mod:`denovo.engine.confidence`): a logistic model of "the top
  peptide is right" on the same kind of spectra (hybrid) or on the
  held-out slice of the evidence scorer's fit (evidence mode).

With ``--fragmentation CID`` the same is fitted for ion-trap CID
spectra on their train side (NIST's BSA library and bsa1), starting from
the package's CID settings; the result goes into
``denovo/configs/evidence_scorer_cid.json`` or, with ``--model``, the
model file's ``fitted_by_fragmentation`` (format 4).

The result goes into the scorer JSON (``--out``) and, with
``--write-model``, into the model file's metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from denovo.core.decode import DecodeConfig
from denovo.core.peptide import peptide_key
from denovo.core.settings import DEFAULT_SETTINGS_PATHS, FittedSettings
from denovo.engine.confidence import FEATURES, candidate_features
from denovo.engine.pipeline import ION_TRAP_SEARCH, Engine
from denovo.engine.ranking import rank_score

from .evidence_scorer import TRAIN_MGF, holdout, load_examples

# Sources the bundled models were trained on (their train side).
MODEL_SOURCES = ("QEPlus2_10212016_40_F5.mgf", "pepnet_124.mgf",
                 "proteometools_hcd_82.msp", "yeast_small.mzML")
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
GUIDES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
DRAFTS = (1, 2, 3)  # drafts refined per spectrum (draft models)
SCORINGS = ("refined", "blank")  # which distribution scores candidates
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"

__all__ = ["ranked_lists", "best_weight", "fit_confidence", "main"]


def ranked_lists(examples, engine: Engine) -> list:
    """Every candidate with its terms, per example (engine order)."""
    results = engine.run([ex.spectrum for ex in examples])
    return [[m for m in result.matches if m.candidate.mass_match]
            for result in results]


def _rerank(matches, weight, scale=1.0):
    """The engine's scores at another model weight; with the evidence
    verifier (``scale`` its rank scale), its corrections as the engine
    made them (at the weight the lists were made with: which candidates
    it verified is not redone)."""
    scores = np.array([scale * rank_score(m.terms.get("evidence", 0.0),
                                          m.terms.get("model", 0.0), weight)
                       + m.terms.get("verifier", 0.0) for m in matches])
    order = np.argsort(-scores, kind="stable")
    return scores[order], [matches[k] for k in order]


def _rank_scale(ranker) -> float:
    """The evidence verifier's rank scale (1 without a verifier)."""
    return 1.0 if ranker.verifier is None else ranker.verifier.rank_scale


def best_weight(examples, lists, weights=WEIGHTS, log=print, scale=1.0):
    """Model weight with the best top-1 recall (ties: the smaller)."""
    best, best_recall, table = 0.0, -1.0, {}
    for w in weights:
        hits = 0
        for ex, matches in zip(examples, lists, strict=True):
            if matches:
                _, ranked = _rerank(matches, w, scale)
                hits += peptide_key(ranked[0].candidate.tokens) == ex.key
        recall = hits / max(len(examples), 1)
        table[w] = recall
        log(f"  model weight {w:>5}: recall {recall:.3f}")
        if recall > best_recall + 1e-9:
            best, best_recall = w, recall
    return best, table


def fit_confidence(examples, lists, weight, mode: str, ranker):
    """Logistic calibration of the top candidate's correctness.

    Every peptide weighs the same, however many spectra it has (one
    source has 114 spectra of 4 peptides): a few peptides must not set
    the calibration."""
    from collections import Counter

    from sklearn.linear_model import LogisticRegression

    per_peptide = Counter(ex.key for ex, m in zip(examples, lists,
                                                  strict=True) if m)
    x, y, w = [], [], []
    for ex, matches in zip(examples, lists, strict=True):
        if not matches:
            continue
        if mode == "hybrid":
            scores, ranked = _rerank(matches, weight, _rank_scale(ranker))
        else:
            scores = np.array([m.candidate.score for m in matches])
            ranked = matches
        feats = candidate_features(
            scores, [m.terms for m in ranked],
            [len(m.candidate.tokens) for m in ranked], ranked[0].charge,
            ranker.mass_errors([m.candidate.tokens for m in ranked],
                               ex.precursor_mass))
        x.append(feats[0])
        y.append(peptide_key(ranked[0].candidate.tokens) == ex.key)
        w.append(1.0 / per_peptide[ex.key])
    x, y, w = np.array(x), np.array(y), np.array(w)
    if y.all() or not y.any():
        raise ValueError("calibration needs right and wrong peptides")
    model = LogisticRegression(C=1.0, max_iter=2000).fit(
        x, y, sample_weight=w * len(w) / w.sum())
    return ({"features": list(FEATURES),
             "weights": [float(v) for v in model.coef_[0]],
             "bias": float(model.intercept_[0])},
            {"n": int(len(y)), "right": float(y.mean())})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", type=Path,
                        help="settings JSON to start from [the package's "
                             "for --fragmentation]")
    parser.add_argument("--fragmentation", choices=["HCD", "CID"],
                        default="HCD",
                        help="fit for spectra of this class, on the "
                             "train side of its sources [%(default)s]")
    parser.add_argument("--fragment-tol", type=float, metavar="DA",
                        help="read the peaks at this fragment tolerance "
                             "(Da) instead of the scorer's")
    parser.add_argument("--model", help="model file or bundled name: fit "
                        "the hybrid weight and calibration for it")
    parser.add_argument("--train", type=Path, default=TRAIN_MGF)
    parser.add_argument("--out", type=Path,
                        help="scorer JSON to write [default: --scorer, "
                             "or nothing with --model]")
    parser.add_argument("--trained-on", nargs="+", default=MODEL_SOURCES,
                        metavar="SOURCE",
                        help="source files (as in the split file) whose "
                             "train side the model was trained on; their "
                             "spectra are left out of the hybrid fit "
                             "[the bundled models' sources]")
    parser.add_argument("--write-model", action="store_true",
                        help="store the fitted scorer in the model file")
    parser.add_argument("--report", type=Path,
                        help="write REPORT.json with what was measured")
    args = parser.parse_args(argv)
    start = time.time()
    args.scorer = args.scorer or DEFAULT_SETTINGS_PATHS[args.fragmentation]
    fitted = FittedSettings.load(args.scorer)
    if args.fragment_tol is not None:
        fitted = fitted.with_fragment_tol(args.fragment_tol, "Da")
    if args.fragmentation != "HCD" or args.fragment_tol is not None:
        fitted = replace(fitted, scorer=replace(fitted.scorer, provenance={
            **fitted.scorer.provenance,
            "engine_fit_on": args.fragmentation,
            "fragment_tol": fitted.scorer.config.fragment_tol}))
    # the spectra the evidence calibration may use: the scorer's
    # held-out slice, or all of them when the scorer and its ranker were
    # fitted on other spectra (another fragmentation class)
    own = fitted.scorer.provenance.get("fragmentation") in (
        args.fragmentation, "all")
    # the search the engine runs for spectra of this class
    search = ION_TRAP_SEARCH if args.fragmentation == "CID" else None
    examples = load_examples([args.train], fitted.scorer.config,
                             fragmentation=args.fragmentation,
                             keep_spectra=True)
    decode = DecodeConfig(top_k=64)
    confidence = dict(fitted.rank.confidence or {})
    args_text = " ".join(sys.argv[1:] if argv is None else argv)
    record = {"command": "python -m denovo_training.engine_fit " + args_text,
              "date": time.strftime("%Y-%m-%d"),
              "fragmentation": args.fragmentation}
    if args.model is None:
        held = [ex for ex in examples if holdout(ex.key) or not own]
        print(f"evidence mode: {len(held)} train-side spectra the scorer "
              "was not fitted on")
        engine = Engine(None, mode="evidence", fitted=fitted, decode=decode,
                        ion_trap=None, search=search)
        lists = ranked_lists(held, engine)
        confidence["evidence"], info = fit_confidence(
            held, lists, 0.0, "evidence", engine.ranker)
        record["evidence"] = info
        fitted = fitted.with_rank(confidence=confidence)
    else:
        from denovo.engine import ModelSession

        session = ModelSession(args.model)
        unseen = [ex for ex in examples
                  if ex.source not in set(args.trained_on)]
        print(f"hybrid mode: {len(unseen)} train-side spectra the model "
              "never saw")
        best = None
        tables = {}
        drafts = DRAFTS if session.info.takes_draft else (1,)
        scorings = SCORINGS if session.info.takes_draft else ("refined",)
        for n_drafts in drafts:
            for scoring in scorings:
                for guide in GUIDES:  # evidence inside the model's beam
                    print(f"drafts {n_drafts}, scored by {scoring}, beam "
                          f"guide {guide}:")
                    engine = Engine(session, mode="hybrid", decode=decode,
                                    fitted=fitted.with_rank(
                                        model_weight=0.0,
                                        beam_guide=guide, drafts=n_drafts,
                                        draft_scoring=scoring),
                                    ion_trap=None, search=search)
                    lists = ranked_lists(unseen, engine)
                    weight, table = best_weight(
                        unseen, lists, scale=_rank_scale(engine.ranker))
                    tables[f"{n_drafts}:{scoring}:{guide}"] = table
                    if best is None or table[weight] > best[0] + 1e-9:
                        best = (table[weight], guide, weight, lists,
                                n_drafts, scoring)
        _, guide, weight, lists, n_drafts, scoring = best
        confidence["hybrid"], info = fit_confidence(
            unseen, lists, weight, "hybrid", engine.ranker)
        record.update(model=str(session.path.name), model_weight=weight,
                      beam_guide=guide, drafts=n_drafts, draft_scoring=scoring,
                      recall_by_drafts_scoring_guide_and_weight=tables,
                      hybrid=info)
        fitted = fitted.with_rank(model_weight=float(weight),
                                  beam_guide=float(guide),
                                  drafts=int(n_drafts),
                                  draft_scoring=scoring,
                                  confidence=confidence)
        print(f"model weight {weight}, beam guide {guide}, drafts "
              f"{n_drafts}, scored by {scoring}")
        if args.write_model:
            from denovo_export.onnx_export import set_fitted_settings
            set_fitted_settings(session.path, fitted, args.fragmentation)
            print(f"stored the settings in {session.path}")
    out = args.out or (args.scorer if args.model is None else None)
    if out is not None:
        fitted.save(out)
        print(f"wrote {out}")
    record["seconds"] = time.time() - start
    if args.report:
        args.report.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
