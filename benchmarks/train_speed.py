"""Training throughput on this CPU: generator vs trainer, side by side.

The generator must never make training wait, so its throughput (spectra/s,
with and without the shared preprocessing) is reported next to the rate at
which the default recipe's training step (``configs/default.yaml``, basic
generator only) consumes spectra; the ratio is
the generator's head-room. Medians of several repeats, JIT warm-up
excluded. Writes ``benchmarks/results/training.{json,md}``.

Usage: python benchmarks/train_speed.py [--repeats 5] [--steps 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from denovo_training.data.batch import to_arrays
from denovo_training.data.curriculum import load_recipe
from denovo_training.data.synthetic import Simulator, step_rng
from denovo_training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The default recipe with the basic generator only, so the benchmark
# needs no MS2PIP library or real spectra.
SYNTHETIC_ONLY = ("data.library=''", "data.exclude_split=''",
                  "data.train_files=[]", "curriculum.*.realistic_fraction=0",
                  "curriculum.*.real_fraction=0")


def _median_rate(fn, n_items: int, repeats: int) -> float:
    fn()  # warm-up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n_items / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5,
                        help="training steps per repeat")
    parser.add_argument("--batch", type=int, default=64,
                        help="generator batch size")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = load_recipe(ROOT / "configs" / "default.yaml", SYNTHETIC_ONLY)
    sim = Simulator()
    rows = []
    for k, stage in enumerate(recipe.curriculum):
        cfg = stage.simulation
        counter = iter(range(10**9))

        def generate(cfg=cfg, counter=counter):
            return sim.batch(step_rng(0, next(counter)), args.batch, cfg)

        def prepare(generate=generate):
            return to_arrays(generate(), preprocess=recipe.preprocess,
                             max_length=recipe.model.max_length)

        gen = _median_rate(generate, args.batch, args.repeats)
        full = _median_rate(prepare, args.batch, args.repeats)
        rows.append({"stage": k + 1, "name": stage.name,
                     "generate_spectra_per_s": gen,
                     "generate_preprocess_spectra_per_s": full})

    train = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(recipe, tmp, device="cpu", progress=False)
        for k, start in enumerate(trainer.curriculum.starts):
            trainer.step = start
            trainer.train_step()  # warm-up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    trainer.train_step()
                times.append((time.perf_counter() - t0) / args.steps)
            step_s = statistics.median(times)
            train[k + 1] = {"steps_per_s": 1 / step_s,
                            "spectra_per_s": recipe.train.batch_size
                            / step_s}
    for row in rows:
        row.update(train[row["stage"]])
        row["headroom"] = (row["generate_preprocess_spectra_per_s"]
                           / row["spectra_per_s"])

    meta = {"cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch_threads":
            torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0],
            "batch_size": recipe.train.batch_size,
            "generator_batch": args.batch, "repeats": args.repeats,
            "steps_per_repeat": args.steps,
            "parameters": trainer.model.n_parameters()}
    head = ("| stage | generator sp/s | generator+preprocess sp/s | "
            "train steps/s | train sp/s | head-room |")
    lines = [head, "|" + "---|" * 6]
    for r in rows:
        lines.append(
            f"| {r['stage']} {r['name']} | {r['generate_spectra_per_s']:.0f}"
            f" | {r['generate_preprocess_spectra_per_s']:.0f} | "
            f"{r['steps_per_s']:.2f} | {r['spectra_per_s']:.1f} | "
            f"{r['headroom']:.0f}x |")
    table = "\n".join(lines)
    print(table)
    print(json.dumps(meta))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(
        {"meta": meta, "rows": rows}, indent=2))
    (RESULTS / "training.md").write_text(
        "# Training throughput (default recipe, CPU)\n\n"
        "sp/s = spectra per second; head-room = generator+preprocess "
        "throughput / training consumption (medians of "
        f"{args.repeats} repeats, warm-up excluded).\n\n{table}\n\n"
        f"`{json.dumps(meta)}`\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
