"""Fit the cleavage scorer of the evidence search on annotated spectra.

    python -m denovo_training.evidence_scorer           # train split
    python -m denovo_training.evidence_scorer --train a.mgf --out scorer.json
    python -m denovo_training.evidence_scorer --ranker-only  # search changed

Every spectrum proposes candidate prefix masses (each peak read as a b or
y ion); those within the fragment tolerance of a true cleavage of its
annotated peptide are positives, the rest negatives — among them the b/y
mirror masses that make the search read the y ladder as b ions. A first
scorer is fitted on these; the search is then run with it on the same
spectra and the cleavages of its wrong peptides that are not true
cleavages join the negatives (hard negatives, weighted), and the scorer
is refitted. The search-level settings (a shift of the log-odds, the
penalty for a skipped cleavage, the weight of the residue priors) are
then chosen by peptide recall on a held-out slice of the train side (by
peptide hash), never on dev. Model classes (logistic regression,
gradient boosting) are compared by held-out log-loss and search recall;
the engine ships the linear one unless another wins clearly, because it
runs inside the Numba search.

Only train-side spectra are read (``runs/real/train.mgf`` by default,
from ``benchmarks/real_split.py --mgf``). Writes the scorer JSON
(``denovo/configs/evidence_scorer.json`` by default: the cleavage scorer
and the search's rank settings, :class:`denovo.core.settings.
FittedSettings`) and, with
``--report``, a Markdown/JSON record of the comparison.

The module stays whole (~550 lines): the examples, the fit and its report
belong to one command, and each step is used only by it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from denovo.core.constants import PROTON
from denovo.core.evidence import (DEFAULT_SCORER_PATH, N_FEATURES,
                                  EvidenceConfig, EvidenceScorer,
                                  candidate_prefixes, prefix_features,
                                  prepare_peaks)
from denovo.core.peptide import peptide_key
from denovo.core.search import (EvidenceSearch, SearchConfig,
                                cleavage_prefixes)
from denovo.core.settings import FittedSettings, RankSettings
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary, merge_il

ROOT = Path(__file__).resolve().parents[1]
TRAIN_MGF = ROOT / "runs" / "real" / "train.mgf"
SPLIT = ROOT / "configs" / "real_split.tsv"
HOLDOUT_PERCENT = 25
HARD_NEGATIVE_WEIGHT = 2.0

__all__ = ["Example", "load_examples", "token_log_prior", "node_dataset",
           "fit_linear", "engine_candidates", "search_recall", "fit_ranker",
           "fit", "main"]


class Example:
    """One annotated spectrum, prepared for the evidence kernels."""

    def __init__(self, spectrum, config: EvidenceConfig,
                 vocabulary: Vocabulary):
        self.peptide = tuple(spectrum.peptide)
        self.key = peptide_key(self.peptide)
        self.charge = int(spectrum.charge)
        self.precursor_mass = (spectrum.precursor_mz - PROTON) * self.charge
        self.peaks = prepare_peaks(spectrum.mz, spectrum.intensity,
                                   spectrum.precursor_mz, config)
        idx = [vocabulary.index(t) for t in self.peptide]
        self.total = float(vocabulary.masses[idx].sum())
        self.sites = cleavage_prefixes(self.peptide, vocabulary)
        self.source = (spectrum.title or "").split(":")[0]


def holdout(key: str) -> bool:
    """The held-out slice of the train side, by peptide (stable hash)."""
    digest = hashlib.sha256(("evidence:" + key).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HOLDOUT_PERCENT


def fragmentation_of_sources(split=SPLIT) -> dict:
    """Source file -> 'HCD' or 'CID', from the split file."""
    from .data.peptides import read_split

    if not Path(split).exists():
        return {}
    return {row.file: row.fragmentation for row in read_split(split)}


def load_examples(paths, config: EvidenceConfig,
                  vocabulary: Vocabulary = DEFAULT_VOCABULARY, *,
                  fragmentation: str | None = None,
                  keep_spectra: bool = False) -> list:
    """Annotated, charged spectra of ``paths`` whose labels parse; with
    ``fragmentation``, only those of sources of that kind (titles are
    ``file:index``, as ``benchmarks/real_split.py`` writes them)."""
    from denovo.io import read_spectra

    kinds = fragmentation_of_sources() if fragmentation else {}
    out = []
    for path in paths:
        for spectrum in read_spectra(path):
            if not (spectrum.peptide and spectrum.charge
                    and spectrum.status == "ok" and spectrum.mz.size):
                continue
            source = (spectrum.title or "").split(":")[0]
            if fragmentation and kinds.get(source, "HCD") != fragmentation:
                continue
            ex = Example(spectrum, config, vocabulary)
            if keep_spectra:
                ex.spectrum = spectrum
            out.append(ex)
    return out


def token_log_prior(examples, vocabulary: Vocabulary) -> dict:
    """log frequency of each token in the training peptides (add-one),
    I counted as L (the search reads them as one residue)."""
    counts = Counter(t for ex in examples for t in merge_il(ex.peptide))
    names = [t.name for t in vocabulary.tokens if not t.special]
    total = sum(counts.values()) + len(names)
    return {n: float(np.log((counts.get(n, 0) + 1) / total))
            for n in names}


def _labels(candidates, sites, tol):
    if sites.size == 0 or candidates.size == 0:
        return np.zeros(candidates.size, bool)
    nearest = np.min(np.abs(candidates[:, None] - sites[None, :]), axis=1)
    return nearest <= tol


def node_dataset(examples, config: EvidenceConfig):
    """Features and labels of every candidate prefix of every example."""
    xs, ys = [], []
    for ex in examples:
        cand = candidate_prefixes(ex.peaks[0], ex.total, ex.charge,
                                  config.max_fragment_charge,
                                  config.fragment_tol)
        if cand.size == 0:
            continue
        xs.append(prefix_features(ex.peaks, cand, ex.total, ex.charge,
                                  config))
        ys.append(_labels(cand, ex.sites, 2 * config.fragment_tol))
    return np.concatenate(xs), np.concatenate(ys)


def hard_negatives(examples, search: EvidenceSearch, config, n_wrong=5):
    """Cleavages of the search's wrong peptides that are not true ones."""
    xs = []
    for ex in examples:
        found = search.search(ex.peaks, ex.precursor_mass, ex.charge)
        wrong = [f for f in found if peptide_key(f.tokens) != ex.key]
        for f in wrong[:n_wrong]:
            sites = cleavage_prefixes(f.tokens, search.vocabulary)
            false = sites[~_labels(sites, ex.sites,
                                   2 * config.fragment_tol)]
            if false.size:
                xs.append(prefix_features(ex.peaks, false, ex.total,
                                          ex.charge, config))
    if not xs:
        return np.zeros((0, N_FEATURES))
    return np.concatenate(xs)


