"""Sequence an annotated file with a model and score it, as users would.

Shared by the benchmarks that compare models on the real dev split: the
library path of ``denovo sequence`` (beam 5, mass control by default),
timed end to end, and the metrics of ``denovo evaluate``.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["sequence_timed", "dev_metrics"]


def sequence_timed(model: Path, mgf: Path, csv_out: Path, *,
                   beam: int = 5) -> float:
    """Sequence ``mgf`` into ``csv_out``; returns wall seconds."""
    from denovo.engine import (DecodeConfig, EngineConfig, ModelSession,
                               open_writers, sequence_files)

    session = ModelSession(model)
    decode = DecodeConfig(beam=beam)
    start = time.perf_counter()
    with open_writers(csv=csv_out, inputs=[mgf], session=session,
                      decode=decode) as writers:
        sequence_files([mgf], session=session, decode=decode,
                       config=EngineConfig(), writers=writers)
    return time.perf_counter() - start


def dev_metrics(csv_out: Path, truth: Path) -> dict:
    """``denovo evaluate``'s mass-matching summary of a predictions CSV."""
    from denovo.evaluate.pipeline import evaluate_files

    (result,) = evaluate_files([csv_out], [truth], exact=False)
    return result.mass.summary()
