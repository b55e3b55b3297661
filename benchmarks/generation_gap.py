"""The generation gap of the evidence search: truths never proposed.

    python benchmarks/real_split.py --mgf       # once: runs/real/*.mgf
    python benchmarks/generation_gap.py --search-width 4   # ~5 min, 2 cores
    python benchmarks/generation_gap.py --sets core --modes evidence

For every annotated dev spectrum (never trained on) the engine reports
its 50 best candidates (``DecodeConfig(top_k=50)``), in each mode asked
for (``evidence``: the search alone; ``hybrid``: the default, search and
model pooled). The truth is compared with the candidates by
:func:`denovo.core.peptide.peptide_key` (I = L, modifications ignored,
the key of the real split):

* **recall@1 / @5 / @all**: the truth is the top candidate / among the
  first five / anywhere among the 50 reported;
* **generation loss**: the truth is not among the candidates, yet its
  peak-once evidence rank score
  (:meth:`denovo.core.search.EvidenceSearch.rank_scores`, the same
  search object and peaks as the engine's, at the spectrum's charge) is
  higher than the reported top-1's evidence term (``terms["evidence"]``;
  in evidence mode that is the top-1's whole rank score, in hybrid mode
  only its evidence part: the truth's model term is not computed). Had
  the search proposed the truth, the evidence would have ranked it
  above the reported answer;
* **scoring loss**: not proposed, and scoring lower than (or equal to)
  the top-1: even proposed, the evidence would not have picked it;
* **nothing reported**: no candidate at all (the search found no
  peptide of the precursor mass), counted apart;
* **coverage gaps** of the truth: with its peak-once features
  (:func:`denovo.core.peak_once.peak_once_features` at the cleavages of
  :func:`denovo.core.search.cleavage_prefixes`) a cleavage is observed
  when a main b or y ion (``b1_hit``, ``y1_hit``, ``b2_hit``,
  ``y2_hit``) is found; a gap is the number of residues between two
  consecutive observed cleavages (the termini count as observed), so a
  fully covered peptide has gaps of 1. The search steps over one or two
  residues without a cleavage (three at either terminus), so a truth
  with a longer gap can only be proposed by the model (hybrid) or the
  wide fallback steps;
* the evidence stage's time per spectrum (``stage_seconds["evidence"]``).

``--search-width K`` also runs the evidence mode with ``K`` times the
search's width (``SearchConfig(paths_per_node=8 K, top_k=32 K)``) on the
core dev split: does a wider search recover the lost truths?

Writes ``benchmarks/results/generation_gap.{md,json}`` (``--results``
changes the stem).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, write_results  # noqa: E402

from denovo.core.decode import DecodeConfig  # noqa: E402
from denovo.core.evidence import FEATURE_NAMES  # noqa: E402
from denovo.core.peak_once import peak_once_features  # noqa: E402
from denovo.core.peptide import peptide_key  # noqa: E402
from denovo.core.search import SearchConfig, cleavage_prefixes  # noqa: E402

from evidence_search import REAL, ROOT, SETS  # noqa: E402
GROUPS = {"core": list(SETS)[:2], "all": list(SETS)[2:]}
CORE = "core dev (421)"
TOP_K = 50
MAIN_HITS = tuple(FEATURE_NAMES.index(n)
                  for n in ("b1_hit", "y1_hit", "b2_hit", "y2_hit"))
GAP_BINS = ("1", "2", "3", "4+")  # largest coverage gap, residues
REACH = {  # reach() -> label
    "steps": "within the steps",
    "order": "step in other order",
    "gap": "gap longer than a step",
}
COMPARED = {
    "evidence": "truth's peak-once rank score vs the top-1's rank score "
                "(evidence only in this mode)",
    "hybrid": "truth's peak-once evidence rank score vs the top-1's "
              "evidence term (terms['evidence']); the model term is "
              "left out of both",
}


# -- per spectrum -------------------------------------------------------
def coverage_gaps(observed, n_residues: int) -> list[int]:
    """Residues between consecutive observed cleavages, the termini
    counting as observed. ``observed[i]``: the cleavage after residue
    ``i + 1`` shows a main b or y ion (``n_residues - 1`` of them)."""
    cuts = [0] + [i + 1 for i, o in enumerate(observed) if o] \
        + [n_residues]
    return [b - a for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def truth_gaps(search, peaks, tokens, charge: int) -> tuple[list, str]:
    """Coverage gaps of the peptide ``tokens`` in ``peaks`` (the peaks of
    ``search.peaks``), from its peak-once features, and whether the
    search's steps could spell it (:func:`reach`)."""
    vocab = search.vocabulary
    ev = search.evidence
    idx = [vocab.index(t) for t in tokens]
    prefixes = cleavage_prefixes(tokens, vocab)
    feats = peak_once_features(
        peaks[0], peaks[1], prefixes, float(vocab.masses[idx].sum()),
        int(charge), float(ev.fragment_tol), ev.ppm,
        int(ev.max_fragment_charge))
    observed = (feats[:, list(MAIN_HITS)] > 0).any(axis=1).tolist()
    residues = [i for i in idx if not vocab.n_terminal[i]]
    gaps = coverage_gaps(observed, len(residues))
    merged = [vocab.index("L") if vocab.tokens[i].name == "I" else i
              for i in residues]
    return gaps, reach(gaps, merged)