def fit_linear(x, y, weight=None, c=1.0):
    """L2 logistic regression; returns (weights, bias)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x, y, sample_weight=weight)
    return tuple(map(float, model.coef_[0])), float(model.intercept_[0])


def log_loss(scores, y) -> float:
    p = 1.0 / (1.0 + np.exp(-scores))
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def rank_candidates(found, ex, search: EvidenceSearch):
    """Found peptides best first by the engine's rank score."""
    scores = search.rank_scores(ex.peaks, [f.tokens for f in found],
                                ex.charge)
    return [found[k] for k in np.argsort(-scores, kind="stable")]


def engine_candidates(ranker, ex) -> list:
    """The peptides of one example best first, as the engine's evidence
    stage has them (:meth:`denovo.engine.ranking.Ranker.find`: the
    search's peptides by rank score, with ``SearchConfig.reorder`` the
    other orders of the best ones' unseen steps among them)."""
    from denovo.engine.rows import Row

    row = Row(0, None, ex.charge, ex.precursor_mass, ex.peaks)
    ranker.find(row)
    return row.found


def _ranker(search: EvidenceSearch, peak_once=True):
    from denovo.engine.ranking import Ranker

    return Ranker(search, mode="evidence", peak_once=peak_once)


def search_recall(examples, fitted: FittedSettings,
                  vocabulary=DEFAULT_VOCABULARY,
                  config: SearchConfig | None = None, peak_once=True,
                  node_score=None):
    """Share of examples whose top peptide is right (I = L), and whose
    right peptide is anywhere among the search's candidates
    (``node_score``: another cleavage model than the scorer's; with
    ``config.reorder`` the candidates hold the reorderings the engine
    adds, :func:`engine_candidates`)."""
    search = _search(vocabulary, fitted, config)
    ranker = _ranker(search, peak_once)
    top = anywhere = 0
    for ex in examples:
        if node_score is None:
            found = engine_candidates(ranker, ex)
        else:
            found = search.search_with(ex.peaks, ex.precursor_mass,
                                       ex.charge, node_score)
            if found and peak_once:
                found = rank_candidates(found, ex, search)
        if not found:
            continue
        keys = [peptide_key(f.tokens) for f in found]
        top += keys[0] == ex.key
        anywhere += ex.key in keys
    n = max(len(examples), 1)
    return top / n, anywhere / n


