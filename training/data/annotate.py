"""Annotate a labelled spectrum peak by peak: what explains each peak?

Fitting the noise model and measuring realism ask the same question of
real and simulated spectra, so both go through :func:`annotate`. It looks
at the spectrum as the model sees it (peaks of at least 1% of the base
peak, the 150 most intense, from 50 m/z: the defaults of
:class:`~denovo.core.preprocess.PreprocessConfig`, without precursor
removal) and labels every peak with the first class that explains it, in
the order of :data:`PEAK_CLASSES`. Theoretical m/z values come from
:func:`denovo.core.fragments.fragment_mz`, the b/y coverage from the
core matcher :func:`denovo.core.match.match`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from denovo.core.constants import C13_SPACING, H2O, NH3, PROTON
from denovo.core.fragments import (ION_A, ION_B, ION_IMMONIUM, ION_Y,
                                   LOSS_NONE, FragmentConfig, fragment_mz)
from denovo.core.match import match
from denovo.core.preprocess import PreprocessConfig
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary

from .derived_ions import prone_parent

__all__ = [
    "PEAK_CLASSES",
    "PRECURSOR_KINDS",
    "AnnotationConfig",
    "Annotation",
    "model_view",
    "internal_mz",
    "precursor_peaks",
    "annotate",
    "spectrum_stats",
]

PEAK_CLASSES = ("b/y", "isotope", "a", "loss", "immonium", "precursor",
                "internal", "noise")
BY, ISOTOPE, A_ION, LOSS, IMMONIUM, PRECURSOR, INTERNAL, NOISE = range(8)
# Unfragmented precursor forms, at the precursor charge z unless noted.
PRECURSOR_KINDS = ("M", "M-H2O", "M-NH3", "M+1", "M z-1")
_PRE = PreprocessConfig()
_ALL_IONS = FragmentConfig(ion_types=("a", "b", "y"), losses=("H2O", "NH3"),
                           immonium=True, max_fragment_charge=2)


@dataclass(frozen=True)
class AnnotationConfig:
    """How peaks are matched and which peaks are looked at."""

    tol_da: float = 0.02  # high-resolution HCD; covers 2-decimal MGFs
    min_ratio: float = _PRE.min_intensity_ratio  # of the base peak
    max_peaks: int = _PRE.max_peaks
    min_mz: float = _PRE.min_mz
    max_internal: int = 5  # residues in an internal fragment


@dataclass
class Annotation:
    """One spectrum, annotated. Intensities are relative to the base peak.

    ``by_*`` hold every b/y fragment without loss (charges 1..min(z-1, 2),
    from :func:`fragment_mz`); ``*_obs`` the intensity of the matched peak
    or 0; ``*_parent`` the observed intensity of the b/y ion a derived ion
    comes from.
    """

    mz: np.ndarray
    intensity: np.ndarray
    klass: np.ndarray  # int8, index into PEAK_CLASSES
    charge: int
    length: int  # residues
    precursor_mass: float  # neutral
    by_type: np.ndarray
    by_index: np.ndarray
    by_charge: np.ndarray
    by_mass: np.ndarray  # neutral fragment mass
    by_obs: np.ndarray
    by_hit: np.ndarray  # from the core matcher
    a_index: np.ndarray
    a_obs: np.ndarray
    a_parent: np.ndarray
    loss_type: np.ndarray  # ION_B / ION_Y
    loss_code: np.ndarray  # LOSS_H2O / LOSS_NH3
    loss_obs: np.ndarray
    loss_parent: np.ndarray
    loss_prone: np.ndarray  # parent holds a residue prone to that loss
    iso_obs: np.ndarray  # M+1 of each b/y ion
    immonium_residue: np.ndarray  # one-letter codes
    immonium_obs: np.ndarray
    precursor_obs: np.ndarray  # per PRECURSOR_KINDS (NaN: not possible)
    internal_obs: np.ndarray

    @property
    def by_ref(self) -> float:
        """Most intense b/y peak: the unit of the noise model."""
        return float(self.by_obs.max(initial=0.0))


def model_view(mz, intensity, config: AnnotationConfig = AnnotationConfig()
               ) -> tuple[np.ndarray, np.ndarray]:
    """Peaks the model would see, sorted by m/z, intensity / base peak."""
    mz = np.asarray(mz, np.float64)
    inten = np.asarray(intensity, np.float64)
    keep = mz >= config.min_mz
    mz, inten = mz[keep], inten[keep]
    if inten.size == 0 or inten.max() <= 0:
        return np.zeros(0), np.zeros(0)
    inten = inten / inten.max()
    keep = inten >= config.min_ratio
    mz, inten = mz[keep], inten[keep]
    if len(mz) > config.max_peaks:
        top = np.argsort(-inten, kind="stable")[:config.max_peaks]
        mz, inten = mz[top], inten[top]
    order = np.argsort(mz, kind="stable")
    return mz[order], inten[order]


def internal_mz(masses: np.ndarray, max_length: int) -> np.ndarray:
    """b-type internal fragments (1+) of a residue-mass array.

    Fragments keep neither terminus and have 2..``max_length`` residues.
    """
    n = len(masses)
    cum = np.concatenate([[0.0], np.cumsum(masses)])
    out = [cum[i + k] - cum[i] + PROTON
           for k in range(2, max_length + 1) for i in range(1, n - k)]
    return np.array(out, np.float64)


def precursor_peaks(mass: float, charge: int) -> np.ndarray:
    """m/z of each :data:`PRECURSOR_KINDS` form (NaN when impossible)."""
    z = charge
    low = (mass + (z - 1) * PROTON) / (z - 1) if z > 1 else np.nan
    return np.array([(mass + z * PROTON) / z, (mass - H2O + z * PROTON) / z,
                     (mass - NH3 + z * PROTON) / z,
                     (mass + C13_SPACING + z * PROTON) / z, low])


def _nearest(peaks: np.ndarray, theo: np.ndarray, tol: float) -> np.ndarray:
    """Index of the nearest peak within ``tol`` of each theo m/z, or -1."""
    if len(peaks) == 0:
        return np.full(len(theo), -1, np.int64)
    idx = np.searchsorted(peaks, theo)
    lo = np.clip(idx - 1, 0, len(peaks) - 1)
    hi = np.clip(idx, 0, len(peaks) - 1)
    dlo, dhi = np.abs(peaks[lo] - theo), np.abs(peaks[hi] - theo)
    best = np.where(dhi < dlo, hi, lo)
    ok = np.minimum(dlo, dhi) <= tol
    return np.where(ok & np.isfinite(theo), best, -1)


def _observed(inten: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.where(idx >= 0, inten[np.maximum(idx, 0)], 0.0)


def annotate(mz, intensity, peptide, charge: int, *,
             config: AnnotationConfig = AnnotationConfig(),
             vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> Annotation:
    """Label every peak of a spectrum of ``peptide`` at ``charge``."""
    peaks, inten = model_view(mz, intensity, config)
    tol = config.tol_da
    frag = fragment_mz(peptide, charge, config=_ALL_IONS,
                       vocabulary=vocabulary)
    toks = [vocabulary.tokens[vocabulary.index(t)] for t in peptide]
    nterm = toks[0].n_terminal if toks else False
    residues = toks[1:] if nterm else toks
    masses = np.array([t.mass for t in residues])
    mass = masses.sum() + (toks[0].mass if nterm else 0.0) + H2O
    klass = np.full(len(peaks), -1, np.int8)

    def label(theo, code):
        # Peak-centric: a peak is explained when any ion lies within tol.
        theo = np.sort(theo[np.isfinite(theo)])
        hit = _nearest(theo, peaks, tol) >= 0
        klass[hit & (klass < 0)] = code

    t, z, loss = frag.ion_type, frag.charge, frag.loss
    by = ((t == ION_B) | (t == ION_Y)) & (loss == LOSS_NONE)
    by_mz = frag.mz[by]
    by_idx = _nearest(peaks, by_mz, tol)
    by_obs = _observed(inten, by_idx)
    label(by_mz, BY)
    core = match(peaks, inten.astype(np.float32), frag._replace(
        ion_type=np.where(by, t, -1)), tol=tol)
    by_hit = core.fragment_matched[by]
    by_mass = by_mz * z[by] - z[by] * PROTON
    iso_idx = _nearest(peaks, by_mz + C13_SPACING / z[by], tol)
    label(by_mz + C13_SPACING / z[by], ISOTOPE)

    def parent_of(sel, series):
        # Observed intensity of the 1+ b/y ion with the same index.
        key = by & (t == series) & (z == 1)
        lookup = dict(zip(frag.ion_index[key].tolist(),
                          by_obs[(t[by] == series) & (z[by] == 1)],
                          strict=True))
        return np.array([lookup.get(i, 0.0)
                         for i in frag.ion_index[sel].tolist()])

    a_sel = (t == ION_A) & (loss == LOSS_NONE) & (z == 1)
    a_idx = _nearest(peaks, frag.mz[a_sel], tol)
    label(frag.mz[a_sel], A_ION)
    loss_sel = (t != ION_A) & (t != ION_IMMONIUM) & (loss != LOSS_NONE) \
        & (z == 1)
    loss_idx = _nearest(peaks, frag.mz[loss_sel], tol)
    label(frag.mz[loss_sel], LOSS)
    loss_parent = np.where(t[loss_sel] == ION_B,
                           parent_of(loss_sel, ION_B),
                           parent_of(loss_sel, ION_Y))
    loss_y, loss_n = t[loss_sel] == ION_Y, frag.ion_index[loss_sel]
    loss_prone = prone_parent(
        ["".join(r.residue for r in residues)], np.zeros(len(loss_y), int),
        loss_y, np.where(loss_y, len(residues) - loss_n, loss_n),
        loss[loss_sel])
    imm_sel = t == ION_IMMONIUM
    imm_idx = _nearest(peaks, frag.mz[imm_sel], tol)
    label(frag.mz[imm_sel], IMMONIUM)
    pre = precursor_peaks(mass, charge)
    pre_idx = _nearest(peaks, pre, tol)
    label(pre, PRECURSOR)
    internal = internal_mz(masses, config.max_internal)
    int_idx = _nearest(peaks, internal, tol)
    label(internal, INTERNAL)
    klass[klass < 0] = NOISE
    pre_obs = np.where(np.isfinite(pre), _observed(inten, pre_idx), np.nan)
    return Annotation(
        mz=peaks, intensity=inten, klass=klass, charge=int(charge),
        length=len(residues), precursor_mass=float(mass),
        by_type=t[by], by_index=frag.ion_index[by], by_charge=z[by],
        by_mass=by_mass, by_obs=by_obs, by_hit=by_hit,
        a_index=frag.ion_index[a_sel], a_obs=_observed(inten, a_idx),
        a_parent=parent_of(a_sel, ION_B), loss_type=t[loss_sel],
        loss_code=loss[loss_sel], loss_obs=_observed(inten, loss_idx),
        loss_parent=loss_parent, loss_prone=loss_prone,
        iso_obs=_observed(inten, iso_idx),
        immonium_residue=np.array([residues[i - 1].residue for i in
                                   frag.ion_index[imm_sel]]),
        immonium_obs=_observed(inten, imm_idx), precursor_obs=pre_obs,
        internal_obs=_observed(inten, int_idx))


def spectrum_stats(ann: Annotation) -> dict:
    """Per-spectrum realism statistics (NaN where undefined).

    ``coverage`` counts 1+ b and y ions; ``noise_*`` describe unexplained
    peaks: intensity relative to the base peak and m/z relative to the
    precursor's neutral mass.
    """
    total = ann.intensity.sum()
    out = {"n_peaks": float(len(ann.mz))}
    for code, name in enumerate(PEAK_CLASSES):
        sel = ann.klass == code
        key = name.replace("/", "")
        out[f"share_{key}"] = (float(ann.intensity[sel].sum() / total)
                               if total > 0 else np.nan)
        out[f"peaks_{key}"] = float(sel.sum())
    single = ann.by_charge == 1
    out["coverage"] = (float(ann.by_hit[single].mean())
                       if single.any() else np.nan)
    noise = ann.klass == NOISE
    out["noise_intensity"] = (float(np.median(ann.intensity[noise]))
                              if noise.any() else np.nan)
    out["noise_mz"] = (float(np.median(ann.mz[noise]) / ann.precursor_mass)
                       if noise.any() else np.nan)
    return out
