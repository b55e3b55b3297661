"""The ``denovo`` command line: parse arguments, call the library.

Commands import their heavy dependencies lazily, so ``denovo --help`` is
fast and works without torch.
"""

from __future__ import annotations

import logging

import click

from . import __version__

__all__ = ["main"]

TORCH_HINT = (
    "this command needs PyTorch; install it with\n"
    "  pip install torch==2.13.0 && pip install 'denovo[train]'")


def _not_yet(verb: str, issue: int) -> None:
    raise click.ClickException(
        f"`denovo {verb}` is planned but not implemented yet "
        f"(tracked in issue {issue}).")


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
def sequence() -> None:
    """Sequence spectra (mzML/mzXML/MGF) with an ONNX model."""
    _not_yet("sequence", 6)


@main.command()
def evaluate() -> None:
    """Score predictions against annotated spectra."""
    _not_yet("evaluate", 7)


@main.command()
def train() -> None:
    """Train a Tiny Recursive Model (needs torch)."""
    _not_yet("train", 4)


@main.command()
def export() -> None:
    """Export a checkpoint to a self-describing ONNX file (needs torch)."""
    _not_yet("export", 6)


@main.command()
def simulate() -> None:
    """Write simulated annotated spectra as MGF."""
    _not_yet("simulate", 5)


@main.command()
def plot() -> None:
    """Plot training curves of a run directory."""
    _not_yet("plot", 4)
