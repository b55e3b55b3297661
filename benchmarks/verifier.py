"""Does the TRM earn its place as the verifier? Per-step measurements.

    python benchmarks/verifier.py --checkpoint runs/verifier/last.ckpt \\
        --baseline runs/draft_onnx.ckpt

For every annotated spectrum the engine's evidence-mode candidate list is
built (``Engine(None, mode="evidence", decode=DecodeConfig(top_k=50))``,
the peptides of the precursor's mass in the engine's order: the linear
ranker's rank score). Each candidate is given to the checkpoint as its
draft (one batched forward pass per spectrum) and, per supervision step
t = 1..T, the verifier head's whole-draft logit and per-residue logits and
the step's argmax answer are read. Measured per step:

* verifier AUC, right (I = L) vs wrong candidates: pooled over all
  candidates, and the mean over spectra with both kinds (the within-list
  ranking that selection needs); the per-residue head's AUC over the
  candidates' residue slots;
* top-1 recall (and selection efficiency = top-1 recall / recall of the
  whole list) when the list is ranked by the verifier logit alone, and by
  the engine's rank score + w x verifier logit, w fitted per step on the
  train-side set (top-1 recall, ties to the smaller w) and applied
  unchanged to dev; the engine's own order is the reference;
* the same for the draft's mean log-probability (tokens and END, I = L)
  under the step's refined answer, the score the engine's hybrid mode
  uses, of this checkpoint and of ``--baseline`` (the shipped draft model,
  no head): does the head add anything over the log-probability;
* residues repaired and broken by the refined answer: per draft residue
  slot, argmax of step t vs the draft, against the truth (I = L), for all
  candidates and for the engine's first one.

Sets: **train side** = the HCD spectra of ``runs/real/train.mgf`` from
sources the models were not trained on (not in ``engine_fit.MODEL_SOURCES``,
whose train side is ``runs/real/train_core.mgf``: HeLa-340 and
ProteomeTools-171), with the evidence scorer's held-out slice
(``evidence_scorer.holdout``) also reported on its own; **core dev** =
``runs/real/dev_core.mgf``, reported only (the weights are fitted on the
train side). Writes ``benchmarks/results/<results>.{md,json}``.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import describe, write_results  # noqa: E402

from denovo.core.decode import DecodeConfig  # noqa: E402
from denovo.core.peptide import peptide_key  # noqa: E402
from denovo.core.preprocess import PreprocessConfig  # noqa: E402
from denovo.core.settings import load_default  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB, END  # noqa: E402
from denovo_training.checkpoint import load_model_from_checkpoint  # noqa: E402
from denovo_training.data.batch import from_spectra, to_arrays  # noqa: E402
from denovo_training.engine_fit import MODEL_SOURCES  # noqa: E402
from denovo_training.evidence_scorer import (  # noqa: E402
    TRAIN_MGF, holdout, load_examples)
from denovo_training.metrics import auc  # noqa: E402

DEV_CORE = ROOT / "runs" / "real" / "dev_core.mgf"
RERANK_FIRST = (2, 3, 5)  # the verifier reorders only the engine's first N
# fitted w of rank + w x term: the smallest non-zero weights (< 0.125)
# are there because the first verifier run chose 0.125, the old minimum
WEIGHTS = (0.0, 0.01, 0.02, 0.03, 0.06, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0,
           8.0, 16.0, 32.0, 64.0)
IL = np.arange(len(VOCAB))
IL[VOCAB.index("I")] = VOCAB.index("L")


def candidate_lists(examples, top_k: int) -> list:
    """The engine's evidence-mode candidates per example, best first:
    ``[(tokens, rank score), ...]``."""
    from denovo.engine import Engine

    engine = Engine(None, mode="evidence", decode=DecodeConfig(top_k=top_k))
    results = engine.run([ex.spectrum for ex in examples])
    return [[(m.candidate.tokens, float(m.candidate.score))
             for m in r.matches if m.candidate.mass_match]
            for r in results]


def _encode(tokens, max_length: int) -> np.ndarray | None:
    if len(tokens) > max_length:
        return None
    return np.asarray(VOCAB.encode(tuple(tokens), max_length), np.int64)


def _mean_log_prob(lp: np.ndarray, drafts: np.ndarray) -> np.ndarray:
    """(T, N, L, V) log-probs, (N, L) drafts -> (T, N) mean log-prob of
    each draft's tokens and END, I and L pooled."""
    p = np.exp(lp)
    i, leu = VOCAB.index("I"), VOCAB.index("L")
    p[..., i] = p[..., leu] = p[..., i] + p[..., leu]
    picked = np.take_along_axis(np.log(np.maximum(p, 1e-30)),
                                drafts[None, :, :, None], -1)[..., 0]
    filled = (drafts != 0)[None]
    return (picked * filled).sum(-1) / filled.sum(-1)


