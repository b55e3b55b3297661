"""psm_utils' TSV format, so that MS²Rescore and other psm_utils-based
tools read denovo's peptides.

One row per reported peptide (spectra without one have no
identification to hand on, so no row): ``peptidoform`` (ProForma with the
precursor charge, ``PEPTIDEK/2``), ``spectrum_id`` (the native id for
mzML/mzXML, else the MGF title, else the 0-based index: what the
spectrum file itself calls the spectrum), ``run`` (the input file's stem),
``score`` (the calibrated confidence, the CSV's ``score``),
``precursor_mz``, ``retention_time`` (seconds), ``rank``, ``is_decoy``
(False: de novo has no decoys), ``source`` (``denovo``), and the engine's
raw scores as ``rescoring:`` features (rank score, evidence, model
score, the evidence verifier's correction), the per-residue scores and the status as ``meta:`` columns. The
columns are fixed, so every row has all of them; a value denovo does not
have is empty.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .atomic import AtomicFile, AtomicWriter
from .psm import PSM

__all__ = ["PsmTsvWriter", "PSM_TSV_COLUMNS"]

_RESCORING = ("rank_score", "evidence", "model", "verifier", "from_search")
PSM_TSV_COLUMNS = (
    ("peptidoform", "spectrum_id", "run", "score", "precursor_mz",
     "retention_time", "rank", "is_decoy", "source")
    + tuple(f"rescoring:{name}" for name in _RESCORING)
    + ("meta:model_score", "meta:aa_scores", "meta:status"))


class PsmTsvWriter(AtomicWriter):
    """Write reported peptides to a psm_utils TSV file as they come.

    Parameters
    ----------
    path
        Output file (written as ``NAME.partial`` until :meth:`close`).
    vocabulary
        Token table for ProForma.
    """

    def __init__(self, path, *, vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        self.path = Path(path)
        self.vocabulary = vocabulary
        self._file = AtomicFile(self.path, newline="")
        self._fh = self._file.fh
        self._tsv = csv.writer(self._fh, delimiter="\t",
                               lineterminator="\n")
        self._tsv.writerow(PSM_TSV_COLUMNS)
        self._fh.flush()
        self.n_rows = 0

    def write_many(self, psms: Iterable[PSM]) -> None:
        """Write the rows that carry a peptide, then flush once."""
        from ..core.peptide import to_proforma
        for psm in psms:
            if not psm.peptide or psm.charge is None:
                continue
            raw = psm.raw_scores or {}
            score = psm.reported_score
            self._tsv.writerow((
                f"{to_proforma(psm.peptide, vocabulary=self.vocabulary)}"
                f"/{psm.charge}",
                _spectrum_id(psm), Path(psm.source).name.split(".")[0],
                "" if score is None else f"{score:.6f}",
                "" if psm.exp_mz is None or psm.exp_mz != psm.exp_mz
                else f"{psm.exp_mz:.6f}",
                "" if psm.rt is None else f"{psm.rt:.3f}",
                psm.rank, "False", "denovo",
                *("" if raw.get(k) is None else f"{raw[k]:.6g}"
                  for k in _RESCORING),
                "" if psm.score is None else f"{psm.score:.6f}",
                "" if not psm.aa_scores else
                ",".join(f"{a:.5f}" for a in psm.aa_scores),
                psm.status))
            self.n_rows += 1
        self._fh.flush()


def _spectrum_id(psm: PSM) -> str:
    if psm.native_id:
        return psm.native_id
    if psm.title:
        return psm.title
    return str(psm.index)
