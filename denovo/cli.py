"""The ``denovo`` command line: parse arguments, call the library.

Commands import their heavy dependencies lazily, so ``denovo --help`` is
fast and works without torch.
"""

from __future__ import annotations

import importlib
import logging

import click

from . import __version__

__all__ = ["main"]

# Exit codes of ``denovo sequence`` (documented in the README).
EXIT_OK = 0  # every input read and sequenced completely
EXIT_FAILED = 1  # could not run: nothing written at the output paths
EXIT_USAGE = 2  # malformed command line (click's convention)
EXIT_DAMAGED = 3  # finished, outputs written, but an input was damaged
EXIT_INTERRUPTED = 130  # Ctrl-C: nothing written at the output paths

TORCH_HINT = (
    "this command needs PyTorch; install it with\n"
    "  pip install torch --index-url https://download.pytorch.org/whl/cpu"
    "   (CPU-only machine)\n"
    "  pip install torch   (GPU machine)\n"
    "then, in the denovo checkout: pip install '.[train]'")


def _require_torch() -> None:
    """Import PyTorch for a torch command, or fail with an install hint."""
    try:
        importlib.import_module("torch")
    except ImportError:
        raise click.ClickException(TORCH_HINT) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="denovo")
@click.option("-v", "--verbose", count=True, help="More log output.")
def main(verbose: int) -> None:
    """De novo peptide sequencing with a Tiny Recursive Model.

    \b
    Typical use:
      denovo sequence run.mzML -o run.mztab      # default model
      denovo evaluate run.mztab --truth labelled.mgf
      denovo train --config my.yaml --out runs/my
      denovo export runs/my/last.ckpt my.onnx
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG),
                        format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(dir_okay=False))
@click.option("-m", "--model", type=click.Path(dir_okay=False),
              help="denovo ONNX model file, or the name of a bundled "
                   "model (default, fast) [default: default].")
@click.option("--beam", type=click.IntRange(min=1),
              help="Beam width [default: 5].")
@click.option("--top-match", type=click.IntRange(min=1),
              help="Candidates reported per spectrum [default: 1].")
@click.option("--precursor-tol", metavar="TOL",
              help="Precursor tolerance in ppm or Da, e.g. 20ppm or "
                   "0.02Da [default: 20ppm].")
@click.option("--isotope-errors", metavar="K,..",
              help="Allowed precursor isotope errors [default: 0,1].")
@click.option("--charges", metavar="Z,..",
              help="Charges tried for spectra without one "
                   "[default: 2,3].")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="mzTab output [default: INPUT.mztab in the current "
                   "directory, unless only --csv is given].")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Also (or only) write a CSV table.")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Spectra per model batch [default: 32].")
@click.option("--threads", type=click.IntRange(min=0),
              help="ONNX Runtime threads, 0 = all cores [default: 0].")
@click.option("--mass-control/--no-mass-control", default=True,
              show_default=True,
              help="Keep only peptides that fit the precursor mass "
                   "(off: plain beam search, for comparison).")
@click.option("--rescore/--no-rescore", default=False, show_default=True,
              help="Model mode: re-rank beams by fragment matching.")
@click.option("--mode", type=click.Choice(["hybrid", "evidence", "model"]),
              default="hybrid", show_default=True,
              help="hybrid: evidence search and model beam pooled, ranked "
                   "by peak-once fragment evidence plus model score "
                   "(most accurate); evidence: the evidence search alone, "
                   "no neural model runs; model: the model's beam alone "
                   "(for comparison).")
@click.option("--evidence-scorer", type=click.Path(dir_okay=False,
                                                  exists=True),
              help="Evidence scorer JSON (python -m "
                   "training.evidence_scorer) to use instead of the "
                   "model's.")
@click.option("--fragment-tol", metavar="TOL",
              help="Fragment m/z tolerance of the evidence search in Da "
                   "or ppm, e.g. 0.02Da or 20ppm [default: the model's "
                   "scorer, 0.02Da]; use ~0.5Da for ion-trap spectra.")
@click.option("--progress/--no-progress", default=True,
              show_default=True, help="Show a progress bar.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Run on a local Dask cluster of N worker processes "
                   "(needs the 'cluster' extra; --threads then defaults "
                   "to cores / N).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on the Dask cluster whose scheduler is at ADDRESS, "
                   "e.g. tcp://host:8786.")
def sequence(inputs, model, beam, top_match, precursor_tol,
             isotope_errors, charges, output, csv_path, batch_size,
             threads, mass_control, rescore, mode, evidence_scorer,
             fragment_tol, progress, workers, scheduler) -> None:
    """Sequence spectra (mzML/mzXML/MGF/MSP): the evidence search reads
    the peaks, the ONNX model adds its beam and score (--mode).

    Every input spectrum gets one output row (top-1), skipped ones too,
    with a status: ok, no_mass_match (no peptide of the precursor mass is
    supported by the peaks; in model mode the best peptide without a
    precursor fit, flagged) or skipped:<reason>. The score column is the
    calibrated probability that the peptide is right.

    \b
    Exit codes: 0 done; 3 done, but an input was damaged (its lost
    spectra have skipped:unreadable rows); 1 could not run; 2 bad
    command line; 130 interrupted. Outputs appear only when the run
    finishes (partial rows are kept as OUTPUT.partial).
    """
    from pathlib import Path

    from .engine import (DecodeConfig, EngineConfig, ModelFileError,
                         open_writers, sequence_files)
    from .engine.cluster import ClusterError, connect
    from .engine.session import ModelSession
    from .io.errors import InputFileError

    def ints(text, name):
        try:
            return tuple(int(x) for x in text.split(","))
        except ValueError:
            raise click.BadParameter(f"{text!r} is not a list of "
                                     "integers like 0,1",
                                     param_hint=name) from None

    decode, engine = {"mass_control": mass_control}, {}
    if beam is not None:
        decode["beam"] = beam
    if top_match is not None:
        decode["top_k"] = top_match
    if precursor_tol is not None:
        decode.update(_tolerance(precursor_tol))
    if isotope_errors is not None:
        decode["isotope_errors"] = ints(isotope_errors, "--isotope-errors")
    if charges is not None:
        engine["charges"] = ints(charges, "--charges")
    if batch_size is not None:
        engine["batch_size"] = batch_size
    if threads is not None:
        engine["threads"] = threads
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    if workers is not None and threads is None:
        import os
        engine["threads"] = max(1, (os.cpu_count() or 1) // workers)
    if output is None and csv_path is None:
        name = Path(inputs[0]).name.split(".")[0]
        output = f"{name}.mztab"
    try:
        decode_cfg = DecodeConfig(**decode)
        engine_cfg = EngineConfig(**engine)
        session = None
        if mode != "evidence" or model is not None:
            session = ModelSession(model, threads=engine_cfg.threads)
        scorer = _scorer(session, fragment_tol, evidence_scorer)
        with connect(workers=workers, scheduler=scheduler) as client, \
                open_writers(mztab=output, csv=csv_path, inputs=inputs,
                             session=session,
                             decode=decode_cfg) as writers:
            summary = sequence_files(
                inputs, session=session, decode=decode_cfg,
                config=engine_cfg, writers=writers, rescore=rescore,
                progress=progress, client=client, mode=mode,
                scorer=scorer)
    except (ModelFileError, InputFileError, ValueError, OSError,
            ClusterError) as err:
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        click.echo("interrupted: no output written (rows so far are in "
                   "the .partial files named above, if any)", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    if summary.first_run_note:
        click.echo(summary.first_run_note, err=True)
    click.echo(summary.text(), err=True)
    for path in (output, csv_path):
        if path is not None:
            click.echo(f"wrote {path}", err=True)
    if summary.damaged:
        click.echo(f"finished, but {len(summary.damaged)} input(s) were "
                   f"damaged (exit code {EXIT_DAMAGED})", err=True)
        raise SystemExit(EXIT_DAMAGED)


def _scorer(session, fragment_tol, path=None):
    """The evidence scorer (the given file, else the model's, else the
    package's), with the fragment tolerance the user asked for."""
    from .core.evidence import EvidenceScorer, load_default_scorer

    if path is not None:
        scorer = EvidenceScorer.load(path)
    else:
        scorer = getattr(getattr(session, "info", None), "evidence_scorer",
                         None) or load_default_scorer()
    if fragment_tol is None:
        return scorer
    tol = _tolerance(fragment_tol, "--fragment-tol")
    if "precursor_tol_da" in tol:
        return scorer.with_fragment_tol(tol["precursor_tol_da"], "Da")
    return scorer.with_fragment_tol(tol["precursor_tol_ppm"], "ppm")


def _tolerance(text: str, hint: str = "--precursor-tol") -> dict:
    """``"20ppm"``, ``"20"`` or ``"0.02Da"`` -> DecodeConfig fields."""
    low = text.strip().lower().replace(" ", "")
    unit = "da" if low.endswith("da") else "ppm"
    try:
        value = float(low.removesuffix(unit))
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise click.BadParameter(
            f"{text!r} is not a tolerance like 20ppm or 0.02Da",
            param_hint=hint)
    if unit == "da":
        return {"precursor_tol_da": value}
    return {"precursor_tol_ppm": value}


@main.command()
@click.argument("predictions", nargs=-1, required=True,
                type=click.Path(dir_okay=False))
@click.option("--truth", "-t", multiple=True, required=True,
              type=click.Path(dir_okay=False),
              help="Annotated spectra (MGF with SEQ=, MSP, or mzML/MGF "
                   "with --labels). Repeat for several files.")
@click.option("--labels", multiple=True, type=click.Path(dir_okay=False),
              help="Label file (mzIdentML, PEPREC) for each --truth, in "
                   "the same order.")
@click.option("--fixed", multiple=True, metavar="AA=TOKEN",
              help="Fixed modification for labels that leave it implicit, "
                   "e.g. C=C[UNIMOD:4].")
@click.option("--exact/--no-exact", default=True, show_default=True,
              help="Also report exact matching (only I/L may differ).")
@click.option("--seen", multiple=True, type=click.Path(dir_okay=False),
              help="Peptide list (one per line, .gz ok) used in training; "
                   "adds metrics on spectra of unseen peptides (I = L, "
                   "modifications ignored). Repeatable.")
@click.option("--residue-tol", default=0.1, show_default=True,
              help="Residue mass tolerance (Da).")
@click.option("--prefix-tol", default=0.5, show_default=True,
              help="Prefix mass tolerance (Da).")
@click.option("-m", "--model", type=click.Path(dir_okay=False),
              help="Model file whose recorded training peptides split "
                   "the metrics into seen and unseen subsets.")
@click.option("--allow-partial-match", is_flag=True,
              help="Score only the predictions whose spectrum agrees with "
                   "its truth spectrum (file, precursor m/z, scan) even "
                   "when most do not (default: stop).")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Write the precision-coverage curve(s) and, for scores "
                   "in [0, 1], the reliability diagram as PNG.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write all metrics and curves as JSON.")
