"""The training recipe and its curriculum of stages.

A recipe YAML has the sections ``model``, ``loss``, ``simulation``,
``data``, ``train``, ``preprocess`` and ``curriculum``. Each curriculum
stage lists only what changes relative to the base ``simulation`` and
``loss`` sections, e.g.::

    curriculum:
      - {steps: 500, simulation: {max_length: 12, noise_peaks: 0}}
      - {steps: 1500, loss: {mass_weight: 0.1}, real_fraction: 0.2}

The stage at a step is a pure function of the step, so resuming mid-stage
restores the right stage without extra state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from denovo.core.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    read_yaml,
    to_dict,
)
from ..config import LossConfig, ModelConfig, TrainConfig

from .peptides import ModificationRates
from .synthetic import SimulationConfig

__all__ = [
    "Curriculum",
    "CurriculumStage",
    "DataConfig",
    "Recipe",
    "load_recipe",
    "recipe_from_dict",
]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class DataConfig:
    """Where training peptides and real spectra come from.

    ``peptides`` is "random", "list" (a text/CSV file of sequences) or
    "fasta" (tryptic digest); ``peptide_path`` names the file.
    """

    peptides: str = "random"
    peptide_path: str = ""
    tryptic_fraction: float = 0.8  # random source: K/R C-terminus share
    modifications: ModificationRates = field(
        default_factory=ModificationRates)
    train_files: tuple[str, ...] = ()  # annotated real spectra
    val_files: tuple[str, ...] = ()  # annotated real spectra
    val_synthetic: int = 256  # held-out synthetic validation spectra
    # Realistic simulation (denovo_training.data.realistic): MS2PIP library
    # directory, and a peptide split file (configs/real_split.tsv) whose
    # dev peptides are never simulated for training.
    library: str = ""
    exclude_split: str = ""
    # Drafts for a draft-conditioned model (model.draft): shares of blank
    # drafts and of the evidence search's peptides; the rest are the
    # truth corrupted like the search's mistakes (denovo_training.data.drafts).
    draft_blank: float = 0.2
    draft_search: float = 0.45
    # For the verifier head (model.verifier): shares of drafts that are
    # the truth itself and hard negatives (one same-mass edit away), and
    # how deep in the search's list (engine order) search drafts are
    # drawn from (3: mostly its best, by DP score).
    draft_truth: float = 0.0
    draft_hard: float = 0.0
    draft_search_top: int = 3
    # Listwise groups (loss.listwise_weight): K > 0 turns every real
    # training spectrum into a group, the spectrum once per draft: the
    # truth and the search's K best wrong peptides (engine order). 0: off,
    # real spectra take one draft of the mix like the simulated ones.
    draft_group_top: int = 0

    def __post_init__(self):
        if self.draft_group_top < 0:
            raise ConfigError("draft_group_top must be >= 0")
        if self.peptides not in ("random", "list", "fasta"):
            raise ConfigError("peptides must be 'random', 'list' or "
                              f"'fasta', got {self.peptides!r}")
        if self.peptides != "random" and not self.peptide_path:
            raise ConfigError(f"peptides: {self.peptides!r} needs "
                              "peptide_path")


@dataclass(frozen=True)
class CurriculumStage:
    """One stage: how long, what data, which losses."""

    steps: int = 1000
    name: str = ""
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    real_fraction: float = 0.0  # share of each batch from real spectra
    # share of the simulated part made by the realistic simulator
    # (MS2PIP intensities + fitted noise) instead of the basic one
    realistic_fraction: float = 0.0

    def __post_init__(self):
        if self.steps < 1:
            raise ConfigError("stage steps must be >= 1")
        for name in ("real_fraction", "realistic_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1]")


class Curriculum:
    """Maps a training step to its stage and logs transitions.

    The last stage continues past its nominal end when training runs
    longer than the curriculum.
    """

    def __init__(self, stages):
        self.stages = tuple(stages)
        if not self.stages:
            raise ConfigError("the curriculum needs at least one stage")
        self.starts = []
        total = 0
        for stage in self.stages:
            self.starts.append(total)
            total += stage.steps
        self.total_steps = total
        self._current: int | None = None
        self._resumed = False

    def index_at(self, step: int) -> int:
        """0-based index of the stage that trains step ``step``."""
        k = 0
        for i, start in enumerate(self.starts):
            if step >= start:
                k = i
        return k

    def stage_at(self, step: int) -> CurriculumStage:
        return self.stages[self.index_at(step)]

    def update(self, step: int) -> CurriculumStage:
        """The stage of ``step``; logs when it differs from the last one.

        Stages are numbered from 1 in the log.
        """
        k = self.index_at(step)
        if self._resumed:
            self._resumed = False
            log.info("Curriculum: Resumed in stage %d of %d (step %d)%s",
                     k + 1, len(self.stages), step, _name(self.stages[k]))
        elif self._current is None:
            log.info("Curriculum: Starting at stage %d of %d (step %d)%s",
                     k + 1, len(self.stages), step, _name(self.stages[k]))
        elif k != self._current:
            log.info("Curriculum: Advanced to stage %d (step %d)%s",
                     k + 1, step, _name(self.stages[k]))
        self._current = k
        return self.stages[k]

    def state_dict(self) -> dict:
        return {"stage": self._current}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._current = state.get("stage")
        self._resumed = True


def _name(stage: CurriculumStage) -> str:
    return f" '{stage.name}'" if stage.name else ""


@dataclass(frozen=True)
class Recipe:
    """Everything a training run needs, as loaded from one YAML file."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preprocess: Any = None  # denovo.core.preprocess.PreprocessConfig
    curriculum: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """Plain data, with every stage fully expanded."""
        out = {name: to_dict(getattr(self, name))
               for name in ("model", "loss", "simulation", "data", "train")}
        out["preprocess"] = to_dict(self.preprocess)
        out["curriculum"] = [to_dict(s) for s in self.curriculum]
        return out


