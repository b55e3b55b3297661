"""Candidates from the evidence search and the model, pooled and ranked.

The engine has two sources of peptides for a spectrum at a charge: the
evidence search in mass space (:mod:`denovo.core.search`), which reads the
peaks, and the model's mass-controlled beam (:mod:`denovo.core.decode`),
which reads the model's per-slot probabilities. Both give peptides of the
precursor mass. They are pooled and every candidate is scored the same
way, whatever its source (:func:`rank_score`):

``rank score = evidence + model_weight * max(model, -50)``

and, with an evidence verifier in the settings
(:mod:`denovo.engine.verifier`), ``rank_scale * rank score +
verifier``, its correction of the best candidates.

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
existed: for ablation). The weights are fitted on train-side spectra the
model never saw (:mod:`denovo_training.engine_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.constants import H2O
from ..core.decode import Candidate
from ..core.search import EvidenceSearch, Found, SearchConfig
from ..core.settings import RankSettings
from ..core.window import PrecursorWindow
from ..core.vocab import END, merge_il
from .confidence import Confidence, candidate_features
from .rows import Row
from .verifier import EvidenceVerifier

__all__ = ["MODES", "MODEL_FLOOR", "Ranked", "Ranker", "rank_score"]

MODES = ("hybrid", "evidence", "model")
MODEL_FLOOR = -50.0  # a peptide the model rules out still ranks by evidence


def rank_score(evidence, model, model_weight: float):
    """The hybrid rank score (arrays or numbers)."""
    return evidence + model_weight * np.maximum(model, MODEL_FLOOR)


@dataclass(frozen=True)
class Ranked:
    """A candidate with its rank score and the terms it was made of."""

    candidate: Candidate
    terms: dict = field(default_factory=dict)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


@dataclass(frozen=True)
class Ranker:
    """How one engine ranks: the search (with its fitted rank settings)
    and the mode; :meth:`rank` is a function of a row and these.

    ``peak_once`` False ranks by the search's own path score (peaks may
    count twice), for ablation. ``view``: how the model sees the
    search's vocabulary when the user named modifications
    (:class:`denovo.core.modifications.ModelView`); None when both are
    the model's.
    """

    search: EvidenceSearch
    mode: str = "hybrid"
    peak_once: bool = True
    view: object = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, "
                             f"not {self.mode!r}")
        calibration = (self.settings.confidence or {}).get(self.mode)
        object.__setattr__(self, "confidence", None if calibration is None
                           else Confidence.from_dict(calibration))
        weights = self.settings.verifier
        object.__setattr__(self, "verifier", EvidenceVerifier.from_dict(
            weights) if weights and self.peak_once else None)

    @classmethod
    def build(cls, vocabulary, fitted, *, mode: str = "hybrid",
              search: SearchConfig | None = None,
              window: PrecursorWindow | None = None,
              view=None) -> "Ranker":
        """The ranker of a vocabulary and :class:`FittedSettings`."""
        return cls(EvidenceSearch(vocabulary, fitted.scorer, fitted.rank,
                                  search or SearchConfig(),
                                  window or PrecursorWindow()), mode=mode,
                   view=view)

    @property
    def settings(self) -> RankSettings:
        """The rank settings, those the search was built with."""
        return self.search.rank

    @property
    def vocabulary(self):
        return self.search.vocabulary

    @property
    def model_vocabulary(self):
        """The model's output vocabulary (the log-probs' columns)."""
        return self.vocabulary if self.view is None else self.view.model

    def _model_tokens(self, tokens, lengths) -> tuple:
        """Encoded peptides as the model's slots hold them."""
        if self.view is None:
            return tokens, lengths
        return self.view.encode(tokens, lengths)

    # -- the search stage ---------------------------------------------
    def find(self, row: Row) -> None:
        """The search's peptides of ``row`` (best rank score first) and
        their peak-once rank scores, into the row."""
        search = self.search
        encoded = None
        if self.peak_once:
            found, scores, encoded = search.ranked(row.peaks, row.mass,
                                                   row.charge)
        else:
            found = search.search(row.peaks, row.mass, row.charge)
            scores = np.array([f.score for f in found])
        if not found:
            return
        n = search.config.reorder
        if n and self.peak_once:
            # the other orders of the best peptides' unseen steps (same
            # mass, same isotope error), scored the same way
            variants = search.reorderings(
                row.peaks, [f.tokens for f in found[:n]], row.charge)
            if variants:
                found = found + [Found(v, found[k].score,
                                       found[k].isotope_error)
                                 for v, k in variants]
                scores = np.concatenate([scores, search.rank_scores(
                    row.peaks, [v for v, _ in variants], row.charge)])
                order = np.argsort(-scores, kind="stable")
                found = [found[k] for k in order]
                scores = scores[order]
                encoded = None
        row.found = found
        row.found_scores = scores
        row.found_encoded = encoded

    # -- model term ---------------------------------------------------
    def model_scores(self, log_probs: np.ndarray, peptides) -> np.ndarray:
        """Mean log-probability of each peptide's tokens and END under
        the per-slot ``log_probs [L, V]`` (I and L merged); -inf for a
        peptide longer than the model's slots."""
        return _mean_log_prob(
            self.model_vocabulary.merge_il_log_probs(log_probs),
            *self._model_tokens(*self.search.encode(peptides)))

    def mass_errors(self, peptides, precursor_mass: float) -> np.ndarray:
        """|precursor - peptide| in ppm, at the closest allowed isotope
        error."""
        return self._mass_errors(self.search.encode(peptides)[0],
                                 precursor_mass)

    def _mass_errors(self, tokens, precursor_mass: float) -> np.ndarray:
        masses = np.where(tokens >= 0,
                          self.vocabulary.masses[np.maximum(tokens, 0)], 0.0)
        return self.search.window.error_ppm(masses.sum(axis=1) + H2O,
                                            precursor_mass)

    def _encode_pool(self, row: Row, peptides) -> tuple:
        """:meth:`EvidenceSearch.encode` of the pool, reusing the
        search's encoding of its own peptides (the pool's first)."""
        if row.found_encoded is None:
            return self.search.encode(peptides)
        tokens, lengths = row.found_encoded
        n = len(row.found)
        if len(peptides) == n:
            return tokens, lengths
        more, more_lengths = self.search.encode(peptides[n:])
        width = max(tokens.shape[1], more.shape[1])
        out = np.full((len(peptides), width), -1, np.int64)
        out[:n, :tokens.shape[1]] = tokens
        out[n:, :more.shape[1]] = more
        return out, np.concatenate([lengths, more_lengths])

    # -- the rank stage -----------------------------------------------
    def rank(self, row: Row, keep: int | None = None) -> list[Ranked]:
        """Candidates of one row, best first (the ``keep`` best, all by
        default): the search's peptides, pooled in hybrid mode with the
        model's mass-matching candidates and scored with its
        distributions (``row.log_probs``, one per model input)."""
        if self.mode == "model":  # the beam's own order and score
            return [Ranked(c) for c in row.model_candidates]
        if not row.found:
            # No peptide of this mass is supported by the peaks: report
            # none (the model alone would write LLLL...-like guesses).
            return []
        pool = {f.tokens: "search" for f in row.found}
        hybrid = self.mode == "hybrid"
        if hybrid:
            for c in row.model_candidates:
                if c.mass_match:
                    pool.setdefault(merge_il(c.tokens), "model")
        peptides = list(pool)
        n = len(row.found)  # the pool starts with the search's peptides
        tokens, lengths = self._encode_pool(row, peptides)
        if not self.peak_once:
            evidence = np.concatenate([row.found_scores,
                                       np.full(len(peptides) - n, -np.inf)])
        else:
            evidence = np.concatenate([row.found_scores, self._evidence(
                row, peptides[n:], (tokens[n:], lengths[n:]))])
        terms = {"evidence": evidence}
        total = evidence.copy()
        merged = None
        if hybrid and row.log_probs is not None:
            stack = np.asarray(row.log_probs)
            if self.settings.draft_scoring == "blank":
                stack = stack[:1]  # the engine put the blank draft first
            model = np.full(len(peptides), -np.inf)
            m_tokens, m_lengths = self._model_tokens(tokens, lengths)
            for lp in stack:
                merged_k = self.model_vocabulary.merge_il_log_probs(lp)
                model = np.maximum(model, _mean_log_prob(merged_k, m_tokens,
                                                         m_lengths))
                merged = merged_k if merged is None else merged
            terms["model"] = model
            total = rank_score(total, model, self.settings.model_weight)
        if self.verifier is not None:
            terms["verifier"] = self._correction(row, total, tokens, lengths)
            total = self.verifier.rank_scale * total + terms["verifier"]
        order = np.argsort(-total, kind="stable")
        kept = order[:keep]
        entries = []
        for k in kept:
            entry = {name: float(v[k]) for name, v in terms.items()}
            entry["source"] = pool[peptides[k]]
            entries.append(entry)
        if self.confidence is not None:
            counted = lengths[kept]
            if self.search.fixed_nterm >= 0:  # not a residue of its own
                counted = counted - (tokens[kept, 0]
                                     == self.search.fixed_nterm)
            probs = self.confidence(candidate_features(
                total[order], entries, counted, row.charge,
                self._mass_errors(tokens[kept], row.mass),
                rows=len(kept)))
            for entry, p in zip(entries, probs, strict=True):
                entry["confidence"] = float(p)
        ranked = []
        for k, entry in zip(kept, entries, strict=True):
            pep = peptides[k]
            aa = self._aa_scores(row, pep, merged, tokens[k, :lengths[k]])
            ranked.append(Ranked(
                Candidate(tokens=pep, score=float(total[k]),
                          aa_scores=aa, mass_match=True), entry))
        return ranked

    def _correction(self, row: Row, total, tokens, lengths) -> np.ndarray:
        """The evidence verifier's correction of each candidate's score
        (the score becomes ``rank_scale * score + correction``): its own
        for the best ``top`` by score, the smallest of theirs for the
        others, which so stay behind them, in their order."""
        verifier = self.verifier
        best = np.argsort(-total, kind="stable")[:verifier.top]
        feats, left, right, _ = self.search.site_features(
            row.peaks, tokens[best], lengths[best], row.charge)
        corrections, _ = verifier.run(feats, left, right, row.charge,
                                      sites=False, every_step=False)
        correction = np.full(len(total), corrections[-1].min())
        correction[best] = corrections[-1]
        return correction

    def _evidence(self, row: Row, peptides, encoded) -> np.ndarray:
        if not peptides:
            return np.zeros(0)
        return self.search.rank_scores(row.peaks, peptides, row.charge,
                                       encoded)

    def _aa_scores(self, row: Row, peptide, merged, idx) -> tuple:
        """Per-token confidence: the model's probability of the token at
        its slot (hybrid; ``merged`` log-probs, I and L summed, ``idx``
        the token indices), or the probability that a cleavage next to the
        residue is real (evidence only)."""
        if merged is not None and self.view is not None:
            if self.view.fits(idx, merged.shape[0]):
                return tuple(map(float, self.view.token_probs(merged, idx)))
        elif merged is not None and len(idx) < merged.shape[0]:
            return tuple(map(float, np.exp(merged[np.arange(len(idx)),
                                                   idx])))
        sites = self.search.site_scores(row.peaks, peptide, row.charge)
        p = _sigmoid(sites)
        vocab = self.vocabulary
        out = []
        n_sites = len(sites)
        residue = 0
        for tok in peptide:
            if vocab.tokens[vocab.index(tok)].n_terminal:
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