def run_model(model, preprocess, max_length: int, ex, drafts: np.ndarray,
              verifier: bool) -> dict:
    """One batched forward pass: the spectrum once per draft."""
    raw = from_spectra([ex.spectrum])
    raw.peptides = [()]  # the truth may not fit the slots; not needed
    arrays = to_arrays(raw, preprocess=preprocess, max_length=max_length)
    n = len(drafts)
    inputs = [torch.from_numpy(np.repeat(np.ascontiguousarray(arrays[k]),
                                         n, axis=0))
              for k in ("mz", "intensity", "mask", "precursor_mass",
                        "charge")]
    draft = torch.from_numpy(drafts)
    with torch.no_grad():
        if verifier:
            lp, v, r = model(*inputs, draft=draft, with_verifier=True)
        else:
            lp, v, r = model(*inputs, draft=draft), None, None
    lp = lp.numpy()
    out = {"argmax": lp.argmax(-1), "logp": _mean_log_prob(lp, drafts)}
    if verifier:
        out["verify"] = v.numpy()
        out["residue"] = r.numpy()
    return out


def score_set(examples, lists, model, preprocess, max_length, baseline,
              log) -> list:
    """Per example: candidates' labels, engine scores and model outputs."""
    rows = []
    start = time.time()
    for k, (ex, cands) in enumerate(zip(examples, lists, strict=True)):
        enc = [_encode(t, max_length) for t, _ in cands]
        keep = [i for i, e in enumerate(enc) if e is not None]
        row = {"key": ex.key, "source": ex.source,
               "n_listed": len(cands),
               "right_listed": [peptide_key(t) == ex.key for t, _ in cands],
               "keep": keep}
        if keep:
            drafts = np.stack([enc[i] for i in keep])
            truth = np.zeros(max_length + 1, np.int64)
            t = [VOCAB.index(x) for x in ex.peptide][:max_length + 1]
            truth[:len(t)] = t
            row["engine"] = np.array([cands[i][1] for i in keep])
            row["right"] = np.array([row["right_listed"][i] for i in keep])
            row["drafts"] = drafts
            row["truth"] = truth
            out = run_model(model, preprocess, max_length, ex, drafts, True)
            row.update(out)
            if baseline is not None:
                row["base_logp"] = run_model(
                    baseline[0], baseline[1], max_length, ex, drafts,
                    False)["logp"]
        rows.append(row)
        if (k + 1) % 50 == 0:
            log(f"  {k + 1}/{len(examples)} spectra, "
                f"{time.time() - start:.0f} s")
    return rows


def _top1(rows, score, first: int = 0) -> float:
    """Share of all rows whose best candidate by ``score(row)`` is right
    (rows without candidates count as misses); with ``first``, only the
    engine's first candidates are reordered (the rest stay behind)."""
    return _changes(rows, score, first)[0]


def _changes(rows, score, first: int = 0) -> tuple:
    """(top-1 recall, fixes, breaks): fixes = spectra whose right peptide
    the score moves to the top, breaks = those it moves away from it."""
    hits = fixes = breaks = 0
    for r in rows:
        if "right" not in r:
            continue
        s = np.asarray(score(r), np.float64)
        n = len(s) if not first else min(first, len(s))
        k = int(np.argmax(s[:n]))
        now, before = bool(r["right"][k]), bool(r["right"][0])
        hits += now
        fixes += now and not before
        breaks += before and not now
    return hits / max(len(rows), 1), fixes, breaks


def _fit_weight(rows, term, first: int = 0) -> float:
    best = None
    for w in WEIGHTS:
        rec = _top1(rows, lambda r: r["engine"] + w * term(r), first)
        if best is None or rec > best[1] + 1e-12:
            best = (w, rec)
    return best[0]