_SECTIONS = ("model", "loss", "simulation", "data", "train", "preprocess",
             "curriculum")


def _preprocess_config(data, source: str):
    from denovo.core.preprocess import PreprocessConfig

    return from_dict(PreprocessConfig, data or {}, source=source)


def recipe_from_dict(data: Mapping[str, Any], *,
                     source: str = "config") -> Recipe:
    """Build a :class:`Recipe`; stages override the base sections."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping at top level")
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) "
                          f"{', '.join(unknown)} (known: "
                          f"{', '.join(_SECTIONS)})")
    model = from_dict(ModelConfig, data.get("model") or {},
                      source=f"{source} [model]")
    loss = from_dict(LossConfig, data.get("loss") or {},
                     source=f"{source} [loss]")
    sim = from_dict(SimulationConfig, data.get("simulation") or {},
                    source=f"{source} [simulation]")
    stages = []
    raw_stages = data.get("curriculum") or [{}]
    if not isinstance(raw_stages, list):
        raise ConfigError(f"{source} [curriculum]: expected a list")
    for i, raw in enumerate(raw_stages):
        where = f"{source} [curriculum][{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        raw = dict(raw)
        raw["simulation"] = {**to_dict(sim), **(raw.get("simulation")
                                                or {})}
        raw["loss"] = {**to_dict(loss), **(raw.get("loss") or {})}
        stages.append(from_dict(CurriculumStage, raw, source=where))
    return Recipe(
        model=model, loss=loss, simulation=sim,
        data=from_dict(DataConfig, data.get("data") or {},
                       source=f"{source} [data]"),
        train=from_dict(TrainConfig, data.get("train") or {},
                        source=f"{source} [train]"),
        preprocess=_preprocess_config(data.get("preprocess"),
                                      f"{source} [preprocess]"),
        curriculum=tuple(stages))


def load_recipe(path: str | Path, overrides=()) -> Recipe:
    """Load a recipe YAML (the default one is ``configs/default.yaml``).

    ``overrides`` are ``KEY.PATH=VALUE`` strings (see
    :func:`denovo.core.config.apply_overrides`).
    """
    path = Path(path)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return recipe_from_dict(data, source=str(path))
