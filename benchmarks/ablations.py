"""Ablations of the training recipe on an equal budget of steps.

Each variant is the default recipe (``configs/default.yaml``) with one
change, trained for the first ``--stop-at`` steps of the recipe's own
schedule (``denovo train --stop-at``: the learning rate is the one of the
whole recipe, so the baseline's run at that step is a fair reference).
Variants: T=1 (no refinement), mass feedback (slots see the ions of the
current answer), no spectrum loss, no precursor-mass loss, the basic
generator instead of the realistic one (no MS2PIP library, no fitted noise
model; real spectra are mixed in as in the baseline), and a tiny model
(width 64, one encoder and one core layer) for the accuracy-speed
trade-off. Every run validates on held-out
synthetic spectra (basic and realistic generator, peptides never trained
on) and on the real dev split (``--val``; model-level metrics with the
predicted length); the checkpoint at ``--stop-at`` is then exported and
run through ``denovo sequence`` (beam 5, mass control; spectra/s median
of 3 runs) and ``denovo evaluate`` on the first ``--val`` file. Writes
``benchmarks/results/<--results>.md`` and ``.json`` (default
``ablations``), with the variants of ``--only`` (default: all).

    python benchmarks/real_split.py --mgf       # runs/real/{train,dev}.mgf
    python benchmarks/ablations.py --val runs/real/dev.mgf

A longer run of the same recipe can stand in for a variant
(``--reuse baseline=runs/default``) when it validated at ``--stop-at``;
its engine metrics need ``step<stop-at>.ckpt`` in that run directory.
A variant whose run stopped early is resumed from its ``last.ckpt``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

VARIANTS = {
    "baseline": [],
    "t1": ["model.steps=1"],
    "mass_feedback": ["model.mass_feedback=true"],
    "no_spectrum_loss": ["loss.spectrum_weight=0",
                         "curriculum.*.loss.spectrum_weight=0"],
    "no_precursor_loss": ["loss.mass_weight=0",
                          "curriculum.*.loss.mass_weight=0"],
    "basic_generator": ["curriculum.*.realistic_fraction=0"],
    "tiny": ["model.dim=64", "model.encoder_layers=1", "model.core_layers=1",
             "model.mz_frequencies=32"],
}

NOTE = (
    '"Realistic" and "synthetic" are held-out simulated spectra (256 each, '
    "peptides never trained on), \"real dev\" the dev-split spectra "
    "(model-level, greedy, predicted length); the engine columns run "
    "`denovo sequence` (beam 5, mass control) and `denovo evaluate` on "
    "them. s/step is wall time as logged and depends on what shared the "
    "machine, so compare it only between rows run alike. One seed per "
    "row: differences of about 0.01 are not distinguishable from noise "
    "here. — marks a metric the run did not record (basic-generator runs "
    "made before the trainer built the realistic validation set for "
    "every run with a library).")

COLUMNS = [  # (metrics key, header)
    ("val_token_accuracy", "synthetic token acc"),
    ("val_realistic_token_accuracy", "realistic token acc"),
    ("val_realistic_step1_token_accuracy", "realistic step-1 token acc"),
    ("val_realistic_length_accuracy", "realistic length acc"),
    ("val_realistic_precursor_match", "realistic within tol"),
    ("real_token_accuracy", "real dev token acc"),
    ("real_length_accuracy", "real dev length acc"),
    ("real_sequence_accuracy", "real dev seq acc"),
    ("real_precursor_match", "real dev within tol"),
    ("aa_precision", "dev AA precision (engine)"),
    ("peptide_recall", "dev peptide recall (engine)"),
    ("auc", "dev AUC (engine)"),
    ("spectra_per_s", "dev spectra/s (engine)"),
]


def train_variant(name: str, config: Path, out: Path, stop_at: int,
                  val: list[str]) -> subprocess.Popen:
    """Start one variant's training run in the background."""
    cmd = ["denovo", "train", "--config", str(config), "--out", str(out),
           "--stop-at", str(stop_at), "--no-progress"]
    if checkpoint_step(out / "last.ckpt") is not None:
        cmd += ["--resume", str(out / "last.ckpt")]
    for item in VARIANTS[name]:
        cmd += ["--set", item]
    for path in val:
        cmd += ["--val", path]
    env = {**os.environ, "OMP_NUM_THREADS":
           os.environ.get("OMP_NUM_THREADS", "1")}
    log = open(f"{out}.log", "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=env)


def checkpoint_step(path: Path) -> int | None:
    """Training step of a checkpoint, or None when there is none."""
    if not path.is_file():
        return None
    import torch

    return int(torch.load(path, map_location="cpu",
                          weights_only=True)["step"])


def engine_metrics(run: Path, stop_at: int, dev: Path) -> dict:
    """Export the checkpoint at ``stop_at``, sequence and evaluate ``dev``."""
    from dev_run import dev_metrics, sequence_timed
    from denovo_export.onnx_export import export_onnx

    ckpt = next((c for c in (run / f"step{stop_at}.ckpt",
                             run / "last.ckpt")
                 if checkpoint_step(c) == stop_at), None)
    if ckpt is None:
        return {}
    onnx_path = run / f"step{stop_at}.onnx"
    export_onnx(ckpt, onnx_path)
    csv_out = run / f"step{stop_at}_dev.csv"
    # The first run warms up the JIT and the session.
    seconds = [sequence_timed(onnx_path, dev, csv_out) for _ in range(4)]
    metrics = dev_metrics(csv_out, dev)
    rate = metrics["n_spectra"] / statistics.median(seconds[1:])
    return {"spectra_per_s": rate,
            **{k: metrics[k] for k in ("aa_precision", "aa_recall",
                                       "peptide_recall", "auc")}}


def summarize(run: Path, stop_at: int) -> dict | None:
    """Validation metrics at ``stop_at`` and the median seconds per step."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.open()]
    val = [r for r in rows if r["kind"] == "val" and r["step"] == stop_at]
    if not val:
        return None
    step_s = [r["step_s"] for r in rows
              if r["kind"] == "train" and r["step"] <= stop_at]
    out = dict(val[-1])
    out["median_step_s"] = statistics.median(step_s) if step_s else None
    out["run"] = str(run)
    return out


def table(results: dict[str, dict | None], stop_at: int) -> str:
    head = ["variant", "s/step"] + [h for _, h in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, res in results.items():
        if res is None:
            lines.append(f"| {name} | not run |" + " |" * (len(head) - 2))
            continue
        cells = [name, f"{res['median_step_s']:.2f}"]
        for key, _ in COLUMNS:
            value = res.get(key)
            cells.append("—" if value is None else f"{value:.0f}"
                         if key == "spectra_per_s" else f"{value:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path,
                    default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--stop-at", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "ablations")
    ap.add_argument("--val", action="append", default=[],
                    help="annotated real spectra to validate on")
    ap.add_argument("--only", nargs="*", choices=list(VARIANTS),
                    help="train only these variants (default: all)")
    ap.add_argument("--reuse", action="append", default=[],
                    metavar="VARIANT=RUN_DIR",
                    help="take a variant's metrics from an existing run")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs at once (one thread each)")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--results", default="ablations",
                    help="name of the results files under "
                    "benchmarks/results/")
    args = ap.parse_args(argv)

    runs = {name: args.out / name for name in (args.only or VARIANTS)}
    for item in args.reuse:
        name, _, path = item.partition("=")
        if name not in VARIANTS:
            ap.error(f"--reuse: unknown variant {name!r}")
        runs[name] = Path(path)
    if not args.table_only:
        args.out.mkdir(parents=True, exist_ok=True)
        todo = [n for n in runs if runs[n] == args.out / n]
        running: list[subprocess.Popen] = []
        for name in todo:
            while len(running) >= args.jobs:  # wait for any run to end
                time.sleep(5)
                running = [p for p in running if p.poll() is None]
            print(f"training {name} ...", flush=True)
            running.append(train_variant(name, args.config, runs[name],
                                         args.stop_at, args.val))
        for proc in running:
            proc.wait()

    results = {name: summarize(run, args.stop_at)
               for name, run in runs.items()}
    for name, res in results.items():
        if res is not None and args.val:
            res.update(engine_metrics(runs[name], args.stop_at,
                                      Path(args.val[0])))
    text = table(results, args.stop_at)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for res in results.values():
        if res is not None:  # machine-independent paths
            res["run"] = os.path.relpath(res["run"], ROOT)
    (RESULTS / f"{args.results}.json").write_text(json.dumps(
        {"stop_at": args.stop_at,
         "config": str(args.config.resolve().relative_to(ROOT)),
         "variants": {n: VARIANTS[n] for n in runs},
         "results": results}, indent=1) + "\n")
    (RESULTS / f"{args.results}.md").write_text(
        f"# Ablations: first {args.stop_at} steps of "
        f"`{args.config.relative_to(ROOT)}`\n\n"
        "EMA weights, predicted length, validation at step "
        f"{args.stop_at}. Command: `python benchmarks/ablations.py "
        + " ".join(sys.argv[1:]) + "`\n\n" + NOTE + "\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
