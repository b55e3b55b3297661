"""The ``denovo export`` command, registered through the
``denovo.commands`` entry points (pyproject.toml) like training's.

Importing it needs only click; torch and onnx load inside the command.
"""

from __future__ import annotations

import click

from denovo_training.commands import TorchCommand, require_torch

__all__ = ["export"]


@click.command(cls=TorchCommand)
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
    require_torch()
    from denovo_training.checkpoint import load_model_from_checkpoint

    from .onnx_export import export_onnx, spectra_batch

    variants = [k for k, on in (("fp16", fp16), ("int8", int8)) if on]
    try:
        _, cfg, extra = load_model_from_checkpoint(checkpoint)
        batches = [spectra_batch(f, extra["preprocess"])
                   for f in check_files] if extra["preprocess"] else []
        metadata = None
        if real_lists or sim_lists:
            from denovo.evaluate.training_peptides import (
                read_peptide_file, training_peptides_metadata)
            metadata = training_peptides_metadata(
                set().union(*map(read_peptide_file, real_lists)),
                set().union(*map(read_peptide_file, sim_lists)))
        if cfg.kind == "autoregressive":
            # the AR baseline: a teacher-forced graph (an ablation, not a
            # model the engine sequences with)
            from .autoregressive_export import export_autoregressive
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
