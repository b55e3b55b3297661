"""The spectrum record every reader yields, and the per-file read report.

A reader yields one :class:`Spectrum` per MS2 spectrum in the file, bad
ones included: a spectrum that cannot be sequenced keeps its place with a
``status`` of ``"skipped:<reason>"`` so that downstream code writes one
output row per input spectrum and nothing disappears silently.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "OK",
    "STATUSES",
    "Spectrum",
    "ReadStats",
    "check_peaks",
]

log = logging.getLogger(__name__)

OK = "ok"
# Every status a reader may assign, with the reason it stands for.
STATUSES = {
    OK: "readable MS2 spectrum",
    "skipped:no_peaks": "the spectrum has no peaks",
    "skipped:nan_values": "a peak m/z or intensity is NaN or infinite",
    "skipped:negative_values": "a peak m/z or intensity is negative",
    "skipped:bad_peaks": "a peak line is not two numbers",
    "skipped:bad_precursor": "precursor m/z missing, zero or not a number",
    "skipped:bad_charge": "precursor charge cannot be read or is < 0",
    "skipped:unknown_modification": "the label holds a modification "
                                    "outside the vocabulary",
    "skipped:bad_label": "the label is not a peptide in a known notation",
    "skipped:truncated": "the spectrum block is incomplete",
    "skipped:unreadable": "the spectrum lies in a damaged part of the "
                          "file (known from its tag or the file's count)",
}


@dataclass(frozen=True, slots=True)
class Spectrum:
    """One MS2 spectrum as read from a file.

    Attributes
    ----------
    mz, intensity
        Peaks, float64 m/z and float32 intensity, sorted by m/z.
    precursor_mz
        Precursor m/z (NaN when the file gives none; status says so).
    charge
        Precursor charge; None when unknown (the engine then tries the
        configured charges).
    rt
        Retention time in seconds, or None.
    scan
        Scan number (``SCANS=`` in MGF, ``scan=N`` in a native id).
    native_id
        The mzML/mzXML spectrum id; None for MGF and MSP.
    index
        0-based position of the spectrum in its file: the ``BEGIN IONS``
        block index for MGF (Casanovo's ``{file}:{index}``), the entry
        index for MSP, and the position among *all* spectra (MS1 included,
        the mzML ``index`` attribute) for mzML/mzXML, so it always points
        back into the file.
    title
        MGF ``TITLE=``, MSP ``Name:``, mzML spectrum title.
    peptide
        Label as vocabulary tokens, or None.
    source
        The file the spectrum came from, as given to the reader.
    status
        ``"ok"`` or one of the ``"skipped:<reason>"`` keys of
        :data:`STATUSES`.
    fragmentation
        What the file says about how the spectrum was made
        (:func:`denovo.io.mzml.fragmentation`): ``"HCD"``, ``"CID"``
        (resonance CID, read in an ion trap: low-resolution fragments),
        ``"CID-FT"`` (resonance CID read in an Orbitrap), ``"ETD"``; None
        when it says nothing (MGF, MSP).
    """

    mz: np.ndarray
    intensity: np.ndarray
    precursor_mz: float
    charge: int | None = None
    rt: float | None = None
    scan: int | None = None
    native_id: str | None = None
    index: int = 0
    title: str | None = None
    peptide: tuple[str, ...] | None = None
    source: str = ""
    status: str = OK
    fragmentation: str | None = None

    @property
    def ok(self) -> bool:
        """True when the spectrum can be sequenced."""
        return self.status == OK

    @property
    def spectrum_id(self) -> str:
        """``{file name}:{index}``, the community benchmark key."""
        name = self.source.replace("\\", "/").rsplit("/", 1)[-1]
        return f"{name}:{self.index}"


@dataclass
class ReadStats:
    """What a reader saw in one file; complete once iteration ends.

    Attributes
    ----------
    source, format
        The file and its detected format (``"mgf"``, ``"mzml"``, ...).
    n_spectra
        Spectra yielded (all MS2 spectra, bad ones included).
    ms_levels
        Spectra seen per MS level, yielded or not (MS1/MS3 are counted
        here and not yielded).
    statuses
        Yielded spectra per status.
    n_labelled
        Yielded spectra that carry a peptide label.
    damage
        Description of where the file is damaged (truncated, corrupt), or
        None. Everything before the damage was yielded.
    complete
        True once the reader reached the end of the file or the damage.
    warnings
        File-level problems that lost no spectrum (e.g. stray lines
        outside MGF blocks).
    """

    source: str
    format: str
    n_spectra: int = 0
    ms_levels: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    n_labelled: int = 0
    damage: str | None = None
    complete: bool = False
    warnings: list = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        """Yielded spectra whose status is not ``ok``."""
        return self.n_spectra - self.statuses.get(OK, 0)

    def add(self, spectrum: Spectrum) -> None:
        """Count a yielded spectrum."""
        self.n_spectra += 1
        self.statuses[spectrum.status] += 1
        if spectrum.peptide is not None:
            self.n_labelled += 1

    def summary(self) -> str:
        """One line for logs and the command line."""
        levels = ", ".join(f"MS{k}: {v}"
                           for k, v in sorted(self.ms_levels.items()))
        skipped = ", ".join(f"{k}: {v}" for k, v in
                            sorted(self.statuses.items()) if k != OK)
        text = (f"{self.source}: {self.n_spectra} spectra yielded "
                f"({levels}); {self.n_labelled} labelled")
        if skipped:
            text += f"; {skipped}"
        if self.damage:
            text += f"; DAMAGED: {self.damage}"
        return text


def check_peaks(mz: np.ndarray, intensity: np.ndarray) -> str:
    """Status implied by the peaks alone (``"ok"`` when usable)."""
    if mz.size == 0:
        return "skipped:no_peaks"
    if not (np.isfinite(mz).all() and np.isfinite(intensity).all()):
        return "skipped:nan_values"
    if (mz <= 0).any() or (intensity < 0).any():
        return "skipped:negative_values"
    return OK


def check_precursor(precursor_mz: float | None) -> bool:
    """True when ``precursor_mz`` is a positive finite number."""
    return (precursor_mz is not None and math.isfinite(precursor_mz)
            and precursor_mz > 0)
