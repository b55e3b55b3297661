"""Which peptides real spectra hold: fitted length and charge models.

Identified real peptides are shorter than a proteome digest (short ones
ionise and identify better), and their charge follows their length and
basic residues. Simulating fresh peptides with a digest's lengths gives
spectra with too many peaks, so the realistic simulator draws lengths
from :class:`LengthModel` and charges from :class:`ChargeModel`, both
fitted on the real spectra and stored in the noise-model JSON. Real
identified peptides also carry fewer basic residues (missed cleavages)
than a digest or library, and basic residues set the charge, so
:class:`BasicModel` picks fresh peptides by their basic residues too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BasicModel", "ChargeModel", "LengthModel", "n_basic"]


def _features(peptides) -> np.ndarray:
    """``[1, residues / 10, basic residues (K, R, H), N-term mod]``."""
    rows = []
    for p in peptides:
        nterm = p[0].endswith("-")
        res = [t[0] for t in p[1:]] if nterm else [t[0] for t in p]
        rows.append((1.0, len(res) / 10.0,
                     float(sum(r in "KRH" for r in res)), float(nterm)))
    return np.array(rows, np.float64).reshape(-1, 4)


@dataclass(frozen=True)
class ChargeModel:
    """P(charge | peptide): multinomial logistic on :func:`_features`."""

    charges: tuple[int, ...] = (2, 3, 4)
    weights: tuple[tuple[float, ...], ...] = ()  # [charges][features]

    @classmethod
    def fit(cls, peptides, charges: np.ndarray, *,
            support: tuple[int, ...] = (2, 3, 4), l2: float = 1e-2,
            steps: int = 3000) -> "ChargeModel":
        """Maximum-likelihood fit (gradient descent, small L2 penalty)."""
        x = _features(peptides)
        z = np.asarray(charges)
        keep = np.isin(z, support)
        x, z = x[keep], z[keep]
        y = (z[:, None] == np.array(support)[None, :]).astype(np.float64)
        # Standardised features keep gradient descent stable.
        mean, std = x.mean(axis=0), x.std(axis=0)
        mean[0], std[0] = 0.0, 1.0
        std[std == 0] = 1.0
        xs = (x - mean) / std
        w = np.zeros((len(support), x.shape[1]))
        for _ in range(steps):
            p = cls._softmax(xs @ w.T)
            grad = (p - y).T @ xs / len(xs) + l2 * w
            w -= 0.5 * grad
        w = w / std
        w[:, 0] -= (w[:, 1:] * mean[1:]).sum(axis=1)
        return cls(tuple(support), tuple(map(tuple, w.tolist())))

    @staticmethod
    def _softmax(logits: np.ndarray) -> np.ndarray:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def probabilities(self, peptides) -> np.ndarray:
        """``[N, len(charges)]`` charge probabilities."""
        if not self.weights:
            raise ValueError("ChargeModel has no fitted weights")
        return self._softmax(_features(peptides)
                             @ np.asarray(self.weights).T)

    def sample(self, rng: np.random.Generator, peptides) -> np.ndarray:
        """One charge per peptide (int32)."""
        p = self.probabilities(peptides)
        u = rng.random(len(p))[:, None]
        k = (u > np.cumsum(p, axis=1)).sum(axis=1)
        k = np.minimum(k, len(self.charges) - 1)
        return np.asarray(self.charges, np.int32)[k]

    def to_dict(self) -> dict:
        return {"charges": list(self.charges),
                "weights": [list(w) for w in self.weights],
                "features": ["1", "residues/10", "K+R+H", "N-term mod"]}

    @classmethod
    def from_dict(cls, data: dict) -> "ChargeModel":
        return cls(tuple(data["charges"]),
                   tuple(tuple(w) for w in data["weights"]))


@dataclass(frozen=True)
class LengthModel:
    """P(peptide length in tokens): the real histogram, add-one smoothed.

    Smoothing keeps every length from the shortest real one up to the
    requested maximum possible (long peptides are rare, not absent).
    """

    counts: tuple[int, ...] = ()  # counts[k]: real peptides of k tokens

    @classmethod
    def fit(cls, peptides) -> "LengthModel":
        return cls(tuple(np.bincount([len(p) for p in peptides]).tolist()))

    def probabilities(self, min_length: int, max_length: int) -> np.ndarray:
        """P(length) for lengths ``min_length..max_length``."""
        counts = np.asarray(self.counts, np.float64)
        if not counts.sum():
            raise ValueError("LengthModel has no fitted counts")
        lengths = np.arange(min_length, max_length + 1)
        shortest = int(np.nonzero(counts)[0][0])
        inside = lengths < len(counts)
        w = np.where(inside, counts[np.minimum(lengths, len(counts) - 1)],
                     0.0) + (lengths >= shortest)
        if not w.sum():  # the whole range is shorter than any real one
            w = np.ones(len(lengths))
        return w / w.sum()

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> np.ndarray:
        """``n`` lengths in ``min_length..max_length``."""
        p = self.probabilities(min_length, max_length)
        return min_length + rng.choice(len(p), size=n, p=p)

    def to_dict(self) -> dict:
        return {"counts": list(self.counts), "unit": "tokens"}

    @classmethod
    def from_dict(cls, data: dict) -> "LengthModel":
        return cls(tuple(int(c) for c in data["counts"]))


def n_basic(peptides) -> np.ndarray:
    """Basic residues (K, R, H) per peptide, as the charge model counts."""
    return _features(peptides)[:, 2].astype(np.int64)


@dataclass(frozen=True)
class BasicModel:
    """P(basic residues | length in tokens), fitted on real peptides.

    The real histogram of each length, shrunk towards the pooled one by
    ``prior`` pseudo-peptides (few real peptides have any one length).
    """

    counts: tuple[tuple[int, ...], ...] = ()  # counts[length][basic]
    prior: float = 5.0
    pool: int = 4  # candidates drawn per peptide kept (see select)

    @classmethod
    def fit(cls, peptides, prior: float = 5.0) -> "BasicModel":
        lengths, basic = [len(p) for p in peptides], n_basic(peptides)
        table = np.zeros((max(lengths) + 1, int(basic.max()) + 1), np.int64)
        np.add.at(table, (lengths, basic), 1)
        return cls(tuple(map(tuple, table.tolist())), prior)

    def probabilities(self, length: int) -> np.ndarray:
        """P(basic residues = 0, 1, ...) at ``length`` tokens."""
        table = np.asarray(self.counts, np.float64)
        if not table.sum():
            raise ValueError("BasicModel has no fitted counts")
        row = table[length] if 0 <= length < len(table) else 0.0
        w = row + self.prior * table.sum(axis=0) / table.sum()
        return w / w.sum()

    def select(self, rng: np.random.Generator, pool: list, n: int,
               length: int) -> list:
        """``n`` peptides of ``pool`` with basic residues as fitted.

        Each pick draws its basic count from the model, then a pool
        peptide with that count (the nearest count the pool has).
        """
        have = n_basic(pool)
        p = self.probabilities(length)
        want = rng.choice(len(p), size=n, p=p)
        counts = np.unique(have)
        out: list = [None] * n
        for b in np.unique(want):
            slots = np.nonzero(want == b)[0]
            near = counts[np.argmin(np.abs(counts - b))]
            cand = np.nonzero(have == near)[0]
            picks = rng.choice(cand, size=len(slots),
                               replace=len(cand) < len(slots))
            for i, k in zip(slots, picks, strict=True):
                out[i] = pool[k]
        return out

    def to_dict(self) -> dict:
        return {"counts": [list(r) for r in self.counts],
                "prior": self.prior, "pool": self.pool,
                "unit": "[length in tokens][K+R+H]"}

    @classmethod
    def from_dict(cls, data: dict) -> "BasicModel":
        return cls(tuple(tuple(int(c) for c in r) for r in data["counts"]),
                   float(data.get("prior", 5.0)), int(data.get("pool", 4)))
