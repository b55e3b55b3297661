"""Throughput of ``denovo sequence`` on a local Dask cluster.

In one run, on the same files: the single-process engine (1 ONNX Runtime
thread and all cores) and a ``LocalCluster`` of 1 and 2 worker processes
(1 thread each), through the same library path as the CLI
(:func:`denovo.engine.sequence_files` with ``client=``). Each
configuration gets a warm-up pass (JIT, model opening on the workers),
then ``--repeats`` timed passes; the table gives the median spectra/s and
its ratio to the single-process engine at 1 thread.

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
import json
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


def timed_run(inputs, session, settings, client=None, cluster=None):
    """One pass through sequence_files; (seconds, summary)."""
    from denovo.engine import open_writers, sequence_files

    with tempfile.TemporaryDirectory() as tmp, open_writers(
            mztab=Path(tmp) / "o.mztab", inputs=inputs, session=session,
            decode=settings["decode"]) as writers:
        start = time.perf_counter()
        summary = sequence_files(inputs, session=session, writers=writers,
                                 client=client, cluster=cluster, **settings)
        return time.perf_counter() - start, summary


def measure(inputs, model, settings, repeats, *, client=None,
            cluster=None) -> dict:
    from denovo.engine.session import ModelSession

    session = ModelSession(model, threads=settings["config"].threads)
    first, summary = timed_run(inputs, session, settings, client, cluster)
    times = [timed_run(inputs, session, settings, client, cluster)[0]
             for _ in range(repeats)]
    n = summary.n_spectra
    return {"n_spectra": n, "first_s": first, "seconds": times,
            "median_s": statistics.median(times),
            "spectra_per_s": n / statistics.median(times)}


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


def driver_cap(single: dict, costs: dict, read_write_s: float) -> float:
    """Spectra/s the driver alone can feed: read + write + pickling of
    every spectrum and its result, plus scheduling per chunk."""
    per = (read_write_s / single["n_spectra"]
           + costs["pickle_s_per_spectrum"]
           + costs["overhead_s"] / costs["spectra_per_chunk"])
    return 1.0 / per


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
    rows = {}
    print(f"# {describe()}; {len(inputs)} files")
    rows["single, 1 thread"] = measure(inputs, args.model, one,
                                       args.repeats)
    rows["single, all cores"] = measure(
        inputs, args.model, {"decode": decode, "config": EngineConfig()},
        args.repeats)
    startup, costs = {}, None
    for n in (1, 2):
        start = time.perf_counter()
        with distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True,
                scheduler_kwargs={"dashboard": False},
                silence_logs=40) as lc, distributed.Client(lc) as client:
            client.wait_for_workers(n)
            startup[n] = time.perf_counter() - start
            rows[f"dask, {n} worker{'s' * (n > 1)}"] = measure(
                inputs, args.model, one, args.repeats, client=client,
                cluster=cluster)
            if n == 1:
                costs = chunk_costs(inputs, args.model, one, cluster,
                                    client)
    base = rows["single, 1 thread"]["spectra_per_s"]
    for row in rows.values():
        row["ratio"] = row["spectra_per_s"] / base

    # the driver's own read and write time, from a single-process pass
    from denovo.engine.session import ModelSession
    _, summary = timed_run(inputs, ModelSession(args.model, threads=1), one)
    read_write = summary.stage_seconds["read"] + \
        summary.stage_seconds["write"]
    cap = driver_cap(rows["single, 1 thread"], costs, read_write)
    r2 = rows["dask, 2 workers"]["spectra_per_s"]
    projection = {k: min(k * r2, cap) for k in MACHINES}

    lines = ["| run | spectra | median s | spectra/s | vs single 1 thread "
             "| first pass s |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['n_spectra']} | "
                     f"{row['median_s']:.2f} | {row['spectra_per_s']:.0f} "
                     f"| {row['ratio']:.2f}x | {row['first_s']:.2f} |")
    lines += ["", "| chunk cost | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in costs.items()]
    lines += [f"| cluster start, {n} worker(s), s | {s:.2f} |"
              for n, s in startup.items()]
    lines += ["", f"Driver cap (read + write + pickling + scheduling per "
              f"spectrum): {cap:.0f} spectra/s.", "",
              "| machines like this one | projected spectra/s |",
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
            "load_average": os.getloadavg()}
    note = ("Medians of the timed passes after one warm-up pass; model "
            "loading and cluster start-up are excluded from spectra/s and "
            "given separately. The driver runs on the same cores as the "
            "workers. On a small shared machine the figures are noisy: "
            "read the ratios, not the absolute numbers. The projection "
            "assumes machines like this one each add the measured "
            "2-worker throughput until the driver's cap.")
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
