"""Throughput of ``denovo sequence`` on a local Dask cluster.

In one run, on the same files: the single-process engine (1 ONNX Runtime
thread and all cores) and a ``LocalCluster`` of 1 and 2 worker processes
(1 thread each), through the same library path as the CLI
(:func:`denovo.engine.sequence_files` with ``client=``). Both clusters
are started first and each configuration gets a warm-up pass (JIT, model
opening on the workers); then the timed passes go round-robin over the
configurations, ``--repeats`` rounds, so a change in the machine's load
hits all of them alike. The table gives the median spectra/s and its
ratio to the single-process engine at 1 thread.

What a chunk costs: the pickled size of its spectra, the round trip of a
chunk through a worker that does nothing with it (transfer and
scheduling, both ways), the engine time on the worker, and start-up
(cluster start, model opening on a worker, first pass vs warm passes).
The driver reads, pickles and writes every spectrum itself; its time per
spectrum caps the throughput of any cluster. The projection for k
machines like this one is ``min(k * r2, cap)`` with ``r2`` the measured
2-worker throughput (with the driver sharing the machine, so cautious) and
``cap`` the driver's own limit.

Usage::

    python benchmarks/cluster.py [--inputs F ...] [--model default]
        [--repeats 3] [--chunk-spectra 512]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REAL = ROOT.parent / "shared" / "data" / "real"
DEFAULT_INPUTS = [REAL / "QEPlus2_10212016_40_F5.mgf",
                  REAL / "iprg2013_F13.mgf",
                  REAL / "hela_bibliospec_340.mgf"]
MACHINES = (1, 2, 4, 8, 16, 32, 64)


def worker_cpu(client) -> float:
    """CPU seconds used so far by all worker processes of a client."""
    return sum(client.run(time.process_time).values()) if client else 0.0


def timed_run(inputs, session, settings, client=None, cluster=None):
    """One pass through sequence_files: (wall s, driver CPU s, worker CPU
    s, summary). The driver's CPU includes a local scheduler."""
    from denovo.engine import open_writers, sequence_files

    with tempfile.TemporaryDirectory() as tmp, open_writers(
            mztab=Path(tmp) / "o.mztab", inputs=inputs, session=session,
            decode=settings["decode"]) as writers:
        workers = worker_cpu(client)
        cpu = time.process_time()
        start = time.perf_counter()
        summary = sequence_files(inputs, session=session, writers=writers,
                                 client=client, cluster=cluster, **settings)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        return wall, cpu, worker_cpu(client) - workers, summary


def measure(inputs, model, runs: dict, repeats: int) -> dict:
    """Warm-up pass each, then ``repeats`` rounds over all ``runs``
    (name -> (settings, client, cluster)); medians per run."""
    from denovo.engine.session import ModelSession

    sessions, rows = {}, {}
    for name, (settings, client, cluster) in runs.items():
        sessions[name] = ModelSession(model,
                                      threads=settings["config"].threads)
        first, _, _, summary = timed_run(inputs, sessions[name], settings,
                                         client, cluster)
        rows[name] = {"n_spectra": summary.n_spectra, "first_s": first,
                      "seconds": [], "driver_cpu_s": [],
                      "worker_cpu_s": []}
    for _ in range(repeats):
        for name, (settings, client, cluster) in runs.items():
            wall, cpu, workers, _ = timed_run(
                inputs, sessions[name], settings, client, cluster)
            rows[name]["seconds"].append(wall)
            rows[name]["driver_cpu_s"].append(cpu)
            rows[name]["worker_cpu_s"].append(workers)
    for row in rows.values():
        n = row["n_spectra"]
        row["median_s"] = statistics.median(row["seconds"])
        row["spectra_per_s"] = n / row["median_s"]
        cpu = [d + w for d, w in zip(row["driver_cpu_s"],
                                     row["worker_cpu_s"], strict=True)]
        row["spectra_per_cpu_s"] = n / statistics.median(cpu)
    return rows