def evaluate(predictions, truth, labels, fixed, exact, seen, residue_tol,
             prefix_tol, model, allow_partial_match, plot,
             json_path) -> None:
    """Score PREDICTIONS (mzTab or CSV; denovo's or Casanovo's) against
    annotated spectra.

    \b
    Residues match when their masses agree within 0.1 Da and the prefix
    masses within 0.5 Da (from either end, I = L); peptide recall counts
    every annotated spectrum, predicted or not. Scores in [0, 1] are
    read as probabilities: ECE is their expected calibration error.
    """
    from .evaluate import MatchConfig, PredictionFormatError, evaluate_files
    from .evaluate.report import format_table, plot_curves, write_json
    from .io.errors import InputFileError

    if labels and len(labels) != len(truth):
        raise click.UsageError(
            f"{len(labels)} --labels for {len(truth)} --truth files; give "
            "one per --truth file or none")
    fixed_map = {}
    for item in fixed:
        aa, sep, token = item.partition("=")
        if not sep or len(aa) != 1:
            raise click.BadParameter(f"{item!r} is not AA=TOKEN",
                                     param_hint="--fixed")
        fixed_map[aa] = token
    try:
        config = MatchConfig(residue_tol_da=residue_tol,
                             prefix_tol_da=prefix_tol)
        results = evaluate_files(
            predictions, truth, exact=exact, labels=labels or None,
            fixed=fixed_map or None, seen_lists=seen, config=config,
            model=model, allow_partial=allow_partial_match)
    except (PredictionFormatError, InputFileError, OSError,
            ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(format_table(results))
    if json_path:
        write_json(results, json_path)
    if plot:
        try:
            plot_curves(results, plot)
        except ImportError:
            raise click.ClickException(
                "--plot needs matplotlib: pip install 'denovo[plot]'") \
                from None


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              default="configs/default.yaml", show_default=True,
              help="Training recipe YAML; the default is the default "
                   "model's recipe, read (like its data paths) from the "
                   "repository root.")
