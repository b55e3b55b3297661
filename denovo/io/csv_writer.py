"""Incremental CSV writer in the community de novo benchmark format.

Columns ``sequence`` (ProForma with UNIMOD accessions), ``score``,
``aa_scores`` (comma-separated, so the cell is quoted), ``spectrum_id``
(``{file name}:{0-based index}``), plus ``charge``, ``status`` and
``rank`` so skipped spectra keep their row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .psm import PSM

__all__ = ["CsvWriter", "CSV_COLUMNS"]

CSV_COLUMNS = ("sequence", "score", "aa_scores", "spectrum_id", "charge",
               "status", "rank")


class CsvWriter:
    """Write PSMs to a CSV file as they come (flushed per call)."""

    def __init__(self, path, *,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        self.path = Path(path)
        self.vocabulary = vocabulary
        self._fh = open(self.path, "w", encoding="utf-8", newline="")
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
            self._csv.writerow((
                sequence,
                "" if psm.score is None else f"{psm.score:.6f}",
                "" if not psm.aa_scores else
                ",".join(f"{a:.5f}" for a in psm.aa_scores),
                psm.spectrum_id,
                "" if psm.charge is None else psm.charge,
                psm.status, psm.rank))
            self.n_rows += 1
        self._fh.flush()

    def close(self) -> None:
        """Flush and close the file."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "CsvWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
