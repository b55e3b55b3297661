"""Benchmark the spectrum readers against pyteomics' default readers.

Throughput (spectra/s) reading real MGF and mzML files and a generated
MGF, with ``denovo.io.read_spectra`` beside ``pyteomics.mgf.read`` /
``pyteomics.mzml.read`` in the same run; each timing is the median of
``--repeats`` runs after one warm-up run. Peak memory (max RSS of a fresh
subprocess that only reads the file) on generated MGF files of 1k and
``--n-large`` spectra shows that memory does not grow with the file.

Run: ``python benchmarks/io.py`` (writes benchmarks/results/io.*)
"""

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from pyteomics import mgf, mzml

from denovo.io import read_spectra

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
RESULTS = ROOT / "benchmarks" / "results"

# Max RSS includes the imports (numpy, pandas via pyteomics); the
# tracemalloc peak counts only Python allocations made while reading.
_RSS_SCRIPT = """
import resource, sys, tracemalloc
from pyteomics import mgf
from denovo.io import read_spectra
path, which = sys.argv[1], sys.argv[2]
tracemalloc.start()
if which == "denovo":
    n = sum(1 for _ in read_spectra(path))
else:
    n = sum(1 for _ in mgf.read(path))
peak = tracemalloc.get_traced_memory()[1]
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, peak)
"""


def median_time(fn, repeats: int) -> tuple[float, int]:
    n = fn()  # warm-up (page cache, imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), n


def ours(path):
    return lambda: sum(1 for _ in read_spectra(path))


def baseline(path):
    reader = mgf.read if str(path).endswith(".mgf") else mzml.read
    return lambda: sum(1 for s in reader(str(path))
                       if s.get("ms level", 2) == 2)


def write_mgf(path: Path, n: int, seed: int = 0) -> None:
    """``n`` random spectra of 20-150 peaks, SEQ labels included."""
    rng = np.random.default_rng(seed)
    aa = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    with open(path, "w") as fh:
        for i in range(n):
            k = int(rng.integers(20, 150))
            mz = np.sort(rng.uniform(100, 2000, k))
            inten = rng.uniform(0, 1e6, k)
            seq = "".join(rng.choice(aa, int(rng.integers(7, 25))))
            peaks = "\n".join(f"{m:.5f} {x:.2f}" for m, x in zip(
                mz, inten, strict=True))
            fh.write(f"BEGIN IONS\nTITLE=spectrum {i}\n"
                     f"PEPMASS={rng.uniform(300, 1500):.5f}\n"
                     f"CHARGE={int(rng.integers(2, 5))}+\nSCANS={i}\n"
                     f"RTINSECONDS={i * 0.1:.2f}\nSEQ={seq}\n{peaks}\n"
                     "END IONS\n")


def memory_mb(path: Path, which: str) -> tuple[int, float, float]:
    """Spectra read, max RSS and tracemalloc peak (MB) in a subprocess."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path), which],
        check=True, capture_output=True, text=True).stdout.split()
    # ru_maxrss is KiB on Linux
    return int(out[0]), int(out[1]) / 1024, int(out[2]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-large", type=int, default=100_000)
    parser.add_argument("--n-speed", type=int, default=10_000)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="denovo-bench-io-"))
    files = {
        "QEPlus2 MGF (real)": REAL / "QEPlus2_10212016_40_F5.mgf",
        "iprg2013 MGF (real)": REAL / "iprg2013_F13.mgf",
        f"generated MGF ({args.n_speed} spectra)":
            tmp / f"speed_{args.n_speed}.mgf",
        "bsa1 mzML (real)": REAL / "bsa1.mzML",
        "ecoli_small mzML (real)": REAL / "ecoli_small.mzML",
    }
    write_mgf(files[f"generated MGF ({args.n_speed} spectra)"],
              args.n_speed)
    speed = []
    print(f"{'file':<32} {'spectra':>8} {'denovo /s':>11} "
          f"{'pyteomics /s':>13} {'ratio':>6}")
    for name, path in files.items():
        if not path.exists():
            print(f"{name:<32} missing, skipped")
            continue
        t_ours, n_ours = median_time(ours(path), args.repeats)
        t_base, n_base = median_time(baseline(path), args.repeats)
        assert n_ours == n_base, (name, n_ours, n_base)
        row = {"file": name, "spectra": n_ours,
               "denovo_per_s": n_ours / t_ours,
               "pyteomics_per_s": n_base / t_base,
               "ratio": t_base / t_ours}
        speed.append(row)
        print(f"{name:<32} {n_ours:>8} {row['denovo_per_s']:>11.0f} "
              f"{row['pyteomics_per_s']:>13.0f} {row['ratio']:>6.2f}")

    memory = []
    print(f"\n{'generated MGF':<14} {'file MB':>8} {'denovo RSS':>11} "
          f"{'traced':>7} {'pyteomics RSS':>14} {'traced':>7}")
    for n in (1000, args.n_large):
        path = tmp / f"mem_{n}.mgf"
        write_mgf(path, n, seed=1)
        n_read, rss, traced = memory_mb(path, "denovo")
        n_base, rss_base, traced_base = memory_mb(path, "pyteomics")
        assert n_read == n_base == n
        row = {"spectra": n, "file_mb": path.stat().st_size / 2**20,
               "denovo_max_rss_mb": rss, "denovo_traced_peak_mb": traced,
               "pyteomics_max_rss_mb": rss_base,
               "pyteomics_traced_peak_mb": traced_base}
        memory.append(row)
        print(f"{n:<14} {row['file_mb']:>8.1f} {rss:>11.1f} {traced:>7.2f} "
              f"{rss_base:>14.1f} {traced_base:>7.2f}")
        path.unlink()

    info = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "machine": platform.platform(), "processor": platform.processor(),
        "python": platform.python_version(), "numpy": np.__version__,
        "pyteomics": version("pyteomics"), "repeats": args.repeats,
        "notes": "median of repeats after one warm-up; ratio = pyteomics "
                 "time / denovo time (>1: denovo faster); max RSS of a "
                 "fresh subprocess, imports included; traced = "
                 "tracemalloc peak while reading; 2 shared CPU cores, "
                 "other jobs running, so timings are noisy",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "io.json").write_text(json.dumps(
        {"info": info, "speed": speed, "memory": memory}, indent=2) + "\n")
    lines = ["# Spectrum reading benchmark", "",
             f"`{info['command']}` on {info['machine']}, Python "
             f"{info['python']}, pyteomics {info['pyteomics']}, "
             f"{info['date']}. {info['notes']}.", "",
             "| file | spectra | denovo spectra/s | pyteomics spectra/s "
             "| ratio |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['file']} | {r['spectra']} | {r['denovo_per_s']:.0f} "
              f"| {r['pyteomics_per_s']:.0f} | {r['ratio']:.2f} |"
              for r in speed]
    lines += ["", "| generated MGF spectra | file MB | denovo max RSS MB "
              "| denovo traced peak MB | pyteomics max RSS MB "
              "| pyteomics traced peak MB |",
              "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['spectra']} | {r['file_mb']:.1f} | "
              f"{r['denovo_max_rss_mb']:.1f} | "
              f"{r['denovo_traced_peak_mb']:.2f} | "
              f"{r['pyteomics_max_rss_mb']:.1f} | "
              f"{r['pyteomics_traced_peak_mb']:.2f} |" for r in memory]
    (RESULTS / "io.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
