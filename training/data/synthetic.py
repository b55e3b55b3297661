"""Synthetic annotated spectra: peptides -> fragment ladders -> peaks.

The generator is a pipeline of three pluggable parts, so a later issue can
swap in MS2PIP intensities, real peptides and a noise model fitted to real
spectra without touching the rest:

* a peptide source (:mod:`denovo_training.data.peptides`),
* an intensity model: ``predict(ions, rng) -> float32 intensities``,
* a noise model: ``sample(rng, precursor_mz, config) -> (counts, mz,
  intensity)``.

Fragment m/z values come from the shared core
(:func:`denovo.core.fragments`); everything else is vectorised NumPy over
all ions of a batch. Each batch is a pure function of ``(seed, step)``, so
the data stream after ``k`` steps can be reproduced exactly on resume.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from denovo.core.constants import PROTON
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary

from denovo.core.fragments import (
    ION_A,
    ION_Y,
    FragmentConfig,
    encode_batch,
    fragment_mz_batch,
    peptide_mass_batch_kernel,
)

from .batch import RawBatch
from .peptides import PeptideSource, RandomPeptides

__all__ = [
    "SimulationConfig",
    "IntensityModel",
    "NoiseModel",
    "HeuristicIntensity",
    "IonTable",
    "ion_table",
    "UniformNoise",
    "Simulator",
    "step_rng",
]


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the simulation; curriculum stages override fields.

    Lengths count tokens (an N-terminal modification is a token). ppm
    errors are standard deviations of a normal error.
    """

    min_length: int = 7
    max_length: int = 30
    charges: tuple[int, ...] = (2, 3, 4)
    charge_weights: tuple[float, ...] = (0.55, 0.35, 0.10)
    a_ions: bool = True  # a = b - CO
    neutral_losses: bool = True  # b/y - H2O, b/y - NH3
    max_fragment_charge: int = 2  # capped at precursor charge - 1
    y_over_b: float = 2.0  # y ions are usually stronger in HCD
    minor_ion_scale: float = 0.1  # a ions and losses relative to b/y
    middle_bias: float = 1.0  # >0 favours cleavages mid-peptide
    proline_boost: float = 3.0  # cleavage N-terminal to P is favoured
    intensity_sigma: float = 0.8  # log-normal spread of ion intensities
    dropout: float = 0.2  # probability to lose each fragment peak
    noise_peaks: float = 40.0  # mean number of noise peaks (Poisson)
    noise_intensity: float = 0.05  # noise level relative to top ion
    fragment_ppm: float = 5.0
    precursor_ppm: float = 3.0
    min_mz: float = 50.0
    max_mz: float = 2500.0
    clean_fraction: float = 0.0  # spectra without noise/dropout/errors

    def __post_init__(self):
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError("need 1 <= min_length <= max_length")
        if len(self.charges) != len(self.charge_weights):
            raise ValueError("charges and charge_weights differ in length")
        if not 0 <= self.dropout < 1 or not 0 <= self.clean_fraction <= 1:
            raise ValueError("dropout and clean_fraction must be in [0, 1)")

    def clean(self) -> "SimulationConfig":
        """The same settings without noise, dropout or mass errors."""
        return replace(self, dropout=0.0, noise_peaks=0.0,
                       fragment_ppm=0.0, precursor_ppm=0.0)


@dataclass
class IonTable:
    """All theoretical ions of a batch, flat, one entry per ion."""

    mz: np.ndarray  # float64 [N]
    spectrum: np.ndarray  # int64 [N], row of the batch
    series: np.ndarray  # int8 [N], ION_A / ION_B / ION_Y
    cleavage: np.ndarray  # int64 [N], residues N-terminal of the bond
    charge: np.ndarray  # int8 [N]
    loss: np.ndarray  # int8 [N], LOSS_* code
    peptide_length: np.ndarray  # int64 [N], residues of the peptide
    proline_next: np.ndarray  # bool [N], bond is N-terminal to proline
    peptide_mass: np.ndarray  # float64 [B], neutral


