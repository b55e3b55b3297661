"""Decoding the model's per-slot probabilities into peptides of the
precursor mass: settings, the evidence guide, candidates, and the
:class:`Decoder` around the beam kernels of :mod:`denovo.core.beam`.

The model gives per-slot log-probabilities ``[L, V]``; a peptide may
finish only where its mass fits the precursor window
(:class:`~denovo.core.window.PrecursorWindow`), and prefixes that can no
longer fit are pruned early.

Conventions
-----------
* I and L have the same mass, so they must not occupy two beams: their
  probabilities are merged (log-sum-exp) into one hypothesis reported as
  ``L``. Evaluation treats I = L, so nothing is lost.
* Score of a peptide = mean log-probability over its tokens (N-terminal
  modification, residues) and END, so long and short peptides compare
  fairly. Per-residue scores are the probabilities of the chosen tokens
  at their slots (I + L merged).
* With ``fallback``, when no candidate fits the precursor, the best
  peptides of the same beam search without mass constraint are returned
  (same score convention) with ``mass_match=False``: reported, flagged,
  never dropped (the engine asks for it in ``model`` mode only).
* N-terminal tokens are allowed only at slot 0 and must be followed by a
  residue; PAD is never emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .beam import (NTERM, RESIDUE, SKIP, feasibility_table,
                   guided_beam_search_batch)
from .constants import H2O
from .evidence import N_FEATURES
from .vocab import DEFAULT_VOCABULARY, END, PAD, Token, Vocabulary
from .window import PrecursorWindow

__all__ = [
    "DecodeConfig",
    "BeamGuide",
    "Candidate",
    "Decoder",
    "feasibility_table",
    "guided_beam_search_batch",
]

@dataclass(frozen=True)
class DecodeConfig:
    """Beam-search settings (defaults as in ``denovo sequence``); the
    precursor window is a :class:`~denovo.core.window.PrecursorWindow`
    of its own, shared with the evidence search."""

    beam: int = 5  # beams kept per slot
    top_k: int = 1  # candidates returned per spectrum
    resolution: float = 0.01  # knapsack bin width (Da)
    merge_il: bool = True  # I and L as one hypothesis, reported as L
    # False: plain beam search without the precursor constraint (for
    # ablations); candidates that happen to fit are still flagged so.
    mass_control: bool = True

    def __post_init__(self):
        if self.beam < 1 or self.top_k < 1:
            raise ValueError("beam and top_k must be >= 1")
        if not 0 < self.resolution < 1:
            raise ValueError("resolution must be in (0, 1) Da")


class BeamGuide(NamedTuple):
    """The spectrum's fragment evidence inside the model's beam.

    Every extension of a beam earns ``strength`` times the cleavage
    log-odds of its new prefix mass (:mod:`denovo.core.evidence`) under
    the linear scorer ``w``/``bias``, read off the batch's evidence peaks
    (``mz``/``weight`` ``[B, P]``, ``n`` used per row) at the precursor
    ``charge`` of each row.
    """

    mz: np.ndarray
    weight: np.ndarray
    n: np.ndarray
    charge: np.ndarray
    w: np.ndarray
    bias: float
    tol: float
    ppm: bool
    max_z: int
    strength: float

    @classmethod
    def from_peaks(cls, peaks_list, charges, scorer,
                   strength: float) -> "BeamGuide | None":
        """The guide of a batch (``peaks_list``: one ``(mz, weight)`` per
        row, :func:`denovo.core.evidence.prepare_peaks`), None when off."""
        if strength <= 0:
            return None
        width = max((p[0].size for p in peaks_list), default=1) or 1
        mz = np.zeros((len(peaks_list), width))
        weight = np.zeros((len(peaks_list), width))
        n = np.zeros(len(peaks_list), np.int64)
        for k, (row_mz, row_weight) in enumerate(peaks_list):
            mz[k, :row_mz.size] = row_mz
            weight[k, :row_mz.size] = row_weight
            n[k] = row_mz.size
        ev = scorer.config
        return cls(mz, weight, n, np.asarray(charges, np.int64),
                   scorer.weight_array, float(scorer.bias),
                   float(ev.fragment_tol), ev.ppm,
                   int(ev.max_fragment_charge), float(strength))

    @classmethod
    def off(cls, batch: int) -> "BeamGuide":
        """No guidance (strength 0) for a batch of ``batch`` rows."""
        return cls(np.zeros((batch, 1)), np.zeros((batch, 1)),
                   np.zeros(batch, np.int64), np.zeros(batch, np.int64),
                   np.zeros(N_FEATURES), 0.0, 0.02, False, 2, 0.0)

    def rows(self, first: int, last: int) -> tuple:
        """The kernel's guide arguments for rows ``first:last``."""
        return (self.mz[first:last], self.weight[first:last],
                self.n[first:last], self.charge[first:last], self.w,
                self.bias, self.tol, self.ppm, self.max_z, self.strength)


