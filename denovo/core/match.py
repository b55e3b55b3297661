"""Match observed peaks to theoretical fragments: the physics score.

Rescoring candidates, the spectrum-matching loss's tests and evaluation
all ask the same question, "how much of this spectrum does this peptide
explain?", so it is answered once, here, as Numba kernels over the arrays
of :mod:`denovo.core.preprocess` and :mod:`denovo.core.fragments`.

A fragment is *matched* when at least one observed peak lies within the
tolerance of its m/z: ``|obs - theo| <= tol`` (Da) or
``|obs - theo| <= tol * 1e-6 * theo`` (ppm, relative to the theoretical
m/z). Per ion type we report matched and total fragment counts and the
explained intensity, the summed intensity of the observed peaks matched by
at least one fragment of that type (a peak counts once per type).

The scalar score is, in [0, 1],

``0.5 * (intensity of peaks matched by any b or y fragment / total
intensity) + 0.5 * (matched b and y fragments / b and y fragments)``,

i.e. the mean of "how much of the spectrum is explained" and "how much of
the ladder is seen"; both halves are 0 when their denominator is 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .fragments import ION_B, ION_Y, N_ION_TYPES, FragmentBatch, Fragments
from .preprocess import mz_order
from .sorting import lower_bound

__all__ = [
    "TOL_DA", "TOL_PPM", "Match", "MatchBatch",
    "match_kernel", "match_batch_inplace", "match", "match_batch",
]

TOL_DA = 0
TOL_PPM = 1


@njit(cache=True, nogil=True)
def _match_one(obs_mz, obs_int, frag_mz, frag_type, tol, mode, matched,
               total, explained, frag_hit):
    # Fills matched/total/explained[N_ION_TYPES] and frag_hit[F];
    # returns (explained fraction, score).
    n = obs_mz.shape[0]
    order = mz_order(obs_mz)
    mz = obs_mz[order]
    hit = np.zeros(n, np.int64)  # bit t set: matched by ion type t
    matched[:] = 0
    total[:] = 0
    explained[:] = 0.0
    for f in range(frag_mz.shape[0]):
        t = frag_type[f]
        frag_hit[f] = False
        if t < 0 or t >= N_ION_TYPES:
            continue
        theo = frag_mz[f]
        tol_da = tol if mode == TOL_DA else tol * 1e-6 * theo
        total[t] += 1
        j = lower_bound(mz, theo - tol_da)
        while j > 0 and theo - mz[j - 1] <= tol_da:
            j -= 1
        while j < n and mz[j] - theo <= tol_da:
            if theo - mz[j] <= tol_da:
                frag_hit[f] = True
                hit[j] |= 1 << t
            j += 1
        if frag_hit[f]:
            matched[t] += 1
    all_int = 0.0
    any_int = 0.0
    by_int = 0.0
    by_bits = (1 << ION_B) | (1 << ION_Y)
    for j in range(n):
        v = np.float64(obs_int[order[j]])
        all_int += v
        if hit[j]:
            any_int += v
        if hit[j] & by_bits:
            by_int += v
        for t in range(N_ION_TYPES):
            if hit[j] & (1 << t):
                explained[t] += v
    fraction = any_int / all_int if all_int > 0 else 0.0
    score = 0.0
    if all_int > 0:
        score += 0.5 * by_int / all_int
    n_by = total[ION_B] + total[ION_Y]
    if n_by > 0:
        score += 0.5 * (matched[ION_B] + matched[ION_Y]) / n_by
    return fraction, score


@njit(cache=True, nogil=True)
def match_kernel(obs_mz, obs_int, frag_mz, frag_type, tol, mode):
    """One spectrum against one fragment list.

    Returns ``(matched i64[T], total i64[T], explained f64[T], fraction,
    score, fragment_matched bool[F])`` with ``T = N_ION_TYPES``;
    fragments with a type outside ``0..T-1`` (padding) are ignored.
    """
    matched = np.zeros(N_ION_TYPES, np.int64)
    total = np.zeros(N_ION_TYPES, np.int64)
    explained = np.zeros(N_ION_TYPES, np.float64)
    hit = np.zeros(frag_mz.shape[0], np.bool_)
    fraction, score = _match_one(obs_mz, obs_int, frag_mz, frag_type, tol,
                                 mode, matched, total, explained, hit)
    return matched, total, explained, fraction, score, hit


@njit(cache=True, nogil=True)
def match_batch_inplace(obs_mz, obs_int, n_peaks, frag_mz, frag_type,
                        n_fragments, tol, mode, out_matched, out_total,
                        out_explained, out_fraction, out_score):
    """Padded batch: row ``b`` uses its first ``n_peaks[b]`` peaks and
    ``n_fragments[b]`` fragments; fills ``out_*[B, T]`` and ``[B]``."""
    hit = np.zeros(frag_mz.shape[1], np.bool_)
    for b in range(obs_mz.shape[0]):
        p, f = n_peaks[b], n_fragments[b]
        out_fraction[b], out_score[b] = _match_one(
            obs_mz[b, :p], obs_int[b, :p], frag_mz[b, :f], frag_type[b, :f],
            tol, mode, out_matched[b], out_total[b], out_explained[b],
            hit[:f])


class Match(NamedTuple):
    """Physics score of one spectrum against one peptide."""

    matched: np.ndarray  # int64[T], matched fragments per ion type
    total: np.ndarray  # int64[T], fragments per ion type
    explained: np.ndarray  # float64[T], explained intensity per ion type
    fraction: float  # explained intensity (any type) / total intensity
    score: float  # see the module docstring
    fragment_matched: np.ndarray  # bool[F]


class MatchBatch(NamedTuple):
    """Physics scores of a batch: ``[B, T]`` arrays and ``[B]``."""

    matched: np.ndarray
    total: np.ndarray
    explained: np.ndarray
    fraction: np.ndarray
    score: np.ndarray


def _mode(tol: float, unit: str) -> int:
    if unit not in ("Da", "ppm"):
        raise ValueError(f"tolerance unit must be 'Da' or 'ppm', not "
                         f"{unit!r}")
    if not tol >= 0:
        raise ValueError(f"tolerance must be >= 0, not {tol!r}")
    return TOL_DA if unit == "Da" else TOL_PPM


def match(mz: ArrayLike, intensity: ArrayLike, fragments: Fragments, *,
          tol: float = 0.05, unit: str = "Da") -> Match:
    """Match one spectrum's peaks to a peptide's fragments."""
    mode = _mode(tol, unit)
    mz = np.ascontiguousarray(mz, np.float64).reshape(-1)
    intensity = np.ascontiguousarray(intensity, np.float32).reshape(-1)
    if mz.shape != intensity.shape:
        raise ValueError(f"{mz.size} m/z values but {intensity.size} "
                         "intensities")
    result = match_kernel(mz, intensity,
                          np.ascontiguousarray(fragments.mz, np.float64),
                          np.ascontiguousarray(fragments.ion_type, np.int64),
                          float(tol), mode)
    return Match(*result)


def match_batch(spectra: tuple, fragments: FragmentBatch, *, tol: float = 0.05,
                unit: str = "Da") -> MatchBatch:
    """Match a padded batch of spectra to one fragment list per spectrum.

    ``spectra`` is a :class:`~denovo.core.preprocess.PreprocessedBatch`
    (or any ``(mz, intensity, n_peaks)`` triple of padded arrays).
    """
    mode = _mode(tol, unit)
    mz, intensity, n_peaks = spectra[:3]
    b = mz.shape[0]
    if fragments.mz.shape[0] != b:
        raise ValueError(f"{b} spectra but {fragments.mz.shape[0]} "
                         "fragment rows")
    n_peaks = np.asarray(n_peaks, np.int64)
    n_frag = np.asarray(fragments.n_fragments, np.int64)
    if (n_peaks > mz.shape[1]).any() or (
            n_frag > fragments.mz.shape[1]).any():
        raise ValueError("n_peaks or n_fragments exceed the padded width")
    out = MatchBatch(np.zeros((b, N_ION_TYPES), np.int64),
                     np.zeros((b, N_ION_TYPES), np.int64),
                     np.zeros((b, N_ION_TYPES), np.float64),
                     np.zeros(b, np.float64), np.zeros(b, np.float64))
    match_batch_inplace(
        np.ascontiguousarray(mz, np.float64),
        np.ascontiguousarray(intensity, np.float32), n_peaks,
        np.ascontiguousarray(fragments.mz, np.float64),
        np.ascontiguousarray(fragments.ion_type, np.int64), n_frag,
        float(tol), mode, *out)
    return out
