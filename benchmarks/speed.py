"""End-to-end sequencing speed (file in -> mzTab out), with Casanovo.

For each beam width, runs ``denovo sequence``'s library path on the same
spectra several times and reports the median spectra/s plus the time per
stage (read, preprocess, model, decode, write); JIT warm-up and model
loading are excluded. Casanovo runs side by side on the same spectra,
same beam, same machine, from a separate venv this script creates and
caches (``pip install casanovo pyarrow==21.0.0``; it pins numpy<2).
Casanovo's weights cannot be downloaded offline, so it runs with random
weights; a random model never emits its stop token, so its decoding
length is capped (``--casanovo-max-length``, default 16, near real
peptide lengths). Its time is measured around the whole command, minus
the time of the same command on 8 spectra (start-up and model loading).

Models: ``--model [LABEL=]PATH`` (repeatable, for the speed of several
model sizes in one run), else the bundled default, else a randomly
initialised TRM exported with torch (``denovo_training.model``; same
compute as a trained one), else a constant ``onnx.helper`` stand-in (no
compute).

With ``--baseline DIR`` (a checkout of another denovo commit, e.g.
``git worktree add /tmp/base <commit>``) the same library path of that
checkout and of this one run alternately in fresh processes
(``--rounds`` each, bundled default model, beam 5 by default), and the
table gives the ratio of the medians: a change's speed-up measured in one
run on the same, noisy machine.

Usage::

    python benchmarks/speed.py [--input F.mgf] [--max-spectra 512]
        [--beams 1 5] [--repeats 3] [--no-casanovo]
        [--model default --model draft --model tiny=T.onnx]
    python benchmarks/speed.py --baseline /tmp/base --input \
        ../shared/data/real/iprg2013_F13.mgf --max-spectra 2000 \
        --modes hybrid evidence --out benchmarks/results/speed_engine_path
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "real" / \
    "QEPlus2_10212016_40_F5.mgf"
VENV = Path.home() / ".cache" / "denovo-bench" / "casanovo-venv"


def write_subset(path: Path, out: Path, n: int) -> int:
    """First ``n`` spectra of an MGF, with charge, as a new MGF."""
    from denovo.io import read_spectra

    count = 0
    with open(out, "w") as fh:
        for s in read_spectra(path):
            if count >= n:
                break
            if not s.ok or not s.charge:
                continue
            fh.write(f"BEGIN IONS\nTITLE=s{count}\n"
                     f"PEPMASS={s.precursor_mz:.6f}\nCHARGE={s.charge}+\n"
                     f"SCANS={count}\n")
            fh.write("".join(f"{m:.5f} {i:.3f}\n"
                             for m, i in zip(s.mz, s.intensity,
                                             strict=True)))
            fh.write("END IONS\n")
            count += 1
    return count


def random_trm(path: Path) -> str:
    """Export a randomly initialised default TRM; returns a description."""
    import torch

    from denovo.core.preprocess import PreprocessConfig
    from denovo.core.vocab import DEFAULT_VOCABULARY
    from denovo.engine.contract import metadata_props
    from denovo.core.config import to_dict
    from denovo_training.config import ModelConfig
    from denovo_training.model import TRM, ExportWrapper

    torch.manual_seed(0)
    cfg = ModelConfig()
    model = ExportWrapper(TRM(cfg)).eval()
    b, p = 2, 30
    args = (torch.rand(b, p) * 1000, torch.rand(b, p),
            torch.ones(b, p, dtype=torch.bool), torch.rand(b) * 1000 + 500,
            torch.full((b,), 2, dtype=torch.long))
    names = ["mz", "intensity", "mask", "precursor_mass", "charge"]
    axes = {n: {0: "B", 1: "P"} for n in names[:3]}
    axes.update({"precursor_mass": {0: "B"}, "charge": {0: "B"},
                 "log_probs": {0: "B"}})
    torch.onnx.export(model, args, str(path), input_names=names,
                      output_names=["log_probs"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)
    import onnx
    proto = onnx.load(str(path))
    meta = metadata_props(
        vocabulary=DEFAULT_VOCABULARY, preprocess=PreprocessConfig(),
        max_length=cfg.max_length, refinement_steps=cfg.steps,
        provenance={"note": "random weights, benchmark only"},
        model_config=to_dict(cfg))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    n_params = sum(x.numel() for x in model.parameters())
    return (f"random-init TRM exported with torch ({n_params / 1e6:.2f} M "
            f"params, dim {cfg.dim}, {cfg.steps} steps)")


def constant_model(path: Path) -> str:
    """Constant-logit ONNX stand-in built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from denovo.core.preprocess import PreprocessConfig
    from denovo.core.vocab import DEFAULT_VOCABULARY as V
    from denovo.engine.contract import metadata_props

    slots = 41
    table = np.random.default_rng(0).normal(size=(1, slots, len(V)))
    mk = helper.make_node
    nodes = [mk("ReduceSum", ["intensity", "ax"], ["s"], keepdims=1),
             mk("Mul", ["s", "zero"], ["z"]),
             mk("Unsqueeze", ["z", "ax"], ["z3"]),
             mk("Add", ["z3", "T"], ["x"]),
             mk("LogSoftmax", ["x"], ["log_probs"], axis=-1)]
    init = [numpy_helper.from_array(table.astype(np.float32), "T"),
            numpy_helper.from_array(np.array([1], np.int64), "ax"),
            numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    graph = helper.make_graph(
        nodes, "constant",
        [helper.make_tensor_value_info("intensity", TensorProto.FLOAT,
                                       ["B", "P"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT,
                                       ["B", slots, len(V)])], init)
    proto = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    for k, v in metadata_props(vocabulary=V, preprocess=PreprocessConfig(),
                               max_length=slots - 1,
                               refinement_steps=0).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))
    return "constant onnx.helper stand-in (no model compute)"


