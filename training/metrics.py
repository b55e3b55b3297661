"""Validation metrics with the *predicted* length and no oracle.

An earlier TRM attempt for de novo sequencing reported token accuracy
over the true length of the peptide, which hides a model that never
learned where peptides end. Here every metric decodes the model output on
its own: greedy argmax per slot up to the first end/pad token (or the
mass-controlled beam search of :mod:`denovo.core.decode`), and compares
the decoded peptide with the label.

Everything works on NumPy arrays, so the same code scores torch and ONNX
outputs.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from denovo.core.constants import PROTON
from denovo.core.fragments import (
    FragmentConfig,
    encode_batch,
    fragment_mz_batch,
    peptide_mass_batch_kernel,
)
from denovo.core.vocab import DEFAULT_VOCABULARY, END, PAD, Vocabulary

__all__ = [
    "auc",
    "MetricsLog",
    "TRAIN_COLUMNS",
    "greedy_decode",
    "read_rows",
    "beam_decode",
    "peptide_metrics",
    "step_metrics",
    "spectrum_coverage",
    "validation_metrics",
]


def greedy_decode(log_probs: np.ndarray) -> np.ndarray:
    """Argmax per slot, PAD from the first END/PAD on: int64 [B, L].

    ``log_probs`` is [B, L, V]. The result has END at the predicted
    length (if any) and PAD after it, like :meth:`Vocabulary.encode`.
    """
    pred = np.asarray(log_probs).argmax(axis=-1).astype(np.int64)
    stop = pred <= END
    first = np.where(stop.any(axis=1), stop.argmax(axis=1), pred.shape[1])
    cols = np.arange(pred.shape[1])
    pred[cols[None, :] > first[:, None]] = PAD
    rows = np.flatnonzero(first < pred.shape[1])
    pred[rows, first[rows]] = END
    return pred


def beam_decode(log_probs: np.ndarray, precursor_mass: np.ndarray, *,
                vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                decoder=None) -> np.ndarray:
    """Mass-controlled beam search, as int64 [B, L] like greedy_decode.

    I and L are merged by the beam search (reported as L).
    """
    from denovo.core.decode import Decoder

    decoder = decoder or Decoder(vocabulary)
    tokens, lengths, _, _, flags = decoder.decode_arrays(
        log_probs, np.asarray(precursor_mass, np.float64))
    b, n_slots = log_probs.shape[:2]
    pred = np.full((b, n_slots), PAD, np.int64)
    for i in range(b):
        if flags[i, 0] < 0:
            continue
        n = min(int(lengths[i, 0]), n_slots - 1)
        pred[i, :n] = tokens[i, 0, :n]
        pred[i, n] = END
    return pred


def _lengths(tokens: np.ndarray) -> np.ndarray:
    stop = tokens <= END
    return np.where(stop.any(axis=1), stop.argmax(axis=1), tokens.shape[1])


def peptide_metrics(pred: np.ndarray, targets: np.ndarray,
                    precursor_mass: np.ndarray, *,
                    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                    tol_ppm: float = 20.0) -> dict:
    """Token, sequence and length accuracy and precursor error.

    ``pred`` and ``targets`` are int [B, L] as from :func:`greedy_decode`
    and :meth:`Vocabulary.encode`; ``precursor_mass`` is the observed
    neutral mass. Token accuracy is position-wise over the true length
    (a too-short prediction counts as PAD there); I and L are distinct.
    """
    pred = np.asarray(pred)
    targets = np.asarray(targets)
    true_len = _lengths(targets)
    pred_len = _lengths(pred)
    inside = np.arange(targets.shape[1])[None, :] < true_len[:, None]
    correct = (pred == targets) & inside
    same_len = pred_len == true_len
    exact = same_len & (correct.sum(axis=1) == true_len)
    tokens = np.where(pred > END, pred, 0).astype(np.int32)
    has = pred_len > 0
    mass = peptide_mass_batch_kernel(tokens, pred_len.astype(np.int64),
                                     vocabulary.masses)
    ppm = (mass - precursor_mass) / precursor_mass * 1e6
    ppm = np.abs(ppm[has])
    return {
        "token_accuracy": float(correct.sum() / max(inside.sum(), 1)),
        "sequence_accuracy": float(exact.mean()) if len(exact) else 0.0,
        "length_accuracy": float(same_len.mean()) if len(exact) else 0.0,
        "precursor_ppm_median": float(np.median(ppm)) if ppm.size
        else float("nan"),
        "precursor_match": float((ppm <= tol_ppm).sum() / max(len(pred),
                                                              1)),
    }


def step_metrics(step_log_probs: np.ndarray, targets: np.ndarray) -> dict:
    """Per refinement step: CE over all slots, accuracy and flip rate.

    ``step_log_probs`` is [T, B, L, V]. Accuracy is the token accuracy of
    the greedy decode at that step; the flip rate of step t is the share
    of slots holding a residue at step t-1 or t whose argmax changed.
    """
    lp = np.asarray(step_log_probs)
    targets = np.asarray(targets)
    out: dict = {}
    prev = None
    for t in range(lp.shape[0]):
        ce = -np.take_along_axis(lp[t], targets[..., None], axis=-1)
        pred = greedy_decode(lp[t])
        acc = peptide_metrics(pred, targets, np.ones(len(targets)))
        out[f"step{t + 1}_ce"] = float(ce.mean())
        out[f"step{t + 1}_token_accuracy"] = acc["token_accuracy"]
        if prev is not None:
            active = (prev > END) | (pred > END)
            flips = (prev != pred) & active
            out[f"step{t + 1}_flip_rate"] = float(
                flips.sum() / max(active.sum(), 1))
        prev = pred
    return out


def spectrum_coverage(pred: np.ndarray, mz: np.ndarray,
                      intensity: np.ndarray, mask: np.ndarray,
                      charge: np.ndarray, *, tol_da: float = 0.05,
                      vocabulary: Vocabulary = DEFAULT_VOCABULARY
                      ) -> np.ndarray:
    """Share of observed intensity explained by b/y ions of ``pred``.

    One value per spectrum (0 for an empty prediction). ``mz``,
    ``intensity`` and ``mask`` are the preprocessed [B, P] peaks.
    """
    pred = np.asarray(pred)
    lengths = _lengths(pred)
    tokens = np.where(pred > END, pred, 0).astype(np.int32)
    # A lone N-terminal token is not a peptide; treat it as empty.
    lone = (lengths == 1) & vocabulary.n_terminal[tokens[:, 0]]
    # So is one with an N-terminal token after the first slot.
    cols = np.arange(tokens.shape[1])[None, 1:]
    misplaced = (vocabulary.n_terminal[tokens[:, 1:]]
                 & (cols < lengths[:, None])).any(axis=1)
    lengths = np.where(lone | misplaced, 0, lengths)
    out = np.zeros(len(pred))
    ok = np.flatnonzero(lengths > 0)
    if not ok.size:
        return out
    tok, lens = encode_batch(tokens[ok], lengths[ok], vocabulary=vocabulary)
    frag = fragment_mz_batch(tok, np.asarray(charge)[ok], lengths=lens,
                             config=FragmentConfig(), vocabulary=vocabulary)
    for row, i in enumerate(ok):
        theo = np.sort(frag.mz[row, :frag.n_fragments[row]])
        peaks = np.asarray(mz[i], np.float64)[mask[i]]
        inten = np.asarray(intensity[i], np.float64)[mask[i]]
        if not peaks.size or not theo.size or inten.sum() <= 0:
            continue
        j = np.clip(np.searchsorted(theo, peaks), 1, len(theo) - 1)
        near = np.minimum(np.abs(theo[j] - peaks), np.abs(theo[j - 1]
                                                          - peaks))
        if len(theo) == 1:
            near = np.abs(theo[0] - peaks)
        out[i] = inten[near <= tol_da].sum() / inten.sum()
    return out


def validation_metrics(step_log_probs: np.ndarray, batch: dict, *,
                       decoder: str = "greedy",
                       vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """All validation metrics for one batch of model outputs.

    ``batch`` holds NumPy arrays as from
    :func:`denovo_training.data.batch.to_arrays` (``targets``, ``mz``,
    ``intensity``, ``mask``, ``charge``, ``precursor_mz``).
    """
    lp = np.asarray(step_log_probs, np.float32)
    charge = np.asarray(batch["charge"])
    mass = (np.asarray(batch["precursor_mz"], np.float64) - PROTON) * charge
    if decoder == "beam":
        pred = beam_decode(lp[-1], mass, vocabulary=vocabulary)
    else:
        pred = greedy_decode(lp[-1])
    out = peptide_metrics(pred, batch["targets"], mass,
                          vocabulary=vocabulary)
    out.update(step_metrics(lp, batch["targets"]))
    cov = spectrum_coverage(pred, batch["mz"], batch["intensity"],
                            batch["mask"], charge, vocabulary=vocabulary)
    true_cov = spectrum_coverage(batch["targets"], batch["mz"],
                                 batch["intensity"], batch["mask"], charge,
                                 vocabulary=vocabulary)
    out["spectrum_coverage"] = float(cov.mean())
    out["spectrum_coverage_true"] = float(true_cov.mean())
    return out


TRAIN_COLUMNS = (
    "step", "stage", "lr", "loss", "ce", "mass", "spectrum", "grad_norm",
    "train_token_accuracy", "train_sequence_accuracy",
    "train_length_accuracy", "spectra_per_s", "data_s", "step_s",
    "verify", "residue", "verify_positive")  # the last: verifier head


class MetricsLog:
    """Metric rows of a run: ``metrics.jsonl`` plus one CSV per kind.

    Rows are ``train`` (every ``log_every`` steps) or ``val``. On resume
    at step ``k`` rows after ``k`` are dropped, so a resumed run's files
    read like an uninterrupted run's. TensorBoard scalars are written
    too when asked for and installed.
    """

    def __init__(self, out_dir: str | Path, *, resume_step: int = 0,
                 enabled: bool = True, tensorboard: bool = False):
        self.dir = Path(out_dir)
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "metrics.jsonl"
        rows = read_rows(path) if resume_step and path.exists() else []
        rows = [r for r in rows if r.get("step", 0) <= resume_step]
        self._jsonl = path.open("w", encoding="utf-8")
        self._csv: dict = {}
        for row in rows:
            self.write(row.pop("kind"), row)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(self.dir / "tensorboard"))
            except ImportError:
                logging.getLogger(__name__).warning(
                    "TensorBoard is not installed; logging CSV/JSONL only")

    def write(self, kind: str, row: dict) -> None:
        """Append one row of scalars."""
        if not self.enabled:
            return
        self._jsonl.write(json.dumps({"kind": kind, **row}) + "\n")
        self._jsonl.flush()
        if kind not in self._csv:
            columns = TRAIN_COLUMNS if kind == "train" else tuple(row)
            fh = (self.dir / f"{kind}.csv").open("w", newline="",
                                                 encoding="utf-8")
            writer = csv.DictWriter(fh, columns, restval="",
                                    extrasaction="ignore")
            writer.writeheader()
            self._csv[kind] = (fh, writer)
        fh, writer = self._csv[kind]
        writer.writerow(row)
        fh.flush()
        if self.tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(f"{kind}/{key}", value, row["step"])

    def close(self) -> None:
        if not self.enabled:
            return
        self._jsonl.close()
        for fh, _ in self._csv.values():
            fh.close()
        if self.tb is not None:
            self.tb.close()


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a ``metrics.jsonl`` file (for plots and resume)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def auc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (the
    chance that a positive outscores a negative, ties half); NaN without
    both classes."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels) > 0.5
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks of ties
    sorted_scores = scores[order]
    _, start, counts = np.unique(sorted_scores, return_index=True,
                                 return_counts=True)
    for s0, c in zip(start, counts):
        if c > 1:
            ranks[order[s0:s0 + c]] = s0 + (c + 1) / 2
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2)
                 / (n_pos * n_neg))
