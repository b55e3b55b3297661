"""The engine's unit of work and how the spectrum stream is cut.

A :class:`Row` is one spectrum at one precursor charge (a spectrum
without a charge is tried at each configured charge: one row each). The
stages fill it in, in order: evidence peaks (once per spectrum, shared by
its rows), the search's peptides, the model's inputs (drafts) and
outputs, the decoder's candidates, then the ranked matches.

:func:`windows` cuts the stream into read-ahead windows of a few batches;
the engine sorts each window's rows by peak count before batching (a
model batch then pads little), and the cluster driver cuts its chunks at
the same boundaries, so every model batch holds the same spectra in one
process or on many.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

__all__ = ["Row", "WINDOW_BATCHES", "usable", "n_rows", "windows"]

WINDOW_BATCHES = 8  # batches read ahead and sorted by peak count
# Reader statuses about the label only: the spectrum is still sequenced.
_LABEL_ONLY = ("skipped:unknown_modification", "skipped:bad_label")


@dataclass(eq=False)
class Row:
    """One spectrum at one precursor charge, filled in stage by stage."""

    index: int  # the spectrum's position in its window
    spectrum: object  # denovo.io Spectrum
    charge: int
    mass: float  # neutral precursor mass at this charge
    peaks: tuple | None = None  # evidence peaks (mz, weight)
    found: list = field(default_factory=list)  # search, best first
    found_scores: np.ndarray | None = None  # their peak-once rank scores
    found_encoded: tuple | None = None  # their (tokens, lengths), if known
    drafts: list = field(default_factory=list)  # model inputs, () blank
    log_probs: np.ndarray | None = None  # [N, L, V], one per draft
    model_candidates: list = field(default_factory=list)
    batch_row: int = -1  # row of the window's preprocessed model batch


def usable(spectrum) -> bool:
    """Whether a spectrum from the reader is sequenced."""
    return spectrum.ok or spectrum.status in _LABEL_ONLY


def n_rows(spectrum, charges: tuple) -> int:
    """Rows a spectrum becomes (0 if it is not sequenced)."""
    if not usable(spectrum):
        return 0
    return 1 if spectrum.charge else len(charges)


def windows(spectra: Iterable, batch_size: int,
            charges: tuple) -> Iterator[list]:
    """The stream in read-ahead windows: ``WINDOW_BATCHES`` batches of
    rows, or four times as many spectra (for runs of unusable ones)."""
    window = WINDOW_BATCHES * batch_size
    pending, rows = [], 0
    for spectrum in spectra:
        pending.append(spectrum)
        rows += n_rows(spectrum, charges)
        if rows >= window or len(pending) >= 4 * window:
            yield pending
            pending, rows = [], 0
    if pending:
        yield pending