def ion_table(peptides, charges: np.ndarray, *, a_ions: bool = True,
              neutral_losses: bool = True, max_fragment_charge: int = 2,
              vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> IonTable:
    """Fragments of every peptide from the shared core kernel, flattened."""
    config = FragmentConfig(
        ion_types=("a", "b", "y") if a_ions else ("b", "y"),
        max_fragment_charge=max_fragment_charge,
        losses=("H2O", "NH3") if neutral_losses else ())
    tokens, lengths = encode_batch(peptides, vocabulary=vocabulary)
    frag = fragment_mz_batch(tokens, charges, lengths=lengths,
                             config=config, vocabulary=vocabulary)
    valid = frag.ion_type >= 0
    spectrum = np.nonzero(valid)[0]
    nterm = vocabulary.n_terminal[tokens[:, 0]] if len(tokens) else \
        np.zeros(0, bool)
    n_res = lengths - nterm
    index = frag.ion_index[valid].astype(np.int64)
    series = frag.ion_type[valid]
    cleavage = np.where(series == ION_Y, n_res[spectrum] - index, index)
    # Token right after the bond: residue number ``cleavage`` (0-based)
    # counted after the N-terminal token, if any.
    col = np.minimum(cleavage + nterm[spectrum], tokens.shape[1] - 1)
    proline = vocabulary.index("P")
    return IonTable(
        mz=frag.mz[valid], spectrum=spectrum, series=series,
        cleavage=cleavage, charge=frag.charge[valid],
        loss=frag.loss[valid], peptide_length=n_res[spectrum],
        proline_next=tokens[spectrum, col] == proline,
        peptide_mass=peptide_mass_batch_kernel(tokens, lengths,
                                               vocabulary.masses))


class IntensityModel(Protocol):
    """Predicts the intensity of every ion of an :class:`IonTable`."""

    def predict(self, ions: IonTable, rng: np.random.Generator,
                config: SimulationConfig) -> np.ndarray:
        ...


class NoiseModel(Protocol):
    """Draws noise peaks for each spectrum of a batch."""

    def sample(self, rng: np.random.Generator, precursor_mz: np.ndarray,
               charge: np.ndarray, config: SimulationConfig
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(counts [B], mz [sum counts], relative intensity)``."""
        ...


class HeuristicIntensity:
    """A simple HCD-like intensity model.

    y > b > a/losses, cleavages in the middle of the peptide and N-terminal
    to proline are favoured, multiply charged fragments need long
    fragments, and everything is scattered log-normally.
    """

    def predict(self, ions: IonTable, rng: np.random.Generator,
                config: SimulationConfig) -> np.ndarray:
        base = np.where(ions.series == ION_Y, config.y_over_b, 1.0)
        base = np.where(ions.loss > 0, base * config.minor_ion_scale, base)
        base = np.where(ions.series == ION_A, config.minor_ion_scale, base)
        n = ions.peptide_length.astype(np.float64)
        rel = ions.cleavage / n - 0.5
        base = base * np.exp(-config.middle_bias * 4.0 * rel * rel)
        base = np.where(ions.proline_next, base * config.proline_boost,
                        base)
        # Fragment charge z needs a fragment of roughly 4z residues.
        size = np.where(ions.series == ION_Y, n - ions.cleavage,
                        ions.cleavage)
        base = base * np.where(ions.charge > 1,
                               np.clip(size / (4.0 * ions.charge), 0, 1)
                               * 0.5, 1.0)
        noise = rng.lognormal(0.0, config.intensity_sigma, len(base))
        return (base * noise).astype(np.float32)


class UniformNoise:
    """Noise peaks uniform in m/z up to the precursor mass, log-normal."""

    def sample(self, rng: np.random.Generator, precursor_mz: np.ndarray,
               charge: np.ndarray, config: SimulationConfig):
        counts = rng.poisson(config.noise_peaks, len(precursor_mz))
        upper = np.minimum(precursor_mz * charge, config.max_mz)
        upper = np.maximum(upper, config.min_mz + 1.0)
        hi = np.repeat(upper, counts)
        mz = config.min_mz + rng.random(len(hi)) * (hi - config.min_mz)
        level = config.noise_intensity * rng.lognormal(0.0, 1.0, len(hi))
        return counts, mz, level.astype(np.float32)


def step_rng(seed: int, step: int, *stream: int) -> np.random.Generator:
    """The generator for one step: a pure function of its arguments.

    ``stream`` separates independent uses of the same step (e.g. the
    data-parallel rank, or validation vs training).
    """
    return np.random.default_rng([seed, step, *stream])


class Simulator:
    """Draws batches of annotated synthetic spectra.

    Parameters
    ----------
    source
        Peptide source; :class:`RandomPeptides` by default.
    intensity
        Intensity model; :class:`HeuristicIntensity` by default.
    noise
        Noise model; :class:`UniformNoise` by default.
    vocabulary
        Token masses and names.
    """

    def __init__(self, source: PeptideSource | None = None, *,
                 intensity: IntensityModel | None = None,
                 noise: NoiseModel | None = None,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        self.source = source if source is not None else RandomPeptides()
        self.intensity = intensity or HeuristicIntensity()
        self.noise = noise or UniformNoise()
        self.vocabulary = vocabulary

    def batch(self, rng: np.random.Generator, size: int,
              config: SimulationConfig) -> RawBatch:
        """Simulate ``size`` spectra; deterministic given ``rng``'s state."""
        cfg = config
        peptides = self.source.sample(rng, size, min_length=cfg.min_length,
                                      max_length=cfg.max_length)
        weights = np.asarray(cfg.charge_weights, np.float64)
        charge = rng.choice(np.asarray(cfg.charges, np.int32), size=size,
                            p=weights / weights.sum())
        clean = rng.random(size) < cfg.clean_fraction
        ions = ion_table(peptides, charge, a_ions=cfg.a_ions,
                         neutral_losses=cfg.neutral_losses,
                         max_fragment_charge=cfg.max_fragment_charge,
                         vocabulary=self.vocabulary)
        inten = self.intensity.predict(ions, rng, cfg)
        spec = ions.spectrum
        ion_clean = clean[spec]
        keep = (rng.random(len(inten)) >= cfg.dropout) | ion_clean
        err = rng.normal(0.0, cfg.fragment_ppm, len(inten)) * 1e-6
        mz = ions.mz * (1.0 + np.where(ion_clean, 0.0, err))
        # Scale each spectrum's ions to a maximum of 1 before adding noise.
        top = np.zeros(size)
        np.maximum.at(top, spec, inten)
        inten = inten / np.maximum(top[spec], 1e-12)
        mz, inten, spec = mz[keep], inten[keep], spec[keep]

        prec = (ions.peptide_mass + charge * PROTON) / charge
        counts, nmz, nlevel = self.noise.sample(rng, prec, charge, cfg)
        nspec = np.repeat(np.arange(size), counts)
        noisy = ~clean[nspec]
        nspec, nmz = nspec[noisy], nmz[noisy]
        nint = nlevel[noisy].astype(np.float32)

        all_spec = np.concatenate([spec, nspec])
        all_mz = np.concatenate([mz, nmz])
        all_int = np.concatenate([inten.astype(np.float32), nint])
        inside = (all_mz >= cfg.min_mz) & (all_mz <= cfg.max_mz)
        all_spec, all_mz, all_int = (all_spec[inside], all_mz[inside],
                                     all_int[inside])
        order = np.lexsort((all_mz, all_spec))
        offsets = np.zeros(size + 1, np.int64)
        offsets[1:] = np.cumsum(np.bincount(all_spec, minlength=size))
        perr = rng.normal(0.0, cfg.precursor_ppm, size) * 1e-6
        prec = prec * (1.0 + np.where(clean, 0.0, perr))
        return RawBatch(mz=all_mz[order], intensity=all_int[order],
                        offsets=offsets, precursor_mz=prec,
                        charge=charge.astype(np.int32), peptides=peptides)
