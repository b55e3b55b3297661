"""Training checkpoints: the minimal dict, and the model rebuilt from it.

A checkpoint is a ``torch.save``-d dict of plain data, so it loads with
``weights_only=True``; trainers add their own keys (optimizer, step, ...).
"""

from __future__ import annotations

from pathlib import Path

import torch

from denovo.core.config import from_dict, to_dict

from .config import ModelConfig
from .model import TRM

__all__ = ["build_model", "load_model_from_checkpoint", "checkpoint_dict"]

# Fields added to ModelConfig after the first checkpoints were written,
# with the value that rebuilds those older models.
ADDED_MODEL_FIELDS = {"mass_feedback": False, "kind": "trm", "draft": False,
                      "verifier": False}


def build_model(cfg: ModelConfig) -> torch.nn.Module:
    """The network a config describes: the TRM or the AR baseline."""
    if cfg.kind == "autoregressive":
        from .autoregressive import AutoregressiveModel

        return AutoregressiveModel(cfg)
    return TRM(cfg)


def _strip_ema(state: dict) -> dict:
    """Accept ``AveragedModel`` state dicts ('module.' keys, counter)."""
    out = {}
    for key, value in state.items():
        if key == "n_averaged":
            continue
        out[key.removeprefix("module.")] = value
    return out


def load_model_from_checkpoint(
        path: str | Path, *, use_ema: bool = True,
) -> tuple[TRM, ModelConfig, dict]:
    """Rebuild the model of a training checkpoint, in eval mode on CPU.

    A checkpoint is a ``torch.save``-d dict of plain data: ``model_config``
    (dict of every :class:`ModelConfig` field), ``model`` (state dict),
    optionally ``ema`` (state dict of the same model, or of an
    ``AveragedModel`` wrapping it; used when present and ``use_ema``),
    ``preprocess`` (dict of every ``PreprocessConfig`` setting),
    ``vocabulary`` (``Vocabulary.to_dict()``) and ``provenance`` (dict).
    Other keys (optimizer, step, ...) are ignored here.

    Returns
    -------
    model, config, extra
        ``extra`` holds ``preprocess``, ``vocabulary``, ``provenance``
        (``None``/``{}`` when absent) and ``used_ema`` (bool).
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} not found") from None
    except Exception as exc:  # pickle/zip errors have many types
        raise ValueError(f"{path}: not a readable denovo checkpoint "
                         f"({exc})") from None
    if not isinstance(ckpt, dict) or not {"model_config", "model"} <= set(
            ckpt):
        raise ValueError(f"{path}: not a denovo checkpoint (needs keys "
                         "'model_config' and 'model')")
    stored = {**ADDED_MODEL_FIELDS, **ckpt["model_config"]}
    cfg = from_dict(ModelConfig, stored, source=f"{path} [model_config]",
                    partial=False)
    model = build_model(cfg)
    used_ema = use_ema and ckpt.get("ema") is not None
    state = _strip_ema(ckpt["ema"]) if used_ema else ckpt["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit its model_config "
                         f"({exc})") from None
    model.eval()
    extra = {"preprocess": ckpt.get("preprocess"),
             "vocabulary": ckpt.get("vocabulary"),
             "provenance": dict(ckpt.get("provenance") or {}),
             "used_ema": used_ema}
    return model, cfg, extra


def checkpoint_dict(model: TRM, *, ema: dict | None = None,
                    preprocess: dict | None = None,
                    vocabulary: dict | None = None,
                    provenance: dict | None = None) -> dict:
    """The minimal checkpoint :func:`load_model_from_checkpoint` reads.

    Trainers add their own keys (optimizer, step, ...) to the result.
    """
    return {"model_config": to_dict(model.cfg),
            "model": model.state_dict(),
            "ema": ema,
            "preprocess": preprocess,
            "vocabulary": vocabulary,
            "provenance": dict(provenance or {})}
