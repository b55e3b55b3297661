"""Curriculum stages, recipe loading and the bundled configs."""

import logging
from pathlib import Path

import pytest

from denovo.core.config import ConfigError
from denovo_training.data.curriculum import (
    Curriculum,
    CurriculumStage,
    load_recipe,
    recipe_from_dict,
)
from denovo_training.data.synthetic import SimulationConfig

ROOT = Path(__file__).resolve().parents[1]


def stages(*steps):
    return [CurriculumStage(steps=s, name=f"s{i}")
            for i, s in enumerate(steps)]


def test_stage_boundaries():
    cur = Curriculum(stages(3, 2, 4))
    got = [cur.index_at(s) for s in range(12)]
    assert got == [0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2]
    assert cur.total_steps == 9


def test_transitions_are_logged_once(caplog):
    cur = Curriculum(stages(2, 2, 2))
    with caplog.at_level(logging.INFO, logger="denovo_training"):
        for step in range(7):
            cur.update(step)
    msgs = [r.getMessage() for r in caplog.records
            if "Curriculum" in r.getMessage()]
    assert msgs[0].startswith("Curriculum: Starting at stage 1 of 3")
    assert [m for m in msgs if "Advanced" in m] == [
        "Curriculum: Advanced to stage 2 (step 2) 's1'",
        "Curriculum: Advanced to stage 3 (step 4) 's2'"]


def test_resume_mid_stage_restores_stage(caplog):
    first = Curriculum(stages(5, 5))
    for step in range(7):
        first.update(step)
    resumed = Curriculum(stages(5, 5))
    resumed.load_state_dict(first.state_dict())
    with caplog.at_level(logging.INFO, logger="denovo_training"):
        caplog.clear()  # earlier logging (another test's level) is not ours
        assert resumed.update(7).name == "s1"
        resumed.update(8)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["Curriculum: Resumed in stage 2 of 2 (step 7) 's1'"]
    # A fresh curriculum jumping straight to step 7 also knows its stage.
    assert Curriculum(stages(5, 5)).update(7).name == "s1"


def test_stage_overrides_merge_with_base_sections():
    recipe = recipe_from_dict({
        "simulation": {"noise_peaks": 10.0, "max_length": 25},
        "loss": {"mass_weight": 0.1},
        "curriculum": [
            {"steps": 5, "simulation": {"max_length": 10}},
            {"steps": 5, "loss": {"spectrum_weight": 0.2},
             "real_fraction": 0.25}],
    })
    a, b = recipe.curriculum
    assert a.simulation.max_length == 10 and a.simulation.noise_peaks == 10
    assert b.simulation.max_length == 25
    assert a.loss.mass_weight == 0.1 and a.loss.spectrum_weight == 0.0
    assert b.loss.spectrum_weight == 0.2 and b.real_fraction == 0.25
    assert isinstance(a.simulation, SimulationConfig)
    assert a.simulation.charges == (2, 3, 4)


@pytest.mark.parametrize("bad, match", [
    ({"trian": {}}, "unknown section"),
    ({"train": {"lr_max": 1}}, "unknown key"),
    ({"curriculum": [{"steps": 5, "simulation": {"nosie": 1}}]},
     r"curriculum\]\[0\].*nosie"),
    ({"curriculum": [{"steps": 0}]}, "steps"),
    ({"simulation": {"charges": "2"}}, "charges"),
    ({"data": {"peptides": "list"}}, "peptide_path"),
])
def test_bad_recipes_are_rejected(bad, match):
    with pytest.raises(ConfigError, match=match):
        recipe_from_dict(bad, source="x.yaml")


def test_default_recipe_loads():
    recipe = load_recipe(ROOT / "configs" / "default.yaml")
    assert len(recipe.curriculum) >= 2
    assert recipe.curriculum[0].simulation.noise_peaks == 0
    assert recipe.preprocess.max_peaks >= 50
    for stage in recipe.curriculum:
        assert stage.simulation.max_length <= recipe.model.max_length
    assert recipe.to_dict()["curriculum"][0]["name"] == "clean-short"


def test_overrides_change_only_what_they_name():
    base = load_recipe(ROOT / "configs" / "default.yaml")
    t1 = load_recipe(ROOT / "configs" / "default.yaml", ["model.steps=1"])
    nospec = load_recipe(ROOT / "configs" / "default.yaml",
                         ["curriculum.*.loss.spectrum_weight=0",
                          "train.lr=5e-4", "model.mass_feedback=false"])
    assert t1.model.steps == 1 < base.model.steps
    assert t1.to_dict()["curriculum"] == base.to_dict()["curriculum"]
    assert any(s.loss.spectrum_weight > 0 for s in base.curriculum)
    assert all(s.loss.spectrum_weight == 0 for s in nospec.curriculum)
    assert [s.loss.mass_weight for s in nospec.curriculum] == [
        s.loss.mass_weight for s in base.curriculum]
    assert nospec.train.lr == 5e-4 and not nospec.model.mass_feedback
    for bad, match in ((["model.steps"], "KEY.PATH=VALUE"),
                       (["model.nope=1"], "nope"),
                       (["curriculum.0.steps=1"], "not inside a mapping"),
                       (["model.*=1"], "needs a list")):
        with pytest.raises(ConfigError, match=match):
            load_recipe(ROOT / "configs" / "default.yaml", bad)


def test_ablation_variants_load():
    import importlib.util

    script = ROOT / "benchmarks" / "ablations.py"
    spec = importlib.util.spec_from_file_location("ablations", script)
    ablations = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablations)
    assert "baseline" in ablations.VARIANTS
    for overrides in ablations.VARIANTS.values():
        load_recipe(ROOT / "configs" / "default.yaml", overrides)


def test_missing_recipe_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(bad)