def repairs(rows, t: int, first_only: bool) -> dict:
    """Residues repaired / broken by step t's argmax vs the draft."""
    right_d = right_a = repaired = broken = total = 0
    for r in rows:
        if "drafts" not in r:
            continue
        d = r["drafts"][:1] if first_only else r["drafts"]
        a = r["argmax"][t][:1] if first_only else r["argmax"][t]
        slots = (d != 0) & (d != END)
        truth = IL[r["truth"]][None]
        dr = (IL[d] == truth) & slots
        ar = (IL[a] == truth) & slots
        total += slots.sum()
        right_d += dr.sum()
        right_a += ar.sum()
        repaired += (ar & ~dr).sum()
        broken += (dr & ~ar).sum()
    total = max(int(total), 1)
    return {"draft_residue_accuracy": right_d / total,
            "refined_residue_accuracy": right_a / total,
            "repaired_of_wrong": repaired / max(total - right_d, 1),
            "broken_of_right": broken / max(right_d, 1),
            "repaired": int(repaired), "broken": int(broken),
            "residue_slots": total}


def summarise(rows, n_steps: int, weights: dict | None) -> dict:
    """Numbers of one set; ``weights`` fitted elsewhere (None: fit here)."""
    n = len(rows)
    listed = sum(any(r["right_listed"]) for r in rows) / max(n, 1)
    scored = [r for r in rows if "right" in r]
    engine_top1 = sum(bool(r["right_listed"] and r["right_listed"][0])
                      for r in rows) / max(n, 1)
    fit = weights is None
    weights = {} if weights is None else weights
    out = {"spectra": n, "with_candidates": len(scored),
           "candidates": int(sum(len(r["right"]) for r in scored)),
           "right_candidates": int(sum(r["right"].sum() for r in scored)),
           "too_long_dropped": int(sum(r["n_listed"] - len(r["keep"])
                                       for r in rows)),
           "list_recall": listed, "engine_top1": engine_top1,
           "engine_recall_at": {str(k): sum(any(r["right_listed"][:k])
                                            for r in rows) / max(n, 1)
                                for k in (1, 2, 3, 5, 10, 20, 50)},
           "engine_selection_efficiency": engine_top1 / max(listed, 1e-9),
           "steps": []}
    terms = {"verifier": lambda t: (lambda r: r["verify"][t]),
             "logp": lambda t: (lambda r: r["logp"][t])}
    if scored and "base_logp" in scored[0]:
        terms["baseline_logp"] = lambda t: (lambda r: r["base_logp"][t])
    for t in range(n_steps):
        step = {"step": t + 1}
        for name, make in terms.items():
            term = make(t)
            s = np.concatenate([term(r) for r in scored])
            y = np.concatenate([r["right"] for r in scored])
            within = [auc(term(r), r["right"]) for r in scored
                      if 0 < r["right"].sum() < len(r["right"])]
            key = f"{name}:{t}"
            if fit:
                weights[key] = _fit_weight(scored, term)
            w = weights[key]
            alone, fx_alone, br_alone = _changes(rows, term)
            combined, fx_comb, br_comb = _changes(
                rows, lambda r: r["engine"] + w * term(r))
            rerank = {}
            for first in RERANK_FIRST:
                fkey = f"{key}:first{first}"
                if fit:
                    weights[fkey] = _fit_weight(scored, term, first)
                wf = weights[fkey]
                top, fx, br = _changes(rows, term, first)
                ctop, cfx, cbr = _changes(
                    rows, lambda r: r["engine"] + wf * term(r), first)
                rerank[str(first)] = {
                    "top1_alone": top, "fixes_alone": fx,
                    "breaks_alone": br, "weight": wf,
                    "top1_combined": ctop, "fixes_combined": cfx,
                    "breaks_combined": cbr}
            step[name] = {
                "rerank_first": rerank,
                "auc_pooled": auc(s, y),
                "auc_within_list": float(np.mean(within)) if within
                else float("nan"),
                "lists_with_both": len(within),
                "top1_alone": alone,
                "fixes_alone": fx_alone, "breaks_alone": br_alone,
                "efficiency_alone": alone / max(listed, 1e-9),
                "weight": w,
                "top1_combined": combined,
                "fixes_combined": fx_comb, "breaks_combined": br_comb,
                "efficiency_combined": combined / max(listed, 1e-9)}
        slots_s = np.concatenate([r["residue"][t][(r["drafts"] != 0)
                                                  & (r["drafts"] != END)]
                                  for r in scored])
        slots_y = np.concatenate([
            (IL[r["drafts"]] == IL[r["truth"]][None])[
                (r["drafts"] != 0) & (r["drafts"] != END)]
            for r in scored])
        step["residue_head_auc"] = auc(slots_s, slots_y)
        step["repair_all_candidates"] = repairs(rows, t, False)
        step["repair_engine_first"] = repairs(rows, t, True)
        out["steps"].append(step)
    return out, weights


