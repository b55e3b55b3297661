"""Amino-acid and peptide metrics, precision–coverage curve and its AUC.

Conventions (all documented so that numbers can be reproduced by hand):

* The evaluation set is **every annotated spectrum**. A spectrum without a
  prediction, or with an empty one, counts as *not predicted*: it adds its
  true residues to the recall denominators and nothing to precision.
* Amino-acid precision = matched residues / predicted residues;
  amino-acid recall = matched residues / true residues of all annotated
  spectra. N-terminal modification tokens count as residues (see
  :mod:`denovo.evaluate.matching`).
* Peptide recall = correct peptides / all annotated spectra; peptide
  precision = correct peptides / predicted spectra (precision at full
  coverage).
* Precision–coverage: predictions are ranked by score (highest first;
  missing or NaN scores rank last). For every distinct score threshold
  the curve has one point: coverage = predictions at or above it / all
  annotated spectra, precision = correct among them / their number. Ties
  enter together, so the curve does not depend on input order. The AUC is
  the trapezoid area under these points over coverage, with the curve
  extended flat from coverage 0 to the first point; it is at most the
  final coverage, and a flat curve (all scores tied) has AUC = coverage ×
  precision. (Plain ``np.trapz`` over the points, as some notebooks do,
  differs only by that first sliver, ≤ 1/n_spectra.)
* Precision at 50% coverage is the precision of the first curve point
  whose coverage reaches 0.5; ``None`` when coverage never does.
* ``exact=True`` computes the same metrics with exact residue matching
  (only I/L may differ).
* When every predicted spectrum's score is in [0, 1], the scores are
  read as probabilities of being correct and their calibration is
  measured (:mod:`denovo.evaluate.calibration`: expected calibration
  error, reliability bins); otherwise ``calibration`` is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .calibration import Calibration, calibration
from .matching import DEFAULT_MATCH, MatchConfig, match_peptide

__all__ = [
    "Metrics",
    "compute_metrics",
    "precision_coverage",
    "curve_auc",
    "precision_at_coverage",
]


@dataclass(frozen=True)
class Metrics:
    """Metrics of one set of predictions against the truth."""

    n_spectra: int  # annotated spectra (the denominator of recall)
    n_predicted: int  # spectra with a non-empty prediction
    n_correct: int  # spectra whose peptide matches
    n_aa_true: int
    n_aa_pred: int
    n_aa_matched: int
    aa_precision: float
    aa_recall: float
    peptide_recall: float
    peptide_precision: float
    auc: float
    precision_at_50: float | None
    exact: bool = False
    coverage: np.ndarray = field(default_factory=lambda: np.zeros(0),
                                 repr=False)
    precision: np.ndarray = field(default_factory=lambda: np.zeros(0),
                                  repr=False)
    correct: np.ndarray = field(default_factory=lambda: np.zeros(0, bool),
                                repr=False)
    calibration: Calibration | None = field(default=None, repr=False)

    @property
    def ece(self) -> float | None:
        """Expected calibration error of the scores, or None."""
        return None if self.calibration is None else self.calibration.ece

    def summary(self) -> dict:
        """Scalar metrics as a JSON-ready dict (no curve arrays)."""
        keys = ("n_spectra", "n_predicted", "n_correct", "n_aa_true",
                "n_aa_pred", "n_aa_matched", "aa_precision", "aa_recall",
                "peptide_recall", "peptide_precision", "auc",
                "precision_at_50", "exact", "ece")
        return {k: getattr(self, k) for k in keys}


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def precision_coverage(
    correct: Sequence[bool],
    scores: Sequence[float],
    n_total: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Precision–coverage points of ranked predictions.

    Parameters
    ----------
    correct
        Whether each *predicted* spectrum is correct.
    scores
        Their scores; higher is more confident. NaN ranks last.
    n_total
        Number of annotated spectra (coverage denominator).

    Returns
    -------
    coverage, precision
        One point per distinct score, in order of increasing coverage.
    """
    correct = np.asarray(correct, bool)
    scores = np.asarray(scores, np.float64)
    if correct.shape != scores.shape:
        raise ValueError("correct and scores differ in length")
    if len(correct) == 0:
        return np.zeros(0), np.zeros(0)
    if n_total < len(correct):
        raise ValueError("more predictions than annotated spectra")
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-keyed, kind="stable")
    ranked, hits = keyed[order], np.cumsum(correct[order])
    # Last index of every run of equal scores: ties enter together.
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    n = ends + 1
    return n / n_total, hits[ends] / n


