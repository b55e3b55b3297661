"""Smaller, faster variants of one model: fp16, int8, early exit.

    python benchmarks/real_split.py --mgf       # once: runs/real/dev.mgf
    python benchmarks/model_variants.py --checkpoint runs/default/last.ckpt

From one training checkpoint, exports the fp32 model (the reference),
its fp16 and int8 (dynamic quantisation) variants, and early-exit
variants that stop refining after k < T steps (the same weights, a graph
with fewer steps). Each runs ``denovo sequence``'s library path on the
real dev split at beam 5 with mass control; reported are end-to-end
spectra/s (median of ``--repeats`` runs, variants interleaved so machine
noise hits all alike; ratio to fp32 from the same run), file size and the
dev metrics of ``denovo evaluate`` with their change against fp32.

Also reported, for adaptive early exit (stop a spectrum once its answer
stops changing): the share of dev spectra whose per-slot best tokens at
step k already equal those of the last step. Writes
``benchmarks/results/model_variants.{md,json}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

from dev_run import dev_metrics, sequence_timed
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def export_variants(checkpoint: Path, work: Path) -> dict[str, Path]:
    """fp32 + fp16 + int8 of the full model, and k-step early exits."""
    from denovo.core.vocab import Vocabulary
    from denovo_export.onnx_export import export_onnx
    from denovo_training.checkpoint import load_model_from_checkpoint

    model, cfg, extra = load_model_from_checkpoint(checkpoint)
    vocab = Vocabulary.from_dict(extra["vocabulary"])
    kwargs = dict(preprocess=extra["preprocess"], vocabulary=vocab,
                  provenance=extra["provenance"])
    files = {f"fp32, T={cfg.steps}": work / "fp32.onnx"}
    report = export_onnx(model, files[f"fp32, T={cfg.steps}"],
                         variants=("fp16", "int8"), **kwargs)
    for kind, info in report.variants.items():
        files[f"{kind}, T={cfg.steps}"] = Path(info["path"])
    for k in range(1, cfg.steps):
        model.cfg = dataclasses.replace(cfg, steps=k)
        files[f"fp32, exit after T={k}"] = work / f"exit{k}.onnx"
        export_onnx(model, files[f"fp32, exit after T={k}"], **kwargs)
    model.cfg = cfg
    return files


def settled_share(checkpoint: Path, dev: Path) -> list[float]:
    """Share of spectra whose best tokens at step k equal the last step's."""
    import numpy as np
    import torch

    from denovo_export.onnx_export import spectra_batch
    from denovo_training.checkpoint import load_model_from_checkpoint

    model, _, extra = load_model_from_checkpoint(checkpoint)
    feed = spectra_batch(dev, extra["preprocess"], limit=None)
    with torch.no_grad():
        steps = model(**{k: torch.from_numpy(v) for k, v in feed.items()})
    best = steps.argmax(-1).numpy()  # (T, B, L)
    return [float(np.mean((best[k] == best[-1]).all(-1)))
            for k in range(best.shape[0])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--dev", type=Path,
                    default=ROOT / "runs" / "real" / "dev.mgf")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path,
                    default=ROOT / "runs" / "model_variants")
    args = ap.parse_args()
    if not args.dev.is_file():
        sys.exit(f"{args.dev} not found: run "
                 "`python benchmarks/real_split.py --mgf` first")
    args.work.mkdir(parents=True, exist_ok=True)
    files = export_variants(args.checkpoint, args.work)
    for path in files.values():  # JIT and session warm-up
        sequence_timed(path, args.dev, args.work / "warmup.csv")
    seconds: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(args.repeats):
        for name, path in files.items():
            csv_out = args.work / f"{path.stem}.csv"
            seconds[name].append(sequence_timed(path, args.dev, csv_out))
    rows = []
    for name, path in files.items():
        metrics = dev_metrics(args.work / f"{path.stem}.csv", args.dev)
        rows.append({"variant": name,
                     "mb": path.stat().st_size / 1e6,
                     "seconds": statistics.median(seconds[name]),
                     "all_seconds": seconds[name],
                     "n_spectra": metrics["n_spectra"],
                     **{k: metrics[k] for k in ("aa_precision", "aa_recall",
                                                "peptide_recall", "auc")}})
    ref = rows[0]
    settled = settled_share(args.checkpoint, args.dev)
    report = {"command": "python " + " ".join(sys.argv),
              "date": datetime.now(timezone.utc).isoformat(
                  timespec="seconds"),
              "machine": describe(), "checkpoint": str(args.checkpoint),
              "rows": rows, "settled_share_by_step": settled}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_variants.json").write_text(
        json.dumps(report, indent=1) + "\n")
    lines = [
        "# Model variants: fp16, int8, early exit", "",
        f"`{report['command']}` on {report['date']} ({report['machine']})."
        f" Real dev split, {ref['n_spectra']} spectra, beam 5, mass "
        f"control; median of {args.repeats} interleaved runs.", "",
        "| variant | MB | spectra/s | speed vs fp32 | AA precision "
        "(change) | AA recall | peptide recall (change) | AUC |",
        "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rate = r["n_spectra"] / r["seconds"]
        lines.append(
            f"| {r['variant']} | {r['mb']:.1f} | {rate:.0f} | "
            f"{ref['seconds'] / r['seconds']:.2f}x | "
            f"{r['aa_precision']:.3f} "
            f"({r['aa_precision'] - ref['aa_precision']:+.3f}) | "
            f"{r['aa_recall']:.3f} | {r['peptide_recall']:.3f} "
            f"({r['peptide_recall'] - ref['peptide_recall']:+.3f}) | "
            f"{r['auc']:.3f} |")
    lines += ["", "Adaptive early exit: share of dev spectra whose best "
              "token per slot at step k already equals the last step's "
              "(those could stop after step k):", "",
              "| step | " + " | ".join(str(k + 1) for k in
                                       range(len(settled))) + " |",
              "|---" * (len(settled) + 1) + "|",
              "| settled | " + " | ".join(f"{s:.2f}" for s in settled)
              + " |"]
    (RESULTS / "model_variants.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
