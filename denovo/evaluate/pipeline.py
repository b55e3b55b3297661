"""Evaluate a predictions file against annotated spectra, end to end.

This is what ``denovo evaluate`` runs: read the truth once, read and
join each predictions file, compute the metrics in mass mode and (by
default) in exact mode. With lists of peptides seen in training, the
metrics are also computed on the "unseen" subset: annotated spectra
whose peptide (I = L, modifications ignored) is in none of the lists.
With the model's own record of its training peptides
(:mod:`denovo.evaluate.training_peptides`), on the "seen" and "unseen"
subsets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .matching import DEFAULT_MATCH, MatchConfig
from .metrics import Metrics, compute_metrics
from .peptide_lists import peptide_key, read_peptide_list
from .predictions import (
    PredictionFormatError,
    TruthSpectrum,
    join,
    read_predictions,
    read_truth,
)

__all__ = [
    "EvalResult",
    "evaluate_predictions",
    "evaluate_files",
    "peptide_key",
    "read_peptide_list",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one predictions file, in mass and exact mode."""

    label: str  # usually the predictions file name
    mass: Metrics
    exact: Metrics | None
    n_rows: int  # prediction rows read
    n_unmatched: int  # rows that joined no annotated spectrum
    config: MatchConfig = DEFAULT_MATCH

    def summary(self) -> dict:
        """JSON-ready scalars of both modes."""
        return {
            "label": self.label,
            "n_rows": self.n_rows,
            "n_unmatched_rows": self.n_unmatched,
            "residue_tol_da": self.config.residue_tol_da,
            "prefix_tol_da": self.config.prefix_tol_da,
            "mode": self.config.mode,
            "mass": self.mass.summary(),
            "exact": None if self.exact is None else self.exact.summary(),
        }


def _result(label, aligned, truths, keep, n_rows, n_unmatched, *, exact,
            config, vocabulary) -> EvalResult:
    if keep is not None:
        aligned = [a for a, k in zip(aligned, keep, strict=True) if k]
        truths = [t for t, k in zip(truths, keep, strict=True) if k]
    peptides = [None if p is None else p.peptide for p in aligned]
    scores = [float("nan") if p is None else p.score for p in aligned]
    true = [t.peptide for t in truths]
    kw = dict(config=config, vocabulary=vocabulary)
    mass = compute_metrics(peptides, true, scores, exact=False, **kw)
    ex = (compute_metrics(peptides, true, scores, exact=True, **kw)
          if exact else None)
    return EvalResult(label, mass, ex, n_rows, n_unmatched, config)


def evaluate_predictions(
    predictions_path: str | Path,
    truths: Sequence[TruthSpectrum],
    *,
    exact: bool = True,
    seen: set[str] | None = None,
    config: MatchConfig = DEFAULT_MATCH,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    label: str | None = None,
    training=None,
    allow_partial: bool = False,
) -> list[EvalResult]:
    """Read one predictions file, join it to ``truths``, compute metrics.

    Returns one result for all spectra and, when ``seen`` (peptide keys,
    see :func:`peptide_key`) is given, a second one labelled
    ``"<label> (unseen)"`` for the spectra whose peptide is not in it.
    ``training`` (a :class:`~denovo.evaluate.training_peptides.
    TrainingPeptides`, e.g. read from the model file) adds
    ``"<label> (seen in training)"`` and ``"<label> (unseen in
    training)"``. ``allow_partial`` is passed to :func:`join`.
    """
    path = Path(predictions_path)
    label = label or path.name
    preds = read_predictions(path, vocabulary=vocabulary)
    aligned, n_unmatched = join(preds, truths, source=str(path),
                                allow_partial=allow_partial)
    kw = dict(exact=exact, config=config, vocabulary=vocabulary)
    out = [_result(label, aligned, truths, None, len(preds), n_unmatched,
                   **kw)]
    if seen is not None:
        keep = [peptide_key(t.peptide) not in seen for t in truths]
        log.info("%s: %d of %d annotated spectra have unseen peptides",
                 path, sum(keep), len(keep))
        out.append(_result(f"{label} (unseen)", aligned, truths, keep,
                           len(preds), n_unmatched, **kw))
    if training is not None:
        known = [peptide_key(t.peptide) in training for t in truths]
        log.info("%s: %d of %d annotated spectra have peptides the model "
                 "was trained on", path, sum(known), len(known))
        for name, keep in (("seen in training", known),
                           ("unseen in training", [not k for k in known])):
            if any(keep):
                out.append(_result(f"{label} ({name})", aligned, truths,
                                   keep, len(preds), n_unmatched, **kw))
    return out


def evaluate_files(
    predictions: Sequence[str | Path],
    truth: Sequence[str | Path],
    *,
    exact: bool = True,
    labels: Sequence[str | Path | None] | None = None,
    fixed: dict | None = None,
    seen_lists: Sequence[str | Path] = (),
    config: MatchConfig = DEFAULT_MATCH,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    model: str | Path | None = None,
    allow_partial: bool = False,
) -> list[EvalResult]:
    """Evaluate every predictions file against the same truth files.

    ``labels`` and ``fixed`` are passed to :func:`read_truth`;
    ``seen_lists`` are peptide list files (:func:`read_peptide_list`)
    that add an "unseen peptides" result per predictions file; ``model``
    is a model file whose recorded training peptides add "seen in
    training" and "unseen in training" results.
    """
    training = None
    if model is not None:
        from .training_peptides import read_training_peptides
        training = read_training_peptides(model)
        log.info("%s: %s", model, training.describe())
    truths = read_truth(truth, labels=labels, fixed=fixed,
                        vocabulary=vocabulary)
    if not truths:
        raise PredictionFormatError(
            "no annotated spectra in " + ", ".join(map(str, truth)))
    log.info("%d annotated spectra in %d truth file(s)", len(truths),
             len(truth))
    seen = None
    if seen_lists:
        seen = set().union(*(read_peptide_list(p) for p in seen_lists))
    results = []
    for p in predictions:
        results += evaluate_predictions(p, truths, exact=exact, seen=seen,
                                        config=config,
                                        vocabulary=vocabulary,
                                        training=training,
                                        allow_partial=allow_partial)
    return results
