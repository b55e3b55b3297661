"""A noise and extra-peaks model fitted to real annotated HCD spectra.

MS2PIP predicts b/y intensities only. Real spectra also hold isotope
peaks, neutral losses, a ions, immonium ions, internal fragments, the
unfragmented precursor and unexplained peaks, and they miss many b/y ions.
This module learns all of that from the real spectra in
``../shared/data/real`` (annotated with :mod:`denovo_training.data.annotate`)
and stores the result as a small JSON, ``denovo/configs/noise_model.json``,
fitted (by :mod:`.noise_fit`) with::

    python -m denovo_training.data.fit_noise --data ../shared/data \\
        --out denovo/configs/noise_model.json

Intensities are relative to the most intense b/y peak of the spectrum
(``ref``): that is what a b/y intensity model can predict, so every other
peak is drawn relative to it. Distributions are log10-normal
(``mu``, ``sigma``) or empirical quantiles. :class:`FittedNoise`
implements the generator's ``NoiseModel`` protocol (unexplained peaks);
the realistic simulator uses the other parameters too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from denovo.core.constants import PROTON

__all__ = ["DEFAULT_PATH", "load_params", "FittedNoise"]

DEFAULT_PATH = (Path(__file__).resolve().parents[2] / "denovo" / "configs"
                / "noise_model.json")


def load_params(path=None) -> dict:
    """The fitted parameters (the committed JSON by default)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no fitted noise model; fit it with python -m "
            "denovo_training.data.fit_noise")
    params = json.loads(path.read_text())
    if params.get("format") != 1:
        raise ValueError(f"{path}: unknown noise model format")
    return params


class FittedNoise:
    """Unexplained peaks as seen in real spectra (``NoiseModel``).

    Counts grow with the precursor mass (log-normal around a fitted
    line), m/z follows the fitted histogram relative to the neutral
    precursor mass, intensities the fitted quantiles relative to the most
    intense b/y peak (the generator scales its ions to a maximum of 1).
    """

    def __init__(self, params: dict | None = None):
        self.params = params if params is not None else load_params()
        noise = self.params["noise"]
        self._count = noise["log_count"]
        self._bins = np.asarray(noise["mz_bins"])
        w = np.asarray(noise["mz_weights"], np.float64)
        self._weights = w / w.sum()
        self._quant = np.asarray(noise["log10_base_quantiles"])
        self._p_base = noise["base"]["p"]
        self._ref = np.asarray(noise["base"]["log10_ref_quantiles"])

    @staticmethod
    def _draw(rng, quantiles: np.ndarray, n: int) -> np.ndarray:
        q = rng.random(n) * (len(quantiles) - 1)
        return np.interp(q, np.arange(len(quantiles)), quantiles)

    def counts(self, rng: np.random.Generator,
               mass: np.ndarray) -> np.ndarray:
        """Number of noise peaks for precursors of neutral ``mass``."""
        c = self._count
        mu = c["intercept"] + c["slope_log10_mass"] * np.log10(mass)
        draw = np.exp(mu + rng.normal(0.0, c["sigma"], len(mass))) - 1
        return np.maximum(np.rint(draw), 0).astype(np.int64)

    def sample(self, rng: np.random.Generator, precursor_mz: np.ndarray,
               charge: np.ndarray, config=None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(counts [B], mz [sum counts], relative intensity)``."""
        mass = (np.asarray(precursor_mz) - PROTON) * np.asarray(charge)
        counts = self.counts(rng, mass)
        n = int(counts.sum())
        b = rng.choice(len(self._weights), size=n, p=self._weights)
        x = self._bins[b] + rng.random(n) * (self._bins[b + 1]
                                             - self._bins[b])
        mz = np.maximum(x * np.repeat(mass, counts), 50.0)
        # In some spectra an unexplained peak is the base peak, above the
        # top b/y ion (the unit here) by a fitted factor; the noise of
        # other spectra is relative to the top b/y ion.
        noisy_base = rng.random(len(mass)) < self._p_base
        base = np.where(noisy_base,
                        10.0 ** -self._draw(rng, self._ref, len(mass)), 1.0)
        spec = np.repeat(np.arange(len(mass)), counts)
        level = 10.0 ** self._draw(rng, self._quant, n) * base[spec]
        if n:
            order = np.lexsort((-level, spec))
            first = np.zeros(len(mass) + 1, np.int64)
            first[1:] = np.cumsum(counts)
            top = order[first[:-1][(counts > 0) & noisy_base]]
            level[top] = base[spec[top]]
        return counts, mz, level.astype(np.float32)
