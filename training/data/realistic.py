"""The realistic simulator: real peptides, fitted charges, MS2PIP, noise.

It assembles the parts of issue 5 behind the generator's interface
(``batch(rng, size, config) -> RawBatch``), so the trainer can use it
wherever it uses :class:`training.data.synthetic.Simulator`:

* peptides: tryptic digests of real proteomes (<= 2 missed cleavages,
  6-35 residues) mixed with the ProteomeTools peptide list, or the
  peptidoforms of an MS2PIP library; modifications at
  :class:`~training.data.peptides.ModificationRates`;
* charges: a multinomial logistic model of length and basic residues,
  fitted on the real spectra (:class:`ChargeModel`);
* b/y intensities: MS2PIP (:class:`~.ms2pip_library.LibraryIntensity`),
  thinned and scattered as the fitted detection model says;
* a ions, neutral losses, isotopes, immonium ions, internal fragments,
  precursor peaks and noise: the fitted :mod:`.noise_model`.

All intensities are drawn relative to the most intense b/y peak, the unit
the noise model was fitted in.
"""

from __future__ import annotations

import hashlib

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from denovo.core.constants import C13_SPACING, CO, PROTON
from denovo.core.fragments import ION_A, ION_B, ION_Y, LOSS_NAMES, LOSS_NONE
from denovo.core.peptide import peptide_key
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary

from .annotate import PRECURSOR_KINDS, internal_mz, precursor_peaks
from .batch import RawBatch
from .ms2pip_library import Library, LibraryIntensity
from .noise_model import FittedNoise, load_params
from .peptides import (DigestPeptides, ListPeptides, ModificationRates,
                       _check_lengths)
from .synthetic import SimulationConfig, ion_table

__all__ = [
    "ChargeModel",
    "RealisticPeptides",
    "LibraryPeptides",
    "holdout_side",
    "RealisticSimulator",
    "simulate_mgf",
]

log = logging.getLogger(__name__)


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


class RealisticPeptides:
    """A mixture of peptide sources, drawn with fixed probabilities.

    Parameters
    ----------
    sources
        Objects with ``sample(rng, n, min_length=, max_length=)``.
    weights
        Relative probability of each source.
    """

    def __init__(self, sources, weights):
        if len(sources) != len(weights) or not sources:
            raise ValueError("need one weight per source, and a source")
        self.sources = list(sources)
        w = np.asarray(weights, np.float64)
        self.weights = w / w.sum()

    @classmethod
    def from_data_dir(cls, data_dir, *,
                      rates: ModificationRates | None = None,
                      fasta_weight: float = 0.5, missed_cleavages: int = 2,
                      min_length: int = 6, max_length: int = 35
                      ) -> "RealisticPeptides":
        """FASTA digests of ``data_dir/fasta`` + the ProteomeTools list."""
        data = Path(data_dir)
        sources, weights = [], []
        fastas = sorted((data / "fasta").glob("*.fasta"))
        for path in fastas:
            sources.append(DigestPeptides(
                path, rates, missed_cleavages=missed_cleavages,
                min_length=min_length, max_length=max_length))
        # Weigh proteomes by size so each peptide is about equally likely.
        sizes = np.array([len(s) for s in sources], np.float64)
        weights.extend((fasta_weight * sizes / max(sizes.sum(), 1))
                       .tolist())
        listed = data / "peptides" / "proteometools_peptides.txt.gz"
        if listed.exists():
            sources.append(ListPeptides(listed, rates))
            weights.append(1.0 - fasta_weight if fastas else 1.0)
        if not sources:
            raise FileNotFoundError(f"{data}: no FASTA or peptide list")
        return cls(sources, weights)

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> list[tuple[str, ...]]:
        """``n`` peptides; the source of each is drawn by weight."""
        _check_lengths(min_length, max_length)
        which = rng.choice(len(self.sources), size=n, p=self.weights)
        out: list = [None] * n
        for k, source in enumerate(self.sources):
            idx = np.nonzero(which == k)[0]
            if len(idx):
                peps = source.sample(rng, len(idx), min_length=min_length,
                                     max_length=max_length)
                for i, p in zip(idx, peps, strict=True):
                    out[i] = p
        return out

    def unique(self, rng: np.random.Generator, n: int, *,
               min_length: int = 6, max_length: int = 35) -> list:
        """``n`` distinct peptidoforms (e.g. to build a library)."""
        seen: dict = {}
        while len(seen) < n:
            for p in self.sample(rng, n - len(seen), min_length=min_length,
                                 max_length=max_length):
                seen.setdefault(p, None)
        return list(seen)