def reach(gaps: list[int], residues: list[int]) -> str:
    """Whether the search's steps can spell a peptide whose residues
    (vocabulary indices, I as L) fall into these coverage gaps, leaving
    the pruning of the search aside: ``gap`` when a gap is longer than a
    step (two residues inside the peptide, three at either terminus;
    the wide inner steps of three, tried only where nothing else is
    found, are not counted), ``order`` when a step of several residues
    is in another order than the one the search writes (a step is a
    composition, spelled in vocabulary order: a truth ``BA`` across an
    unseen cleavage is never proposed, only ``AB``), else ``steps``."""
    out, start = "steps", 0
    for k, g in enumerate(gaps):
        terminal = k == 0 or k == len(gaps) - 1
        if g > (3 if terminal else 2):
            return "gap"
        seg = residues[start:start + g]
        if any(a > b for a, b in zip(seg, seg[1:], strict=False)):
            out = "order"
        start += g
    return out


def gap_bin(max_gap: int) -> str:
    return GAP_BINS[min(max(max_gap, 1), 4) - 1]


def outcome(rank: int | None, truth_score: float,
            top_score: float | None) -> str:
    """``generated`` (truth among the candidates), ``nothing`` (no
    candidate), ``generation`` (not proposed, would have outranked the
    top-1) or ``scoring`` (not proposed, no better than the top-1)."""
    if rank is not None:
        return "generated"
    if top_score is None:
        return "nothing"
    return "generation" if truth_score > top_score else "scoring"


def assess(engine, result) -> dict:
    """One spectrum's record: where the truth ranks among the reported
    candidates, its evidence score against the top-1's, its gaps."""
    s = result.spectrum
    truth = tuple(s.peptide)
    key = peptide_key(truth)
    keys = [peptide_key(m.candidate.tokens) for m in result.matches]
    rank = keys.index(key) + 1 if key in keys else None
    top = result.matches[0] if result.matches else None
    charge = int(s.charge or (top.charge if top is not None else 2))
    search = engine.ranker.search
    peaks = search.peaks(s.mz, s.intensity, s.precursor_mz)
    truth_score = float(search.rank_scores(peaks, [truth], charge)[0])
    top_score = None if top is None else float(top.terms["evidence"])
    reordered = bool(top is not None and rank != 1
                     and sorted(keys[0]) == sorted(key))
    gaps, reachable = truth_gaps(search, peaks, truth, charge)
    return {"title": s.title, "charge": charge, "truth": key,
            "rank": rank, "n_candidates": len(result.matches),
            "truth_evidence": round(truth_score, 3),
            "top1_evidence": None if top_score is None
            else round(top_score, 3),
            "max_gap": max(gaps, default=0), "reach": reachable,
            "top1_reordered": reordered,
            "outcome": outcome(rank, truth_score, top_score)}


# -- per set ------------------------------------------------------------
def share(n: int, total: int) -> float | None:
    return round(n / total, 3) if total else None


def losses(records: list[dict]) -> dict:
    """Recall and the split of the rest into the losses."""
    n = len(records)
    out = Counter(r["outcome"] for r in records)
    ranks = [r["rank"] for r in records if r["rank"] is not None]
    return {"n": n,
            "recall_1": share(sum(k == 1 for k in ranks), n),
            "recall_5": share(sum(k <= 5 for k in ranks), n),
            "recall_all": share(len(ranks), n),
            "generation_loss": share(out["generation"], n),
            # of it: the top-1 has the truth's residues in another order
            "generation_loss_reordered": share(sum(
                r["outcome"] == "generation" and r["top1_reordered"]
                for r in records), n),
            "scoring_loss": share(out["scoring"], n),
            "nothing_reported": share(out["nothing"], n)}


