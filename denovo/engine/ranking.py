"""Candidates from the evidence search and the model, pooled and ranked.

The engine has two sources of peptides for a spectrum at a charge: the
evidence search in mass space (:mod:`denovo.core.search`), which reads the
peaks, and the model's mass-controlled beam (:mod:`denovo.core.decode`),
which reads the model's per-slot probabilities. Both give peptides of the
precursor mass. They are pooled and every candidate is scored the same
way, whatever its source:

``rank score = evidence + model_weight * model``

* ``evidence``: the cleavage log-odds of the peptide with every observed
  peak counted at one cleavage only, plus the residues' log-priors
  (:meth:`denovo.core.search.EvidenceSearch.rank_scores`);
* ``model``: the model's mean log-probability of the peptide's tokens and
  END at their slots (I and L merged), the decoder's own score. A
  draft-conditioned model gives one distribution per refined draft; a
  candidate gets its best one (``draft_scoring = "refined"``), or the
  one of a blank draft (``"blank"``: refining the search's own peptides
  tends to echo them, a blank draft gives a second opinion).

When the search finds no peptide of the precursor mass that the peaks
support, none is reported (the spectrum's row says ``no_mass_match``):
the model alone then tends to write guesses such as ``LLLLLLLLK``.

Modes: ``hybrid`` (both sources, both terms: the default), ``evidence``
(the search and the evidence term alone: no neural model runs) and
``model`` (the model's beam and its score alone, as before the search
existed: for ablation). ``model_weight`` is fitted on train-side spectra
the model never saw (:mod:`training.evidence_scorer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.constants import C13_SPACING, H2O
from ..core.decode import Candidate
from ..core.evidence import EvidenceScorer
from ..core.search import EvidenceSearch, SearchConfig
from ..core.vocab import END, Vocabulary
from .confidence import Confidence, candidate_features

__all__ = ["MODES", "Ranked", "Ranker"]

MODES = ("hybrid", "evidence", "model")


@dataclass(frozen=True)
class Ranked:
    """A candidate with its rank score and the terms it was made of."""

    candidate: Candidate
    terms: dict = field(default_factory=dict)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


class Ranker:
    """Search, pool and rank for one vocabulary, scorer and mode."""

    def __init__(self, vocabulary: Vocabulary, scorer: EvidenceScorer, *,
                 mode: str = "hybrid", search: SearchConfig | None = None,
                 model_weight: float | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, "
                             f"not {mode!r}")
        self.mode = mode
        self.vocabulary = vocabulary
        self.search = EvidenceSearch(vocabulary, scorer,
                                     search or SearchConfig())
        self.model_weight = float(scorer.model_weight if model_weight is None
                                  else model_weight)
        # Ablation switch: rank by the search's own path score (peaks may
        # count twice) instead of the peak-once rank score.
        self.peak_once = True
        # Weight of the cleavage evidence inside the model's beam (0: the
        # beam reads the model alone; its peptides are still re-ranked).
        self.beam_guide = float(scorer.beam_guide)
        # draft-conditioned models: which refined distribution scores
        self.draft_scoring = scorer.draft_scoring
        if self.draft_scoring not in ("refined", "blank"):
            raise ValueError("draft_scoring must be 'refined' or 'blank', "
                             f"not {self.draft_scoring!r}")
        calibration = (scorer.confidence or {}).get(mode)
        self.confidence = (None if calibration is None
                           else Confidence.from_dict(calibration))
        index = {t.name: i for i, t in enumerate(vocabulary.tokens)}
        self._index = index
        self._merge = (index.get("I"), index.get("L"))

    # -- model term -------------------------------------------------
    def _merged(self, log_probs: np.ndarray) -> np.ndarray:
        """``log_probs [L, V]`` with I and L each holding their sum."""
        lp = np.array(log_probs, np.float64)
        i, l_ = self._merge
        if i is not None and l_ is not None:
            lp[:, i] = lp[:, l_] = np.logaddexp(lp[:, i], lp[:, l_])
        return lp

    def model_scores(self, log_probs: np.ndarray, peptides) -> np.ndarray:
        """Mean log-probability of each peptide's tokens and END under
        the per-slot ``log_probs [L, V]`` (I and L merged); -inf for a
        peptide longer than the model's slots."""
        return _mean_log_prob(self._merged(log_probs),
                              *self.search.encode(peptides))

    def mass_errors(self, peptides, precursor_mass: float) -> np.ndarray:
        """|precursor - peptide| in ppm, at the closest allowed isotope
        error."""
        return self._mass_errors(self.search.encode(peptides)[0],
                                 precursor_mass)

    def _mass_errors(self, tokens, precursor_mass: float) -> np.ndarray:
        masses = np.where(tokens >= 0,
                          self.vocabulary.masses[np.maximum(tokens, 0)], 0.0)
        mass = masses.sum(axis=1) + H2O
        iso = np.asarray(self.search.config.isotope_errors, np.float64)
        diff = np.abs(mass[:, None] - (precursor_mass
                                        - iso[None, :] * C13_SPACING))
        return diff.min(axis=1) / precursor_mass * 1e6

    def guide(self, peaks_list, charges) -> tuple | None:
        """The decoder's guide (:meth:`denovo.core.decode.Decoder.
        decode_arrays`) for a batch of spectra, or None when off."""
        if self.beam_guide <= 0:
            return None
        ev = self.search.evidence
        width = max((p[0].size for p in peaks_list), default=1) or 1
        g_mz = np.zeros((len(peaks_list), width))
        g_weight = np.zeros((len(peaks_list), width))
        g_n = np.zeros(len(peaks_list), np.int64)
        for k, (mz, weight) in enumerate(peaks_list):
            g_mz[k, :mz.size] = mz
            g_weight[k, :mz.size] = weight
            g_n[k] = mz.size
        return (g_mz, g_weight, g_n, np.asarray(charges, np.int64),
                self.search.scorer.weight_array,
                float(self.search.scorer.bias), float(ev.fragment_tol),
                ev.ppm, int(ev.max_fragment_charge), self.beam_guide)

    def drafts(self, peaks, precursor_mass: float,
               charge: int) -> tuple[list, np.ndarray]:
        """The search's peptides (:class:`denovo.core.search.Found`),
        best rank score first (what a draft-conditioned model refines),
        and their peak-once rank scores (for :meth:`rank`)."""
        found = self.search.search(peaks, precursor_mass, charge)
        scores = self.search.rank_scores(peaks, [f.tokens for f in found],
                                         charge)
        order = np.argsort(-scores, kind="stable")
        return [found[k] for k in order], scores[order]

    def peaks(self, spectrum):
        """The spectrum's peaks as the evidence kernels read them."""
        return self.search.peaks(spectrum.mz, spectrum.intensity,
                                 spectrum.precursor_mz)

    # -- the whole step ------------------------------------------------
    def rank(self, spectrum, charge: int, precursor_mass: float, *,
             log_probs: np.ndarray | None = None,
             model_candidates=(), keep: int | None = None,
             peaks=None, found=None,
             found_scores=None) -> list[Ranked]:
        """Candidates of one spectrum at one charge, best first (the
        ``keep`` best, all by default).

        ``log_probs`` (``[L, V]``, or ``[N, L, V]``: one per refined
        draft) and ``model_candidates`` (the decoder's candidates) come
        from the model; both are ignored in ``evidence`` mode. ``found``
        (and ``found_scores``): the search's peptides (and their rank
        scores), when the caller has them already (:meth:`drafts`).
        """
        if self.mode == "model":
            return [Ranked(c, {"model": c.score}) for c in model_candidates]
        if peaks is None:
            peaks = self.peaks(spectrum)
        if found is None:
            found = self.search.search(peaks, precursor_mass, charge)
        if not found:
            # No peptide of this mass is supported by the peaks: report
            # none (the model alone would write LLLL...-like guesses).
            return []
        pool = {f.tokens: "search" for f in found}
        if self.mode == "hybrid":
            for c in model_candidates:
                if c.mass_match:
                    pool.setdefault(_as_l(c.tokens), "model")
        peptides = list(pool)
        tokens, lengths = encoded = self.search.encode(peptides)
        if self.peak_once and found_scores is not None:
            n = len(found)  # the pool starts with the search's peptides
            evidence = np.concatenate([found_scores, self.search.rank_scores(
                peaks, peptides[n:], charge, (tokens[n:], lengths[n:]))])
        elif self.peak_once:
            evidence = self.search.rank_scores(peaks, peptides, charge,
                                               encoded)
        else:
            path = {f.tokens: f.score for f in found}
            evidence = np.array([path.get(p, -np.inf) for p in peptides])
        terms = {"evidence": evidence}
        total = evidence.copy()
        merged = None
        if self.mode == "hybrid" and log_probs is not None:
            stack = np.asarray(log_probs)
            stack = stack[None] if stack.ndim == 2 else stack
            if self.draft_scoring == "blank":
                stack = stack[:1]  # the engine put the blank draft first
            model = np.full(len(peptides), -np.inf)
            for lp in stack:
                merged_k = self._merged(lp)
                model = np.maximum(model, _mean_log_prob(merged_k, tokens,
                                                         lengths))
                merged = merged_k if merged is None else merged
            terms["model"] = model
            total = total + self.model_weight * np.maximum(model, -50.0)
        order = np.argsort(-total, kind="stable")
        entries = []
        for k in order:
            entry = {name: float(v[k]) for name, v in terms.items()}
            entry["source"] = pool[peptides[k]]
            entries.append(entry)
        if self.confidence is not None:
            probs = self.confidence(candidate_features(
                total[order], entries, lengths[order], charge,
                self._mass_errors(tokens[order], precursor_mass)))
            for entry, p in zip(entries, probs, strict=True):
                entry["confidence"] = float(p)
        ranked = []
        for k, entry in list(zip(order, entries, strict=True))[:keep]:
            pep = peptides[k]
            aa = self._aa_scores(peaks, pep, charge, merged,
                                 tokens[k, :lengths[k]])
            ranked.append(Ranked(
                Candidate(tokens=pep, score=float(total[k]),
                          aa_scores=aa, mass_match=True), entry))
        return ranked

    def _aa_scores(self, peaks, peptide, charge, merged, idx) -> tuple:
        """Per-token confidence: the model's probability of the token at
        its slot (hybrid; ``merged`` log-probs, I and L summed, ``idx``
        the token indices), or the probability that a cleavage next to the
        residue is real (evidence only)."""
        if merged is not None and len(idx) < merged.shape[0]:
            return tuple(map(float, np.exp(merged[np.arange(len(idx)),
                                                   idx])))
        sites = self.search.site_scores(peaks, peptide, charge)
        p = _sigmoid(sites)
        out = []
        n_sites = len(sites)
        residue = 0
        for tok in peptide:
            if self.vocabulary.tokens[self._index[tok]].n_terminal:
                out.append(float(p[0]) if n_sites else 0.0)
                continue
            left = p[residue - 1] if 0 < residue <= n_sites else 0.0
            right = p[residue] if residue < n_sites else 0.0
            out.append(float(max(left, right)))
            residue += 1
        return tuple(out)


def _mean_log_prob(lp, tokens, lengths) -> np.ndarray:
    """Mean of ``lp[slot, token]`` over each row's tokens and END."""
    n_slots = lp.shape[0]
    out = np.full(tokens.shape[0], -np.inf)
    fits = lengths + 1 <= n_slots
    if not fits.any():
        return out
    width = min(tokens.shape[1], n_slots)
    t = tokens[fits, :width]
    slots = np.arange(width)
    valid = t >= 0
    gathered = np.where(valid, lp[slots, np.maximum(t, 0)], 0.0).sum(axis=1)
    n = lengths[fits]
    out[fits] = (gathered + lp[n, END]) / (n + 1)
    return out


def _as_l(tokens) -> tuple:
    """I reported as L, as the search does (one mass, one hypothesis)."""
    return tuple("L" if t == "I" else t for t in tokens)
