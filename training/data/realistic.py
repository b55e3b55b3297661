"""The realistic simulator: real peptides, fitted charges, MS2PIP, noise.

It assembles the parts of issue 5 behind the generator's interface
(``batch(rng, size, config) -> RawBatch``), so the trainer can use it
wherever it uses :class:`denovo_training.data.synthetic.Simulator`:

* peptides: tryptic digests of real proteomes (<= 2 missed cleavages,
  6-35 residues) mixed with the ProteomeTools peptide list, or the
  peptidoforms of an MS2PIP library; modifications at
  :class:`~denovo_training.data.peptides.ModificationRates`;
* lengths and charges: fitted on the real spectra
  (:mod:`.peptide_model`), so fresh peptides are as long as identified
  real ones, not as long as a digest's;
* b/y intensities: MS2PIP (:class:`~.ms2pip_library.LibraryIntensity`),
  thinned and scattered as the fitted detection model says;
* a ions, neutral losses, isotopes, immonium ions, internal fragments,
  precursor peaks and noise: the fitted :mod:`.noise_model`.

All intensities are drawn relative to the most intense b/y peak, the unit
the noise model was fitted in.

The module stays whole (about 470 lines): most of it is
:class:`RealisticSimulator`, whose ion kinds draw from one shared fitted
parameter set and must stay in step with :mod:`.noise_fit`, which
calibrates them by simulating through it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from denovo.core.constants import C13_SPACING, CO, PROTON
from denovo.core.fragments import ION_A, ION_B, ION_Y, LOSS_NAMES, LOSS_NONE
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary

from .annotate import PRECURSOR_KINDS, internal_mz, precursor_peaks
from .batch import RawBatch
from .derived_ions import charge_factor, logit_shift, prone_parent
from .library_peptides import LibraryPeptides, holdout_side
from .ms2pip_library import Library, LibraryIntensity
from .noise_model import FittedNoise, load_params
from .peptide_model import BasicModel, ChargeModel, LengthModel
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
        # Absent from older parameter files: the source's own lengths.
        self.length_model = (LengthModel.from_dict(self.params["length"])
                             if "length" in self.params else None)
        self.basic_model = (BasicModel.from_dict(self.params["basic"])
                            if "basic" in self.params else None)
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
        peptides = self._peptides(rng, size, config)
        if self.charge_model is None:
            raise ValueError("the noise-model parameters hold no fitted "
                             "charge model")
        charge = self.charge_model.sample(rng, peptides)
        return self.spectra(rng, peptides, charge, config)

    def _peptides(self, rng, size: int, config: SimulationConfig) -> list:
        """Peptides at fitted lengths, one source call per length.

        A length the source lacks falls back to the source's own draw.
        With a fitted basic-residue model (absent from older parameter
        files) each is picked from a larger draw by its K/R/H count.
        """
        lo, hi = config.min_length, config.max_length
        if self.length_model is None:
            return self.source.sample(rng, size, min_length=lo, max_length=hi)
        lengths = self.length_model.sample(rng, size, min_length=lo,
                                           max_length=hi)
        out: list = [None] * size
        for length in np.unique(lengths):
            idx = np.nonzero(lengths == length)[0]
            length, basic = int(length), self.basic_model
            m = len(idx) * (basic.pool if basic is not None else 1)
            try:
                peps = self.source.sample(rng, m, min_length=length,
                                          max_length=length)
            except ValueError:
                peps = self.source.sample(rng, m, min_length=lo,
                                          max_length=hi)
            if basic is not None:
                peps = basic.select(rng, peps, len(idx), length)
            for i, pep in zip(idx, peps, strict=True):
                out[i] = pep
        return out

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
        ladder = [(spec[keep], ions.mz[keep], inten[keep])]  # b/y, isotopes
        free = []  # the rest: levels shared per spectrum (below)
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
        if "first" in p["immonium"]:  # a1: the first immonium ion
            is_a &= ions.cleavage != 1
        groups = [(p["a_ions"][name], is_a & sel) for name, sel in
                  (("a2", ions.cleavage == 2), ("other", ions.cleavage != 2))]
        prone = prone_parent(
            [self._residues(pep) for pep in peptides], spec,
            ions.series == ION_Y, ions.cleavage, ions.loss)
        for series, sname in ((ION_B, "b"), (ION_Y, "y")):
            for code in (1, 2):
                fit = p["losses"][f"{sname}-{LOSS_NAMES[code]}"]
                sel = (ions.series == series) & (ions.loss == code)
                # Rates by the parent's residues (older files: one rate).
                for name, part in (("prone", prone), ("other", ~prone)):
                    rates = fit.get("by_prone", {}).get(name, fit)
                    groups.append(({**fit, "p": rates["p"], "orphan": {
                        **fit["orphan"], "p": rates["orphan"]["p"]}},
                        sel & part))
        for fit, sel in groups:
            # With its parent: relative to it; without: to the ref.
            with_parent = sel & (parent > 0)
            orphan = sel & (parent <= 0)
            # Rates by precursor charge (older files: any charge).
            factor = charge_factor(fit.get("by_charge"), charge[spec])
            prob[with_parent] = fit["p"] * factor[with_parent]
            ratio[with_parent] = parent[with_parent] ** fit.get(
                "slope", 1.0) * _lognormal(rng, fit, int(with_parent.sum()))
            prob[orphan] = fit["orphan"]["p"] * factor[orphan]
            ratio[orphan] = _lognormal(rng, fit["orphan"], int(orphan.sum()))
        # Each spectrum's own proneness to losses: a fitted shift of the
        # log-odds (absent from older parameter files: none).
        shifted = (ions.loss != LOSS_NONE) & (prob > 0)
        shift = self._shift(rng, "loss_spread", size)
        if shift is not None:
            prob[shifted] = logit_shift(prob[shifted], shift[spec[shifted]])
        show = derived & (rng.random(len(pred)) < np.minimum(prob, 1.0))
        free.append((spec[show], ions.mz[show], ratio[show]))
        # M+1 isotope peaks of kept fragments, thinned as fitted.
        iso_fit = p["isotope_per_da"]
        iso = keep & ~clean[spec] & (rng.random(len(pred))
                                     < self._isotope_rate(inten))
        mass = ions.mz * ions.charge - ions.charge * PROTON
        level = inten * mass * _lognormal(rng, iso_fit, len(pred))
        ladder.append((spec[iso],
                       ions.mz[iso] + C13_SPACING / ions.charge[iso],
                       level[iso]))
        free.append(self._peptide_peaks(rng, peptides, charge, clean,
                                        ions.peptide_mass))
        counts, nmz, nlevel = self.noise.sample(
            rng, (ions.peptide_mass + charge * PROTON) / charge, charge)
        if self.noise_scale != 1.0:
            counts = rng.binomial(counts, min(self.noise_scale, 1.0))
            nmz, nlevel = nmz[:counts.sum()], nlevel[:counts.sum()]
        nspec = np.repeat(np.arange(size), counts)
        free.append((nspec[~clean[nspec]], nmz[~clean[nspec]],
                     nlevel[~clean[nspec]]))
        # Peaks not tied to the b/y ladder (a ions, losses, immonium,
        # internal, precursor, noise) share one fitted level per spectrum:
        # in real spectra they rise and fall together against the b/y
        # ions (absent from older parameter files: no shared level).
        tau = p.get("shared_level", {}).get("sigma", 0.0)
        if tau > 0:
            shared = 10.0 ** rng.normal(0.0, tau, size)
            free = [(s, m, v * shared[s]) for s, m, v in free]
        return self._assemble(rng, ladder + free, ions.peptide_mass, charge,
                              clean, peptides, config)

    def _residues(self, peptide) -> str:
        """One-letter codes of the residues (no N-terminal token)."""
        toks = [self.vocabulary.tokens[self.vocabulary.index(t)]
                for t in peptide]
        return "".join(t.residue for t in toks if not t.n_terminal)

    def _shift(self, rng, key: str, size: int) -> np.ndarray | None:
        """Per-spectrum log-odds shifts (``None`` where not fitted)."""
        sigma = self.params.get(key, {}).get("sigma", 0.0)
        return rng.normal(0.0, sigma, size) if sigma > 0 else None

    def _isotope_rate(self, parent: np.ndarray) -> np.ndarray:
        """P(M+1 seen) by parent level (older files: one flat rate)."""
        fit = self.params["isotope_per_da"]
        if "by_parent" not in fit:
            return np.full(len(parent), fit.get("p", 1.0))
        curve = fit["by_parent"]
        x = np.log10(np.maximum(parent, 1e-6))
        return np.interp(x, np.asarray(curve["log10_parent"]) + 0.125,
                         curve["p"])

    def _peptide_peaks(self, rng, peptides, charge, clean, masses):
        """Immonium, internal and precursor peaks, per spectrum.

        Rates by precursor charge where the file has them (older: any).
        """
        p = self.params
        imm, internal = p["immonium"], p["internal"]
        specs, mzs, levels = [], [], []
        vocab = self.vocabulary
        shift = self._shift(rng, "internal_spread", len(peptides))
        for i, pep in enumerate(peptides):
            if clean[i]:
                continue
            toks = [vocab.tokens[vocab.index(t)] for t in pep]
            res = [t for t in toks if not t.n_terminal]
            # A residue's own immonium level (older files: one level).
            offset = imm.get("offset", {})
            # Fewer in higher charge states (older files: any charge).
            factor = charge_factor(imm.get("by_charge"), [charge[i]])[0]
            # The first residue's immonium ion is the a1 ion, stronger
            # than the others: fitted on its own where the file has it.
            first = imm.get("first")
            for tok in {t.name: t for t in res}.values():
                fit, rates = imm["pooled"], imm["p"]
                if first is not None and tok.name == res[0].name:
                    fit, rates = first, first["p"]
                if rng.random() < factor * rates.get(tok.residue, 0.0):
                    specs.append(i)
                    mzs.append(tok.mass - CO + PROTON)
                    levels.append(_lognormal(rng, fit, 1)[0] * 10.0 ** (
                        offset.get(tok.residue, {}).get("mu", 0.0)))
            frag = internal_mz(np.array([t.mass for t in res]),
                               p["annotation"]["max_internal"])
            rate = internal["p"] * charge_factor(internal.get("by_charge"),
                                                 [charge[i]])[0]
            if shift is not None:  # each spectrum's own proneness
                rate = logit_shift(np.array([rate]), shift[i:i + 1])[0]
            hit = frag[rng.random(len(frag)) < rate]
            specs.extend([i] * len(hit))
            mzs.extend(hit.tolist())
            levels.extend(_lognormal(rng, internal, len(hit)).tolist())
            pre = precursor_peaks(masses[i], int(charge[i]))
            for k, kind in enumerate(PRECURSOR_KINDS):
                fit = p["precursor"][kind]
                if np.isfinite(pre[k]) and rng.random() < fit["p"] * (
                        charge_factor(fit.get("by_charge"), [charge[i]])[0]):
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
