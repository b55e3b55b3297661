"""The precursor window: which peptide masses fit a measured precursor.

One type for every caller (the evidence search, the model's beam, the
ranking's mass error, the decoders of benchmarks), so the rule is written
once: a peptide of neutral mass ``m`` fits a precursor of neutral mass
``M`` when ``|m - (M - k * C13_SPACING)| <= tol`` for an allowed isotope
error ``k``, with ``tol`` in ppm of ``M`` or, when given, in Da.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import C13_SPACING, H2O

__all__ = ["PrecursorWindow"]


@dataclass(frozen=True)
class PrecursorWindow:
    """Precursor tolerance and allowed isotope errors.

    ``tol_da`` (when set) replaces ``tol_ppm``.
    """

    tol_ppm: float = 20.0
    tol_da: float | None = None
    isotope_errors: tuple[int, ...] = (0, 1)

    def __post_init__(self):
        if not self.tol_ppm > 0:
            raise ValueError("the precursor tolerance in ppm must be > 0")
        if self.tol_da is not None and not 0 < self.tol_da < 10:
            raise ValueError("the precursor tolerance in Da must be in "
                             "(0, 10)")
        if not self.isotope_errors:
            raise ValueError("isotope_errors must not be empty")
        object.__setattr__(self, "isotope_errors",
                           tuple(int(k) for k in self.isotope_errors))

    @property
    def kernel_tolerances(self) -> tuple[float, float]:
        """``(ppm, da)`` for kernels that add the two: one of them 0."""
        if self.tol_da:
            return 0.0, float(self.tol_da)
        return float(self.tol_ppm), 0.0

    def half_width(self, precursor_mass):
        """Tolerance in Da around a neutral precursor mass."""
        if self.tol_da:
            return self.tol_da + 0.0 * np.asarray(precursor_mass)
        return np.asarray(precursor_mass) * self.tol_ppm * 1e-6

    def residue_targets(self, precursor_mass: float) -> np.ndarray:
        """Residue-mass sums (no water) a peptide may have, one per
        isotope error."""
        iso = np.asarray(self.isotope_errors, np.float64)
        return precursor_mass - H2O - iso * C13_SPACING

    def _offsets(self, peptide_mass, precursor_mass) -> np.ndarray:
        pm = np.asarray(precursor_mass, np.float64)[..., None]
        iso = np.asarray(self.isotope_errors, np.float64)
        return np.abs(np.asarray(peptide_mass, np.float64)[..., None]
                      - (pm - iso * C13_SPACING))

    def fits(self, peptide_mass, precursor_mass) -> np.ndarray:
        """Whether neutral peptide masses fit (broadcasting)."""
        tol = self.half_width(precursor_mass)
        return (self._offsets(peptide_mass, precursor_mass)
                <= np.asarray(tol)[..., None]).any(axis=-1)

    def error_ppm(self, peptide_mass, precursor_mass) -> np.ndarray:
        """|precursor - peptide| in ppm at the closest isotope error."""
        return (self._offsets(peptide_mass, precursor_mass).min(axis=-1)
                / np.asarray(precursor_mass, np.float64) * 1e6)

    def describe(self) -> str:
        """'20 ppm' or '0.02 Da' (the mzTab metadata's words)."""
        return (f"{self.tol_da} Da" if self.tol_da
                else f"{self.tol_ppm} ppm")
