"""Incremental CSV writer in the community de novo benchmark format.

Columns ``sequence`` (ProForma with UNIMOD accessions), ``score`` (the
sortable :attr:`~denovo.io.psm.PSM.reported_score`: 0 for flagged rows),
``aa_scores`` (comma-separated, so the cell is quoted), ``spectrum_id``
(``{file name}:{0-based index}``; see
:func:`~denovo.io.psm.unique_spectrum_ids` when names repeat), plus
``charge``, ``status`` and ``rank`` so skipped spectra keep their row,
``model_score`` (the raw mean token log-probability), ``raw_scores``
(``name=value;...``) and ``precursor_mz`` (observed, so that evaluation
can check each row against its truth spectrum). The file is written as
``NAME.partial`` and renamed on :meth:`CsvWriter.close` (see
:mod:`denovo.io.atomic`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .atomic import AtomicFile, AtomicWriter
from .psm import PSM, unique_spectrum_ids

__all__ = ["CsvWriter", "CSV_COLUMNS", "format_raw_scores"]

CSV_COLUMNS = ("sequence", "score", "aa_scores", "spectrum_id", "charge",
               "status", "rank", "model_score", "raw_scores",
               "precursor_mz")


def format_raw_scores(raw) -> str:
    """``{"a": 1.0, "b": 2.5}`` -> ``"a=1;b=2.5"`` ("" for None)."""
    if not raw:
        return ""
    return ";".join(f"{k}={v:.6g}" for k, v in raw.items())


class CsvWriter(AtomicWriter):
    """Write PSMs to a CSV file as they come (flushed per call).

    Parameters
    ----------
    path
        Output file (written as ``NAME.partial`` until :meth:`close`).
    runs
        The input files: when two share a file name, their spectrum ids
        use the path below the common folder
        (:func:`~denovo.io.psm.unique_spectrum_ids`).
    vocabulary
        Token table for ProForma.
    """

    def __init__(self, path, *, runs=None,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        self.path = Path(path)
        self._ids = unique_spectrum_ids([str(r) for r in runs or ()])
        self.vocabulary = vocabulary
        self._file = AtomicFile(self.path, newline="")
        self._fh = self._file.fh
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)
        self._fh.flush()
        self.n_rows = 0

    def write(self, psm: PSM) -> None:
        """Write one row and flush."""
        self.write_many((psm,))

    def write_many(self, psms: Iterable[PSM]) -> None:
        """Write rows, then flush once."""
        from ..core.peptide import to_proforma
        for psm in psms:
            sequence = "" if not psm.peptide else to_proforma(
                psm.peptide, vocabulary=self.vocabulary)
            score = psm.reported_score
            self._csv.writerow((
                sequence,
                "" if score is None else f"{score:.6f}",
                "" if not psm.aa_scores else
                ",".join(f"{a:.5f}" for a in psm.aa_scores),
                self._spectrum_id(psm),
                "" if psm.charge is None else psm.charge,
                psm.status, psm.rank,
                "" if psm.score is None else f"{psm.score:.6f}",
                format_raw_scores(psm.raw_scores),
                "" if psm.exp_mz is None or psm.exp_mz != psm.exp_mz
                else f"{psm.exp_mz:.6f}"))
            self.n_rows += 1
        self._fh.flush()

    def _spectrum_id(self, psm: PSM) -> str:
        name = self._ids.get(psm.source)
        return psm.spectrum_id if name is None else f"{name}:{psm.index}"
