"""Fragment evidence for a cleavage: what the peaks say about a prefix mass.

A peptide of residue mass ``M`` (precursor neutral mass minus water) that
breaks after a prefix of residue mass ``p`` leaves a b ion at ``p + z H+``
and a y ion at ``M - p + H2O + z H+`` (over ``z``), plus their isotopes,
a ions, water and ammonia losses. This module turns "is there a cleavage
at ``p``?" into a fixed feature vector read off the observed peaks
(:func:`prefix_features`) and a learned linear scorer into a log-odds
(:class:`EvidenceScorer`). The search (:mod:`denovo.core.search`) sums
these log-odds along a path of residues, so a peptide is only as good as
the cleavages its spectrum shows.

Candidate prefix masses are sparse: every peak, read as a b or y ion at
each allowed fragment charge, proposes one (:func:`candidate_prefixes`);
nothing else can have fragment evidence.

Peaks are prepared once per spectrum (:func:`prepare_peaks`): sorted by
m/z, the precursor removed, the most intense kept, each carrying an
intensity-rank feature ``max(0, 1 - log2(rank) / 8)`` (the base peak is
1, the 256th peak 0) so the scorer is free of absolute intensity scales.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from numba import njit

from .config import from_dict, to_dict
from .constants import C13_SPACING, CO, H2O, NH3, PROTON
from .preprocess import preprocess_batch_inplace
from .sorting import argsort_stable, lower_bound

__all__ = [
    "FEATURE_NAMES",
    "N_FEATURES",
    "EvidenceConfig",
    "EvidenceScorer",
    "prepare_peaks",
    "prefix_features",
    "features_batch",
    "candidate_prefixes",
    "DEFAULT_SCORER_PATH",
]

# Ions looked up per cleavage: (series, charge, offset) where the m/z is
# ((p or M - p + H2O) + charge * PROTON + offset) / charge.
_B, _Y = 0, 1
_IONS = (
    # main ladder ions: hit, intensity, mass accuracy
    (_B, 1, 0.0), (_Y, 1, 0.0), (_B, 2, 0.0), (_Y, 2, 0.0),
    # companions: hit, intensity
    (_B, 1, C13_SPACING), (_Y, 1, C13_SPACING),
    (_B, 2, C13_SPACING), (_Y, 2, C13_SPACING),
    (_B, 1, -CO),
    (_B, 1, -H2O), (_B, 1, -NH3), (_Y, 1, -H2O), (_Y, 1, -NH3),
    (_B, 2, -H2O), (_Y, 2, -H2O),
)
N_IONS = len(_IONS)
N_MAIN = 4
ION_SERIES = np.array([s for s, _, _ in _IONS], np.int64)
ION_CHARGE = np.array([z for _, z, _ in _IONS], np.int64)
ION_OFFSET = np.array([o for _, _, o in _IONS], np.float64)
_ION_NAMES = ("b1", "y1", "b2", "y2", "b1_iso", "y1_iso", "b2_iso",
              "y2_iso", "a1", "b1_h2o", "b1_nh3", "y1_h2o", "y1_nh3",
              "b2_h2o", "y2_h2o")

FEATURE_NAMES = (
    tuple(f"{n}_{k}" for n in _ION_NAMES[:N_MAIN]
          for k in ("hit", "intensity", "accuracy"))
    + tuple(f"{n}_{k}" for n in _ION_NAMES[N_MAIN:]
            for k in ("hit", "intensity"))
    + ("b1_and_y1", "b_and_y", "n_main_hits", "near_n_term",
       "near_c_term", "position", "position_sq")
)
N_FEATURES = len(FEATURE_NAMES)
_F_COMPANION = 3 * N_MAIN
_F_PAIR = _F_COMPANION + 2 * (N_IONS - N_MAIN)
TERMINAL_MASS = 250.0  # Da: "near a terminus" (first or last ~2 residues)


@dataclass(frozen=True)
class EvidenceConfig:
    """How peaks are read as fragment evidence.

    ``fragment_tol`` is the fragment m/z tolerance in ``fragment_unit``
    ('Da' or 'ppm'); ``max_fragment_charge`` caps the fragment charge
    (fragments of charge 2 are read only for precursors of charge >= 3);
    ``max_peaks`` most intense peaks are kept.
    """

    fragment_tol: float = 0.02
    fragment_unit: str = "Da"
    max_fragment_charge: int = 2
    max_peaks: int = 150
    min_mz: float = 50.0
    remove_precursor_tol: float = 2.0  # Da around the precursor m/z

    def __post_init__(self):
        if self.fragment_unit not in ("Da", "ppm"):
            raise ValueError("fragment_unit must be 'Da' or 'ppm'")
        if not self.fragment_tol > 0:
            raise ValueError("fragment_tol must be > 0")
        if self.max_fragment_charge not in (1, 2):
            raise ValueError("max_fragment_charge must be 1 or 2")
        if self.max_peaks < 1:
            raise ValueError("max_peaks must be >= 1")

    @property
    def ppm(self) -> bool:
        return self.fragment_unit == "ppm"

    def describe(self) -> str:
        """The fragment tolerance as text, e.g. ``"0.02 Da"``."""
        return f"{self.fragment_tol:g} {self.fragment_unit}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EvidenceConfig":
        """Settings over the defaults (the typed loader)."""
        return from_dict(cls, data, source="evidence settings")


@njit(cache=True, nogil=True)
def _tol(x, tol, ppm):
    return tol * 1e-6 * x if ppm else tol


@njit(cache=True, nogil=True)
def _best_peak(mz, weight, x, tol, ppm):
    """Index of the strongest peak within tolerance of ``x``, or -1."""
    t = _tol(x, tol, ppm)
    lo = lower_bound(mz, x - t)
    best = -1
    j = lo
    while j < mz.shape[0] and mz[j] <= x + t:
        if best < 0 or weight[j] > weight[best]:
            best = j
        j += 1
    return best


@njit(cache=True, nogil=True)
def ion_mz(ion, p, total):
    """m/z of ion type ``ion`` for prefix mass ``p`` of residue mass
    ``total``."""
    z = ION_CHARGE[ion]
    base = p if ION_SERIES[ion] == _B else total - p + H2O
    return (base + z * PROTON + ION_OFFSET[ion]) / z


@njit(cache=True, nogil=True)
def _features_into(mz, weight, p, total, charge, tol, ppm, max_frag_z,
                   owner, site, out):
    """Fill ``out[N_FEATURES]`` for a cleavage at prefix mass ``p``.

    ``owner`` (int64[n_peaks]) restricts each peak to one cleavage: a peak
    counts here only when ``owner[j] == site`` (pass ``site = -1`` and an
    empty ``owner`` to let every peak count).
    """
    out[:] = 0.0
    n_hits = 0
    b_any = False
    y_any = False
    for ion in range(N_IONS):
        z = ION_CHARGE[ion]
        if z > max_frag_z or (z > 1 and charge < 3):
            continue
        x = ion_mz(ion, p, total)
        j = _best_peak(mz, weight, x, tol, ppm)
        if j >= 0 and site >= 0 and owner[j] != site:
            j = -1
        if j < 0:
            continue
        if ion < N_MAIN:
            out[3 * ion] = 1.0
            out[3 * ion + 1] = weight[j]
            out[3 * ion + 2] = 1.0 - abs(mz[j] - x) / _tol(x, tol, ppm)
            n_hits += 1
            if ION_SERIES[ion] == _B:
                b_any = True
            else:
                y_any = True
        else:
            k = _F_COMPANION + 2 * (ion - N_MAIN)
            out[k] = 1.0
            out[k + 1] = weight[j]
    if out[0] > 0 and out[3] > 0:
        out[_F_PAIR] = 1.0
    if b_any and y_any:
        out[_F_PAIR + 1] = 1.0
    out[_F_PAIR + 2] = n_hits
    if p < TERMINAL_MASS:
        out[_F_PAIR + 3] = 1.0
    if total - p < TERMINAL_MASS:
        out[_F_PAIR + 4] = 1.0
    x = p / total if total > 0 else 0.0
    out[_F_PAIR + 5] = x
    out[_F_PAIR + 6] = x * x


@njit(cache=True, nogil=True)
def linear_score(features, w, bias):
    """``bias + features . w`` as a loop: Numba's ``np.dot`` needs SciPy's
    BLAS, which the plain install does not have."""
    s = bias
    for f in range(features.shape[0]):
        s += features[f] * w[f]
    return s


@njit(cache=True, nogil=True)
def features_batch(mz, weight, prefixes, total, charge, tol, ppm,
                   max_frag_z):
    """Features ``[n, N_FEATURES]`` of cleavages at ``prefixes[n]``."""
    out = np.zeros((prefixes.shape[0], N_FEATURES))
    owner = np.zeros(0, np.int64)
    for i in range(prefixes.shape[0]):
        _features_into(mz, weight, prefixes[i], total, charge, tol, ppm,
                       max_frag_z, owner, np.int64(-1), out[i])
    return out


@njit(cache=True, nogil=True)
def candidate_prefixes(mz, total, charge, max_frag_z, merge_tol):
    """Prefix masses proposed by reading each peak as a b or y ion.

    Returns the sorted masses in ``(0, total)``, proposals closer than
    ``merge_tol`` merged into their mean.
    """
    zmax = 1
    if charge >= 3 and max_frag_z >= 2:
        zmax = 2
    raw = np.empty(mz.shape[0] * 2 * zmax)
    n = 0
    for j in range(mz.shape[0]):
        for z in range(1, zmax + 1):
            b = mz[j] * z - z * PROTON
            y = total + H2O - (mz[j] * z - z * PROTON)
            if 0.0 < b < total:
                raw[n] = b
                n += 1
            if 0.0 < y < total:
                raw[n] = y
                n += 1
    order = argsort_stable(raw[:n])  # sorted values: as np.sort
    sorted_raw = np.empty(n)
    for i in range(n):
        sorted_raw[i] = raw[order[i]]
    raw = sorted_raw
    out = np.empty(n)
    m = 0
    i = 0
    while i < n:
        k = i + 1
        acc = raw[i]
        while k < n and raw[k] - raw[k - 1] <= merge_tol:
            acc += raw[k]
            k += 1
        out[m] = acc / (k - i)
        m += 1
        i = k
    return out[:m]


@njit(cache=True, nogil=True)
def rank_weights(intensity):
    """``max(0, 1 - log2(rank) / 8)`` of each peak's intensity rank (rank
    1 the most intense; ties: the lower m/z first)."""
    neg = np.empty(intensity.shape[0])
    for j in range(intensity.shape[0]):
        neg[j] = -intensity[j]
    order = argsort_stable(neg)
    weight = np.empty(intensity.shape[0])
    for r in range(order.shape[0]):
        weight[order[r]] = max(0.0, 1.0 - np.log2(r + 1.0) / 8.0)
    return weight


def prepare_peaks(mz, intensity, precursor_mz: float,
                  config: EvidenceConfig = EvidenceConfig()):
    """Peaks as the evidence kernels read them: ``(mz, weight)``.

    Sorted by m/z, without peaks within ``remove_precursor_tol`` of the
    precursor m/z or below ``min_mz``, the ``max_peaks`` most intense,
    with the intensity-rank weight described in the module docstring.
    """
    mz = np.ascontiguousarray(mz, np.float64).reshape(-1)
    intensity = np.ascontiguousarray(intensity, np.float32).reshape(-1)
    if mz.shape != intensity.shape:
        raise ValueError(f"{mz.size} m/z values but {intensity.size} "
                         "intensities")
    # The model's batch preprocessing kernel (one row) with the evidence
    # settings: no charge (only the precursor m/z itself is removed), no
    # upper m/z bound, positive intensities only, neither square root nor
    # norm. The same kernel and signature as the model's batches, so a
    # first run compiles one preprocessing kernel, not two.
    width = int(config.max_peaks)
    out_mz = np.empty((1, width))
    out_int = np.empty((1, width), np.float32)
    out_n = np.zeros(1, np.int64)
    preprocess_batch_inplace(
        mz, intensity, np.array([0, mz.size], np.int64),
        np.array([float(precursor_mz)]), np.zeros(1, np.int64),
        float(config.min_mz), np.inf, float(config.remove_precursor_tol),
        0.0, width, False, False, out_mz, out_int, out_n)
    k = int(out_n[0])
    kept_mz, kept = out_mz[0, :k].copy(), out_int[0, :k].copy()
    return kept_mz, rank_weights(kept)


def prefix_features(peaks, prefixes, total: float, charge: int,
                    config: EvidenceConfig = EvidenceConfig()) -> np.ndarray:
    """Feature matrix ``[n, N_FEATURES]`` for cleavages at ``prefixes``.

    ``peaks`` is :func:`prepare_peaks` output, ``total`` the peptide's
    residue mass (precursor neutral mass minus water).
    """
    mz, weight = peaks
    return features_batch(mz, weight,
                          np.ascontiguousarray(prefixes, np.float64),
                          float(total), int(charge),
                          float(config.fragment_tol), config.ppm,
                          int(config.max_fragment_charge))


@dataclass(frozen=True)
class EvidenceScorer:
    """A linear log-odds of a cleavage from its features.

    ``weights``/``bias`` turn features into a log-odds that the prefix is
    a real cleavage; ``evidence`` holds the :class:`EvidenceConfig` it was
    fitted with (how peaks are read). The settings fitted on top of it
    (search priors, ranking, model weight, calibration) are
    :class:`denovo.core.settings.RankSettings`; a model file carries both
    (:class:`denovo.core.settings.FittedSettings`).
    """

    weights: tuple[float, ...]
    bias: float
    evidence: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.weights) != N_FEATURES:
            raise ValueError(f"scorer has {len(self.weights)} weights, the "
                             f"evidence kernel makes {N_FEATURES} features"
                             " (a scorer from another denovo version?)")

    @property
    def config(self) -> EvidenceConfig:
        return EvidenceConfig.from_dict(self.evidence or {})

    def with_fragment_tol(self, tol: float, unit: str) -> "EvidenceScorer":
        """The same scorer reading peaks at another fragment tolerance
        (``unit`` 'Da' or 'ppm'), e.g. 0.5 Da for ion-trap spectra."""
        evidence = dict(self.evidence, fragment_tol=float(tol),
                        fragment_unit=unit)
        EvidenceConfig.from_dict(evidence)  # validate
        return replace(self, evidence=evidence)

    @property
    def weight_array(self) -> np.ndarray:
        return np.asarray(self.weights, np.float64)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of each row of ``features``."""
        return features @ self.weight_array + self.bias

    def to_dict(self) -> dict:
        return {"feature_names": list(FEATURE_NAMES), **to_dict(self)}

    @classmethod
    def from_dict(cls, data: dict, *,
                  source: str = "evidence scorer") -> "EvidenceScorer":
        data = dict(data)
        names = data.pop("feature_names", None)
        if names is not None and tuple(names) != FEATURE_NAMES:
            raise ValueError("the scorer's features differ from this "
                             "denovo's evidence kernel; refit it")
        missing = {"weights", "bias"} - set(data)
        if missing:
            raise ValueError(f"not an evidence scorer (no "
                             f"{', '.join(sorted(missing))})")
        return from_dict(cls, data, source=source)


DEFAULT_SCORER_PATH = (Path(__file__).resolve().parents[1] / "configs"
                       / "evidence_scorer.json")
