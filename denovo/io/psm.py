"""The result record the engine hands to writers.

One :class:`PSM` per reported candidate; a spectrum that could not be
sequenced still gets one, with ``peptide`` None and its status, so every
input spectrum is accounted for in the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .spectrum import Spectrum

__all__ = ["PSM"]


@dataclass(frozen=True, slots=True)
class PSM:
    """A peptide-spectrum match, or the status row of a skipped spectrum.

    Attributes
    ----------
    source, index, scan, native_id, title
        Copied from the :class:`~denovo.io.spectrum.Spectrum`, so the row
        maps back to its input.
    peptide
        Token tuple, or None when nothing was sequenced.
    score
        Peptide score (see the decoder for its definition), or None.
    aa_scores
        One score per token of ``peptide`` (N-terminal token included).
    charge
        Charge the peptide was scored at (may differ from the spectrum's
        when that was unknown).
    exp_mz, calc_mz
        Observed precursor m/z and the peptide's theoretical m/z (computed
        by writers when None).
    rt
        Retention time in seconds.
    status
        ``"ok"``, ``"no_mass_match"`` or the spectrum's ``"skipped:..."``.
    rank
        1 for the best candidate of a spectrum, 2 for the next, ...
    """

    source: str
    index: int
    peptide: tuple[str, ...] | None = None
    score: float | None = None
    aa_scores: tuple[float, ...] | None = None
    charge: int | None = None
    exp_mz: float | None = None
    calc_mz: float | None = None
    rt: float | None = None
    scan: int | None = None
    native_id: str | None = None
    title: str | None = None
    status: str = "ok"
    rank: int = 1

    @classmethod
    def from_spectrum(cls, spectrum: Spectrum, *,
                      peptide: Sequence[str] | None = None,
                      score: float | None = None,
                      aa_scores: Sequence[float] | None = None,
                      charge: int | None = None,
                      status: str | None = None,
                      rank: int = 1) -> "PSM":
        """PSM for ``spectrum``; a skipped spectrum keeps its status."""
        return cls(
            source=spectrum.source, index=spectrum.index,
            peptide=None if peptide is None else tuple(peptide),
            score=None if score is None else float(score),
            aa_scores=None if aa_scores is None else
            tuple(float(a) for a in aa_scores),
            charge=charge if charge is not None else spectrum.charge,
            exp_mz=spectrum.precursor_mz, rt=spectrum.rt,
            scan=spectrum.scan, native_id=spectrum.native_id,
            title=spectrum.title,
            status=status if status is not None else spectrum.status,
            rank=rank)

    @property
    def spectrum_id(self) -> str:
        """``{file name}:{index}``, the community benchmark key."""
        name = self.source.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{name}:{self.index}"
