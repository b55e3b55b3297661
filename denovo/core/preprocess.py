"""Spectrum preprocessing, equivalent to Casanovo's, as Numba kernels.

The model must see spectra prepared exactly as in training, so training's
data loader and the inference engine both call this module, and the
settings travel with the exported model (:meth:`PreprocessConfig.to_dict`
into the ONNX metadata).

Steps, in Casanovo/depthcharge order (each can be switched off):

1. keep peaks with ``min_mz <= m/z <= max_mz``;
2. remove peaks within ``remove_precursor_tol_da`` of the precursor at
   every charge 1..z: spectrum_utils' ``remove_precursor_peak`` (isotope 0),
   which Casanovo calls, including its [M+H] arithmetic with the hydrogen
   *atom* mass, so the removed windows agree to the last bit. A spectrum
   without a charge (``charge <= 0``) only loses the peaks around the
   precursor m/z itself;
3. drop peaks whose intensity is not above ``min_intensity_ratio`` times
   the base peak, then keep the ``max_peaks`` most intense. Ties at the
   cut-off keep the lower m/z (spectrum_utils leaves this to an unstable
   sort, so there the choice is arbitrary);
4. square-root the intensities;
5. divide by their L2 norm.

Peaks are sorted by m/z on input (stable) and stay sorted. Casanovo
replaces a spectrum left without peaks by a dummy peak; here it simply
has zero peaks and the caller decides (the engine reports it as skipped).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple, Sequence

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .config import from_dict
from .constants import ELEMENT_MASS
from .sorting import argsort_stable, kth_smallest

__all__ = [
    "PreprocessConfig", "PreprocessedBatch",
    "preprocess_kernel", "preprocess_batch_inplace",
    "preprocess", "preprocess_batch", "preprocess_csr",
]

# spectrum_utils treats the precursor as [M+H]z+ with the H atom mass.
_ADDUCT = ELEMENT_MASS["H"]


@njit(cache=True, nogil=True)
def mz_order(mz):
    """Indices that sort ``mz`` (stable); skips the sort when sorted."""
    for i in range(1, mz.shape[0]):
        if mz[i] < mz[i - 1]:
            return argsort_stable(mz)
    out = np.empty(mz.shape[0], np.int64)
    for i in range(mz.shape[0]):
        out[i] = i
    return out


@njit(cache=True, nogil=True)
def _fill(mz, intensity, precursor_mz, charge, min_mz, max_mz, remove_tol,
          min_ratio, max_peaks, sqrt, normalize, out_mz, out_intensity):
    # Writes the processed peaks (sorted by m/z) to out_* (length >=
    # max_peaks), pads the rest with zeros and returns the peak count.
    n = mz.shape[0]
    order = mz_order(mz)
    keep = np.empty(n, np.int64)  # indices into mz, in m/z order
    m = 0
    neutral = 0.0
    if charge > 0:
        neutral = (precursor_mz - _ADDUCT) * charge
    for j in range(n):
        i = order[j]
        x = mz[i]
        if not (min_mz <= x <= max_mz):
            continue
        if remove_tol >= 0.0:
            near = abs(x - precursor_mz) <= remove_tol
            z = charge
            while not near and z > 0:
                near = abs(x - (neutral / z + _ADDUCT)) <= remove_tol
                z -= 1
            if near:
                continue
        keep[m] = i
        m += 1
    top = np.float32(0.0)
    for j in range(m):
        if intensity[keep[j]] > top:
            top = intensity[keep[j]]
    threshold = min_ratio * np.float64(top)
    c = 0
    for j in range(m):
        if intensity[keep[j]] > threshold:
            keep[c] = keep[j]
            c += 1
    # Top-k by intensity: the k-th largest value, then ties by m/z.
    cut = np.float32(-np.inf)
    n_above = c
    if c > max_peaks:
        values = np.empty(c, np.float32)
        for j in range(c):
            values[j] = intensity[keep[j]]
        cut = kth_smallest(values, c - max_peaks)
        n_above = 0
        for j in range(c):
            if values[j] > cut:
                n_above += 1
    ties = max_peaks - n_above
    k = 0
    norm = 0.0
    for j in range(c):
        v = intensity[keep[j]]
        if v < cut:
            continue
        if v == cut and c > max_peaks:
            if ties == 0:
                continue
            ties -= 1
        if sqrt:
            v = np.sqrt(v)
        out_mz[k] = mz[keep[j]]
        out_intensity[k] = v
        norm += np.float64(v) * np.float64(v)
        k += 1
    if normalize and norm > 0.0:
        norm = np.sqrt(norm)
        for j in range(k):
            out_intensity[j] = np.float32(out_intensity[j] / norm)
    for j in range(k, out_mz.shape[0]):
        out_mz[j] = 0.0
        out_intensity[j] = 0.0
    return k


@njit(cache=True, nogil=True)
def preprocess_kernel(mz, intensity, precursor_mz, charge, min_mz, max_mz,
                      remove_tol, min_ratio, max_peaks, sqrt, normalize):
    """One spectrum (mz f64, intensity f32) -> processed (mz, intensity).

    ``remove_tol < 0`` disables precursor removal; use ``-inf``/``inf``
    m/z bounds and ``min_ratio = 0`` to disable those filters.
    """
    out_mz = np.empty(max_peaks, np.float64)
    out_int = np.empty(max_peaks, np.float32)
    k = _fill(mz, intensity, precursor_mz, charge, min_mz, max_mz,
              remove_tol, min_ratio, max_peaks, sqrt, normalize, out_mz,
              out_int)
    return out_mz[:k].copy(), out_int[:k].copy()


@njit(cache=True, nogil=True)
def preprocess_batch_inplace(mz, intensity, offsets, precursor_mz, charge,
                             min_mz, max_mz, remove_tol, min_ratio,
                             max_peaks, sqrt, normalize, out_mz,
                             out_intensity, out_n):
    """Fill padded ``out_mz[B, P]``, ``out_intensity[B, P]``, ``out_n[B]``.

    Spectrum ``b`` is ``mz[offsets[b]:offsets[b + 1]]`` (CSR layout);
    ``P`` must be at least ``max_peaks``. Padding is zero.
    """
    for b in range(offsets.shape[0] - 1):
        lo, hi = offsets[b], offsets[b + 1]
        out_n[b] = _fill(mz[lo:hi], intensity[lo:hi], precursor_mz[b],
                         charge[b], min_mz, max_mz, remove_tol, min_ratio,
                         max_peaks, sqrt, normalize, out_mz[b],
                         out_intensity[b])


@dataclass(frozen=True)
class PreprocessConfig:
    """Every preprocessing setting; Casanovo's values are the defaults.

    ``None`` switches a step off (m/z bounds, precursor removal);
    ``min_intensity_ratio = 0`` keeps every peak above zero intensity.
    ``max_peaks`` is also the padded width of a batch.
    """

    min_mz: float | None = 50.0
    max_mz: float | None = 2500.0
    remove_precursor_tol_da: float | None = 2.0
    min_intensity_ratio: float = 0.01  # of the base peak, strictly above
    max_peaks: int = 150
    sqrt_intensity: bool = True
    normalize: bool = True  # unit L2 norm

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("sqrt_intensity", "normalize"):
                ok = isinstance(value, bool)
            elif f.name == "max_peaks":
                ok = (isinstance(value, int) and not isinstance(value, bool)
                      and value >= 1)
            else:
                ok = (value is None and f.name != "min_intensity_ratio") or (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool) and math.isfinite(value)
                    and (f.name in ("min_mz", "max_mz") or value >= 0))
            if not ok:
                raise ValueError(f"PreprocessConfig.{f.name}: invalid value "
                                 f"{value!r}")
            if isinstance(value, int) and f.type.startswith("float"):
                object.__setattr__(self, f.name, float(value))
        if (self.min_mz is not None and self.max_mz is not None
                and self.min_mz > self.max_mz):
            raise ValueError("PreprocessConfig: min_mz > max_mz")

    def to_dict(self) -> dict:
        """JSON-ready settings, as stored in ONNX metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, partial: bool = False
                  ) -> "PreprocessConfig":
        """Settings from :meth:`to_dict` (the typed loader,
        :mod:`denovo.core.config`); unknown keys are an error.

        Missing keys are an error too unless ``partial`` (overrides on top
        of the defaults), so a model's metadata cannot silently fall back.
        """
        return from_dict(cls, data, source="preprocessing settings",
                         partial=partial)

    def kernel_args(self) -> tuple:
        """Positional settings for the kernels, after ``charge``."""
        return (-np.inf if self.min_mz is None else self.min_mz,
                np.inf if self.max_mz is None else self.max_mz,
                -1.0 if self.remove_precursor_tol_da is None
                else self.remove_precursor_tol_da,
                self.min_intensity_ratio, self.max_peaks,
                self.sqrt_intensity, self.normalize)


