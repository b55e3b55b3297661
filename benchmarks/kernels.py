"""Benchmark the Numba kernels against pyteomics and spectrum_utils.

Fragment generation (b/y ions, fragment charges 1-2, peptides/s) against
``pyteomics.mass.fast_mass`` loops, and Casanovo's preprocessing
(spectra/s) against spectrum_utils' ``MsmsSpectrum`` pipeline on the same
real spectra. Everything runs single-threaded, side by side in one run;
each timing is the median of ``--repeats`` runs after a warm-up run (which
also JIT-compiles), and outputs are cross-checked before timing.

Run: ``python benchmarks/kernels.py`` (writes benchmarks/results/kernels.*)
"""

import os
import sys
import tempfile

# Single thread and a private Numba cache, before numba is imported.
os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ.setdefault("NUMBA_CACHE_DIR",
                      tempfile.mkdtemp(prefix="denovo-bench-numba-"))

import argparse  # noqa: E402
import datetime  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from pyteomics import mass as pmass  # noqa: E402
from pyteomics import mgf  # noqa: E402

from denovo.core.fragments import (  # noqa: E402
    FragmentConfig, encode_batch, fragment_mz_batch,
    fragments_batch_inplace,
)
from denovo.core.preprocess import (  # noqa: E402
    PreprocessConfig, PreprocessedBatch, preprocess, preprocess_batch,
    preprocess_batch_inplace,
)
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB  # noqa: E402
from machine import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PEPTIDES = DATA / "peptides" / "proteometools_peptides.txt.gz"
SPECTRA = DATA / "real" / "QEPlus2_10212016_40_F5.mgf"


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: JIT compilation, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_peptides(n: int, seed: int) -> list[str]:
    with gzip.open(PEPTIDES, "rt") as f:
        lines = [line.strip() for line in f if line.strip()]
    rng = np.random.default_rng(seed)
    return [lines[i] for i in rng.choice(len(lines), n, replace=False)]


def bench_fragments(n: int, repeats: int, seed: int) -> list[dict]:
    seqs = load_peptides(n, seed)
    # pyteomics' natural way: a fixed modification is a residue mass.
    aa_mass = dict(pmass.std_aa_mass)
    aa_mass["C"] += pmass.calculate_mass(formula="H3C2NO")
    peptides = [tuple("C[UNIMOD:4]" if a == "C" else a for a in s)
                for s in seqs]
    charge = 3  # fragment charges 1..2
    config = FragmentConfig(ion_types=("b", "y"), max_fragment_charge=2)

    def run_pyteomics():
        out = []
        for seq in seqs:
            for i in range(1, len(seq)):
                for z in (1, 2):
                    out.append(pmass.fast_mass(seq[:i], "b", z,
                                               aa_mass=aa_mass))
                    out.append(pmass.fast_mass(seq[i:], "y", z,
                                               aa_mass=aa_mass))
        return out

    tokens, lengths = encode_batch(peptides)
    charges = np.full(n, charge, np.int64)
    buf = fragment_mz_batch(peptides, charges, config=config)
    args = (tokens, lengths, charges, VOCAB.masses, VOCAB.n_terminal,
            config.ion_codes, config.loss_codes, config.max_fragment_charge,
            config.immonium)

    def run_kernel():
        fragments_batch_inplace(*args, *buf)

    def run_wrapper():
        return fragment_mz_batch(peptides, charges, config=config)

    ours = run_wrapper()
    ours = np.sort(ours.mz[ours.ion_type >= 0])
    ref = np.sort(run_pyteomics())
    assert ours.shape == ref.shape and np.allclose(ours, ref, atol=1e-6)

    base = median_time(run_pyteomics, repeats)
    rows = [("pyteomics fast_mass loop", base)]
    rows.append(("denovo kernel (int32 tokens)",
                 median_time(run_kernel, repeats)))
    rows.append(("denovo fragment_mz_batch (token names)",
                 median_time(run_wrapper, repeats)))
    return [dict(task="fragments b/y, z 1-2", method=m, items=n,
                 unit="peptides/s", seconds=t, rate=n / t, ratio=base / t)
            for m, t in rows]