def _step_terms(s: dict):
    """``(step record, score name, its measurements)`` of a set's
    steps, for every score measured."""
    for st in s["steps"]:
        for term in ("verifier", "logp", "baseline_logp"):
            if term in st:
                yield st, term, st[term]


def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) \
        else f"{x:.3f}"


def markdown(report: dict) -> list[str]:
    lines = ["# The TRM as verifier: per-step measurements (issue 23)", "",
             f"`{report['command']}` — {report['date']}, "
             f"{report['machine']}, {report['seconds']:.0f} s.", "",
             f"Checkpoint `{report['checkpoint']}` (step "
             f"{report['checkpoint_step']}); baseline without head: "
             f"`{report['baseline']}`. Candidates: the engine's "
             f"evidence-mode list (top {report['top_k']}, engine order = "
             "the linear ranker's rank score). Weights w of "
             "`rank score + w x term` fitted per step on the train side "
             "(top-1 recall) and applied unchanged to dev.", ""]
    for name, s in report["sets"].items():
        lines += [f"## {name}", "",
                  f"{s['spectra']} spectra, {s['candidates']} candidates "
                  f"({s['right_candidates']} right; "
                  f"{s['too_long_dropped']} longer than the model's slots "
                  f"left out). Right peptide in the list: "
                  f"{_fmt(s['list_recall'])}; engine order top-1 "
                  f"{_fmt(s['engine_top1'])} (selection efficiency "
                  f"{_fmt(s['engine_selection_efficiency'])}). Engine "
                  "order, right peptide within the first N: " + ", ".join(
                      f"N={k} {_fmt(v)}"
                      for k, v in s["engine_recall_at"].items()) + ".", "",
                  "| step | score | AUC pooled | AUC within list | top-1 "
                  "alone (eff.) | w | top-1 rank+w·term (eff.) | "
                  "rank+w·term fixes/breaks |",
                  "|---|---|---|---|---|---|---|---|"]
        for st, term, v in _step_terms(s):
            lines.append(
                f"| {st['step']} | {term} | {_fmt(v['auc_pooled'])} | "
                f"{_fmt(v['auc_within_list'])} | "
                f"{_fmt(v['top1_alone'])} "
                f"({_fmt(v['efficiency_alone'])}) | {v['weight']:g} | "
                f"{_fmt(v['top1_combined'])} "
                f"({_fmt(v['efficiency_combined'])}) | "
                f"{v['fixes_combined']}/{v['breaks_combined']} |")
        lines += ["", "Reordering only the engine's first N candidates "
                  "(top-1 recall; fixes / breaks = spectra whose right "
                  "peptide the new order moves to the top / away from it):",
                  "", "| step | score | N | alone: top-1 (fixes/breaks) | "
                  "w | rank+w·term: top-1 (fixes/breaks) |",
                  "|---|---|---|---|---|---|"]
        for st, term, scores in _step_terms(s):
            for first, v in scores["rerank_first"].items():
                lines.append(
                    f"| {st['step']} | {term} | {first} | "
                    f"{_fmt(v['top1_alone'])} ({v['fixes_alone']}/"
                    f"{v['breaks_alone']}) | {v['weight']:g} | "
                    f"{_fmt(v['top1_combined'])} "
                    f"({v['fixes_combined']}/{v['breaks_combined']}) |")
        lines += ["", "| step | residue-head AUC | all candidates: draft → "
                  "refined residue acc., repaired of wrong, broken of right "
                  "| engine's first: draft → refined, repaired, broken |",
                  "|---|---|---|---|"]
        for st in s["steps"]:
            a, f = st["repair_all_candidates"], st["repair_engine_first"]
            lines.append(
                f"| {st['step']} | {_fmt(st['residue_head_auc'])} | "
                f"{_fmt(a['draft_residue_accuracy'])} → "
                f"{_fmt(a['refined_residue_accuracy'])}, "
                f"{_fmt(a['repaired_of_wrong'])}, "
                f"{_fmt(a['broken_of_right'])} | "
                f"{_fmt(f['draft_residue_accuracy'])} → "
                f"{_fmt(f['refined_residue_accuracy'])}, "
                f"{_fmt(f['repaired_of_wrong'])}, "
                f"{_fmt(f['broken_of_right'])} |")
        lines.append("")
    lines += ["Terms: `verifier` = the head's whole-draft logit; `logp` = "
              "the draft's mean log-probability (tokens + END, I = L) "
              "under the step's refined distribution, same checkpoint; "
              "`baseline_logp` = the same under the baseline model. "
              "Residue slots are the draft's; repaired = draft wrong, "
              "step's argmax right (positionally against the truth, "
              "I = L); broken = the reverse."]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path,
                        default=ROOT / "runs" / "verifier" / "last.ckpt")
    parser.add_argument("--baseline", type=Path,
                        help="checkpoint of a model without the head "
                             "(its draft log-probability is compared)")
    parser.add_argument("--train", type=Path, default=TRAIN_MGF)
    parser.add_argument("--dev", type=Path, default=DEV_CORE)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--limit", type=int, default=0,
                        help="first N spectra per set (0: all)")
    parser.add_argument("--cache", type=Path,
                        default=ROOT / "runs" / "verifier_candidates.pkl",
                        help="candidate lists are kept here between runs")
    parser.add_argument("--results", default="verifier")
    parser.add_argument("--candidates-only", action="store_true",
                        help="fill the candidate cache and stop")
    parser.add_argument("--scores", type=Path,
                        default=ROOT / "runs" / "verifier_scores.pkl",
                        help="per-candidate outputs are written here")
    parser.add_argument("--from-scores", action="store_true",
                        help="summarise the --scores file of an earlier "
                             "run (no model runs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.time()
    log = print
    model, cfg, extra = load_model_from_checkpoint(args.checkpoint)
    if not cfg.verifier:
        raise SystemExit(f"{args.checkpoint}: no verifier head")
    ckpt_step = torch.load(args.checkpoint, map_location="cpu",
                           weights_only=True).get("step")
    preprocess = PreprocessConfig.from_dict(extra["preprocess"])
    baseline = None
    if args.baseline is not None:
        bmodel, bcfg, bextra = load_model_from_checkpoint(args.baseline)
        baseline = (bmodel, PreprocessConfig.from_dict(bextra["preprocess"]))
    config = load_default().scorer.config
    train = [ex for ex in load_examples([args.train], config,
                                        fragmentation="HCD",
                                        keep_spectra=True)
             if ex.source not in MODEL_SOURCES]
    dev = load_examples([args.dev], config, keep_spectra=True)
    if args.limit:
        train, dev = train[:args.limit], dev[:args.limit]
    sets = {"train side (unseen sources)": train, "core dev": dev}
    cache = {}
    if args.cache.exists():
        cache = pickle.loads(args.cache.read_bytes())
    lists = {}
    for name, examples in sets.items():
        ck = (name, str(args.train if "train" in name else args.dev),
              args.top_k, len(examples))
        if ck not in cache:
            log(f"{name}: engine candidates for {len(examples)} spectra")
            cache[ck] = candidate_lists(examples, args.top_k)
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            args.cache.write_bytes(pickle.dumps(cache))
        lists[name] = cache[ck]
    if args.candidates_only:
        return
    if args.from_scores:
        scored = pickle.loads(args.scores.read_bytes())
    else:
        scored = {}
        for name, examples in sets.items():
            log(f"{name}: verifying")
            scored[name] = score_set(examples, lists[name], model,
                                     preprocess, cfg.max_length, baseline,
                                     log)
        args.scores.write_bytes(pickle.dumps(scored))
    train_name = "train side (unseen sources)"
    summary, weights = summarise(scored[train_name], cfg.steps, None)
    report_sets = {train_name: summary}
    held = [r for r in scored[train_name] if holdout(r["key"])]
    report_sets["train side, scorer's held-out slice"] = summarise(
        held, cfg.steps, weights)[0]
    report_sets["core dev"] = summarise(scored["core dev"], cfg.steps,
                                        weights)[0]
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": f"python benchmarks/verifier.py {argv_text}".strip(),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
              "machine": describe(), "seconds": time.time() - start,
              "checkpoint": str(args.checkpoint.relative_to(ROOT)
                                if args.checkpoint.is_absolute()
                                and ROOT in args.checkpoint.parents
                                else args.checkpoint),
              "checkpoint_step": ckpt_step,
              "baseline": str(args.baseline) if args.baseline else None,
              "top_k": args.top_k, "weights": weights,
              "sets": report_sets}
    md = write_results(args.results, report, markdown(report))
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
