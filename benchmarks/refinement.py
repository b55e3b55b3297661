"""Does the recursion refine? Per-step accuracy of draft-conditioned TRMs.

    python benchmarks/refinement.py --checkpoint draft=runs/draft/last.ckpt
    python benchmarks/refinement.py --checkpoint ref=A.ckpt \\
        --checkpoint blank=B.ckpt ... --results refinement_ablations

For every annotated dev spectrum (never trained on) the evidence search's
best-ranked peptide is the draft, as in the engine (spectra where the search
finds nothing are left out). Each model refines it over its T steps; per
step t the argmax answer is compared slot by slot with the truth (I = L):

* residue accuracy: share of the truth's residue slots holding the true
  residue (step 0 is the draft itself);
* fixed / broken: slots wrong at step t - 1 and right at t, and the
  reverse, as a share of the truth's residue slots (a step helps when it
  fixes more than it breaks);
* peptide accuracy: the whole argmax answer (residues and END) right.

The same is measured from a blank draft (the model alone). A model that
takes no drafts gets the blank rows only. Writes
``benchmarks/results/<results>.{md,json}`` (default ``refinement``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402

from denovo.core.constants import PROTON  # noqa: E402
from denovo.core.preprocess import PreprocessConfig  # noqa: E402
from denovo.core.settings import load_default  # noqa: E402
from denovo.engine.ranking import Ranker  # noqa: E402
from denovo.engine.rows import Row  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB, END  # noqa: E402
from denovo_training.checkpoint import load_model_from_checkpoint  # noqa: E402
from denovo_training.data.batch import from_spectra, to_arrays  # noqa: E402

SETS = {"core dev": "runs/real/dev_core.mgf",
        "all dev": "runs/real/dev.mgf"}


def read(path: Path) -> list:
    """Annotated, charged spectra of ``path``."""
    from denovo.io import read_annotated

    with read_annotated(path, vocabulary=VOCAB) as reader:
        return [s for s in reader if s.peptide is not None and s.charge]


def search_drafts(spectra, max_length: int) -> list:
    """The search's best-ranked peptide per spectrum, as the engine's
    first draft (None when it finds none that fits the model's slots)."""
    ranker = Ranker.build(VOCAB, load_default())
    drafts = []
    for s in spectra:
        row = Row(0, s, s.charge, (s.precursor_mz - PROTON) * s.charge,
                  ranker.search.peaks(s.mz, s.intensity, s.precursor_mz))
        ranker.find(row)
        found = [f for f in row.found if len(f.tokens) <= max_length]
        drafts.append(found[0].tokens if found else None)
    return drafts


def _as_l(ids: np.ndarray) -> np.ndarray:
    out = ids.copy()
    out[out == VOCAB.index("I")] = VOCAB.index("L")
    return out


def step_answers(model, spectra, drafts, preprocess, max_length: int,
                 batch: int = 64) -> np.ndarray:
    """Argmax token ids (T, N, L) of every step; ``drafts`` token tuples
    (empty = blank) or None for a model without drafts."""
    out = []
    for lo in range(0, len(spectra), batch):
        part = spectra[lo:lo + batch]
        arrays = to_arrays(from_spectra(part), preprocess=preprocess,
                           max_length=max_length)
        inputs = [torch.from_numpy(np.ascontiguousarray(arrays[k]))
                  for k in ("mz", "intensity", "mask", "precursor_mass",
                            "charge")]
        extra = {}
        if drafts is not None:
            ids = np.zeros((len(part), max_length + 1), np.int64)
            for i, d in enumerate(drafts[lo:lo + batch]):
                if d:
                    ids[i] = VOCAB.encode(d, max_length)
            extra["draft"] = torch.from_numpy(ids)
        with torch.no_grad():
            lp = model(*inputs, **extra)  # (T, B, L, V)
        out.append(lp.argmax(-1).numpy())
    return np.concatenate(out, axis=1)


def score_steps(answers: np.ndarray, truth: np.ndarray,
                start: np.ndarray | None) -> list[dict]:
    """Per-step accuracy, fixes and breaks; ``start`` (N, L) is step 0
    (the draft) or None (blank: step 1 has nothing to compare with)."""
    truth = _as_l(truth)
    residue = (truth != END) & (truth != 0)  # the truth's residue slots
    whole = truth != 0  # residues and END
    n_res = residue.sum()
    rows = []
    prev = None if start is None else _as_l(start)
    if prev is not None:
        rows.append({"step": 0, "residue_accuracy": float(
            ((prev == truth) & residue).sum() / n_res),
            "peptide_accuracy": float(
                ((prev == truth) | ~whole).all(axis=1).mean())})
    for t in range(answers.shape[0]):
        cur = _as_l(answers[t])
        row = {"step": t + 1,
               "residue_accuracy": float(((cur == truth) & residue).sum()
                                         / n_res),
               "peptide_accuracy": float(
                   ((cur == truth) | ~whole).all(axis=1).mean())}
        if prev is not None:
            was, now = prev == truth, cur == truth
            row["fixed"] = float((~was & now & residue).sum() / n_res)
            row["broken"] = float((was & ~now & residue).sum() / n_res)
        rows.append(row)
        prev = cur
    return rows


def evaluate(label: str, path: Path, sets: dict) -> dict:
    model, cfg, extra = load_model_from_checkpoint(path)
    preprocess = PreprocessConfig(**(extra["preprocess"] or {}))
    max_length = cfg.max_length
    result = {"label": label, "checkpoint": str(path),
              "step": extra["provenance"].get("step"),
              "T": cfg.steps, "takes_draft": bool(cfg.draft), "sets": {}}
    for name, (spectra, drafts) in sets.items():
        keep = [i for i, d in enumerate(drafts) if d is not None]
        sub = [spectra[i] for i in keep]
        truth = np.stack([VOCAB.encode(tuple(s.peptide)[:max_length],
                                       max_length) for s in sub])
        entry = {"n_spectra": len(sub)}
        if cfg.draft:
            d = [drafts[i] for i in keep]
            start = np.stack([VOCAB.encode(x, max_length) for x in d])
            entry["draft"] = score_steps(
                step_answers(model, sub, d, preprocess, max_length),
                truth, start)
        blank = [()] * len(sub) if cfg.draft else None
        entry["blank"] = score_steps(
            step_answers(model, sub, blank, preprocess, max_length),
            truth, None)
        result["sets"][name] = entry
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", required=True,
                        metavar="LABEL=PATH")
    parser.add_argument("--results", default="refinement")
    parser.add_argument("--sets", nargs="+", default=list(SETS),
                        choices=list(SETS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    sets = {}
    for name in args.sets:
        spectra = [s for s in read(ROOT / SETS[name])
                   if len(s.peptide) <= 30]
        sets[name] = (spectra, search_drafts(spectra, 30))
    report = {"command": "python " + " ".join(sys.argv),
              "date": datetime.now(timezone.utc).isoformat(
                  timespec="seconds"),
              "machine": describe(), "models": []}
    for item in args.checkpoint:
        label, _, path = item.partition("=")
        report["models"].append(evaluate(label, Path(path), sets))
    report["seconds"] = round(time.time() - start, 1)
    write(report, args.results)


def write(report: dict, stem: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1)
                                          + "\n")
    lines = ["# Refinement per step on dev drafts", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}). Drafts: the evidence search's "
             "best-ranked peptide per dev spectrum (spectra where it "
             "finds none left out); step 0 is the draft. Slot-by-slot "
             "against the truth, I = L; fixed/broken: share of the "
             "truth's residues changed from wrong to right / right to "
             "wrong by that step.", "",
             "| model | dev set | draft | step | residue accuracy | "
             "fixed | broken | peptide accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for m in report["models"]:
        for name, entry in m["sets"].items():
            for kind in ("draft", "blank"):
                for r in entry.get(kind, []):
                    fixed = r.get("fixed")
                    broken = r.get("broken")
                    lines.append(
                        f"| {m['label']} (T={m['T']}) | {name} "
                        f"({entry['n_spectra']}) | {kind} | {r['step']} | "
                        f"{r['residue_accuracy']:.3f} | "
                        f"{'' if fixed is None else f'{fixed:.3f}'} | "
                        f"{'' if broken is None else f'{broken:.3f}'} | "
                        f"{r['peptide_accuracy']:.3f} |")
    out = RESULTS / f"{stem}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
