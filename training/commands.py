"""The torch-side ``denovo`` commands: train, simulate, plot.

``denovo/cli.py`` finds them through the ``denovo.commands`` entry points
(pyproject.toml), so the runtime never imports this package. Importing
this module needs only click: torch and the trainer load inside each
command, and a missing torch gives :data:`TORCH_HINT`, not a traceback.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import os
from pathlib import Path

import click

__all__ = ["TORCH_HINT", "TorchCommand", "require_torch", "run_training",
           "train", "simulate", "plot"]

log = logging.getLogger(__name__)

TORCH_HINT = (
    "this command needs PyTorch; install it with\n"
    "  pip install torch --index-url https://download.pytorch.org/whl/cpu"
    "   (CPU-only machine)\n"
    "  pip install torch   (GPU machine)\n"
    "then, in the denovo checkout: pip install '.[train]'")


def require_torch() -> None:
    """Import PyTorch for a torch command, or fail with an install hint."""
    try:
        importlib.import_module("torch")
    except ImportError:
        raise click.ClickException(TORCH_HINT) from None


class TorchCommand(click.Command):
    """A command that needs torch: without it, its --help says how."""

    def format_epilog(self, ctx, formatter) -> None:
        super().format_epilog(ctx, formatter)
        if importlib.util.find_spec("torch") is None:
            formatter.write_paragraph()
            for line in ("Not available: " + TORCH_HINT).splitlines():
                formatter.write(f"  {line}\n")


@click.command(cls=TorchCommand)
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
    require_torch()
    run_training(config_path, out_dir=out_dir, resume=resume,
                 device=device, max_steps=max_steps, stop_at=stop_at,
                 overrides=overrides, train_files=train_files,
                 val_files=val_files, progress=not no_progress)


@click.command()
@click.option("--peptides", "peptides_file", type=click.Path(
    dir_okay=False, exists=True), help="Peptide list (one per line, .gz "
    "or CSV with a sequence column).")
@click.option("--fasta", type=click.Path(dir_okay=False, exists=True),
              help="Proteins to digest (trypsin, <= 2 missed cleavages, "
                   "6-35 residues).")
@click.option("--library", type=click.Path(file_okay=False, exists=True),
              help="MS2PIP intensity library (python -m "
                   "denovo_training.data.build_library); also the peptide "
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
    from .data.realistic import simulate_mgf

    try:
        written = simulate_mgf(output, n_spectra, peptides=peptides_file,
                               fasta=fasta, library=library, seed=seed)
    except (OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {written} spectra to {output}", err=True)


@click.command()
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
    from .plot import plot_run

    try:
        paths = plot_run(run_dir, out_dir=out_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(f"wrote {path}")


def run_training(config_path, *, out_dir, resume=None, device: str = "auto",
                 max_steps: int | None = None, stop_at: int | None = None,
                 overrides=(), train_files=(), val_files=(),
                 progress: bool = True) -> dict:
    """``denovo train``: load the recipe, apply overrides, train.

    User-level problems (bad config, missing file, unreadable spectra)
    become :class:`click.ClickException` with the message, not a
    traceback.
    """
    from denovo.core.config import ConfigError
    from denovo.io import InputFileError

    from .data.curriculum import load_recipe
    from .trainer import Trainer

    rank = int(os.environ.get("RANK", "0"))
    logging.getLogger(__package__).setLevel(
        logging.INFO if rank == 0 else logging.WARNING)
    try:
        recipe = load_recipe(config_path, overrides)
        if overrides:
            log.info("recipe overrides: %s", " ".join(overrides))
        train = recipe.train
        if max_steps:
            train = dataclasses.replace(train, max_steps=max_steps)
        data = recipe.data
        if train_files or val_files:
            data = dataclasses.replace(
                data, train_files=tuple(train_files) or data.train_files,
                val_files=tuple(val_files) or data.val_files)
        stages = recipe.curriculum
        if train_files and all(s.real_fraction == 0 for s in stages):
            log.warning("--train given but no curriculum stage draws real "
                        "spectra; using real_fraction 0.5 in every stage")
            stages = tuple(dataclasses.replace(s, real_fraction=0.5)
                           for s in stages)
        recipe = dataclasses.replace(recipe, train=train, data=data,
                                     curriculum=stages)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(out / "train.log")
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger(__package__).addHandler(handler)
        try:
            trainer = Trainer(recipe, out, device=device, resume=resume,
                              progress=progress)
            result = trainer.fit(until=stop_at)
        finally:
            logging.getLogger(__package__).removeHandler(handler)
            handler.close()
    except (ConfigError, InputFileError, FileNotFoundError,
            ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if trainer.is_main:
        click.echo(f"trained {trainer.step} steps; checkpoints in {out}")
        for key in ("val_token_accuracy", "val_sequence_accuracy",
                    "real_token_accuracy", "real_sequence_accuracy"):
            if key in result:
                click.echo(f"  {key}: {result[key]:.4f}")
    return result
