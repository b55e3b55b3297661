"""The Nine-Species protocol: per-species de novo accuracy.

The revised Nine-Species benchmark (MassIVE MSV000090982) holds one
annotated MGF (or a folder of MGFs) per species. Two protocols:

``zero-shot``  sequence every species with one ``.onnx`` model
               (``denovo sequence``) and score it (``denovo evaluate``).
``loso``       leave one species out: train on the other eight
               (``denovo train``), export (``denovo export``), then
               evaluate on the held-out species as in ``zero-shot``.

``--stand-in`` builds a small stand-in from the annotated files in
``../shared/data/real`` (each file plays one "species") so the pipeline
can be run end to end without the 30 GB download. ``--predictions DIR``
skips sequencing and scores ``DIR/<species>.mztab`` instead.

Prints a per-species table and writes it as JSON and markdown, with the
command, machine and date, under ``--out`` (default
``benchmarks/results``)::

    python benchmarks/nine_species.py zero-shot --data DIR --model m.onnx
    python benchmarks/nine_species.py zero-shot --stand-in --model m.onnx
    python benchmarks/nine_species.py loso --data DIR --config cfg.yaml \
        --dry-run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
# Stand-in "species": annotated real files (spectra, labels, fixed mods).
STAND_IN = {
    "human_qeplus": ("QEPlus2_10212016_40_F5.mgf", None, None),
    "pepnet": ("pepnet_124.mgf", None, {"C": "C[UNIMOD:4]"}),
    "proteometools": ("proteometools_hcd_82.msp", None, None),
    "yeast": ("yeast_small.mzML", "yeast_small.mzid", None),
}
TRAIN_TEMPLATE = ("denovo train --config {config} --out {run_dir} "
                  "{train_files}")
EXPORT_TEMPLATE = "denovo export {run_dir}/best.ckpt {model}"
METRICS = (("AA prec", "aa_precision"), ("AA rec", "aa_recall"),
           ("pep rec", "peptide_recall"), ("pep prec", "peptide_precision"),
           ("AUC", "auc"))

__all__ = ["build_stand_in", "find_species", "main"]


def _cli(*args: str) -> list[str]:
    """Command line of a ``denovo`` subcommand (entry point or -c)."""
    exe = shutil.which("denovo")
    if exe:
        return [exe, *args]
    return [sys.executable, "-c", "from denovo.cli import main; main()",
            *args]


def _mgf_block(spec, peptide) -> str:
    from denovo.core.peptide import to_casanovo

    head = ["BEGIN IONS", f"TITLE={spec.title or spec.index}",
            f"PEPMASS={spec.precursor_mz:.6f}"]
    if spec.charge:
        head.append(f"CHARGE={spec.charge}+")
    if spec.scan is not None:
        head.append(f"SCANS={spec.scan}")
    if spec.rt is not None:
        head.append(f"RTINSECONDS={spec.rt:.3f}")
    # The revised Nine-Species MGFs write labels in Casanovo mass notation.
    head.append(f"SEQ={to_casanovo(peptide)}")
    peaks = [f"{m:.5f} {i:.2f}" for m, i in zip(spec.mz, spec.intensity,
                                                strict=True)]
    return "\n".join(head + peaks + ["END IONS", ""])


def build_stand_in(out: Path, *, size: int = 100, seed: int = 0,
                   real: Path = REAL) -> Path:
    """Write one MGF per stand-in species (at most ``size`` spectra each).

    Only labelled, sequenceable spectra are kept, chosen at random with
    ``seed``. Returns the directory.
    """
    from denovo.io import read_annotated

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for species, (spectra, labels, fixed) in STAND_IN.items():
        path = real / spectra
        if not path.exists():
            print(f"stand-in: {path} missing, {species} left out")
            continue
        label_path = None if labels is None else real / labels
        reader = read_annotated(path, labels=label_path, fixed=fixed)
        good = [s for s in reader if s.ok and s.peptide]
        keep = sorted(rng.choice(len(good), min(size, len(good)),
                                 replace=False))
        text = "".join(_mgf_block(good[i], good[i].peptide) for i in keep)
        (out / f"{species}.mgf").write_text(text, encoding="utf-8")
    return out


def find_species(data: Path) -> dict[str, list[Path]]:
    """Species name -> its MGF files: ``data/<sp>.mgf[.gz]`` or
    ``data/<sp>/*.mgf[.gz]``."""
    species: dict[str, list[Path]] = {}
    for item in sorted(data.iterdir()):
        if item.is_dir():
            files = sorted(p for p in item.iterdir()
                           if p.name.lower().endswith((".mgf", ".mgf.gz")))
            if files:
                species[item.name] = files
        elif item.name.lower().endswith((".mgf", ".mgf.gz")):
            species[item.name.split(".")[0]] = [item]
    if not species:
        raise SystemExit(f"no species MGFs found in {data}")
    return species


def _run(cmd: list[str], dry_run: bool) -> bool:
    print("$ " + shlex.join(cmd), flush=True)
    if dry_run:
        return True
    done = subprocess.run(cmd, check=False)
    if done.returncode:
        print(f"  -> failed with exit code {done.returncode}")
    return done.returncode == 0


def _evaluate(pred: Path, files: list[Path], out_json: Path,
              dry_run: bool) -> dict | None:
    cmd = _cli("evaluate", str(pred), *[a for f in files
                                        for a in ("--truth", str(f))],
               "--json", str(out_json))
    if not _run(cmd, dry_run) or dry_run:
        return None
    return json.loads(out_json.read_text())["results"][0]


def _sequence(model: Path, files: list[Path], pred: Path,
              dry_run: bool) -> bool:
    return _run(_cli("sequence", *map(str, files), "--model", str(model),
                     "-o", str(pred)), dry_run)


def _zero_shot(species, model_for, args, work: Path) -> dict:
    rows = {}
    for name, files in species.items():
        pred = work / f"{name}.mztab"
        if args.predictions:
            pred = args.predictions / f"{name}.mztab"
            if not pred.exists():
                print(f"{name}: {pred} missing, skipped")
                continue
        elif not _sequence(model_for(name), files, pred, args.dry_run):
            continue
        result = _evaluate(pred, files, work / f"{name}.json",
                           args.dry_run)
        if result is not None:
            rows[name] = result
    return rows


def _loso_models(species, args, work: Path):
    """Train and export one model per held-out species; returns paths."""
    models = {}
    for held_out in species:
        train = [str(f) for name, fs in species.items() if name != held_out
                 for f in fs]
        run_dir = work / "runs" / held_out
        model = work / "models" / f"without_{held_out}.onnx"
        fields = dict(config=shlex.quote(str(args.config)),
                      run_dir=shlex.quote(str(run_dir)),
                      train_files=" ".join(f"--train {shlex.quote(f)}"
                                           for f in train),
                      model=shlex.quote(str(model)))
        ok = all(_run(shlex.split(t.format(**fields)), args.dry_run)
                 for t in (args.train_template, EXPORT_TEMPLATE))
        models[held_out] = model if ok else None
    return models


def _table(rows: dict) -> tuple[list[str], list[list[str]]]:
    head = (["species", "spectra", "predicted"] + [m[0] for m in METRICS]
            + ["exact pep rec"])
    body = []
    for name, r in rows.items():
        mass, exact = r["mass"], r["exact"] or {}
        body.append([name, str(mass["n_spectra"]), str(mass["n_predicted"])]
                    + [f"{mass[k]:.4f}" for _, k in METRICS]
                    + [f"{exact.get('peptide_recall', float('nan')):.4f}"])
    if len(rows) > 1:  # unweighted mean over species, as papers report
        means = [np.mean([r["mass"][k] for r in rows.values()])
                 for _, k in METRICS]
        ex = np.mean([(r["exact"] or {}).get("peptide_recall", np.nan)
                      for r in rows.values()])
        body.append(["mean", str(sum(r["mass"]["n_spectra"]
                                     for r in rows.values())), ""]
                    + [f"{v:.4f}" for v in means] + [f"{ex:.4f}"])
    return head, body


def _git_commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short",
                           "HEAD"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "unknown"


def _write(rows, args, argv) -> None:
    head, body = _table(rows)
    widths = [max(len(r[i]) for r in [head] + body)
              for i in range(len(head))]
    for r in [head] + body:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths,
                                                       strict=True))))
    tag = f"nine_species_{args.mode.replace('-', '_')}"
    tag += "_stand_in" if args.stand_in else ""
    command = "python benchmarks/nine_species.py " + shlex.join(argv)
    meta = {"command": command, "machine": describe(),
            "date": dt.date.today().isoformat(), "commit": _git_commit(),
            "data": str(args.data), "model": str(args.model)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{tag}.json").write_text(
        json.dumps({"meta": meta, "species": rows}, indent=1) + "\n")
    md = [f"# Nine-Species, {args.mode}"
          + (" (stand-in)" if args.stand_in else ""), ""]
    md += [f"- {k}: `{v}`" for k, v in meta.items()] + [""]
    md += ["| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in body]
    (args.out / f"{tag}.md").write_text("\n".join(md) + "\n")
    print(f"wrote {args.out / tag}.json and .md")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("zero-shot", "loso"))
    p.add_argument("--data", type=Path,
                   help="folder of per-species MGFs (revised benchmark)")
    p.add_argument("--stand-in", action="store_true",
                   help="build and use the stand-in from ../shared/data")
    p.add_argument("--stand-in-size", type=int, default=100,
                   help="spectra per stand-in species")
    p.add_argument("--model", type=Path, help="ONNX model (zero-shot)")
    p.add_argument("--config", type=Path, help="training config (loso)")
    p.add_argument("--train-template", default=TRAIN_TEMPLATE,
                   help="training command; fields {config} {run_dir} "
                        "{train_files} {model}")
    p.add_argument("--predictions", type=Path,
                   help="score DIR/<species>.mztab instead of sequencing")
    p.add_argument("--work", type=Path, default=ROOT / "runs" /
                   "nine_species", help="predictions, runs and models")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" /
                   "results")
    p.add_argument("--dry-run", action="store_true",
                   help="print the commands only")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the protocol; returns the per-species results."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.stand_in:
        args.data = build_stand_in(args.work / "stand_in",
                                   size=args.stand_in_size)
    if args.data is None:
        raise SystemExit("give --data DIR or --stand-in")
    species = find_species(args.data)
    print(f"{len(species)} species in {args.data}: {', '.join(species)}")
    if args.mode == "zero-shot":
        if args.model is None and args.predictions is None:
            raise SystemExit("zero-shot needs --model (or --predictions)")
        rows = _zero_shot(species, lambda _: args.model, args, args.work)
    else:
        if args.config is None and args.predictions is None:
            raise SystemExit("loso needs --config")
        models = ({} if args.predictions else
                  _loso_models(species, args, args.work))
        trained = {k: v for k, v in species.items()
                   if args.predictions or models.get(k)}
        rows = _zero_shot(trained, models.get, args, args.work)
    if rows:
        _write(rows, args, argv)
    return rows


if __name__ == "__main__":
    main()
