"""The engine's fitted settings: the cleavage scorer and what sits on it.

Two concerns, two types: :class:`~denovo.core.evidence.EvidenceScorer`
says how strong a cleavage is; :class:`RankSettings` holds everything the
fitting commands choose on top of it (``python -m
denovo_training.evidence_scorer`` the search priors and the peptide ranker,
``python -m denovo_training.engine_fit`` the model's weight, the beam guide,
the drafts and the confidence calibrations). :class:`FittedSettings`
pairs them, as a model file carries them: one flat JSON object (the
format every earlier file has, so they keep loading), read and written
through the typed loader (:mod:`denovo.core.config`), each default
written once, in the dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Mapping

from .config import from_dict, to_dict
from .evidence import DEFAULT_SCORER_PATH, EvidenceScorer

__all__ = ["RankSettings", "FittedSettings", "load_default",
           "FRAGMENTATION_CLASSES", "DEFAULT_SETTINGS_PATHS"]

# The fragmentation classes the engine has its own settings for:
# high-resolution fragments (HCD, beam-type CID, FT-read CID) and
# low-resolution ion-trap CID.
FRAGMENTATION_CLASSES = ("HCD", "CID")
DEFAULT_SETTINGS_PATHS = {
    "HCD": DEFAULT_SCORER_PATH,
    "CID": DEFAULT_SCORER_PATH.with_name("evidence_scorer_cid.json"),
}


@dataclass(frozen=True)
class RankSettings:
    """Settings fitted on top of the cleavage scorer.

    ``token_log_prior`` adds per token (by name) a log-frequency term
    scaled by ``prior_weight`` to every path and peptide; the search adds
    ``gap_penalty`` for every cleavage it skips; ``ranker`` holds fitted
    weights over whole-peptide features
    (:data:`denovo.core.search.RANK_FEATURES`) when they rank better than
    the plain peak-once sum; the hybrid rank score adds ``model_weight``
    times the model's mean log-probability, and ``beam_guide`` weighs the
    cleavage evidence inside the model's beam; a draft-conditioned model
    refines the search's ``drafts`` best peptides per spectrum and
    ``draft_scoring`` says which of its distributions scores the
    candidates (``refined``: each candidate's best; ``blank``: one extra
    blank-draft row, the model's own opinion); ``confidence`` maps a
    ranking mode to its calibration
    (:class:`denovo.engine.confidence.Confidence`); ``verifier`` holds the
    evidence verifier's weights (:mod:`denovo.engine.verifier`; empty:
    candidates are ranked by their rank score alone).
    """

    token_log_prior: dict[str, float] = field(default_factory=dict)
    prior_weight: float = 1.0
    gap_penalty: float = 0.0
    ranker: dict = field(default_factory=dict)
    model_weight: float = 0.0
    beam_guide: float = 0.0
    drafts: int = 1
    draft_scoring: Literal["refined", "blank"] = "refined"
    confidence: dict = field(default_factory=dict)
    verifier: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.drafts < 0:
            raise ValueError("drafts must be >= 0")


_SETTINGS_KEYS = frozenset(f.name for f in dataclasses.fields(RankSettings))


@dataclass(frozen=True)
class FittedSettings:
    """A cleavage scorer and the rank settings fitted with it."""

    scorer: EvidenceScorer
    rank: RankSettings = RankSettings()

    @classmethod
    def from_dict(cls, data: Mapping, *,
                  source: str = "engine settings") -> "FittedSettings":
        """From the flat object of a model file or scorer JSON."""
        scorer = {k: v for k, v in data.items() if k not in _SETTINGS_KEYS}
        rank = {k: v for k, v in data.items() if k in _SETTINGS_KEYS}
        return cls(EvidenceScorer.from_dict(scorer, source=source),
                   from_dict(RankSettings, rank, source=source))

    def to_dict(self) -> dict:
        return {**self.scorer.to_dict(), **to_dict(self.rank)}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1,
                                         sort_keys=True) + "\n")

    @classmethod
    def load(cls, path) -> "FittedSettings":
        return cls.from_dict(json.loads(Path(path).read_text()),
                             source=str(path))

    def with_rank(self, **changes) -> "FittedSettings":
        """The same scorer with some rank settings changed."""
        return replace(self, rank=replace(self.rank, **changes))

    def with_fragment_tol(self, tol: float, unit: str) -> "FittedSettings":
        """The scorer reading peaks at another fragment tolerance."""
        return replace(self, scorer=self.scorer.with_fragment_tol(tol, unit))


def load_default(fragmentation: str = "HCD") -> FittedSettings:
    """The settings shipped with the package for a fragmentation class
    (:data:`FRAGMENTATION_CLASSES`), fitted on its train side."""
    if fragmentation not in DEFAULT_SETTINGS_PATHS:
        raise ValueError(f"no settings for fragmentation {fragmentation!r}"
                         f" (one of {', '.join(FRAGMENTATION_CLASSES)})")
    path = DEFAULT_SETTINGS_PATHS[fragmentation]
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: fit it with `python -m "
            "denovo_training.evidence_scorer --fragmentation "
            f"{fragmentation}`")
    return FittedSettings.load(path)
