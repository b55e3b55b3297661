"""A calibrated probability that a reported peptide is right.

The rank score orders the candidates of one spectrum but means little
across spectra (it grows with peptide length and peak count). The
confidence is a logistic model over what the engine knows about a
candidate when it reports it — its rank score, its lead over the best
other candidate of the spectrum, the evidence and model terms per
cleavage, length, charge and precursor mass error — fitted on annotated
train-side spectra the model never saw
(``python -m denovo_training.engine_fit``), never on dev. Its parameters
travel in the model file with the evidence scorer, one set per ranking
mode, because the terms differ between modes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURES", "Confidence", "candidate_features"]

FEATURES = ("rank_score_per_residue", "lead", "evidence_per_residue",
            "model", "length", "charge_2", "charge_3_plus",
            "from_search", "mass_error_ppm")
NO_RIVAL_LEAD = 10.0  # lead of a candidate that has no rival


def candidate_features(scores, terms, lengths, charge,
                       mass_errors=None, rows: int | None = None
                       ) -> np.ndarray:
    """Feature rows ``[rows, len(FEATURES)]`` for the first ``rows`` (all
    by default) ranked candidates of one spectrum at one charge
    (``scores`` of every candidate, best first; ``terms`` dicts,
    ``lengths`` and ``mass_errors`` — |precursor - peptide| in ppm at the
    best isotope error, 0 when not given — of at least those rows)."""
    scores = np.asarray(scores, np.float64)
    n = scores.size
    rows = n if rows is None else min(rows, n)
    out = np.zeros((rows, len(FEATURES)))
    if n == 0:
        return out
    # the best rival of each candidate: the top score, or the second for
    # the top candidate itself
    best = int(np.argmax(scores))
    second = np.delete(scores, best).max() if n > 1 else None
    for k in range(rows):
        rival = scores[best] if k != best else second
        lead = (scores[k] - rival) if rival is not None else NO_RIVAL_LEAD
        length = max(int(lengths[k]), 1)
        t = terms[k]
        model = t.get("model", 0.0)
        out[k] = (scores[k] / length, min(lead, NO_RIVAL_LEAD),
                  t.get("evidence", 0.0) / length,
                  max(model, -10.0) if np.isfinite(model) else -10.0,
                  length / 10.0, float(charge == 2), float(charge >= 3),
                  float(t.get("source", "search") == "search"),
                  0.0 if mass_errors is None else float(mass_errors[k]))
    return out


@dataclass(frozen=True)
class Confidence:
    """Logistic model over :data:`FEATURES`."""

    weights: tuple
    bias: float

    def __post_init__(self):
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"confidence has {len(self.weights)} weights, "
                             f"expected {len(FEATURES)}")

    def __call__(self, features: np.ndarray) -> np.ndarray:
        z = np.asarray(features, np.float64) @ np.asarray(self.weights) \
            + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {"features": list(FEATURES),
                "weights": [float(w) for w in self.weights],
                "bias": float(self.bias)}

    @classmethod
    def from_dict(cls, data: dict) -> "Confidence":
        if tuple(data.get("features", FEATURES)) != FEATURES:
            raise ValueError("confidence features differ from this "
                             "denovo's; refit it")
        return cls(tuple(map(float, data["weights"])), float(data["bias"]))