@dataclass(frozen=True)
class Candidate:
    """One decoded peptide.

    ``score`` is the mean log-probability over tokens and END;
    ``aa_scores`` the per-token probabilities; ``mass_match`` is False
    for the unconstrained fallback.
    """

    tokens: tuple
    score: float
    aa_scores: tuple
    mass_match: bool


class Decoder:
    """Mass-controlled beam search for one vocabulary.

    Holds the kernel inputs derived from the vocabulary and the knapsack
    table, which grows on demand with the largest precursor seen.

    Parameters
    ----------
    vocabulary
        Output vocabulary of the model (index order = logit order).
    config
        Beam-search settings.
    window
        The precursor window peptides must fit.
    start
        A token every peptide begins with that is not among the model's
        columns (a fixed N-terminal modification,
        :class:`denovo.core.modifications.ModelView`): the beam starts at
        its mass and each candidate begins with it; None by default.
    """

    def __init__(self, vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                 config: DecodeConfig = DecodeConfig(),
                 window: PrecursorWindow | None = None,
                 start: Token | None = None):
        self.vocabulary = vocabulary
        self.start = start
        self._start_mass = 0.0 if start is None else float(start.mass)
        self.config = config
        self.window = window = window or PrecursorWindow()
        self.masses = np.ascontiguousarray(vocabulary.masses, np.float64)
        kind = np.full(len(vocabulary), RESIDUE, np.int8)
        for i, tok in enumerate(vocabulary.tokens):
            if tok.special:
                kind[i] = SKIP
            elif tok.n_terminal:
                kind[i] = NTERM
        kind[PAD] = kind[END] = SKIP
        self.kind = kind
        residues = self.masses[kind == RESIDUE]
        if residues.size == 0 or residues.min() <= config.resolution:
            raise ValueError("vocabulary needs residues heavier than the "
                             "knapsack resolution")
        self._residues = np.unique(residues)
        self.merge_from = self.merge_into = -1
        if config.merge_il and "I" in vocabulary and "L" in vocabulary:
            self.merge_from = vocabulary.index("I")
            self.merge_into = vocabulary.index("L")
        self.isotope_errors = np.asarray(window.isotope_errors, np.int64)
        self._lo = self._hi = np.zeros(0)
        self._table_mass = 0.0

    def table(self, max_mass: float) -> tuple[np.ndarray, np.ndarray]:
        """Knapsack table covering at least ``max_mass`` Da (cached)."""
        if max_mass > self._table_mass:
            covered = max(2000.0, 1.5 * max_mass)
            self._lo, self._hi = feasibility_table(
                self._residues, covered, self.config.resolution)
            self._table_mass = covered
        return self._lo, self._hi

    def decode_arrays(self, log_probs: np.ndarray,
                      precursor_mass: np.ndarray,
                      guide: BeamGuide | None = None, pool=None,
                      fallback: bool = True) -> tuple:
        """Run :func:`guided_beam_search_batch`; see it for the returned
        arrays.

        Parameters
        ----------
        log_probs : float32[B, L, V]
        precursor_mass : float64[B], neutral (NaN or <= 0 if unknown).
        guide
            The spectrum's fragment evidence added at every extension, or
            None.
        pool
            A ``concurrent.futures`` executor: the rows are split among
            its threads (the kernel releases the GIL); same result.
        fallback
            Rows where no peptide fits get the unconstrained beam's
            peptides (flagged); False leaves them empty.
        """
        lp = np.ascontiguousarray(log_probs, np.float32)
        pm = np.ascontiguousarray(precursor_mass, np.float64).reshape(-1)
        if lp.ndim != 3 or lp.shape[2] != len(self.vocabulary):
            raise ValueError(f"log_probs must be [B, L, "
                             f"{len(self.vocabulary)}], got {lp.shape}")
        if pm.shape[0] != lp.shape[0]:
            raise ValueError("one precursor mass per spectrum expected")
        if lp.shape[1] < 2:
            raise ValueError("need at least 2 slots (a residue and END)")
        known = pm[np.isfinite(pm)]
        lo, hi = self.table(float(known.max()) if known.size else 0.0)
        cfg = self.config
        b = lp.shape[0]
        guide = guide if guide is not None else BeamGuide.off(b)
        target = pm if cfg.mass_control else np.full_like(pm, np.nan)
        tol_ppm, tol_da = self.window.kernel_tolerances

        def rows(first, last):
            return guided_beam_search_batch(
                lp[first:last], target[first:last], self.masses, self.kind,
                self.merge_from, self.merge_into, self.isotope_errors,
                tol_ppm, lo, hi, float(cfg.resolution), int(cfg.beam),
                int(cfg.top_k), tol_da, *guide.rows(first, last),
                bool(fallback), self._start_mass)

        n_parts = min(getattr(pool, "_max_workers", 1), b) if pool else 1
        if n_parts <= 1:
            out = rows(0, b)
        else:
            cuts = np.linspace(0, b, n_parts + 1).astype(int)
            parts = list(pool.map(rows, cuts[:-1], cuts[1:]))
            out = tuple(np.concatenate([p[k] for p in parts])
                        for k in range(5))
        if not cfg.mass_control:
            out[4][:] = np.where(out[4] < 0, -1, self._fits(out, pm))
        return out

    def _fits(self, arrays: tuple, precursor_mass: np.ndarray) -> np.ndarray:
        """1 where a candidate's mass fits the precursor window, else 0."""
        tokens, lengths = arrays[0], arrays[1]
        mass = (self.masses[tokens].sum(axis=2) + H2O  # PAD weighs 0
                + self._start_mass)
        fit = self.window.fits(mass, precursor_mass[:, None])
        return (fit & (lengths > 0)).astype(np.int8)

    def candidates(self, arrays: tuple) -> list[list[Candidate]]:
        """Turn :meth:`decode_arrays` output into candidate lists."""
        tokens, lengths, scores, aa, flags = arrays
        names = [t.name for t in self.vocabulary.tokens]
        # the start token scores as the residue after it
        head = () if self.start is None else (self.start.name,)
        out = []
        for i in range(tokens.shape[0]):
            row = []
            for k in range(tokens.shape[1]):
                if flags[i, k] < 0:
                    continue
                n = int(lengths[i, k])
                toks = tuple(names[j] for j in tokens[i, k, :n])
                aa_k = tuple(float(x) for x in aa[i, k, :n])
                if head:
                    toks, aa_k = head + toks, aa_k[:1] + aa_k
                row.append(Candidate(
                    tokens=toks, score=float(scores[i, k]),
                    aa_scores=aa_k, mass_match=bool(flags[i, k] == 1)))
            out.append(row)
        return out

    def decode(self, log_probs: np.ndarray,
               precursor_mass: float) -> list[Candidate]:
        """Candidates for one spectrum, best first."""
        lp = np.asarray(log_probs)[None]
        return self.candidates(
            self.decode_arrays(lp, np.array([precursor_mass])))[0]

    def decode_batch(self, log_probs: np.ndarray,
                     precursor_mass: np.ndarray) -> list[list[Candidate]]:
        """Candidates for each spectrum of a batch, best first."""
        return self.candidates(self.decode_arrays(log_probs,
                                                  precursor_mass))