@click.option("--resume", type=click.Path(dir_okay=False),
              help="Continue from a checkpoint (e.g. RUN/last.ckpt).")
@click.option("--device", type=click.Choice(["auto", "cuda", "mps", "cpu"]),
              default="auto", show_default=True)
@click.option("--max-steps", type=click.IntRange(min=1),
              help="Total steps (overrides train.max_steps).")
@click.option("--stop-at", type=click.IntRange(min=1),
              help="Stop at this step without changing the schedule "
                   "(equal-budget comparisons; --resume goes on).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Change one recipe setting (repeatable), e.g. "
                   "model.steps=1 or curriculum.*.loss.mass_weight=0.")
@click.option("--train", "train_files", multiple=True,
              help="Annotated spectra to train on (repeatable); an mzML "
                   "takes labels from a .mzid beside it or RUN::IDS.")
@click.option("--val", "val_files", multiple=True,
              help="Annotated spectra to validate on (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              default="runs/train", show_default=True,
              help="Run directory for checkpoints and metrics.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def train(config_path, resume, device, max_steps, stop_at, overrides,
          train_files, val_files, out_dir, no_progress) -> None:
    """Train a Tiny Recursive Model (needs torch).

    \b
    Multi-GPU: torchrun --nproc_per_node N --no-python denovo train ...
    """
    _require_torch()
    from training.trainer import run_training

    run_training(config_path, out_dir=out_dir, resume=resume,
                 device=device, max_steps=max_steps, stop_at=stop_at,
                 overrides=overrides, train_files=train_files,
                 val_files=val_files, progress=not no_progress)


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--opset", type=click.IntRange(min=17), default=17,
              show_default=True, help="ONNX opset version.")
