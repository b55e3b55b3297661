"""Metrics on a tiny dataset computed by hand, and curve edge cases."""

import numpy as np
import pytest

from denovo.evaluate.metrics import (
    compute_metrics,
    curve_auc,
    precision_at_coverage,
    precision_coverage,
)

# Five annotated spectra, four predicted (s4 has none).
#   s0 PEPTIDE  <- PEPTLDE    0.90  correct (I=L)        7/7 residues
#   s1 PEPKR    <- PEPQR      0.80  correct in mass mode 5/5 (exact 4)
#   s2 PEPTIDE  <- PETPIDE    0.70  wrong                5/7
#   s3 NPEK     <- GGPEK      0.95  wrong                3 of 5 predicted
#   s4 SAMPLER  <- (none)
TRUTH = [tuple("PEPTIDE"), tuple("PEPKR"), tuple("PEPTIDE"),
         tuple("NPEK"), tuple("SAMPLER")]
PRED = [tuple("PEPTLDE"), tuple("PEPQR"), tuple("PETPIDE"),
        tuple("GGPEK"), None]
SCORES = [0.9, 0.8, 0.7, 0.95, 0.99]  # s4's score is ignored


def test_hand_computed_mass_mode():
    m = compute_metrics(PRED, TRUTH, SCORES)
    assert (m.n_spectra, m.n_predicted, m.n_correct) == (5, 4, 2)
    assert (m.n_aa_pred, m.n_aa_true, m.n_aa_matched) == (24, 30, 20)
    assert m.aa_precision == pytest.approx(20 / 24)
    assert m.aa_recall == pytest.approx(20 / 30)
    assert m.peptide_recall == pytest.approx(2 / 5)
    assert m.peptide_precision == pytest.approx(2 / 4)
    # Ranked s3 (wrong), s0, s1 (correct), s2 (wrong).
    assert m.coverage == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert m.precision == pytest.approx([0, 1 / 2, 2 / 3, 2 / 4])
    # Trapezoids from (0, 0): 0 + 0.05 + 0.11667 + 0.11667.
    assert m.auc == pytest.approx(0.2 * (0.25 + (0.5 + 2 / 3)),
                                  abs=1e-12)
    assert m.auc == pytest.approx(0.283333, abs=1e-6)
    assert m.precision_at_50 == pytest.approx(2 / 3)


def test_hand_computed_exact_mode():
    m = compute_metrics(PRED, TRUTH, SCORES, exact=True)
    assert m.exact
    assert (m.n_aa_matched, m.n_correct) == (19, 1)
    assert m.aa_precision == pytest.approx(19 / 24)
    assert m.aa_recall == pytest.approx(19 / 30)
    assert m.peptide_recall == pytest.approx(1 / 5)
    assert m.peptide_precision == pytest.approx(1 / 4)
    assert m.precision == pytest.approx([0, 1 / 2, 1 / 3, 1 / 4])
    assert m.auc == pytest.approx(0.05 + 0.1 * (5 / 6) + 0.1 * (7 / 12))
    assert m.precision_at_50 == pytest.approx(1 / 3)


def test_order_does_not_matter():
    perm = [3, 0, 4, 2, 1]
    a = compute_metrics(PRED, TRUTH, SCORES)
    b = compute_metrics([PRED[i] for i in perm], [TRUTH[i] for i in perm],
                        [SCORES[i] for i in perm])
    assert a.summary() == b.summary()


def test_ties_enter_together_and_flat_curve_area():
    correct = [True, False, True, False]
    cov, prec = precision_coverage(correct, [1.0] * 4, 8)
    assert cov.tolist() == [0.5] and prec.tolist() == [0.5]
    assert curve_auc(cov, prec) == pytest.approx(0.25)
    # Without scores every prediction ties.
    m = compute_metrics(PRED, TRUTH)
    assert m.coverage.tolist() == [0.8]
    assert m.auc == pytest.approx(0.8 * 0.5)


def test_nan_scores_rank_last():
    cov, prec = precision_coverage([False, True], [np.nan, 0.1], 2)
    assert prec.tolist() == [1.0, 0.5]


def test_precision_at_coverage_not_reached():
    cov, prec = precision_coverage([True], [1.0], 4)
    assert precision_at_coverage(cov, prec, 0.5) is None
    m = compute_metrics([tuple("PEP"), None, None],
                        [tuple("PEP")] * 3, [1.0, 0.0, 0.0])
    assert m.precision_at_50 is None
    assert m.peptide_recall == pytest.approx(1 / 3)
    assert m.peptide_precision == 1.0


def test_nothing_predicted():
    m = compute_metrics([None, ()], [tuple("PEP"), tuple("AK")])
    assert (m.n_predicted, m.n_aa_pred, m.n_aa_true) == (0, 0, 5)
    assert (m.aa_precision, m.aa_recall, m.peptide_recall,
            m.peptide_precision, m.auc) == (0, 0, 0, 0, 0)
    assert m.precision_at_50 is None and len(m.coverage) == 0


def test_input_validation():
    with pytest.raises(ValueError, match="predictions for"):
        compute_metrics([None], TRUTH)
    with pytest.raises(ValueError, match="scores for"):
        compute_metrics(PRED, TRUTH, [1.0])
    with pytest.raises(ValueError, match="more predictions"):
        precision_coverage([True, True], [1.0, 2.0], 1)