def summarise(records: list[dict]) -> dict:
    """A set's row: :func:`losses` overall, the share of truths whose
    gaps are all <= 2 residues (overall, generated, not generated), and
    :func:`losses` by precursor charge and by largest gap."""
    row = losses(records)
    generated = [r for r in records if r["rank"] is not None]
    missed = [r for r in records if r["rank"] is None]
    for name, part in (("", records), ("_generated", generated),
                       ("_not_generated", missed)):
        row[f"gaps_le2{name}"] = share(
            sum(r["max_gap"] <= 2 for r in part), len(part))
    lost = [r for r in records if r["outcome"] == "generation"]
    row["gaps_le2_generation_loss"] = share(
        sum(r["max_gap"] <= 2 for r in lost), len(lost))
    row["by_charge"] = {
        label: losses([r for r in records if pick(r["charge"])])
        for label, pick in (("1", lambda z: z == 1), ("2", lambda z: z == 2),
                            (">=3", lambda z: z >= 3))}
    row["by_max_gap"] = {
        b: losses([r for r in records if gap_bin(r["max_gap"]) == b])
        for b in GAP_BINS}
    row["by_reach"] = {
        label: losses([r for r in records if r["reach"] == key])
        for key, label in REACH.items()}
    return row


def read(path: Path) -> list:
    """Annotated spectra of ``path``."""
    from denovo.core.vocab import DEFAULT_VOCABULARY
    from denovo.io import read_annotated

    with read_annotated(path, vocabulary=DEFAULT_VOCABULARY) as reader:
        return [s for s in reader if s.peptide is not None]


def make_engine(mode: str, model: str, width: int = 1):
    from denovo.engine import Engine, ModelSession

    search = None if width == 1 else SearchConfig(
        paths_per_node=8 * width, top_k=32 * width)
    session = None if mode == "evidence" else ModelSession(model)
    return Engine(session, mode=mode, decode=DecodeConfig(top_k=TOP_K),
                  search=search)


def measure(engine, spectra: list) -> tuple[dict, list[dict]]:
    """Run ``engine`` over ``spectra``; the set's row and its records."""
    for stage in engine.stage_seconds:
        engine.stage_seconds[stage] = 0.0
    start = time.perf_counter()
    results = list(engine.run(spectra))
    seconds = time.perf_counter() - start
    records = [assess(engine, r) for r in results]
    row = summarise(records)
    n = max(len(spectra), 1)
    row["seconds"] = round(seconds, 1)
    row["evidence_ms_per_spectrum"] = round(
        1000 * engine.stage_seconds["evidence"] / n, 2)
    row["model_ms_per_spectrum"] = round(
        1000 * engine.stage_seconds["model"] / n, 2)
    return row, records


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=("core", "all"),
                        default=["core", "all"],
                        help="core dev and/or all dev, each with its "
                        "unseen subset")
    parser.add_argument("--modes", nargs="+", choices=("evidence", "hybrid"),
                        default=["evidence", "hybrid"])
    parser.add_argument("--search-width", type=int, default=None,
                        metavar="K", help="also the evidence mode with K "
                        "times the search width, on core dev")
    parser.add_argument("--model", default="default")
    parser.add_argument("--results", default="generation_gap",
                        help="stem of the files in benchmarks/results/")
    parser.add_argument("--per-spectrum", action="store_true",
                        help="keep every spectrum's record in the JSON")
    args = parser.parse_args()
    labels = [label for g in args.sets for label in GROUPS[g]]
    missing = [SETS[x] for x in labels if not (REAL / SETS[x]).exists()]
    if missing:
        sys.exit(f"missing {missing} in {REAL}: run python "
                 "benchmarks/real_split.py --mgf")
    report = {"command": "python " + " ".join(sys.argv),
              "date": datetime.now(timezone.utc).isoformat(
                  timespec="seconds"),
              "machine": describe(), "commit": git_commit(),
              "model": args.model, "top_k": TOP_K, "compared": COMPARED,
              "rows": []}
    spectra = {x: read(REAL / SETS[x]) for x in labels}
    runs = [(mode, 1) for mode in args.modes]
    if args.search_width and args.search_width != 1:
        runs.append(("evidence", args.search_width))
    for mode, width in runs:
        engine = make_engine(mode, args.model, width)
        list(engine.run(spectra[labels[0]][:8]))  # JIT and threads warm
        targets = labels if width == 1 else [CORE]
        for label in targets:
            row, records = measure(engine, spectra[label])
            row.update(set=label, mode=mode, width=width)
            if args.per_spectrum:
                row["spectra"] = records
            report["rows"].append(row)
            print(f"{label:<28} {mode:<8} x{width}  @1 {row['recall_1']:.3f}"
                  f"  @all {row['recall_all']:.3f}  generation loss "
                  f"{row['generation_loss']:.3f}  scoring loss "
                  f"{row['scoring_loss']:.3f}  ({row['seconds']} s)",
                  flush=True)
    write(report, args.results)


# -- output -------------------------------------------------------------
def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _f(x) -> str:
    return "" if x is None else f"{x:.3f}"