@click.option("--fp16", is_flag=True,
              help="Also write OUTPUT's stem + .fp16.onnx (for GPUs).")
@click.option("--int8", is_flag=True,
              help="Also write OUTPUT's stem + .int8.onnx (dynamic "
                   "quantisation).")
@click.option("--all-steps", is_flag=True,
              help="Also output every refinement step's log-probs.")
@click.option("--check", "check_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True),
              help="Spectrum file(s) whose first 64 spectra join the "
                   "parity check.")
@click.option("--training-peptides", "real_lists", multiple=True,
              type=click.Path(dir_okay=False, exists=True),
              help="Real annotated training peptides to record in the "
                   "model (peptide list, or a split TSV: its train rows); "
                   "repeatable. `denovo evaluate -m` then reports seen "
                   "and unseen subsets.")
@click.option("--simulated-peptides", "sim_lists", multiple=True,
              type=click.Path(dir_okay=False, exists=True),
              help="Simulated training peptides to record (as a Bloom "
                   "filter, 0.1% false positives); repeatable.")
def export(checkpoint, output, opset, fp16, int8, all_steps,
           check_files, real_lists, sim_lists) -> None:
    """Export a checkpoint to a self-describing ONNX file (needs torch).

    The file carries vocabulary, preprocessing, length and provenance
    metadata; ONNX Runtime's log-probs are checked against PyTorch's.
    """
    _require_torch()
    from export.onnx_export import export_onnx, spectra_batch
    from training.checkpoint import load_model_from_checkpoint

    variants = [k for k, on in (("fp16", fp16), ("int8", int8)) if on]
    try:
        _, cfg, extra = load_model_from_checkpoint(checkpoint)
        batches = [spectra_batch(f, extra["preprocess"])
                   for f in check_files] if extra["preprocess"] else []
        metadata = None
        if real_lists or sim_lists:
            from .evaluate.training_peptides import (
                read_peptide_file, training_peptides_metadata)
            metadata = training_peptides_metadata(
                set().union(*map(read_peptide_file, real_lists)),
                set().union(*map(read_peptide_file, sim_lists)))
        if cfg.kind == "autoregressive":
            # the AR baseline: a teacher-forced graph (an ablation, not a
            # model the engine sequences with)
            from export.autoregressive_export import export_autoregressive
            report = export_autoregressive(checkpoint, output, opset=opset)
        else:
            report = export_onnx(checkpoint, output, opset=opset,
                                 metadata=metadata,
                                 all_steps=all_steps, variants=variants,
                                 batches=batches)
    except (OSError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {report.path}: max |ONNX - PyTorch| on log-probs "
               f"= {report.max_abs_diff:.1e} over {len(report.diffs)} "
               "batches")
    for info in report.variants.values():
        diff = info["max_abs_diff"]
        click.echo(f"wrote {info['path']}: max diff "
                   + ("not verifiable on this machine" if diff is None
                      else f"{diff:.1e}"))