def casanovo_spectrum_utils(mz, intensity, precursor_mz, charge):
    """depthcharge/Casanovo v4 ``_process_peaks`` with spectrum_utils."""
    import spectrum_utils.spectrum as sus
    spec = sus.MsmsSpectrum("", precursor_mz, charge, mz.astype(np.float64),
                            intensity.astype(np.float32))
    spec.set_mz_range(50.0, 2500.0)
    if not len(spec.mz):
        return None
    spec.remove_precursor_peak(2.0, "Da")
    if not len(spec.mz):
        return None
    spec.filter_intensity(0.01, 150)
    if not len(spec.mz):
        return None
    spec.scale_intensity("root", 1)
    return spec.mz, spec.intensity / np.linalg.norm(spec.intensity)


def bench_preprocess(repeats: int) -> list[dict]:
    spectra = list(mgf.read(str(SPECTRA), use_index=False))
    mzs = [s["m/z array"] for s in spectra]
    ints = [s["intensity array"].astype(np.float32) for s in spectra]
    precs = np.array([s["params"]["pepmass"][0] for s in spectra])
    charges = np.array([int(s["params"]["charge"][0]) for s in spectra])
    n = len(spectra)
    config = PreprocessConfig()

    def run_baseline():
        return [casanovo_spectrum_utils(m, i, p, int(z))
                for m, i, p, z in zip(mzs, ints, precs, charges,
                                      strict=True)]

    def run_single():
        return [preprocess(m, i, p, z, config=config)
                for m, i, p, z in zip(mzs, ints, precs, charges,
                                      strict=True)]

    def run_batch():
        return preprocess_batch(mzs, ints, precs, charges, config=config)

    flat_mz, flat_int = np.concatenate(mzs), np.concatenate(ints)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum([len(m) for m in mzs], out=offsets[1:])
    buf = PreprocessedBatch(np.zeros((n, 150)), np.zeros((n, 150),
                                                         np.float32),
                            np.zeros(n, np.int64))

    def run_kernel():
        preprocess_batch_inplace(flat_mz, flat_int, offsets, precs, charges,
                                 *config.kernel_args(), *buf)

    batch = run_batch()
    for b, ref in enumerate(run_baseline()):
        k = batch.n_peaks[b]
        assert (ref is None and k == 0) or (
            np.array_equal(ref[0], batch.mz[b, :k])
            and np.allclose(ref[1], batch.intensity[b, :k], rtol=2e-6))

    base = median_time(run_baseline, repeats)
    rows = [("spectrum_utils MsmsSpectrum (Casanovo v4)", base),
            ("denovo preprocess, one call per spectrum",
             median_time(run_single, repeats)),
            ("denovo preprocess_batch (list of arrays)",
             median_time(run_batch, repeats)),
            ("denovo kernel (CSR arrays, preallocated)",
             median_time(run_kernel, repeats))]
    return [dict(task="preprocess (Casanovo)", method=m, items=n,
                 unit="spectra/s", seconds=t, rate=n / t, ratio=base / t)
            for m, t in rows]


def machine_info() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__,
            "pyteomics": _version("pyteomics"),
            "spectrum_utils": _version("spectrum_utils"),
            "platform": platform.platform(),
            "numba_threads": numba.config.NUMBA_NUM_THREADS,
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def table(rows: list[dict]) -> str:
    lines = ["| task | method | items | median s | rate | vs baseline |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['method']} | {r['items']} | "
                     f"{r['seconds']:.4f} | {r['rate']:,.0f} {r['unit']} | "
                     f"{r['ratio']:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peptides", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    for path in (PEPTIDES, SPECTRA):
        if not path.exists():
            sys.exit(f"benchmark data not found: {path}")
    rows = bench_fragments(args.peptides, args.repeats, args.seed)
    rows += bench_preprocess(args.repeats)
    info = machine_info()
    command = "python " + " ".join(
        [str(Path(sys.argv[0]).resolve().relative_to(ROOT))]
        + sys.argv[1:])
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    targets = {"fragments": 50.0, "preprocess": 3.0}
    text = table(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "kernels.json").write_text(json.dumps(
        {"command": command, "date": date, "repeats": args.repeats,
         "machine": info, "targets_x": targets, "results": rows},
        indent=2) + "\n")
    machine = ", ".join(f"{k} {v}" for k, v in info.items())
    (args.out / "kernels.md").write_text(
        f"# Kernel benchmark\n\n`{command}` on {date}, median of "
        f"{args.repeats} repeats after a warm-up, single thread.\n\n"
        f"Machine: {machine}.\n\n{text}\n\nTargets: >= "
        f"{targets['fragments']:.0f}x pyteomics for fragments, >= "
        f"{targets['preprocess']:.0f}x spectrum_utils for preprocessing.\n")


if __name__ == "__main__":
    main()