def _search(vocabulary, fitted: FittedSettings,
            config: SearchConfig | None = None) -> EvidenceSearch:
    return EvidenceSearch(vocabulary, fitted.scorer, fitted.rank,
                          config or SearchConfig())


def _with(fitted: FittedSettings, name: str, value) -> FittedSettings:
    """``fitted`` with one setting changed (the scorer's bias, or a rank
    setting)."""
    if name == "bias":
        return replace(fitted, scorer=replace(fitted.scorer, bias=value))
    return fitted.with_rank(**{name: value})


def tune(fitted: FittedSettings, examples, vocabulary,
         log) -> FittedSettings:
    """Coordinate search of bias shift, gap penalty and prior weight by
    held-out peptide recall (ties keep the earlier value)."""
    best = fitted
    best_recall = search_recall(examples, best, vocabulary)[0]
    log(f"  start: recall {best_recall:.3f}")
    bias = fitted.scorer.bias
    grids = {
        "bias": [bias + d for d in (-1.0, -0.5, 0.5, 1.0)],
        "gap_penalty": [bias + d for d in (-2.0, -1.0, 0.0, 1.0)],
        "prior_weight": [0.0, 0.25, 0.5, 1.0],
    }
    for _ in range(2):
        changed = False
        for name, values in grids.items():
            for value in values:
                trial = _with(best, name, float(value))
                recall = search_recall(examples, trial, vocabulary)[0]
                if recall > best_recall + 1e-9:
                    best, best_recall, changed = trial, recall, True
                    log(f"  {name} = {value:.2f}: recall {recall:.3f}")
        if not changed:
            break
    return best