@main.command()
@click.option("--peptides", "peptides_file", type=click.Path(
    dir_okay=False, exists=True), help="Peptide list (one per line, .gz "
    "or CSV with a sequence column).")
@click.option("--fasta", type=click.Path(dir_okay=False, exists=True),
              help="Proteins to digest (trypsin, <= 2 missed cleavages, "
                   "6-35 residues).")
@click.option("--library", type=click.Path(file_okay=False, exists=True),
              help="MS2PIP intensity library (python -m "
                   "training.data.build_library); also the peptide "
                   "source when neither --peptides nor --fasta is given.")
@click.option("--n", "n_spectra", type=click.IntRange(min=1),
              required=True, help="Number of spectra.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              required=True, help="Annotated MGF to write.")
def simulate(peptides_file, fasta, library, n_spectra, seed,
             output) -> None:
    """Write realistic simulated annotated spectra as MGF (SEQ= ProForma).

    b/y intensities come from MS2PIP (library, or live when ms2pip is
    installed; a heuristic otherwise); other ions and noise from the
    model fitted to real spectra. Needs no torch.
    """
    if peptides_file and fasta:
        raise click.UsageError("give --peptides or --fasta, not both")
    if not (peptides_file or fasta or library):
        raise click.UsageError("give --peptides, --fasta or --library")
    from training.data.realistic import simulate_mgf

    try:
        written = simulate_mgf(output, n_spectra, peptides=peptides_file,
                               fasta=fasta, library=library, seed=seed)
    except (OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {written} spectra to {output}", err=True)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Where to write the PNGs (default: RUN_DIR).")
def plot(run_dir, out_dir) -> None:
    """Plot training curves of a run directory."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "plotting needs matplotlib: pip install 'denovo[plot]'") \
            from None
    from training.plot import plot_run

    try:
        paths = plot_run(run_dir, out_dir=out_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(f"wrote {path}")