def pick_models(args: list[str] | None, tmp: Path) -> list[tuple]:
    """(label, path, description) per ``--model [LABEL=]PATH|NAME``
    (NAME: a bundled model)."""
    from denovo.engine.session import DEFAULT_MODEL, resolve_model

    if args:
        out = []
        for arg in args:
            label, _, name = arg.rpartition("=")
            path = resolve_model(name).resolve()
            shown = (path.relative_to(ROOT) if path.is_relative_to(ROOT)
                     else path)
            out.append((label or Path(name).stem, path, str(shown)))
        return out
    if DEFAULT_MODEL.is_file():
        return [("default", DEFAULT_MODEL, "bundled default model")]
    path = tmp / "model.onnx"
    try:
        return [("random", path, random_trm(path))]
    except ImportError as exc:
        print(f"# torch/training unavailable ({exc}); constant stand-in")
        return [("constant", path, constant_model(path))]


def run_denovo(model: Path, mgf: Path, out: Path, *, beam: int,
               batch_size: int, threads: int, repeats: int,
               mode: str = "hybrid") -> dict:
    """Median end-to-end time of the library path of `denovo sequence`
    (``mode``: hybrid, the default; evidence; model)."""
    from denovo.engine import (DecodeConfig, EngineConfig, ModelSession,
                               open_writers, sequence_files)

    engine = EngineConfig(batch_size=batch_size, threads=threads)
    decode = DecodeConfig(beam=beam)
    session = (None if mode == "evidence"
               else ModelSession(model, threads=threads))
    runs = []
    for i in range(repeats + 1):  # the first run is the JIT warm-up
        start = time.perf_counter()
        with open_writers(mztab=out, inputs=[mgf], session=session,
                          decode=decode) as writers:
            summary = sequence_files([mgf], session=session, decode=decode,
                                     config=engine, writers=writers,
                                     mode=mode)
        wall = time.perf_counter() - start
        if i:
            runs.append((wall, summary))
    wall, summary = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    return {"seconds": wall, "n": summary.n_spectra,
            "spectra_per_s": summary.n_spectra / wall,
            "all_seconds": [r[0] for r in runs],
            "stages": summary.stage_seconds,
            "sequenced": summary.n_sequenced,
            "no_mass_match": summary.n_no_mass_match}