def fit(train_paths, *, config: EvidenceConfig | None = None,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY, log=print,
        compare=True, fragmentation: str | None = "HCD"
        ) -> tuple[FittedSettings, dict]:
    """Fit the scorer and the search's settings; returns them and a
    record of what was measured."""
    start = time.time()
    config = config or EvidenceConfig()
    examples = load_examples(train_paths, config, vocabulary,
                             fragmentation=fragmentation)
    fit_set = [ex for ex in examples if not holdout(ex.key)]
    held = [ex for ex in examples if holdout(ex.key)]
    log(f"{len(examples)} train-side spectra: {len(fit_set)} to fit, "
        f"{len(held)} held out for the search settings")
    prior = token_log_prior(fit_set, vocabulary)
    x, y = node_dataset(fit_set, config)
    hx, hy = node_dataset(held, config)
    log(f"{len(y)} candidate prefixes, {y.mean():.3f} true cleavages")
    record = {"n_spectra": len(examples), "n_fit": len(fit_set),
              "n_heldout": len(held), "n_nodes": int(len(y)),
              "positive_rate": float(y.mean()), "variants": {}}

    def make(weights, bias):
        return FittedSettings(
            EvidenceScorer(weights=weights, bias=bias,
                           evidence=config.to_dict()),
            RankSettings(token_log_prior=prior, prior_weight=0.5,
                         gap_penalty=bias))

    def measure(name, fitted):
        top, anywhere = search_recall(held, fitted, vocabulary)
        entry = {"heldout_log_loss": log_loss(fitted.scorer.score(hx), hy),
                 "heldout_recall": top, "heldout_recall_any": anywhere}
        record["variants"][name] = entry
        log(f"{name:<34} log-loss {entry['heldout_log_loss']:.4f}  "
            f"recall {top:.3f} (in candidates {anywhere:.3f})")
        return entry

    w, b = fit_linear(x, y)
    first = make(w, b)
    measure("linear", first)
    search = _search(vocabulary, first)
    hard = hard_negatives(fit_set, search, config)
    log(f"{len(hard)} hard negatives from the search's wrong peptides")
    x2 = np.concatenate([x, hard])
    y2 = np.concatenate([y, np.zeros(len(hard), bool)])
    weight = np.concatenate([np.ones(len(y)),
                             np.full(len(hard), HARD_NEGATIVE_WEIGHT)])
    w2, b2 = fit_linear(x2, y2, weight)
    second = make(w2, b2)
    measure("linear + hard negatives", second)
    chosen = second if (record["variants"]["linear + hard negatives"]
                        ["heldout_recall"]
                        >= record["variants"]["linear"]["heldout_recall"]) \
        else first
    log("tuning search settings on the held-out slice")
    tuned = tune(chosen, held, vocabulary, log)
    measure("linear, tuned search settings", tuned)
    if compare:
        record["untuned_bias"] = chosen.scorer.bias
        _compare_classes(x2, y2, weight, hx, hy, record, log, held=held,
                         fitted=tuned, vocabulary=vocabulary)
    ranker = fit_ranker(fit_set, tuned, vocabulary)
    log(f"peptide ranker fitted on {ranker['n_pairs']} right/wrong pairs")
    ranked = tuned.with_rank(ranker=ranker)
    with_ranker = measure("+ learned peptide ranker", ranked)
    if with_ranker["heldout_recall"] > record["variants"][
            "linear, tuned search settings"]["heldout_recall"]:
        tuned = ranked
    record["ranker_kept"] = bool(tuned.rank.ranker)
    tuned = replace(tuned, scorer=replace(tuned.scorer, provenance={
        "fitted_on": [str(Path(p).name) for p in train_paths],
        "fragmentation": fragmentation or "all",
        "n_spectra": len(examples),
        "heldout_recall": record["variants"][
            "+ learned peptide ranker" if tuned.rank.ranker
            else "linear, tuned search settings"]["heldout_recall"],
        "date": time.strftime("%Y-%m-%d"),
        "command": "python -m denovo_training.evidence_scorer"}))
    record["seconds"] = time.time() - start
    return tuned, record


def fit_ranker(examples, fitted: FittedSettings, vocabulary, n_wrong=15,
               c=0.1, config: SearchConfig | None = None, features=None):
    """Peptide ranking weights from pairs (right, wrong) of the search's
    own candidates: logistic regression on feature differences. The
    candidates are the engine's (:func:`engine_candidates`): with
    ``config.reorder`` the other orders of the best peptides' unseen
    steps are among them, the wrong ones hard negatives. The wrong
    candidates paired are the ``n_wrong`` best by ``fitted``'s ranking.
    ``features``: the names of :data:`RANK_FEATURES` to fit (all by
    default; the others weigh 0), for ablation."""
    from sklearn.linear_model import LogisticRegression

    from denovo.core.search import RANK_FEATURES
    names = list(RANK_FEATURES if features is None else features)
    columns = [RANK_FEATURES.index(n) for n in names]

    search = _search(vocabulary, fitted, config)
    ranker = _ranker(search)
    diffs = []
    n_spectra = n_reordered = 0
    for ex in examples:
        found = engine_candidates(ranker, ex)
        peptides = [f.tokens for f in found]
        keys = [peptide_key(p) for p in peptides]
        if ex.key not in keys or len(peptides) < 2:
            continue
        n_spectra += 1
        feats = search.rank_features(ex.peaks, peptides, ex.charge)
        right = keys.index(ex.key)
        scores = feats @ search._theta
        wrong = [k for k in np.argsort(-scores) if keys[k] != ex.key]
        for k in wrong[:n_wrong]:
            diffs.append(feats[right, columns] - feats[k, columns])
            # a wrong order of the right residues
            n_reordered += sorted(peptides[k]) == sorted(peptides[right])
    x = np.array(diffs)
    x = np.concatenate([x, -x])
    y = np.concatenate([np.ones(len(diffs)), np.zeros(len(diffs))])
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    model.fit(x, y)
    return {"features": names,
            "weights": [float(v) for v in model.coef_[0]],
            "n_pairs": len(diffs), "n_spectra": n_spectra,
            "n_reordered_pairs": int(n_reordered)}


