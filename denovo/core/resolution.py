"""Fragment mass accuracy read off the peaks, for files that do not say.

A peptide's b and y ions of charge 1 at one cleavage sum to the neutral
precursor mass plus two protons, so in a spectrum the m/z sums of pairs of
strong peaks pile up at that value, as sharply as the fragments were
measured. High-resolution (Orbitrap, TOF) spectra put those complementary
pairs within ~0.01 Da; ion-trap spectra spread them over tenths of a Dalton.
:func:`fragment_resolution` compares, over the first spectra of a file,
how many pair sums fall within 0.01 Da of the expected value with how many
fall 0.02-0.05 Da away (per Da): ~1 for ion traps, 4 and more for every
high-resolution file measured
(``benchmarks/results/fragment_resolution.md``). Too few pairs to tell,
or anything in between, is "unknown": the engine then keeps its
high-resolution default.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .constants import PROTON

__all__ = ["fragment_resolution", "sharpness", "complement_offsets", "LOW",
           "HIGH", "RESOLUTION_SPECTRA"]

LOW, HIGH = "low", "high"
_SPECTRA = 300  # charged spectra looked at
RESOLUTION_SPECTRA = _SPECTRA  # what a caller should hand in
_PEAKS = 60  # the most intense peaks of each
_MIN_PAIRS = 30  # pair sums within 0.05 Da needed to decide
_LOW_BELOW, _HIGH_ABOVE = 2.0, 3.0  # sharpness thresholds


def complement_offsets(spectra: Iterable, n_spectra: int = _SPECTRA,
                       n_peaks: int = _PEAKS) -> np.ndarray:
    """Offsets (Da) of the pair sums of each spectrum's strongest peaks
    from ``M + 2 H+``, within 1 Da, over the first ``n_spectra`` usable
    spectra with a charge."""
    out = []
    for s in spectra:
        if len(out) >= n_spectra:
            break
        if not getattr(s, "ok", True) or not s.charge or s.mz.size < 10:
            continue
        strongest = np.argsort(-np.asarray(s.intensity), kind="stable")
        mz = np.sort(np.asarray(s.mz, np.float64)[strongest[:n_peaks]])
        target = (s.precursor_mz - PROTON) * s.charge + 2 * PROTON
        i, j = np.triu_indices(mz.size, 1)
        d = mz[i] + mz[j] - target
        out.append(d[np.abs(d) < 1.0])
    return np.concatenate(out) if out else np.zeros(0)


def sharpness(spectra) -> tuple[float, int]:
    """``(ratio, pairs)``: pair sums per Da within 0.01 Da of ``M + 2
    H+`` over those 0.02-0.05 Da away (inf when none are), and how many
    fall within 0.05 Da."""
    a = np.abs(complement_offsets(spectra))
    sharp = (a < 0.01).sum() / 0.02
    ring = ((a >= 0.02) & (a < 0.05)).sum() / 0.06
    return (float(sharp / ring) if ring else float("inf"),
            int((a < 0.05).sum()))


def fragment_resolution(spectra: Iterable) -> str | None:
    """``"high"``, ``"low"`` or None (cannot tell) for a file's spectra."""
    ratio, pairs = sharpness(spectra)
    if pairs < _MIN_PAIRS:
        return None
    if ratio < _LOW_BELOW:
        return LOW
    if ratio > _HIGH_ABOVE:
        return HIGH
    return None