# Runs in a fresh process with PYTHONPATH set to one checkout: one warm-up
# pass (kernels loaded, model opened), then one timed pass; only the API
# every version since format 2 has.
_TIMED_PASS = """
import json, sys, time
from denovo.engine import (DecodeConfig, EngineConfig, ModelSession,
                           open_writers, sequence_files)
mgf, out, mode, beam, model = sys.argv[1:6]
session = None if mode == "evidence" else ModelSession(model)
decode = DecodeConfig(beam=int(beam))
times = []
for i in range(2):
    start = time.perf_counter()
    with open_writers(mztab=out, inputs=[mgf], session=session,
                      decode=decode) as writers:
        summary = sequence_files([mgf], session=session, decode=decode,
                                 config=EngineConfig(), writers=writers,
                                 mode=mode)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times[-1], "n": summary.n_spectra,
                  "stages": summary.stage_seconds}))
"""


def compare_checkouts(baseline: Path, mgf: Path, tmp: Path, *, mode: str,
                      beam: int, model: str, rounds: int) -> dict:
    """This checkout vs ``baseline``, alternating fresh processes; the
    ratio of median wall times (> 1: this checkout is faster)."""
    runs = {"baseline": [], "this": []}
    for _ in range(rounds):
        for name, root in (("baseline", baseline), ("this", ROOT)):
            env = dict(os.environ, PYTHONPATH=str(root))
            done = subprocess.run(
                [sys.executable, "-c", _TIMED_PASS, str(mgf),
                 str(tmp / f"{name}.mztab"), mode, str(beam), model],
                env=env, cwd=root, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{name} ({root}) failed:\n"
                                   + done.stderr[-2000:])
            runs[name].append(json.loads(done.stdout.splitlines()[-1]))
    out = {"mode": mode, "beam": beam, "model": model, "rounds": rounds}
    for name, items in runs.items():
        seconds = sorted(r["seconds"] for r in items)
        out[name] = {"median_seconds": seconds[len(seconds) // 2],
                     "all_seconds": [r["seconds"] for r in items],
                     "spectra_per_s": items[0]["n"]
                     / seconds[len(seconds) // 2]}
    out["speedup"] = (out["baseline"]["median_seconds"]
                      / out["this"]["median_seconds"])
    return out


def write_comparison(args, n: int, rows: list[dict]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                            cwd=args.baseline, capture_output=True,
                            text=True).stdout.strip() or "?"
    this = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                          cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() or "?"
    lines = ["| mode | model | beam | baseline spectra/s | this spectra/s "
             "| speed-up (median of rounds) | baseline s (all rounds) | "
             "this s (all rounds) |", "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['model']} | {r['beam']} | "
            f"{r['baseline']['spectra_per_s']:.1f} | "
            f"{r['this']['spectra_per_s']:.1f} | {r['speedup']:.2f}x | "
            + ", ".join(f"{x:.2f}" for x in r["baseline"]["all_seconds"])
            + " | " + ", ".join(f"{x:.2f}" for x in r["this"]["all_seconds"])
            + " |")
    table = "\n".join(lines)
    print(table)
    meta = {"command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d"), "input": args.input.name,
            "n_spectra": n, "baseline_commit": commit, "this_commit": this,
            "cpu_count": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2))
    notes = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    args.out.with_suffix(".md").write_text(
        "# Speed of this checkout against a baseline commit\n\n"
        f"{notes}\n\nEach round runs one fresh process per checkout "
        "(a warm-up pass, then the timed pass: file in -> mzTab out, "
        "default engine settings), alternating, on the same machine.\n\n"
        f"{table}\n")


CASANOVO_CKPT = """
import sys, torch, lightning, casanovo
from casanovo.config import Config
from casanovo.denovo.model_runner import ModelRunner
torch.manual_seed(0)
runner = ModelRunner(Config(sys.argv[2]))
runner.initialize_tokenizer()
runner.initialize_model(train=True)
model = runner.model
torch.save({"state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": lightning.__version__,
            "epoch": 0, "global_step": 0}, sys.argv[1])
print(casanovo.__version__)
"""


def casanovo_env() -> Path:
    """The cached Casanovo venv (created on first use)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"# creating Casanovo venv in {VENV} (cached)")
        subprocess.run([sys.executable, "-m", "venv",
                        "--system-site-packages", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "casanovo", "pyarrow==21.0.0"], check=True)
    return python


def casanovo_config(tmp: Path, *, beam: int, max_length: int,
                    batch_size: int) -> Path:
    """Casanovo's default config with our beam, length cap and batch."""
    import yaml

    default = tmp / "casanovo_default.yaml"
    if not default.exists():
        subprocess.run([str(VENV / "bin" / "casanovo"), "configure", "-d",
                        str(tmp), "-o", default.stem, "-f"], check=True,
                       capture_output=True)
    config = yaml.safe_load(default.read_text())
    config.update({"n_beams": beam, "top_match": 1,
                   "max_peptide_len": max_length,
                   "predict_batch_size": batch_size,
                   "accelerator": "cpu", "devices": 1,
                   "precursor_mass_tol": 20, "isotope_error_range": [0, 1]})
    path = tmp / f"casanovo_beam{beam}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_casanovo(mgf: Path, tmp: Path, *, beam: int, max_length: int,
                 batch_size: int, n: int, threads: int) -> dict:
    """Time `casanovo sequence` with random weights on ``mgf``."""
    python = casanovo_env()
    config = casanovo_config(tmp, beam=beam, max_length=max_length,
                             batch_size=batch_size)
    ckpt = tmp / "casanovo_random.ckpt"
    if not ckpt.exists():
        proc = subprocess.run([str(python), "-c", CASANOVO_CKPT, str(ckpt),
                               str(config)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError("cannot build a random Casanovo checkpoint:"
                               "\n" + proc.stderr[-3000:])
    small = tmp / "small.mgf"
    if not small.exists():
        write_subset(mgf, small, 8)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads or os.cpu_count()))
    times = {}
    for name, path in (("small", small), ("full", mgf)):
        out = tmp / f"casanovo_{name}_{beam}.mztab"
        out.unlink(missing_ok=True)
        cmd = [str(VENV / "bin" / "casanovo"), "sequence", str(path),
               "--model", str(ckpt), "--config", str(config),
               "--output_dir", str(tmp), "--output_root",
               out.stem, "--force_overwrite"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times[name] = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError("casanovo failed:\n" + proc.stderr[-3000:])
    net = max(times["full"] - times["small"], 1e-9)
    return {"seconds": times["full"], "startup_seconds": times["small"],
            "spectra_per_s": n / net, "spectra_per_s_raw":
            n / times["full"], "max_length": max_length,
            "batch_size": batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", metavar="[LABEL=]PATH",
                        help="model to time (repeatable; default: the "
                        "bundled default model)")
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--max-spectra", type=int, default=512)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="denovo's model batch [engine default]")
    parser.add_argument("--casanovo-batch-size", type=int, nargs="+",
                        default=[64, 1024],
                        help="Casanovo's predict_batch_size values to try; "
                        "the fastest counts [64 and its default 1024]")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--modes", nargs="+", default=["hybrid"],
                        choices=["hybrid", "evidence", "model"],
                        help="engine modes to time [hybrid, the default]")
    parser.add_argument("--no-casanovo", action="store_true")
    parser.add_argument("--casanovo-max-length", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS / "speed")
    parser.add_argument("--baseline", type=Path,
                        help="checkout of another denovo commit: time it "
                        "against this one (no Casanovo)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating processes per checkout with "
                        "--baseline")
    args = parser.parse_args()
    if args.batch_size is None:
        from denovo.engine import EngineConfig
        args.batch_size = EngineConfig().batch_size

    tmp = Path(tempfile.mkdtemp(prefix="denovo-speed-"))
    mgf = tmp / "input.mgf"
    n = write_subset(args.input, mgf, args.max_spectra)
    if args.baseline is not None:
        beams = args.beams if args.beams != [1, 5] else [5]
        rows = [compare_checkouts(args.baseline, mgf, tmp, mode=mode,
                                  beam=beam, model=(args.model or
                                                    ["default"])[0],
                                  rounds=args.rounds)
                for mode in args.modes for beam in beams]
        write_comparison(args, n, rows)
        return
    models = pick_models(args.model, tmp)
    print(f"# {n} spectra from {args.input.name}; models: "
          + "; ".join(f"{label}: {note}" for label, _, note in models))
    print(f"# {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, threads={args.threads or 'all'}")
    rows = []
    for beam in args.beams:
        casanovo = None
        if not args.no_casanovo:
            try:  # its best batch size, so the ratio is not flattered
                tries = [run_casanovo(
                    mgf, tmp, beam=beam, max_length=args.casanovo_max_length,
                    batch_size=size, n=n, threads=args.threads)
                    for size in args.casanovo_batch_size]
                best = max(tries, key=lambda r: r["spectra_per_s"])
                casanovo = {**best, "tries": tries}
            except (RuntimeError, subprocess.CalledProcessError,
                    OSError) as exc:
                print(f"# Casanovo skipped: {exc}")
        for k, (label, path, _) in enumerate(models):
            for mode in args.modes:
                if mode == "evidence" and k:
                    continue  # no model runs: once is enough
                ours = run_denovo(path, mgf, tmp / "out.mztab", beam=beam,
                                  batch_size=args.batch_size,
                                  threads=args.threads,
                                  repeats=args.repeats, mode=mode)
                rows.append({"model": label if mode != "evidence" else "-",
                             "mode": mode, "beam": beam, "denovo": ours,
                             "casanovo": casanovo})

    header = ("| model | mode | beam | denovo spectra/s | casanovo "
              "spectra/s | ratio | read | preprocess | model | decode | "
              "evidence | write | evidence ms/spectrum |")
    lines = [header, "|" + "---|" * 13]
    for row in rows:
        d, c = row["denovo"], row["casanovo"]
        st = d["stages"]
        cas = (f"{c['spectra_per_s']:.2f} (batch {c['batch_size']})" if c
               else "-")
        ratio = f"{d['spectra_per_s'] / c['spectra_per_s']:.0f}x" if c \
            else "-"
        lines.append(
            f"| {row['model']} | {row['mode']} | {row['beam']} | "
            f"{d['spectra_per_s']:.1f} | {cas} | {ratio} "
            + "".join(f"| {st.get(k, 0.0):.3f}s " for k in
                      ("read", "preprocess", "model", "decode", "evidence",
                       "write"))
            + f"| {1000 * st.get('evidence', 0.0) / max(d['n'], 1):.2f} |")
    table = "\n".join(lines)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"n_spectra": n, "input": args.input.name,
            "models": {label: note for label, _, note in models},
            "repeats": args.repeats, "batch_size": args.batch_size,
            "casanovo_batch_size": args.casanovo_batch_size,
            "threads": args.threads, "cpu_count": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"),
            "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
            "casanovo_note": "random weights, max_length capped at "
            f"{args.casanovo_max_length}; spectra/s excludes start-up "
            "(time on 8 spectra subtracted); fastest of its batch sizes"}
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2))
    notes = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    args.out.with_suffix(".md").write_text(
        f"# End-to-end speed (file in -> mzTab out)\n\n{notes}\n\n"
        f"{table}\n\nStage times are for the median run (seconds).\n")


if __name__ == "__main__":
    main()
