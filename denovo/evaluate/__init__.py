"""Evaluation of de novo predictions the way the field reports them.

Matching rules (:mod:`.matching`), metrics (:mod:`.metrics`), reading and
joining predictions to annotated spectra (:mod:`.predictions`), the
end-to-end run behind ``denovo evaluate`` (:mod:`.pipeline`) and its
table/JSON/PNG output (:mod:`.report`).
"""

from .matching import MatchConfig, PeptideMatch, match_peptide
from .metrics import Metrics, compute_metrics
from .pipeline import EvalResult, evaluate_files, evaluate_predictions
from .predictions import (
    Prediction,
    PredictionFormatError,
    read_predictions,
    read_truth,
)

__all__ = [
    "MatchConfig", "PeptideMatch", "match_peptide",
    "Metrics", "compute_metrics",
    "EvalResult", "evaluate_files", "evaluate_predictions",
    "Prediction", "PredictionFormatError", "read_predictions",
    "read_truth",
]
