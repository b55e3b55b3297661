"""The ``denovo`` command line: parse arguments, call the library.

The runtime commands (sequence, evaluate) live here; the torch-side ones
(train, export, simulate, plot) are found through the ``denovo.commands``
entry points, so this module never imports ``training`` or ``export``.
Commands import their heavy dependencies lazily, so ``denovo --help`` is
fast and works without torch.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

import click

from . import __version__

__all__ = ["main"]

# Exit codes of ``denovo sequence`` (documented in the README).
EXIT_OK = 0  # every input read and sequenced completely
EXIT_FAILED = 1  # could not run: nothing written at the output paths
EXIT_USAGE = 2  # malformed command line (click's convention)
EXIT_DAMAGED = 3  # finished, outputs written, but an input was damaged
EXIT_INTERRUPTED = 130  # Ctrl-C: nothing written at the output paths

COMMANDS_GROUP = "denovo.commands"  # entry points of other packages
MODELS_DIR = Path(__file__).resolve().parent / "models"


class _Group(click.Group):
    """The built-in commands plus those of the entry-point group.

    Plugins load only when listed or called, and a plugin that fails to
    load becomes a command that reports why, not a traceback on --help.
    """

    def _plugins(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)
                if ep.name not in self.commands}

    def list_commands(self, ctx) -> list[str]:
        return sorted({*self.commands, *self._plugins()})

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        ep = self._plugins().get(name)
        if ep is None:
            return None
        try:
            return ep.load()
        except Exception as exc:  # noqa: BLE001 - any broken plugin
            message = f"command {name!r} ({ep.value}) cannot load: {exc}"

            @click.command(name, help=f"(unavailable: {exc})",
                           context_settings={"ignore_unknown_options": True,
                                             "allow_extra_args": True})
            def broken() -> None:
                raise click.ClickException(message)
            return broken


class _ModelOption(click.Option):
    """``--model``, whose help lists the bundled models when shown."""

    def get_help_record(self, ctx):
        names = ", ".join(p.stem for p in sorted(MODELS_DIR.glob("*.onnx")))
        self.help = ("denovo ONNX model file, or the name of a bundled "
                     f"model ({names or 'none installed'}) [default: "
                     "default].")
        return super().get_help_record(ctx)


@click.group(cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"]})
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
              cls=_ModelOption)
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
@click.option("--fixed-mods", multiple=True, metavar="NAME@SITES,..",
              help="Fixed modifications, e.g. TMT6plex@K,TMT6plex@N-term "
                   "or Carbamidomethyl@C: NAME a UNIMOD name, UNIMOD:737 "
                   "or a mass delta like +229.1629; SITES residue letters "
                   "(STY) or N-term. Every such site carries the mod. "
                   "Repeatable.")
@click.option("--variable-mods", multiple=True, metavar="NAME@SITES,..",
              help="Variable modifications (same syntax), e.g. "
                   "Phospho@STY: searched besides the unmodified "
                   "residue. Repeatable.")
@click.option("--default-mods/--no-default-mods", default=True,
              show_default=True,
              help="Keep the model's own modified tokens (C+57, M+16, "
                   "N/Q+1, N-terminal Acetyl/Carbamyl/Ammonia-loss); "
                   "off: only the 20 residues and the mods named.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="mzTab output [default: INPUT.mztab in the current "
                   "directory, unless only --csv or --psm-tsv is given].")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Also (or only) write a CSV table.")
@click.option("--psm-tsv", "tsv_path", type=click.Path(dir_okay=False),
              help="Also (or only) write psm_utils' TSV (one row per "
                   "reported peptide; MS2Rescore and other psm_utils "
                   "tools read it).")
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
                   "denovo_training.evidence_scorer) to use instead of the "
                   "model's.")
@click.option("--fragment-tol", metavar="TOL",
              help="Fragment m/z tolerance of the evidence search in Da "
                   "or ppm, e.g. 0.02Da or 20ppm, for every spectrum "
                   "[default: the scorer's of the spectrum's "
                   "fragmentation: 0.02Da for HCD, 0.5Da for ion-trap "
                   "CID].")
@click.option("--fragmentation", type=click.Choice(["auto", "HCD", "CID"]),
              default="auto", show_default=True,
              help="auto: as each mzML/mzXML spectrum states it, or for "
                   "MGF/MSP files as their peaks show (low-resolution "
                   "fragments: ion-trap CID); HCD or CID: read every "
                   "spectrum with that class's scorer, ranker and "
                   "confidence (HCD covers high-resolution fragments of "
                   "any activation).")
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
             isotope_errors, charges, output, csv_path, tsv_path,
             batch_size, threads, mass_control, rescore, mode, evidence_scorer,
             fragment_tol, fragmentation, progress, workers, scheduler,
             fixed_mods=(), variable_mods=(), default_mods=True) -> None:
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
    from .engine import (DecodeConfig, EngineConfig, ModelFileError,
                         PrecursorWindow, open_writers, sequence_files)
    from .engine.pipeline import ion_trap_settings
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

    decode, engine, window = {"mass_control": mass_control}, {}, {}
    if beam is not None:
        decode["beam"] = beam
    if top_match is not None:
        decode["top_k"] = top_match
    if precursor_tol is not None:
        window.update(_tolerance(precursor_tol))
    if isotope_errors is not None:
        window["isotope_errors"] = ints(isotope_errors, "--isotope-errors")
    if charges is not None:
        engine["charges"] = ints(charges, "--charges")
    if batch_size is not None:
        engine["batch_size"] = batch_size
    if threads is not None:
        engine["threads"] = threads
    modifications = _modifications(fixed_mods, variable_mods, default_mods)
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    if workers is not None and threads is None:
        import os
        engine["threads"] = max(1, (os.cpu_count() or 1) // workers)
    if output is None and csv_path is None and tsv_path is None:
        name = Path(inputs[0]).name.split(".")[0]
        output = f"{name}.mztab"
    try:
        decode_cfg = DecodeConfig(**decode)
        engine_cfg = EngineConfig(**engine)
        window_cfg = PrecursorWindow(**window)
        session = None
        if mode != "evidence" or model is not None:
            session = ModelSession(model, threads=engine_cfg.threads)
        fitted = _fitted(session, fragment_tol, evidence_scorer)
        ion_trap = ion_trap_settings(getattr(session, "info", None))
        if fragment_tol is not None:
            ion_trap = _with_tol(ion_trap, fragment_tol)
        with connect(workers=workers, scheduler=scheduler) as client, \
                open_writers(mztab=output, csv=csv_path, tsv=tsv_path,
                             inputs=inputs, session=session,
                             decode=decode_cfg, window=window_cfg,
                             fragment_tol={
                                 "HCD": fitted.scorer.config.describe(),
                                 "CID": ion_trap.scorer.config.describe()},
                             modifications=modifications) as writers:
            summary = sequence_files(
                inputs, session=session, window=window_cfg,
                decode=decode_cfg, config=engine_cfg, writers=writers,
                rescore=rescore, progress=progress, client=client,
                mode=mode, fitted=fitted,
                ion_trap=ion_trap, fragmentation=fragmentation,
                modifications=modifications)
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
    for path in (output, csv_path, tsv_path):
        if path is not None:
            click.echo(f"wrote {path}", err=True)
    if summary.damaged:
        click.echo(f"finished, but {len(summary.damaged)} input(s) were "
                   f"damaged (exit code {EXIT_DAMAGED})", err=True)
        raise SystemExit(EXIT_DAMAGED)


def _fitted(session, fragment_tol, path=None):
    """The engine's fitted settings (the given file, else the model's,
    else the package's), with the fragment tolerance the user asked
    for."""
    from .core.settings import FittedSettings, load_default

    if path is not None:
        fitted = FittedSettings.load(path)
    else:
        fitted = getattr(getattr(session, "info", None), "fitted",
                         None) or load_default()
    return fitted if fragment_tol is None else _with_tol(fitted,
                                                          fragment_tol)


def _with_tol(fitted, fragment_tol: str):
    """``fitted`` reading peaks at the ``--fragment-tol`` the user gave."""
    tol = _tolerance(fragment_tol, "--fragment-tol")
    if "tol_da" in tol:
        return fitted.with_fragment_tol(tol["tol_da"], "Da")
    return fitted.with_fragment_tol(tol["tol_ppm"], "ppm")


def _modifications(fixed, variable, default_mods):
    """The run's :class:`~denovo.core.modifications.ModSet`; a bad spec
    is a usage error naming its option."""
    from .core.modifications import ModificationError, ModSet, parse_specs

    specs = {}
    for hint, values in (("--fixed-mods", fixed),
                         ("--variable-mods", variable)):
        try:
            specs[hint] = parse_specs(values)
        except ModificationError as err:
            raise click.BadParameter(str(err), param_hint=hint) from None
    try:
        return ModSet(specs["--fixed-mods"], specs["--variable-mods"],
                      default_mods)
    except ModificationError as err:
        raise click.BadParameter(
            str(err), param_hint="--fixed-mods/--variable-mods") from None


def _reading_vocabulary(fixed, variable):
    """The tokens evaluation reads: the default vocabulary and those of a
    run with these modifications (its unmodified residues too: labels
    may leave a fixed mod implicit, ``--fixed``)."""
    from .core.vocab import DEFAULT_VOCABULARY, Vocabulary

    mods = _modifications(fixed, variable, True)
    if not mods:
        return DEFAULT_VOCABULARY
    names = {t.name for t in DEFAULT_VOCABULARY.tokens}
    extra = [t for t in mods.vocabulary(DEFAULT_VOCABULARY).tokens[2:]
             if t.name not in names]
    return Vocabulary(DEFAULT_VOCABULARY.tokens[2:] + tuple(extra))


def _tolerance(text: str, hint: str = "--precursor-tol") -> dict:
    """``"20ppm"``, ``"20"`` or ``"0.02Da"`` -> PrecursorWindow fields."""
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
        return {"tol_da": value}
    return {"tol_ppm": value}


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
@click.option("--fixed-mods", multiple=True, metavar="NAME@SITES,..",
              help="The sequencing run's --fixed-mods, so that its "
                   "peptides (and labels carrying them) can be read.")
@click.option("--variable-mods", multiple=True, metavar="NAME@SITES,..",
              help="The sequencing run's --variable-mods.")
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
def evaluate(predictions, truth, labels, fixed, fixed_mods, variable_mods,
             exact, seen, residue_tol, prefix_tol, model,
             allow_partial_match, plot, json_path) -> None:
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
            model=model, allow_partial=allow_partial_match,
            vocabulary=_reading_vocabulary(fixed_mods, variable_mods))
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
