"""Export the autoregressive baseline to one verified ONNX file.

The graph is the teacher-forced decoder: inputs ``mz``, ``intensity``,
``mask``, ``precursor_mass``, ``charge`` (the TRM's contract) and
``tokens`` (B, L) int64; output ``log_probs`` (B, L, V), where slot ``i``
is computed from ``tokens[:, :i]`` only. An engine decodes by calling it
with the prefix written so far (L grows by one per call; batch, peak and
slot axes are dynamic) and reading the last slot. The metadata is the
TRM's (:func:`denovo.engine.contract.metadata_props`: vocabulary,
preprocessing, max length, provenance, model config) plus
``denovo.model_kind = autoregressive``. ONNX Runtime must reproduce
PyTorch's log-probs within 1e-4 on random batches of several shapes.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
import torch
from torch import nn

from denovo.core.config import to_dict
from denovo.core.vocab import Vocabulary
from denovo.engine import contract
from denovo_training.autoregressive import AutoregressiveModel

from .onnx_export import (FP32_TOLERANCE, ExportReport, _resolve,
                          _session, random_batch)

__all__ = ["export_autoregressive", "AR_INPUT_NAMES", "MODEL_KIND_KEY"]

logger = logging.getLogger(__name__)

# The TRM's spectrum inputs (not its optional ones, e.g. "draft"), then
# the tokens written so far.
AR_INPUT_NAMES = ("mz", "intensity", "mask", "precursor_mass", "charge",
                  "tokens")
MODEL_KIND_KEY = "denovo.model_kind"
# (batch, peaks, slots) of the synthetic parity batches.
PARITY_SHAPES = ((1, 8, 1), (3, 57, 5), (8, 150, None), (5, 300, None))


class _Wrapper(nn.Module):
    def __init__(self, model: AutoregressiveModel):
        super().__init__()
        self.model = model

    def forward(self, mz, intensity, mask, precursor_mass, charge, tokens):
        return self.model(mz, intensity, mask, precursor_mass, charge,
                          tokens)[0]


def _batch(model: AutoregressiveModel, b: int, p: int, slots: int | None,
           seed: int) -> dict[str, np.ndarray]:
    out = {k: v for k, v in random_batch(b, p, seed=seed).items()
           if k in AR_INPUT_NAMES}
    rng = np.random.default_rng(seed + 100)
    n = model.n_slots if slots is None else slots
    out["tokens"] = rng.integers(0, model.cfg.vocab_size, (b, n)
                                 ).astype(np.int64)
    return out


def export_autoregressive(model_or_checkpoint: AutoregressiveModel | str
                          | Path, path: str | Path, *, opset: int = 17,
                          preprocess: Any = None,
                          vocabulary: Vocabulary | None = None,
                          provenance: Mapping | None = None,
                          tolerance: float = FP32_TOLERANCE) -> ExportReport:
    """Export, check and verify an AR model; return the parity report.

    ``model_or_checkpoint`` is an :class:`AutoregressiveModel` or a
    checkpoint path (EMA weights when present). ``preprocess``,
    ``vocabulary`` and ``provenance`` default to what the checkpoint
    stores (for a model: ``PreprocessConfig()``, the default vocabulary).
    A difference above ``tolerance`` raises ``RuntimeError``.
    """
    model, cfg, preprocess, vocabulary, prov = _resolve(
        model_or_checkpoint, preprocess, vocabulary, provenance,
        model_class=AutoregressiveModel)

    was_training = model.training
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = {k: torch.from_numpy(v)
               for k, v in _batch(model, 2, 16, 7, seed=0).items()}
    axes = {name: {0: "B", 1: "P"} for name in ("mz", "intensity", "mask")}
    axes.update(precursor_mass={0: "B"}, charge={0: "B"},
                tokens={0: "B", 1: "L"}, log_probs={0: "B", 1: "L"})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation
        torch.onnx.export(
            _Wrapper(model).eval(),
            tuple(example[k] for k in AR_INPUT_NAMES), str(path),
            input_names=list(AR_INPUT_NAMES),
            output_names=[contract.OUTPUT[0]], dynamic_axes=axes,
            opset_version=opset, dynamo=False, do_constant_folding=True)
    props = contract.metadata_props(
        vocabulary=vocabulary, preprocess=preprocess,
        max_length=cfg.max_length, refinement_steps=1, provenance=prov,
        model_config=to_dict(cfg))
    props[MODEL_KIND_KEY] = "autoregressive"
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))

    session = _session(path)
    diffs = []
    for i, (b, p, slots) in enumerate(PARITY_SHAPES):
        feed = _batch(model, b, p, slots, seed=i)
        got = session.run([contract.OUTPUT[0]], feed)[0]
        with torch.no_grad():
            ref = model(**{k: torch.from_numpy(v) for k, v in feed.items()}
                        )[0].numpy()
        if got.shape != ref.shape:
            raise RuntimeError(f"ONNX output shape {got.shape} != PyTorch "
                               f"{ref.shape}")
        diffs.append((b, p, float(np.max(np.abs(got - ref)))))
    worst = max(d for _, _, d in diffs)
    logger.info("ONNX Runtime vs PyTorch (AR), max abs diff of log-probs: "
                "%.2e", worst)
    model.train(was_training)
    report = ExportReport(path, worst, diffs, metadata=props)
    if worst > tolerance:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by "
                           f"{worst:.2e} > {tolerance:.0e}")
    return report