def chunk_costs(inputs, model, settings, cluster, client) -> dict:
    """Per-chunk costs, one chunk in flight at a time."""
    from dataclasses import replace

    from denovo.engine.cluster import ClusterStats, _chunks, run_chunks
    from denovo.engine.session import ModelSession
    from denovo.io import read_spectra

    spectra = [s for path in inputs for s in read_spectra(path)]
    chunks = list(_chunks(iter(spectra), settings["config"],
                          cluster.chunk_spectra))
    trips = []
    for chunk in chunks:  # a worker that returns the chunk untouched
        start = time.perf_counter()
        client.submit(lambda c: c, chunk, pure=False).result()
        trips.append(time.perf_counter() - start)
    stats = ClusterStats(measure_bytes=True)
    session = ModelSession(model, threads=settings["config"].threads)
    start = time.perf_counter()
    results = list(run_chunks(iter(spectra), client=client, session=session,
                              engine_kwargs=dict(settings),
                              cluster=replace(cluster, in_flight=1),
                              stats=stats))
    total = time.perf_counter() - start
    overhead = [w - r for w, r in zip(stats.wait, stats.run, strict=True)]
    start = time.perf_counter()
    sent = [pickle.dumps(c, protocol=5) for c in chunks]
    back = pickle.dumps([replace(r, spectrum=None) for r in results],
                        protocol=5)
    for blob in sent:
        pickle.loads(blob)
    pickle.loads(back)
    pickling = time.perf_counter() - start
    return {"n_chunks": len(chunks),
            "spectra_per_chunk": statistics.median(stats.spectra),
            "chunk_mb": statistics.median(stats.bytes) / 1e6,
            "results_kb_per_spectrum": len(back) / len(results) / 1e3,
            "round_trip_s": statistics.median(trips),
            "engine_s": statistics.median(stats.run),
            "overhead_s": statistics.median(overhead),
            "model_open_s": max(stats.open),
            "pickle_s_per_spectrum": pickling / len(spectra),
            "sequential_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", nargs="+", type=Path,
                        default=DEFAULT_INPUTS)
    parser.add_argument("--model", default="default")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-spectra", type=int, default=512)
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster")
    args = parser.parse_args()

    import distributed

    from machine import describe
    from denovo.engine import DecodeConfig, EngineConfig
    from denovo.engine.cluster import ClusterConfig

    inputs = [str(p) for p in args.inputs if p.exists()]
    if not inputs:
        inputs = [str(ROOT / "denovo" / "data" / "example.mgf")]
    cluster = ClusterConfig(chunk_spectra=args.chunk_spectra)
    decode = DecodeConfig(beam=args.beam)
    one = {"decode": decode, "config": EngineConfig(threads=1)}
    print(f"# {describe()}; {len(inputs)} files")
    startup = {}
    with contextlib.ExitStack() as stack:
        clients = {}
        for n in (1, 2):
            start = time.perf_counter()
            local = stack.enter_context(distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True,
                scheduler_kwargs={"dashboard": False},
                dashboard_address=":0", silence_logs=40))
            clients[n] = stack.enter_context(distributed.Client(local))
            clients[n].wait_for_workers(n)
            startup[n] = time.perf_counter() - start
        runs = {"single, 1 thread": (one, None, None),
                "single, all cores": ({"decode": decode,
                                       "config": EngineConfig()}, None,
                                      None),
                "dask, 1 worker": (one, clients[1], cluster),
                "dask, 2 workers": (one, clients[2], cluster)}
        rows = measure(inputs, args.model, runs, args.repeats)
        costs = chunk_costs(inputs, args.model, one, cluster, clients[1])
    base = rows["single, 1 thread"]["spectra_per_s"]
    for row in rows.values():
        row["ratio"] = row["spectra_per_s"] / base

    # CPU-based projection: a free machine of this kind gives every core
    # to a worker; the driver (reading, pickling, scheduling, writing)
    # caps the whole cluster.
    two = rows["dask, 2 workers"]
    n = two["n_spectra"]
    per_core = n / statistics.median(two["worker_cpu_s"])
    cap = n / statistics.median(two["driver_cpu_s"])
    cores = os.cpu_count() or 1
    projection = {k: min(k * cores * per_core, cap) for k in MACHINES}

    lines = ["| run | spectra | median s | spectra/s | vs single 1 thread "
             "| spectra per CPU s | first pass s |",
             "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['n_spectra']} | "
                     f"{row['median_s']:.2f} | {row['spectra_per_s']:.0f} "
                     f"| {row['ratio']:.2f}x | "
                     f"{row['spectra_per_cpu_s']:.0f} | "
                     f"{row['first_s']:.2f} |")
    lines += ["", "| chunk cost | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in costs.items()]
    lines += [f"| cluster start, {n} worker(s), s | {s:.2f} |"
              for n, s in startup.items()]
    lines += ["", f"Worker: {per_core:.0f} spectra per CPU second; "
              f"driver cap (its CPU per spectrum: reading, pickling, "
              f"scheduling, writing): {cap:.0f} spectra/s.", "",
              f"| free machines of {cores} cores | projected spectra/s |",
              "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in projection.items()]
    table = "\n".join(lines)
    print(table)

    meta = {"date": time.strftime("%Y-%m-%d"),
            "command": "python benchmarks/cluster.py "
                       + " ".join(sys.argv[1:]),
            "machine": describe(), "model": args.model, "beam": args.beam,
            "inputs": [Path(p).name for p in inputs],
            "repeats": args.repeats, "chunk_spectra": args.chunk_spectra,
            "git": subprocess.run(
                ["git", "describe", "--always", "--dirty"], cwd=ROOT,
                capture_output=True, text=True).stdout.strip(),
            "load_average": os.getloadavg()}
    note = ("Medians of the timed passes after one warm-up pass; model "
            "loading and cluster start-up are excluded from spectra/s and "
            "given separately. The driver runs on the same cores as the "
            "workers. Wall-clock figures on a small shared machine are "
            "noisy and, when other jobs keep the cores busy, show no gain "
            "from a second worker; spectra per CPU second (driver and "
            "workers) do not depend on that load. The projection gives "
            "each core of a free machine one worker at the measured "
            "spectra per worker CPU second (2-worker run), up to the "
            "driver's cap (its CPU per spectrum in the same run, a local "
            "scheduler included); it assumes the network moves a chunk "
            "faster than a worker sequences it (see round_trip_s).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    head = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    args.out.with_suffix(".md").write_text(
        f"# Sequencing on a local Dask cluster\n\n{head}\n\n{table}\n\n"
        f"{note}\n")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "rows": rows, "chunk": costs,
         "startup_s": startup, "driver_cap": cap,
         "projection": projection, "note": note}, indent=2))
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