def holdout_side(peptide, val_percent: int = 5) -> str:
    """"val" for a stable ``val_percent`` share of peptides, else "train"."""
    digest = hashlib.sha256(peptide_key(peptide).encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") % 100 < val_percent \
        else "train"


class LibraryPeptides:
    """The peptidoforms of an MS2PIP library, drawn uniformly by length.

    ``side`` keeps all peptides ("all") or one side of a stable hash
    split by peptide ("train" / "val", see :func:`holdout_side`), so
    simulated validation spectra have peptides never trained on.
    ``exclude`` holds peptide keys (:func:`peptide_key`) never to draw,
    e.g. those of the real dev split.
    """

    def __init__(self, library: Library, *, side: str = "all",
                 exclude=frozenset()):
        if side not in ("all", "train", "val"):
            raise ValueError(f"side must be all, train or val, not {side!r}")
        self.peptides = [p for p in library.peptides()
                         if (side == "all" or holdout_side(p) == side)
                         and peptide_key(p) not in exclude]
        if not self.peptides:
            raise ValueError(f"no library peptides on side {side!r}")
        self._lengths = np.array([len(p) for p in self.peptides])

    def __len__(self) -> int:
        return len(self.peptides)

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> list[tuple[str, ...]]:
        _check_lengths(min_length, max_length)
        ok = np.nonzero((self._lengths >= min_length)
                        & (self._lengths <= max_length))[0]
        if not len(ok):
            raise ValueError(f"library has no peptide of {min_length}-"
                             f"{max_length} tokens")
        return [self.peptides[i] for i in rng.choice(ok, size=n)]


def _lognormal(rng, fit: dict, n: int) -> np.ndarray:
    return 10.0 ** rng.normal(fit["mu"], fit["sigma"], n)


class RealisticSimulator:
    """Annotated spectra from the fitted models; see the module docstring.

    Parameters
    ----------
    source
        Peptide source.
    intensity
        b/y intensity model; a :class:`LibraryIntensity` (MS2PIP, with
        heuristic fallback) by default.
    params
        Fitted noise-model parameters (default: the committed JSON).
    noise_scale
        Multiplies the number of unexplained peaks (1 = as fitted).
    """

    def __init__(self, source, *, intensity=None,
                 params: dict | None = None, noise_scale: float = 1.0,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        self.source = source
        self.intensity = intensity or LibraryIntensity()
        self.params = params if params is not None else load_params()
        self.noise = FittedNoise(self.params)
        self.charge_model = (ChargeModel.from_dict(self.params["charge"])
                             if "charge" in self.params else None)
        self.noise_scale = noise_scale
        self.vocabulary = vocabulary
        det = self.params["detection"]
        self._det_x = np.asarray(det["log10_pred"]) + 0.125
        self._det_p = np.asarray(det["p"])

    @classmethod
    def from_library(cls, path, *, side: str = "all", exclude=frozenset(),
                     **kwargs) -> "RealisticSimulator":
        """Peptides and intensities from a built MS2PIP library.

        ``side`` and ``exclude`` select peptides as in
        :class:`LibraryPeptides`.
        """
        lib = Library(path)
        return cls(LibraryPeptides(lib, side=side, exclude=exclude),
                   intensity=LibraryIntensity(lib), **kwargs)

    def batch(self, rng: np.random.Generator, size: int,
              config: SimulationConfig | None = None) -> RawBatch:
        """``size`` spectra (charges from the fitted model, not config)."""
        config = config or SimulationConfig()
        peptides = self.source.sample(rng, size, min_length=config.min_length,
                                      max_length=config.max_length)
        if self.charge_model is None:
            raise ValueError("the noise-model parameters hold no fitted "
                             "charge model")
        charge = self.charge_model.sample(rng, peptides)
        return self.spectra(rng, peptides, charge, config)

    def spectra(self, rng: np.random.Generator, peptides, charge,
                config: SimulationConfig | None = None) -> RawBatch:
        """Simulate given peptides at given charges."""
        config = config or SimulationConfig()
        size = len(peptides)
        charge = np.asarray(charge, np.int32)
        p = self.params
        ions = ion_table(peptides, charge, a_ions=True, neutral_losses=True,
                         max_fragment_charge=2, vocabulary=self.vocabulary)
        ions.peptides = list(peptides)
        ions.precursor_charge = charge
        pred = self.intensity.predict(ions, rng, config).astype(np.float64)
        clean = rng.random(size) < config.clean_fraction
        spec = ions.spectrum
        base = ((ions.series == ION_B) | (ions.series == ION_Y)) & (
            ions.loss == LOSS_NONE)
        det = np.interp(np.log10(np.maximum(pred, 1e-4)), self._det_x,
                        self._det_p)
        keep = base & ((rng.random(len(pred)) < det) | clean[spec])
        # Real ladders are flatter than MS2PIP's: a fitted exponent
        # (absent from older parameter files: 1).
        scatter = p["by_scatter"]
        shaped = pred ** scatter.get("slope", 1.0)
        inten = np.where(keep, shaped * _lognormal(rng, scatter, len(pred)),
                         0.0)
        inten = np.where(clean[spec], pred, inten)
        # Spectra that lost every b/y ion keep their strongest one.
        top = np.zeros(size)
        np.maximum.at(top, spec, np.where(base, pred, 0))
        rescue = base & (pred >= top[spec]) & (top[spec] > 0)
        lost = np.bincount(spec[keep], minlength=size) == 0
        keep |= rescue & lost[spec]
        inten = np.where(rescue & lost[spec], shaped, inten)
        ref = np.zeros(size)
        np.maximum.at(ref, spec, inten)
        inten = inten / np.maximum(ref[spec], 1e-12)
        parts = [(spec[keep], ions.mz[keep], inten[keep])]
        # a ions and neutral losses from their 1+ b/y parents.
        key = ((spec * 3 + np.where(ions.series == ION_Y, 1, 0)) * 64
               + ions.cleavage) * 4 + ions.charge
        bkey = np.where(keep & (ions.charge == 1), key, -1)
        order = np.argsort(bkey)
        derived = ~base & (ions.charge == 1) & ~clean[spec]
        # a ions share the key of their b parent (series flag 0).
        pos = np.clip(np.searchsorted(bkey[order], key), 0, len(key) - 1)
        parent = np.where(bkey[order][pos] == key, inten[order][pos], 0.0)
        prob = np.zeros(len(pred))
        ratio = np.zeros(len(pred))
        # a ions without loss only: a-H2O / a-NH3 were not fitted (the
        # annotation counts them as unexplained).
        is_a = (ions.series == ION_A) & (ions.loss == LOSS_NONE)
        groups = [(p["a_ions"][name], is_a & sel) for name, sel in
                  (("a2", ions.cleavage == 2), ("other", ions.cleavage != 2))]
        for series, sname in ((ION_B, "b"), (ION_Y, "y")):
            for code in (1, 2):
                groups.append((p["losses"][f"{sname}-{LOSS_NAMES[code]}"],
                               (ions.series == series) & (ions.loss == code)))
        for fit, sel in groups:
            # With its parent: relative to it; without: to the ref.
            with_parent = sel & (parent > 0)
            orphan = sel & (parent <= 0)
            prob[with_parent] = fit["p"]
            ratio[with_parent] = parent[with_parent] ** fit.get(
                "slope", 1.0) * _lognormal(rng, fit, int(with_parent.sum()))
            prob[orphan] = fit["orphan"]["p"]
            ratio[orphan] = _lognormal(rng, fit["orphan"], int(orphan.sum()))
        show = derived & (rng.random(len(pred)) < prob)
        parts.append((spec[show], ions.mz[show], ratio[show]))
        # M+1 isotope peaks of kept fragments, thinned as fitted.
        iso_fit = p["isotope_per_da"]
        iso = keep & ~clean[spec] & (rng.random(len(pred))
                                     < iso_fit.get("p", 1.0))
        mass = ions.mz * ions.charge - ions.charge * PROTON
        level = inten * mass * _lognormal(rng, iso_fit, len(pred))
        parts.append((spec[iso], ions.mz[iso] + C13_SPACING / ions.charge[iso],
                      level[iso]))
        parts.append(self._peptide_peaks(rng, peptides, charge, clean,
                                         ions.peptide_mass))
        counts, nmz, nlevel = self.noise.sample(
            rng, (ions.peptide_mass + charge * PROTON) / charge, charge)
        if self.noise_scale != 1.0:
            counts = rng.binomial(counts, min(self.noise_scale, 1.0))
            nmz, nlevel = nmz[:counts.sum()], nlevel[:counts.sum()]
        nspec = np.repeat(np.arange(size), counts)
        parts.append((nspec[~clean[nspec]], nmz[~clean[nspec]],
                      nlevel[~clean[nspec]]))
        return self._assemble(rng, parts, ions.peptide_mass, charge,
                              clean, peptides, config)

    def _peptide_peaks(self, rng, peptides, charge, clean, masses):
        """Immonium, internal and precursor peaks, per spectrum."""
        p = self.params
        imm, internal = p["immonium"], p["internal"]
        specs, mzs, levels = [], [], []
        vocab = self.vocabulary
        for i, pep in enumerate(peptides):
            if clean[i]:
                continue
            toks = [vocab.tokens[vocab.index(t)] for t in pep]
            res = [t for t in toks if not t.n_terminal]
            for tok in {t.name: t for t in res}.values():
                if rng.random() < imm["p"].get(tok.residue, 0.0):
                    specs.append(i)
                    mzs.append(tok.mass - CO + PROTON)
                    levels.append(_lognormal(rng, imm["pooled"], 1)[0])
            frag = internal_mz(np.array([t.mass for t in res]),
                               p["annotation"]["max_internal"])
            hit = frag[rng.random(len(frag)) < internal["p"]]
            specs.extend([i] * len(hit))
            mzs.extend(hit.tolist())
            levels.extend(_lognormal(rng, internal, len(hit)).tolist())
            pre = precursor_peaks(masses[i], int(charge[i]))
            for k, kind in enumerate(PRECURSOR_KINDS):
                fit = p["precursor"][kind]
                if np.isfinite(pre[k]) and rng.random() < fit["p"]:
                    specs.append(i)
                    mzs.append(pre[k])
                    levels.append(_lognormal(rng, fit, 1)[0])
        return (np.array(specs, np.int64), np.array(mzs, np.float64),
                np.array(levels, np.float64))

    def _assemble(self, rng, parts, peptide_mass, charge, clean, peptides,
                  config: SimulationConfig) -> RawBatch:
        size = len(peptides)
        spec = np.concatenate([s for s, _, _ in parts]).astype(np.int64)
        mz = np.concatenate([m for _, m, _ in parts])
        inten = np.concatenate([v for _, _, v in parts])
        err = rng.normal(0.0, config.fragment_ppm, len(mz)) * 1e-6
        mz = mz * (1.0 + np.where(clean[spec], 0.0, err))
        inside = (mz >= config.min_mz) & (mz <= config.max_mz) & (inten > 0)
        spec, mz, inten = spec[inside], mz[inside], inten[inside]
        order = np.lexsort((mz, spec))
        offsets = np.zeros(size + 1, np.int64)
        offsets[1:] = np.cumsum(np.bincount(spec, minlength=size))
        prec = (peptide_mass + charge * PROTON) / charge
        perr = rng.normal(0.0, config.precursor_ppm, size) * 1e-6
        prec = prec * (1.0 + np.where(clean, 0.0, perr))
        return RawBatch(mz=mz[order], intensity=inten[order].astype(
            np.float32), offsets=offsets, precursor_mz=prec,
            charge=charge.astype(np.int32), peptides=list(peptides))


def simulate_mgf(out, n: int, *, peptides=None, fasta=None,
                 library=None, seed: int = 0, batch_size: int = 256,
                 config: SimulationConfig | None = None,
                 side: str = "all") -> int:
    """Write ``n`` realistic annotated spectra to the MGF file ``out``.

    Peptides come from a peptide list (``peptides``), a FASTA digest
    (``fasta``, <= 2 missed cleavages, 6-35 residues) or, if neither is
    given, the MS2PIP ``library`` (``side`` as in :class:`LibraryPeptides`:
    "val" gives peptides a model trained on the library never saw).
    Returns the number of spectra written.
    """
    from denovo.io.mgf_writer import MgfWriter

    from .synthetic import step_rng

    cfg = config or SimulationConfig(min_length=6, max_length=35)
    lib = Library(library) if library is not None else None
    if peptides is not None:
        source = ListPeptides(peptides)
    elif fasta is not None:
        source = DigestPeptides(fasta, missed_cleavages=2, min_length=6,
                                max_length=35)
    elif lib is not None:
        source = LibraryPeptides(lib, side=side)
    else:
        raise ValueError("give a peptide list, a FASTA file or a library")
    sim = RealisticSimulator(source, intensity=LibraryIntensity(lib))
    written = 0
    with MgfWriter(out, prefix=f"sim_seed{seed}_") as writer:
        for step in range((n + batch_size - 1) // batch_size):
            size = min(batch_size, n - written)
            raw = sim.batch(step_rng(seed, step), size, cfg)
            for i in range(size):
                mz, inten = raw.spectrum(i)
                writer.write(mz, inten, precursor_mz=raw.precursor_mz[i],
                             charge=int(raw.charge[i]),
                             peptide=raw.peptides[i])
            written += size
    intensity = sim.intensity
    log.info("%s: %d spectra; b/y intensities for %d from MS2PIP, %d "
             "heuristic", out, written, intensity.hits, intensity.misses)
    return written
