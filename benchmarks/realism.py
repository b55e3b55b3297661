"""How real do simulated spectra look? Statistics side by side.

Every spectrum (real or simulated) is annotated the same way
(:func:`denovo_training.data.annotate.annotate`, the model's view of the
spectrum) and summarised per spectrum; the table compares medians:

* real: the labelled spectra of ``../shared/data/real`` (the noise
  model's training data: QEPlus2, PepNet, yeast);
* same: the realistic simulator on the same peptides at the same charges;
* fresh: the realistic simulator on fresh peptides (FASTA digests +
  ProteomeTools list, or an MS2PIP library) with fitted charges;
* basic: the basic generator (heuristic intensities, uniform noise) on its
  own random peptides, as the baseline.

Target: every median within 20% of the real one. Shares whose real median
is ~0 are compared by absolute difference (< 0.01). Writes
``benchmarks/results/realism.{json,md,png}`` and
``realism_mirror.png``. Run::

    python benchmarks/realism.py [--library runs/ms2pip_lib]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from denovo_training.data.annotate import annotate, spectrum_stats
from denovo_training.data.real_labelled import load_real
from denovo_training.data.realistic import (
    LibraryPeptides, RealisticPeptides, RealisticSimulator)
from denovo_training.data.synthetic import (
    SimulationConfig, Simulator)

RESULTS = Path(__file__).resolve().parent / "results"
SHOWN = ("n_peaks", "coverage", "share_by", "share_noise",
         "noise_intensity", "noise_mz", "peaks_noise", "share_a")


def stats_of(batch, peptides, charges) -> list[dict]:
    return [spectrum_stats(annotate(*batch.spectrum(i), peptides[i],
                                    int(charges[i])))
            for i in range(len(peptides))]


def medians(rows: list[dict]) -> dict:
    return {k: float(np.nanmedian([r[k] for r in rows])) for k in rows[0]}


def verdict(real: float, sim: float) -> tuple[str, bool]:
    if abs(real) < 0.02:
        ok = abs(sim - real) < 0.01
        return f"{sim - real:+.3f} abs", ok
    ratio = sim / real
    return f"{ratio:.2f}", abs(ratio - 1) <= 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--library", help="MS2PIP library for fresh "
                        "peptides (default: FASTA + list, live MS2PIP)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cfg = SimulationConfig(min_length=6, max_length=35)
    t0 = time.perf_counter()
    real_spectra = load_real(args.data)
    peptides = [s.peptide for s in real_spectra]
    charges = np.array([s.charge for s in real_spectra])
    real = [spectrum_stats(annotate(s.mz, s.intensity, s.peptide, s.charge))
            for s in real_spectra]
    if args.library:
        sim = RealisticSimulator.from_library(args.library)
        assert isinstance(sim.source, LibraryPeptides)
    else:
        sim = RealisticSimulator(RealisticPeptides.from_data_dir(args.data))
    same_batch = sim.spectra(rng, peptides, charges,
                             SimulationConfig(min_length=1, max_length=99))
    same = stats_of(same_batch, peptides, charges)
    fresh_batch = sim.batch(rng, len(peptides), cfg)
    fresh = stats_of(fresh_batch, fresh_batch.peptides, fresh_batch.charge)
    basic_batch = Simulator().batch(rng, len(peptides), cfg)
    basic = stats_of(basic_batch, basic_batch.peptides, basic_batch.charge)
    cols = {"real": real, "same": same, "fresh": fresh, "basic": basic}
    med = {k: medians(v) for k, v in cols.items()}
    rows, n_ok = [], {"same": 0, "fresh": 0, "basic": 0}
    for key in med["real"]:
        row = {"statistic": key, "real": med["real"][key]}
        for name in ("same", "fresh", "basic"):
            text, ok = verdict(med["real"][key], med[name][key])
            row[name] = med[name][key]
            row[f"{name}_vs_real"] = text
            row[f"{name}_ok"] = ok
            n_ok[name] += ok
        rows.append(row)
    header = ("| statistic | real | same peptides | ratio | fresh | ratio "
              "| basic generator | ratio |")
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['statistic']} | {r['real']:.3f} | {r['same']:.3f} | "
            f"{r['same_vs_real']}{'' if r['same_ok'] else ' ✗'} | "
            f"{r['fresh']:.3f} | {r['fresh_vs_real']}"
            f"{'' if r['fresh_ok'] else ' ✗'} | {r['basic']:.3f} | "
            f"{r['basic_vs_real']}{'' if r['basic_ok'] else ' ✗'} |")
    n = len(rows)
    summary = (f"within target (median within 20%, or within 0.01 when "
               f"the real median is < 0.02): same {n_ok['same']}/{n}, "
               f"fresh {n_ok['fresh']}/{n}, basic {n_ok['basic']}/{n}")
    table = "\n".join(lines)
    print(table)
    print(summary)
    RESULTS.mkdir(exist_ok=True)
    intro = (f"# Realism: real vs simulated spectra\n\n"
             f"{len(real)} real labelled spectra; medians of per-spectrum "
             "statistics in the model's view (peaks >= 1% of base, top "
             "150, >= 50 m/z). `share_*`: intensity share of each peak "
             "class, `peaks_*`: peak count per class, `coverage`: share "
             "of 1+ b/y ions seen, `noise_*`: unexplained peaks' "
             "intensity (/ base) and m/z (/ precursor mass). ✗ = outside "
             "target.\n\n")
    (RESULTS / "realism.md").write_text(
        intro + table + "\n\n" + summary + "\n\nCommand: `python "
        "benchmarks/realism.py" + (f" --library {args.library}"
                                   if args.library else "") + "`\n")
    (RESULTS / "realism.json").write_text(json.dumps(
        {"rows": rows, "n_real": len(real), "summary": summary,
         "library": args.library, "seed": args.seed,
         "seconds": time.perf_counter() - t0}, indent=1))
    plot(cols, real_spectra, same_batch)


def plot(cols: dict, real_spectra, same_batch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, key in zip(axes.ravel(), SHOWN, strict=True):
        values = {k: np.array([r[key] for r in v]) for k, v in cols.items()}
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        bins = np.linspace(*np.quantile(finite, [0.01, 0.99]), 30)
        for name, v in values.items():
            ax.hist(v[np.isfinite(v)], bins=bins, histtype="step",
                    density=True, label=name, lw=1.5)
        ax.set_title(key)
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "realism.png", dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(2, 2, figsize=(14, 8))
    picks = np.linspace(0, len(real_spectra) - 1, 4).astype(int)
    for ax, i in zip(axes.ravel(), picks, strict=True):
        s = real_spectra[i]
        ax.vlines(s.mz, 0, s.intensity / s.intensity.max(), color="C0",
                  lw=0.8, label="real")
        mz, inten = same_batch.spectrum(i)
        ax.vlines(mz, 0, -inten / inten.max(), color="C3", lw=0.8,
                  label="simulated")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"{''.join(s.peptide)} {s.charge}+", fontsize=8)
        ax.set_xlabel("m/z")
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "realism_mirror.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
