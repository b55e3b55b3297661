"""The result record the engine hands to writers.

One :class:`PSM` per reported candidate; a spectrum that could not be
sequenced still gets one, with ``peptide`` None and its status, so every
input spectrum is accounted for in the output.

Scores
------
``score`` is the engine's raw model score (mean token log-probability);
writers keep it in its own column (mzTab ``opt_global_model_score``, CSV
``model_score``). The column a user sorts by (mzTab
``search_engine_score[1]``, CSV ``score``) is :attr:`PSM.reported_score`:
the calibrated ``confidence`` when the engine fills it in, else the
geometric-mean token probability ``exp(score)``; in both cases in
``[MIN_MATCHED_SCORE, 1]`` for mass-matched rows and exactly 0 for flagged
``no_mass_match`` rows, so sorting by it never puts a flagged row above
a mass-matched one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .spectrum import Spectrum

__all__ = ["PSM", "FLAGGED", "MIN_MATCHED_SCORE", "unique_spectrum_ids"]

FLAGGED = "no_mass_match"
# Reported scores of mass-matched rows are at least this, flagged rows
# get 0, so the two never tie (6 decimals are written).
MIN_MATCHED_SCORE = 1e-6


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
        Raw model score of the peptide (the decoder's mean token
        log-probability, <= 0), or None. Written as ``model_score``.
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
    confidence
        Calibrated probability that the peptide is correct, filled in by
        the engine once a model ships a calibration; None until then.
    raw_scores
        Further raw ranking features by name (evidence, mass error, ...),
        written as ``name=value`` pairs; None when there are none.
    fragmentation
        The spectrum's fragmentation class as the engine read it
        (:attr:`Spectrum.fragmentation`), for the mzTab metadata.
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
    confidence: float | None = None
    raw_scores: Mapping[str, float] | None = None
    fragmentation: str | None = None

    @property
    def reported_score(self) -> float | None:
        """The sortable score: 0 for flagged rows, else in (0, 1].

        None for rows without a peptide. See the module docstring.
        """
        if self.peptide is None or (self.score is None
                                    and self.confidence is None):
            return None
        if self.status == FLAGGED:
            return 0.0
        value = (self.confidence if self.confidence is not None
                 else math.exp(min(self.score, 0.0)))
        if math.isnan(value):
            return MIN_MATCHED_SCORE
        return min(max(value, MIN_MATCHED_SCORE), 1.0)

    @classmethod
    def from_spectrum(cls, spectrum: Spectrum, *,
                      peptide: Sequence[str] | None = None,
                      score: float | None = None,
                      aa_scores: Sequence[float] | None = None,
                      charge: int | None = None,
                      status: str | None = None,
                      rank: int = 1,
                      confidence: float | None = None,
                      raw_scores: Mapping[str, float] | None = None
                      ) -> "PSM":
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
            rank=rank,
            confidence=None if confidence is None else float(confidence),
            fragmentation=spectrum.fragmentation,
            raw_scores=None if raw_scores is None else
            {str(k): float(v) for k, v in raw_scores.items()})

    @property
    def spectrum_id(self) -> str:
        """``{file name}:{index}``, the community benchmark key."""
        name = self.source.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{name}:{self.index}"


def unique_spectrum_ids(sources: Sequence[str]) -> dict[str, str]:
    """File part of the spectrum id for each input, unique per input.

    The file name when no other input has the same name (the community
    benchmark format, ``run.mgf:3``); otherwise the path relative to the
    inputs' common folder (``a/run.mgf:3`` and ``b/run.mgf:3``).
    """
    import os
    from pathlib import Path

    resolved = {s: Path(s).resolve() for s in sources}
    names: dict[str, int] = {}
    for path in set(resolved.values()):
        names[path.name] = names.get(path.name, 0) + 1
    clash = [p for p in resolved.values() if names[p.name] > 1]
    common = Path(os.path.commonpath([str(p.parent) for p in clash])) \
        if clash else None
    out = {}
    for source, path in resolved.items():
        if names[path.name] > 1:
            out[source] = path.relative_to(common).as_posix()
        else:
            out[source] = path.name
    return out
