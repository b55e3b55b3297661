"""Accuracy and speed of the autoregressive (AR) baseline on annotated spectra.

    python benchmarks/autoregressive_baseline.py \\
        --checkpoint runs/ar/last.ckpt --mgf runs/real/dev_core.mgf

Loads the checkpoint's model (EMA weights when stored), preprocesses every
annotated spectrum with the checkpoint's preprocessing settings (as in
training), decodes greedily (beam 1) and with a 5-wide beam that prefers
peptides of the precursor's mass (20 ppm, isotope errors 0/1), and scores
the predictions with ``denovo evaluate``'s rules (Casanovo's mass
matching, I = L; exact matching, where only I/L may differ, as a second
peptide recall). Every annotated spectrum counts; the score ranking the
precision-coverage curve (AUC) is the mean token log-prob. Speed is
spectra per second of preprocessing plus decoding (file reading
excluded) on ``--threads`` threads.

Writes ``benchmarks/results/<results>.{md,json}`` (default
``autoregressive_baseline``) and prints the markdown table.
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

from denovo.core.constants import H2O  # noqa: E402
from denovo.core.preprocess import PreprocessConfig  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary  # noqa: E402
from denovo.evaluate.metrics import compute_metrics  # noqa: E402
from denovo_training.autoregressive import (AutoregressiveModel,  # noqa: E402
                                            peptide_mass_matches)
from denovo_training.checkpoint import load_model_from_checkpoint  # noqa: E402
from denovo_training.data.batch import from_spectra, to_arrays  # noqa: E402


def read(mgf: Path, vocabulary: Vocabulary) -> list:
    """Every annotated spectrum of ``mgf`` (the evaluation set)."""
    from denovo.io import read_annotated

    with read_annotated(mgf, vocabulary=vocabulary) as reader:
        return [s for s in reader if s.peptide is not None]


def decode(model: AutoregressiveModel, spectra: list, preprocess, *,
           beam: int, batch_size: int, vocabulary: Vocabulary) -> dict:
    """Predictions, scores, mass agreement and timing of one setting."""
    preds, scores, matched = [None] * len(spectra), [None] * len(spectra), []
    usable = [i for i, s in enumerate(spectra)
              if s.status == "ok" and s.charge and len(s.mz)]
    longest = max(len(s.peptide) for s in spectra)
    start = time.perf_counter()
    for lo in range(0, len(usable), batch_size):
        idx = usable[lo:lo + batch_size]
        arrays = to_arrays(from_spectra([spectra[i] for i in idx]),
                           preprocess=preprocess,
                           max_length=max(longest, model.cfg.max_length),
                           vocabulary=vocabulary)
        inputs = {k: torch.from_numpy(np.ascontiguousarray(arrays[k]))
                  for k in ("mz", "intensity", "mask", "precursor_mass",
                            "charge")}
        ids, score = model.generate(**inputs, beam=beam)
        mass = torch.from_numpy(np.array(vocabulary.masses))[ids].sum(-1) + H2O
        ok = peptide_mass_matches(mass, inputs["precursor_mass"].double())
        for j, i in enumerate(idx):
            preds[i] = vocabulary.decode(ids[j].tolist())
            scores[i] = float(score[j])
        matched += ok.tolist()
    seconds = time.perf_counter() - start
    return {"predictions": preds, "scores": scores, "seconds": seconds,
            "n_decoded": len(usable),
            "mass_matched": float(np.mean(matched)) if matched else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path,
                        default=ROOT / "runs" / "ar" / "last.ckpt")
    parser.add_argument("--mgf", type=Path,
                        default=ROOT / "runs" / "real" / "dev_core.mgf")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice)")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N spectra only (smoke tests)")
    parser.add_argument("--results", default="autoregressive_baseline",
                        help="stem of the result files")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg, extra = load_model_from_checkpoint(args.checkpoint)
    if not isinstance(model, AutoregressiveModel):
        sys.exit(f"{args.checkpoint}: model kind {cfg.kind!r}, not "
                 "autoregressive")
    preprocess = (PreprocessConfig(**extra["preprocess"])
                  if extra.get("preprocess") else PreprocessConfig())
    vocabulary = (Vocabulary.from_dict(extra["vocabulary"])
                  if extra.get("vocabulary") else DEFAULT_VOCABULARY)
    spectra = read(args.mgf, vocabulary)[:args.limit]
    if not spectra:
        sys.exit(f"{args.mgf}: no annotated spectra")
    truths = [tuple(s.peptide) for s in spectra]
    report = {"command": "python " + " ".join(sys.argv),
              "date": datetime.now(timezone.utc).isoformat(
                  timespec="seconds"),
              "machine": describe(), "threads": torch.get_num_threads(),
              "checkpoint": str(args.checkpoint),
              "used_ema": extra["used_ema"], "mgf": str(args.mgf),
              "n_parameters": model.n_parameters(),
              "model_config": {k: getattr(cfg, k) for k in (
                  "dim", "heads", "encoder_layers", "core_layers",
                  "max_length")},
              "rows": []}
    for beam in args.beams:
        out = decode(model, spectra, preprocess, beam=beam,
                     batch_size=args.batch_size, vocabulary=vocabulary)
        mass = compute_metrics(out["predictions"], truths, out["scores"],
                               vocabulary=vocabulary)
        exact = compute_metrics(out["predictions"], truths, out["scores"],
                                exact=True, vocabulary=vocabulary)
        row = {"beam": beam, **mass.summary(),
               "peptide_recall_exact": exact.peptide_recall,
               "mass_matched": out["mass_matched"],
               "seconds": round(out["seconds"], 2),
               "spectra_per_s": round(out["n_decoded"]
                                      / max(out["seconds"], 1e-9), 1)}
        report["rows"].append(row)
    write(report, args.results)


def write(report: dict, stem: str) -> None:
    lines = [
        "# Autoregressive baseline", "",
        f"`{report['command']}` on {report['date']} ({report['machine']}, "
        f"{report['threads']} torch threads); checkpoint "
        f"`{report['checkpoint']}` ({'EMA' if report['used_ema'] else 'raw'}"
        f" weights, {report['n_parameters']:,} parameters, "
        + ", ".join(f"{k} {v}" for k, v in report["model_config"].items())
        + f"), spectra `{report['mgf']}`. Mass "
        "matching as `denovo evaluate` (Casanovo's rules, I = L); "
        "'exact' allows only I/L to differ. 'mass ok': share of "
        "predictions within 20 ppm (isotope 0/1) of the precursor. "
        "Beams > 1 prefer peptides of the precursor's mass.", "",
        "| beam | spectra | AA precision | AA recall | peptide recall | "
        "peptide recall (exact) | AUC | mass ok | spectra/s |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(
            f"| {r['beam']} | {r['n_spectra']} | {r['aa_precision']:.3f} | "
            f"{r['aa_recall']:.3f} | {r['peptide_recall']:.3f} | "
            f"{r['peptide_recall_exact']:.3f} | {r['auc']:.3f} | "
            f"{r['mass_matched']:.3f} | {r['spectra_per_s']} |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1)
                                          + "\n")
    print(text)
    print(f"wrote {RESULTS / stem}.md/.json")


if __name__ == "__main__":
    main()