def curve_auc(coverage: np.ndarray, precision: np.ndarray) -> float:
    """Trapezoid area under precision over coverage.

    The curve is extended flat to coverage 0 so that the first point's
    share is not lost; an empty curve has area 0.
    """
    if len(coverage) == 0:
        return 0.0
    coverage = np.concatenate([[0.0], coverage])
    precision = np.concatenate([precision[:1], precision])
    dx = np.diff(coverage)
    return float(np.sum(dx * (precision[1:] + precision[:-1]) / 2))


def precision_at_coverage(
    coverage: np.ndarray, precision: np.ndarray, level: float = 0.5
) -> float | None:
    """Precision at the first point whose coverage reaches ``level``."""
    reached = np.flatnonzero(coverage >= level - 1e-12)
    return float(precision[reached[0]]) if len(reached) else None


def compute_metrics(
    predictions: Sequence[Sequence[str] | None],
    truths: Sequence[Sequence[str]],
    scores: Sequence[float] | None = None,
    *,
    exact: bool = False,
    config: MatchConfig = DEFAULT_MATCH,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> Metrics:
    """Metrics of predictions aligned one-to-one with annotated spectra.

    Parameters
    ----------
    predictions
        Predicted token tuple per annotated spectrum; ``None`` or ``()``
        when the spectrum has no prediction.
    truths
        True token tuple per annotated spectrum.
    scores
        Score per spectrum (ignored where there is no prediction); when
        omitted every prediction gets the same score.
    exact
        Exact residue matching (only I/L may differ).
    """
    if len(predictions) != len(truths):
        raise ValueError(
            f"{len(predictions)} predictions for {len(truths)} spectra")
    if scores is None:
        scores = [0.0] * len(truths)
    elif len(scores) != len(truths):
        raise ValueError(f"{len(scores)} scores for {len(truths)} spectra")
    n_aa_true = n_aa_pred = n_aa_matched = 0
    correct, ranked_scores = [], []
    for pred, true, score in zip(predictions, truths, scores, strict=True):
        n_aa_true += len(true)
        if not pred:
            continue
        m = match_peptide(pred, true, exact=exact, config=config,
                          vocabulary=vocabulary)
        n_aa_pred += m.n_pred
        n_aa_matched += m.n_matched
        correct.append(m.peptide)
        score = float("nan") if score is None else float(score)
        ranked_scores.append(score)
    n_total, n_pred = len(truths), len(correct)
    n_correct = int(sum(correct))
    coverage, precision = precision_coverage(correct, ranked_scores,
                                             n_total)
    p50 = precision_at_coverage(coverage, precision, 0.5)
    return Metrics(
        n_spectra=n_total,
        n_predicted=n_pred,
        n_correct=n_correct,
        n_aa_true=n_aa_true,
        n_aa_pred=n_aa_pred,
        n_aa_matched=n_aa_matched,
        aa_precision=_ratio(n_aa_matched, n_aa_pred),
        aa_recall=_ratio(n_aa_matched, n_aa_true),
        peptide_recall=_ratio(n_correct, n_total),
        peptide_precision=_ratio(n_correct, n_pred),
        auc=curve_auc(coverage, precision),
        precision_at_50=None if p50 is None or math.isnan(p50) else p50,
        exact=exact,
        coverage=coverage,
        precision=precision,
        correct=np.asarray(correct, bool),
        calibration=calibration(ranked_scores, correct),
    )