def _compare_classes(x, y, weight, hx, hy, record, log, held=None,
                     fitted=None, vocabulary=DEFAULT_VOCABULARY):
    """Held-out node log-loss of other model classes on the same data and,
    given the held-out spectra and the linear scorer (for its search
    settings), their peptide recall inside the search."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier

    for name, model in (
            ("gradient boosting (node level)",
             HistGradientBoostingClassifier(max_iter=200)),
            ("MLP 32 (node level)",
             MLPClassifier((32,), max_iter=300, random_state=0))):
        try:
            model.fit(x, y, sample_weight=weight)
        except TypeError:  # MLP without sample weights
            model.fit(x, y)
        p = np.clip(model.predict_proba(hx)[:, 1], 1e-9, 1 - 1e-9)
        loss = float(-np.mean(hy * np.log(p) + (1 - hy) * np.log(1 - p)))
        entry = {"heldout_log_loss": loss}
        if held is not None:
            # same shift of the log-odds as the tuned linear scorer
            shift = fitted.scorer.bias - record["untuned_bias"]

            def node_score(feats, model=model, shift=shift):
                q = np.clip(model.predict_proba(feats)[:, 1], 1e-9,
                            1 - 1e-9)
                return np.log(q / (1 - q)) + shift
            top, anywhere = search_recall(held, fitted, vocabulary,
                                          node_score=node_score)
            entry.update(heldout_recall=top, heldout_recall_any=anywhere)
        record["variants"][name] = entry
        log(f"{name:<34} log-loss {loss:.4f}"
            + (f"  recall {entry['heldout_recall']:.3f} (in candidates "
               f"{entry['heldout_recall_any']:.3f})" if held else ""))


def write_report(record: dict, path: Path) -> None:
    lines = ["# Evidence scorer fit", "",
             f"Command: `{record['command']}`  ", f"Date: {record['date']}",
             "", f"{record['n_spectra']} train-side spectra "
             f"({record['n_fit']} fit, {record['n_heldout']} held out by "
             f"peptide); {record['n_nodes']} candidate prefixes, "
             f"{record['positive_rate']:.3f} true cleavages.", "",
             "| variant | held-out node log-loss | held-out peptide recall "
             "| right peptide among candidates |", "|---|---|---|---|"]
    # model classes are compared inside the search with the linear
    # scorer's tuned settings and peak-once ranking (no peptide ranker)
    for name, v in record["variants"].items():
        lines.append(
            f"| {name} | {v['heldout_log_loss']:.4f} | "
            f"{v.get('heldout_recall', float('nan')):.3f} | "
            f"{v.get('heldout_recall_any', float('nan')):.3f} |")
    lines += ["", "Recall: top peptide after peak-once ranking equals the "
              "annotation (I = L), evidence search only, no model. The "
              "gradient-boosting and MLP rows score cleavages with that "
              "model inside the same search (same tuned settings and "
              "peak-once ranking with the linear weights); the engine keeps "
              "the linear scorer unless another class wins clearly, since "
              "it runs inside the Numba search."]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")


# Sources whose spectra stay out of a ranker refit (``--ranker-only``):
# the engine fit (``engine_fit``) fits the hybrid weight and its
# confidence on them, which must not be the ranker's own fit.
RANKER_LEAVE_OUT = ("hela_bibliospec_340.mgf", "proteometools_hcd_171.mgf")
RANKER_C = 0.1  # inverse L2 strength of the ranker's logistic regression


def refit_ranker(train_paths, fitted: FittedSettings, *,
                 leave_out=RANKER_LEAVE_OUT, config: SearchConfig | None = None,
                 fragmentation: str | None = "HCD",
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY, log=print,
                 c: float = RANKER_C, features=None
                 ) -> tuple[FittedSettings, dict]:
    """``fitted`` with only its peptide ranker refitted on the fit side
    of ``train_paths`` (``holdout(key)`` False, ``leave_out`` sources
    left out), its candidates those of the engine's search
    (``config``, the default search by default). The search scores its
    paths with the ranker (``SearchConfig.rank_paths``), so a search
    change calls for this refit. The result has no evidence verifier:
    it was trained on the old ranker's candidate lists."""
    examples = load_examples(train_paths, fitted.scorer.config, vocabulary,
                             fragmentation=fragmentation)
    fit_set = [ex for ex in examples if not holdout(ex.key)
               and ex.source not in set(leave_out)]
    if not fit_set:
        raise ValueError("no train-side spectra left to fit the peptide "
                         f"ranker on ({', '.join(leave_out)} left out)")
    log(f"refitting the peptide ranker on {len(fit_set)} train-side "
        f"spectra ({', '.join(leave_out)} left out)")
    ranker = fit_ranker(fit_set, fitted, vocabulary, config=config, c=c,
                        features=features)
    log(f"{ranker['n_pairs']} right/wrong pairs from {ranker['n_spectra']} "
        "spectra with the right peptide among the candidates")
    # the evidence verifier learnt the old ranker's lists: refit it too
    # (``python -m denovo_training.verifier_fit``)
    refitted = fitted.with_rank(ranker=ranker, verifier={})
    provenance = {**fitted.scorer.provenance,
                  "ranker_refitted_on": [str(Path(p).name)
                                         for p in train_paths],
                  "ranker_left_out": list(leave_out),
                  "ranker_n_spectra": len(fit_set)}
    refitted = replace(refitted, scorer=replace(refitted.scorer,
                                                provenance=provenance))
    return refitted, {k: ranker[k] for k in ("n_pairs", "n_spectra")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", type=Path,
                        default=[TRAIN_MGF],
                        help="annotated train-side spectra [%(default)s]")
    parser.add_argument("--out", type=Path, default=DEFAULT_SCORER_PATH)
    parser.add_argument("--report", type=Path,
                        help="write REPORT.md/.json with the comparison")
    parser.add_argument("--fragment-tol", type=float, default=0.02)
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the other model classes")
    parser.add_argument("--fragmentation", default="HCD",
                        choices=["HCD", "CID", "all"],
                        help="fit on sources of this kind [%(default)s]")
    parser.add_argument("--ranker-only", action="store_true",
                        help="keep the scorer and search settings of "
                        "--out (the package's by default) and refit only "
                        "the peptide ranker, with the engine's search")
    args = parser.parse_args(argv)
    for path in args.train:
        if not path.exists():
            parser.error(f"{path} not found (run `python "
                         "benchmarks/real_split.py --mgf` first)")
    if args.ranker_only:
        fitted = FittedSettings.load(args.out)
        fitted, _ = refit_ranker(args.train, fitted,
                                 fragmentation=None
                                 if args.fragmentation == "all"
                                 else args.fragmentation)
        fitted.save(args.out)
        print(f"wrote {args.out}")
        return
    config = EvidenceConfig(fragment_tol=args.fragment_tol)
    fitted, record = fit(args.train, config=config,
                         compare=not args.no_compare,
                         fragmentation=None if args.fragmentation == "all"
                         else args.fragmentation)
    fitted.save(args.out)
    print(f"wrote {args.out}")
    if args.report:
        record["command"] = ("python -m denovo_training.evidence_scorer "
                             + " ".join(argv or []))
        record["date"] = time.strftime("%Y-%m-%d")
        write_report(record, args.report)
        print(f"wrote {args.report.with_suffix('.md')}")


if __name__ == "__main__":
    main()
