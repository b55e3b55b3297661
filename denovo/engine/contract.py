"""The ONNX contract between an exported model and the engine.

An exported denovo model is self-describing: its input and output names,
dtypes and shapes are fixed here, and its ``metadata_props`` carry (as
JSON strings) everything inference needs — vocabulary and masses,
preprocessing settings, maximum length, refinement steps, provenance.
The exporter writes the metadata with :func:`metadata_props`; the engine
reads it back with :meth:`ModelInfo.from_metadata`, so both sides share
one definition and a file that does not follow it is rejected early with
a clear message instead of failing deep inside decoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core.vocab import Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "INPUTS",
    "OUTPUT",
    "KEYS",
    "ModelFileError",
    "ModelInfo",
    "metadata_props",
]

# 2: adds the optional "evidence_scorer" (the engine's cleavage scorer and
# ranking weights, fitted for this model); version-1 files stay readable
# and use the scorer shipped with the package.
# 3: adds the optional input "draft" (a peptide per row for the model to
# refine) and "takes_draft" saying the model has it.
FORMAT_VERSION = 3
SUPPORTED_VERSIONS = (1, 2, 3)

# name -> (ONNX element type name, symbolic shape); B batch, P peaks.
INPUTS = {
    "mz": ("float32", ("B", "P")),
    "intensity": ("float32", ("B", "P")),
    "mask": ("bool", ("B", "P")),  # True = real peak
    "precursor_mass": ("float32", ("B",)),  # neutral, Da
    "charge": ("int64", ("B",)),
    # Optional (format 3): token ids over the L slots of a draft peptide
    # (residues, END, PAD; all PAD = blank), for draft-conditioned models.
    "draft": ("int64", ("B", "L")),
}
# Per-slot log-probabilities over the vocabulary, L = max_length + 1.
OUTPUT = ("log_probs", "float32", ("B", "L", "V"))

_PREFIX = "denovo."
KEYS = tuple(_PREFIX + k for k in (
    "format_version", "vocabulary", "preprocessing", "max_length",
    "refinement_steps", "provenance", "model_config",
    # Optional: the peptides the model was trained on
    # (denovo.evaluate.training_peptides), read by `denovo evaluate -m`.
    "training_peptides",
    # Optional (format 2): denovo.core.settings.FittedSettings.to_dict()
    # (the cleavage scorer and the rank settings, one flat object).
    "evidence_scorer",
    # Optional (format 3): true when the graph takes a "draft" input.
    "takes_draft",
    # Optional (format 4): {fragmentation class: FittedSettings.to_dict()}
    # for the classes the main scorer was not fitted on ("CID").
    "fitted_by_fragmentation"))


class ModelFileError(ValueError):
    """The file is not a denovo model, or its metadata is unusable."""


def _preprocess_to_dict(preprocess: Any) -> dict:
    if isinstance(preprocess, Mapping):
        return dict(preprocess)
    to_dict = getattr(preprocess, "to_dict", None)
    if to_dict is None:
        raise TypeError("preprocess must be a PreprocessConfig or a dict, "
                        f"got {type(preprocess).__name__}")
    return dict(to_dict())


def metadata_props(*, vocabulary: Vocabulary, preprocess: Any,
                   max_length: int, refinement_steps: int,
                   provenance: Mapping | None = None,
                   model_config: Mapping | None = None,
                   fitted: Any = None,
                   takes_draft: bool = False,
                   fitted_by_fragmentation: Mapping | None = None
                   ) -> dict[str, str]:
    """Metadata for ``onnx.ModelProto.metadata_props``, as JSON strings.

    Parameters
    ----------
    vocabulary
        The model's output vocabulary (index order = logit order).
    preprocess
        A ``PreprocessConfig`` (anything with ``to_dict``) or a plain dict
        with every preprocessing setting used in training.
    max_length
        Maximum number of tokens; the output has ``max_length + 1`` slots.
    refinement_steps
        Number of recursive refinement steps baked into the graph.
    provenance
        Training provenance (config, data, steps, git commit, ...).
    model_config
        Model hyper-parameters, for the model card and size comparisons.
    fitted
        The engine's fitted settings for this model (a
        ``FittedSettings`` or its dict), stored under the key
        ``evidence_scorer``, or None.
    takes_draft
        The graph has the ``draft`` input (a draft-conditioned model).
    fitted_by_fragmentation
        Settings (``FittedSettings`` or dicts) per fragmentation class
        other than the main scorer's, e.g. ``{"CID": ...}``.
    """
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError("vocabulary must be a denovo Vocabulary")
    if int(max_length) < 1 or int(refinement_steps) < 0:
        raise ValueError("max_length must be >= 1 and refinement_steps "
                         ">= 0")
    values = {
        "format_version": FORMAT_VERSION,
        "vocabulary": vocabulary.to_dict(),
        "preprocessing": _preprocess_to_dict(preprocess),
        "max_length": int(max_length),
        "refinement_steps": int(refinement_steps),
        "provenance": dict(provenance or {}),
        "model_config": dict(model_config or {}),
    }
    if takes_draft:
        values["takes_draft"] = True
    if fitted is not None:
        values["evidence_scorer"] = _settings_dict(fitted)
    if fitted_by_fragmentation:
        values["fitted_by_fragmentation"] = {
            str(k): _settings_dict(v)
            for k, v in fitted_by_fragmentation.items()}
    return {_PREFIX + k: json.dumps(v, sort_keys=True)
            for k, v in values.items()}


def _settings_dict(fitted: Any) -> dict:
    to_dict = getattr(fitted, "to_dict", None)
    return to_dict() if to_dict is not None else dict(fitted)


def _settings_by_class(data: Any) -> dict:
    from ..core.settings import FittedSettings

    if not isinstance(data, dict):
        raise ValueError("must be a JSON object of fragmentation classes")
    return {str(k): FittedSettings.from_dict(v, source=f"{k} settings")
            for k, v in data.items()}


def _load(meta: Mapping[str, str], key: str, source: str) -> Any:
    full = _PREFIX + key
    if full not in meta:
        raise ModelFileError(f"{source}: metadata key {full!r} is missing")
    try:
        return json.loads(meta[full])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{source}: metadata {full!r} is not valid JSON ({exc})"
        ) from None


def _build(meta: Mapping[str, str], key: str, source: str, build) -> Any:
    """``build`` the JSON value of ``key``; a value it cannot use is a
    ModelFileError naming the file and the key."""
    try:
        return build(_load(meta, key, source))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        name = key.replace("_", " ")
        raise ModelFileError(
            f"{source}: {name} is not usable ({exc})") from None


def _preprocess_from_dict(data: dict, source: str) -> Any:
    """Rebuild ``PreprocessConfig`` when that module is available."""
    try:
        from ..core.preprocess import PreprocessConfig
    except ImportError:  # core.preprocess not installed: keep the dict
        return data
    try:
        return PreprocessConfig.from_dict(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(
            f"{source}: preprocessing settings are not usable ({exc})"
        ) from None


@dataclass(frozen=True)
class ModelInfo:
    """Everything the engine needs to know about a model file."""

    vocabulary: Vocabulary
    preprocess: Any  # PreprocessConfig (or dict if unavailable)
    max_length: int
    refinement_steps: int
    format_version: int = FORMAT_VERSION
    provenance: dict = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)
    fitted: Any = None  # FittedSettings (format 2) or None
    takes_draft: bool = False  # format 3: the model refines drafts
    # format 4: FittedSettings per other fragmentation class ("CID")
    fitted_by_fragmentation: dict = field(default_factory=dict)

    @property
    def n_slots(self) -> int:
        """Number of output slots L = max_length + 1."""
        return self.max_length + 1

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], *,
                      source: str = "model") -> "ModelInfo":
        """Validate ``metadata_props`` (as a dict) and rebuild the info.

        Raises
        ------
        ModelFileError
            If the file is not a denovo model, its format version is not
            supported, or a value is malformed.
        """
        if not any(k.startswith(_PREFIX) for k in meta):
            raise ModelFileError(
                f"{source} is not a denovo model: it has no 'denovo.*' "
                "metadata (export it with `denovo export`)")
        version = _load(meta, "format_version", source)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ModelFileError(
                f"{source}: format version {version!r} is not an integer")
        if version not in SUPPORTED_VERSIONS:
            raise ModelFileError(
                f"{source}: model format version {version} is not "
                f"supported by this denovo (supports "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))}); upgrade "
                "denovo or re-export the model")
        vocabulary = _build(meta, "vocabulary", source,
                            Vocabulary.from_dict)
        preprocess = _load(meta, "preprocessing", source)
        if not isinstance(preprocess, dict):
            raise ModelFileError(
                f"{source}: preprocessing must be a JSON object")
        ints = {}
        for key, low in (("max_length", 1), ("refinement_steps", 0)):
            value = _load(meta, key, source)
            if (not isinstance(value, int) or isinstance(value, bool)
                    or value < low):
                raise ModelFileError(
                    f"{source}: {key} must be an integer >= {low}, got "
                    f"{value!r}")
            ints[key] = value
        extras = {}
        for key in ("provenance", "model_config"):
            full = _PREFIX + key
            value = _load(meta, key, source) if full in meta else {}
            if not isinstance(value, dict):
                raise ModelFileError(
                    f"{source}: {key} must be a JSON object")
            extras[key] = value
        fitted = None
        if _PREFIX + "evidence_scorer" in meta:
            from ..core.settings import FittedSettings
            fitted = _build(meta, "evidence_scorer", source,
                            FittedSettings.from_dict)
        by_class = {}
        if _PREFIX + "fitted_by_fragmentation" in meta:
            by_class = _build(meta, "fitted_by_fragmentation", source,
                              _settings_by_class)
        takes_draft = False
        if _PREFIX + "takes_draft" in meta:
            takes_draft = _load(meta, "takes_draft", source)
            if not isinstance(takes_draft, bool):
                raise ModelFileError(
                    f"{source}: takes_draft must be true or false")
        return cls(
            takes_draft=takes_draft,
            fitted_by_fragmentation=by_class,
            fitted=fitted,
            vocabulary=vocabulary,
            preprocess=_preprocess_from_dict(preprocess, source),
            max_length=ints["max_length"],
            refinement_steps=ints["refinement_steps"],
            format_version=version,
            provenance=extras["provenance"],
            model_config=extras["model_config"],
        )