class PreprocessedBatch(NamedTuple):
    """Padded batch: ``mz[B, P]`` f64, ``intensity[B, P]`` f32, ``n[B]``."""

    mz: np.ndarray
    intensity: np.ndarray
    n_peaks: np.ndarray  # int64

    @property
    def mask(self) -> np.ndarray:
        """bool[B, P], True for real peaks."""
        return np.arange(self.mz.shape[1]) < self.n_peaks[:, None]


def _peaks(mz, intensity, where: str) -> tuple[np.ndarray, np.ndarray]:
    mz = np.ascontiguousarray(mz, np.float64).reshape(-1)
    intensity = np.ascontiguousarray(intensity, np.float32).reshape(-1)
    if mz.shape != intensity.shape:
        raise ValueError(f"{where}: {mz.size} m/z values but "
                         f"{intensity.size} intensities")
    if not (np.isfinite(mz).all() and np.isfinite(intensity).all()):
        raise ValueError(f"{where}: non-finite m/z or intensity")
    return mz, intensity


def _precursor(precursor_mz, charge, n: int, where: str):
    prec = np.broadcast_to(np.asarray(precursor_mz, np.float64), (n,))
    if charge is None:
        charge = 0
    elif np.ndim(charge):
        charge = [0 if c is None else c for c in charge]
    z = np.broadcast_to(np.asarray(charge, np.int64), (n,))
    bad = np.flatnonzero(~np.isfinite(prec) | (prec <= 0) | (z < 0))
    if bad.size:
        b = int(bad[0])
        raise ValueError(f"{where} {b}: precursor m/z {prec[b]} or charge "
                         f"{z[b]} is invalid")
    # writable copies (broadcast_to views are read-only, another kernel
    # signature than the evidence peaks' writable arrays)
    return np.array(prec, np.float64), np.array(z, np.int64)


