"""Present evaluation results: terminal table, JSON and a PNG curve.

matplotlib is imported only when a plot is requested, so evaluating
needs nothing beyond numpy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .pipeline import EvalResult

__all__ = ["format_table", "to_json", "write_json", "plot_curves"]

_COLUMNS = (
    ("spectra", "n_spectra", "d"),
    ("predicted", "n_predicted", "d"),
    ("AA prec", "aa_precision", ".4f"),
    ("AA rec", "aa_recall", ".4f"),
    ("pep rec", "peptide_recall", ".4f"),
    ("pep prec", "peptide_precision", ".4f"),
    ("AUC", "auc", ".4f"),
    ("prec@50%", "precision_at_50", ".4f"),
    ("ECE", "ece", ".4f"),  # "-": scores are not all in [0, 1]
)
MAX_CURVE_POINTS = 1001  # curve points kept in JSON


def _rows(results: Sequence[EvalResult]):
    for r in results:
        for mode, m in (("mass", r.mass), ("exact", r.exact)):
            if m is not None:
                yield r.label, mode, m


def format_table(results: Sequence[EvalResult]) -> str:
    """Fixed-width table: one row per predictions file and mode."""
    header = ["predictions", "mode"] + [c[0] for c in _COLUMNS]
    body = []
    for label, mode, m in _rows(results):
        cells = [label, mode]
        for _, attr, fmt in _COLUMNS:
            value = getattr(m, attr)
            cells.append("-" if value is None else format(value, fmt))
        body.append(cells)
    widths = [max(len(str(row[i])) for row in [header] + body)
              for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths,
                                                      strict=True)))
             for row in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _thin(coverage: np.ndarray, precision: np.ndarray):
    """At most MAX_CURVE_POINTS points, always keeping the last."""
    n = len(coverage)
    if n <= MAX_CURVE_POINTS:
        keep = np.arange(n)
    else:
        keep = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS)
                         .round().astype(int))
    return ([round(float(x), 6) for x in coverage[keep]],
            [round(float(y), 6) for y in precision[keep]])


def to_json(results: Sequence[EvalResult], *, curves: bool = True) -> dict:
    """JSON-ready dict of all results (curves thinned to ~1000 points)."""
    out = []
    for r in results:
        item = r.summary()
        if curves:
            for mode, m in (("mass", r.mass), ("exact", r.exact)):
                if m is not None:
                    cov, prec = _thin(m.coverage, m.precision)
                    item[mode]["curve"] = {"coverage": cov,
                                           "precision": prec}
                    if m.calibration is not None:
                        item[mode]["reliability"] = \
                            m.calibration.summary()
        out.append(item)
    return {"results": out}


def write_json(results: Sequence[EvalResult], path: str | Path) -> None:
    """Write :func:`to_json` to ``path``."""
    Path(path).write_text(json.dumps(to_json(results), indent=1) + "\n",
                          encoding="utf-8")


def plot_curves(results: Sequence[EvalResult], path: str | Path, *,
                title: str = "Precision–coverage") -> None:
    """Write the precision–coverage curves (mass mode solid, exact
    dashed) of every result to a PNG, and beside them the reliability
    diagram (mass mode) of those whose scores are probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calibrated = [r for r in results if r.mass.calibration is not None]
    fig, axes = plt.subplots(1, 2 if calibrated else 1, dpi=150,
                             figsize=(10 if calibrated else 5, 4),
                             squeeze=False)
    ax = axes[0, 0]
    if calibrated:
        _plot_reliability(axes[0, 1], results)
    for i, r in enumerate(results):
        color = f"C{i % 10}"
        m = r.mass
        ax.plot(m.coverage, m.precision, color=color,
                label=f"{r.label} (AUC {m.auc:.3f})")
        if r.exact is not None:
            ax.plot(r.exact.coverage, r.exact.precision, color=color,
                    linestyle="--", label=f"{r.label}, exact "
                                          f"(AUC {r.exact.auc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage (predicted / annotated spectra)")
    ax.set_ylabel("peptide precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_reliability(ax, results: Sequence[EvalResult]) -> None:
    """Reliability diagram: accuracy per score bin vs the bin's mean."""
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":",
            label="perfect calibration")
    for i, r in enumerate(results):
        cal = r.mass.calibration
        if cal is None:
            continue
        ax.plot(cal.confidence, cal.accuracy, marker="o", markersize=3,
                color=f"C{i % 10}", label=f"{r.label} (ECE {cal.ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("score (mean per bin)")
    ax.set_ylabel("fraction of peptides correct")
    ax.set_title("Reliability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