def mode_name(r: dict) -> str:
    return r["mode"] if r["width"] == 1 else \
        f"{r['mode']}, search x{r['width']}"


def table(report: dict) -> list[str]:
    lines = ["| dev set | mode | spectra | recall@1 | recall@5 | "
             "recall@all | generation loss % | of it, top-1 reordered % | "
             "scoring loss % | nothing % | gaps <= 2 % (all / generated / "
             "not / generation loss) | evidence ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        gaps = " / ".join(_pct(r[k]) for k in (
            "gaps_le2", "gaps_le2_generated", "gaps_le2_not_generated",
            "gaps_le2_generation_loss"))
        lines.append(
            f"| {r['set']} | {mode_name(r)} | {r['n']} | "
            f"{_f(r['recall_1'])} | {_f(r['recall_5'])} | "
            f"{_f(r['recall_all'])} | {_pct(r['generation_loss'])} | "
            f"{_pct(r['generation_loss_reordered'])} | "
            f"{_pct(r['scoring_loss'])} | {_pct(r['nothing_reported'])} | "
            f"{gaps} | {r['evidence_ms_per_spectrum']} |")
    return lines


def split_table(report: dict, key: str, title: str) -> list[str]:
    lines = [f"| dev set | mode | {title} | spectra | recall@1 | "
             "recall@all | generation loss % | of it, top-1 reordered % | "
             "scoring loss % | nothing % |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        for label, part in r[key].items():
            if not part["n"]:
                continue
            lines.append(
                f"| {r['set']} | {mode_name(r)} | {label} | {part['n']} | "
                f"{_f(part['recall_1'])} | {_f(part['recall_all'])} | "
                f"{_pct(part['generation_loss'])} | "
                f"{_pct(part['generation_loss_reordered'])} | "
                f"{_pct(part['scoring_loss'])} | "
                f"{_pct(part['nothing_reported'])} |")
    return lines


def write(report: dict, stem: str = "generation_gap") -> None:
    lines = ["# Generation gap of the evidence search on the dev split", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}, commit "
             f"{(report.get('commit') or 'unknown')[:10]}); model "
             f"`{report['model']}`, {report['top_k']} candidates reported "
             "per spectrum. Dev spectra are never trained on; 'unseen' "
             "keeps those whose peptide is in no training source. The "
             "truth matches a candidate by `peptide_key` (I = L, "
             "modifications ignored).", "",
             "* **recall@k**: truth among the k best candidates (@all: "
             f"among the {report['top_k']} reported);",
             "* **generation loss**: truth not among the candidates, yet "
             "its peak-once evidence rank score is higher than the "
             "reported top-1's: the search never proposed a peptide the "
             "evidence prefers. Compared: evidence mode, the "
             "top-1's rank score (evidence alone); hybrid mode, the "
             "top-1's *evidence term* (`terms['evidence']`), the "
             "model term left out of both;",
             "* **scoring loss**: not proposed and scoring lower or equal "
             "(the evidence would not have picked it); **nothing**: no "
             "candidate reported; **top-1 reordered**: the part of the "
             "generation loss where the reported top-1 holds the truth's "
             "residues in another order (shares of all spectra);",
             "* **gaps <= 2**: share of truths whose every coverage gap "
             "(residues between consecutive cleavages with a main b or y "
             "ion, peak-once features; termini count as observed) is at "
             "most 2 residues — what the search's steps span inside a "
             "peptide — among all spectra, those whose truth was "
             "generated, those whose truth was not, and those lost to "
             "generation;",
             "* evidence ms: the engine's evidence stage per spectrum "
             "(search and ranking; ranking and per-residue scores of "
             f"{report['top_k']} candidates instead of one make it slower "
             "than in `evidence_search.md`).", ""]
    lines += table(report)
    lines += ["", "Split by precursor charge:", ""]
    lines += split_table(report, "by_charge", "charge")
    lines += ["", "Split by the truth's largest coverage gap (residues):",
              ""]
    lines += split_table(report, "by_max_gap", "largest gap")
    lines += ["", "Split by whether the search's steps can spell the "
              "truth at all (pruning aside): *within the steps*; *step "
              "in other order*: a step of 2-3 residues over unseen "
              "cleavages whose residues are not in the vocabulary order "
              "the search writes a step in (it writes `AB` for `BA`); "
              "*gap longer than a step*: an unseen stretch of more than "
              "2 residues inside (3 at a terminus). Generation loss "
              "*within the steps* is the search's pruning (paths per "
              "node, peptides kept).", ""]
    lines += split_table(report, "by_reach", "truth vs the steps")
    out = write_results(stem, report, lines)
    print("\n".join(table(report)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