def preprocess(mz: ArrayLike, intensity: ArrayLike, precursor_mz: float,
               charge: int | None, *,
               config: PreprocessConfig = PreprocessConfig()
               ) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess one spectrum; returns (mz f64, intensity f32)."""
    mz, intensity = _peaks(mz, intensity, "spectrum")
    prec, z = _precursor(precursor_mz, charge, 1, "spectrum")
    return preprocess_kernel(mz, intensity, prec[0], z[0],
                             *config.kernel_args())


def preprocess_csr(mz: ArrayLike, intensity: ArrayLike, offsets: ArrayLike,
                   precursor_mz: ArrayLike, charge: ArrayLike, *,
                   config: PreprocessConfig = PreprocessConfig(),
                   out: PreprocessedBatch | None = None
                   ) -> PreprocessedBatch:
    """Preprocess ``B`` spectra stored back to back (CSR layout).

    Spectrum ``b`` is ``mz[offsets[b]:offsets[b + 1]]``; ``precursor_mz``
    and ``charge`` have one entry per spectrum (charge 0 or None:
    unknown). Pass ``out`` to reuse buffers (at least B rows and
    ``max_peaks`` columns); a view of its first B rows is returned.
    """
    mz, intensity = _peaks(mz, intensity, "batch")
    offsets = np.ascontiguousarray(offsets, np.int64)
    if (offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0
            or offsets[-1] != mz.size or (np.diff(offsets) < 0).any()):
        raise ValueError("offsets must rise from 0 to the number of peaks")
    n = offsets.size - 1
    prec, z = _precursor(precursor_mz, charge, n, "spectrum")
    width = config.max_peaks
    if out is None:
        out = PreprocessedBatch(np.zeros((n, width), np.float64),
                                np.zeros((n, width), np.float32),
                                np.zeros(n, np.int64))
    else:
        if out.mz.shape[0] < n or out.mz.shape[1] < width:
            raise ValueError(f"out holds {out.mz.shape} peaks, need "
                             f"({n}, {width})")
        out = PreprocessedBatch(*(a[:n] for a in out))
    preprocess_batch_inplace(mz, intensity, offsets, prec, z,
                             *config.kernel_args(), *out)
    return out


def preprocess_batch(spectra_mz: Sequence[ArrayLike],
                     spectra_intensity: Sequence[ArrayLike],
                     precursor_mz: ArrayLike, charge: ArrayLike, *,
                     config: PreprocessConfig = PreprocessConfig(),
                     out: PreprocessedBatch | None = None
                     ) -> PreprocessedBatch:
    """Preprocess a list of spectra (per-spectrum m/z, intensity arrays)."""
    if len(spectra_mz) != len(spectra_intensity):
        raise ValueError("as many m/z arrays as intensity arrays needed")
    sizes = [len(x) for x in spectra_mz]
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    mz = np.concatenate(spectra_mz) if sizes else np.zeros(0)
    inten = (np.concatenate(spectra_intensity) if sizes
             else np.zeros(0, np.float32))
    return preprocess_csr(mz, inten, offsets, precursor_mz, charge,
                          config=config, out=out)
