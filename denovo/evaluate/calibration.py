"""Calibration of scores read as probabilities: ECE and reliability bins.

A score column is read as a probability only when every predicted
spectrum's score lies in [0, 1]; otherwise there is nothing to calibrate
against and :func:`calibration` returns None.

* Bins: ``n_bins`` equal-width bins over [0, 1]; a score of exactly 1
  falls in the last bin.
* Reliability diagram: per non-empty bin, the mean score (confidence),
  the fraction of correct peptides (accuracy) and the count.
* Expected calibration error (ECE) = sum over bins of
  ``n_bin / n * |accuracy_bin - confidence_bin|`` over the predicted
  spectra (``n`` of them); 0 is perfectly calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Calibration", "calibration", "N_BINS"]

N_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """ECE and the reliability bins of one set of predictions."""

    ece: float
    n: int  # predicted spectra with a score
    confidence: np.ndarray  # mean score per non-empty bin
    accuracy: np.ndarray  # fraction correct per non-empty bin
    count: np.ndarray  # predictions per non-empty bin
    n_bins: int = N_BINS

    def summary(self) -> dict:
        """JSON-ready: ECE and the bins."""
        return {"ece": self.ece, "n": self.n, "n_bins": self.n_bins,
                "confidence": [round(float(x), 6) for x in self.confidence],
                "accuracy": [round(float(x), 6) for x in self.accuracy],
                "count": [int(x) for x in self.count]}


def calibration(scores: Sequence[float], correct: Sequence[bool], *,
                n_bins: int = N_BINS) -> Calibration | None:
    """ECE and reliability bins, or None when scores are not in [0, 1].

    Parameters
    ----------
    scores
        Score of each predicted spectrum (NaN: no score, left out).
    correct
        Whether each predicted spectrum's peptide is correct.
    """
    scores = np.asarray(scores, np.float64)
    correct = np.asarray(correct, bool)
    if scores.shape != correct.shape:
        raise ValueError("scores and correct differ in length")
    keep = np.isfinite(scores)
    scores, correct = scores[keep], correct[keep]
    if scores.size == 0 or scores.min() < 0.0 or scores.max() > 1.0:
        return None
    which = np.minimum((scores * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf = np.bincount(which, weights=scores, minlength=n_bins)
    acc = np.bincount(which, weights=correct.astype(np.float64),
                      minlength=n_bins)
    used = count > 0
    conf = conf[used] / count[used]
    acc = acc[used] / count[used]
    count = count[used]
    ece = float(np.sum(count * np.abs(acc - conf)) / scores.size)
    return Calibration(ece, int(scores.size), conf, acc, count, n_bins)
