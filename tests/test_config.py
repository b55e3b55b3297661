"""Tests for denovo.core.config, the typed loader (torch-free)."""

from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from denovo.core.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_yaml,
    read_yaml,
    to_dict,
)


@dataclass(frozen=True)
class Inner:
    width: int = 2
    scale: float = 1.0


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, float] = (1, 0.5)
    limit: Optional[int] = None
    flag: bool = False
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.inner.width < 0:
            raise ConfigError("width must be >= 0")


def test_converts_lists_ints_and_nested_dataclasses():
    cfg = from_dict(Outer, {"sizes": [3, 4, 5], "pair": [2, 3],
                            "inner": {"scale": 2}, "limit": 7})
    assert cfg.sizes == (3, 4, 5) and cfg.pair == (2, 3.0)
    assert isinstance(cfg.pair[1], float) and cfg.inner == Inner(2, 2.0)
    assert cfg.limit == 7 and from_dict(Outer, {"limit": None}).limit is None
    assert from_dict(Outer, to_dict(cfg), partial=False) == cfg
    assert to_dict(cfg)["sizes"] == [3, 4, 5]


@pytest.mark.parametrize("bad, match", [
    ({"nmae": "y"}, "unknown key.*nmae"),
    ({"mode": "c"}, "not one of"),
    ({"sizes": 3}, "expected a list"),
    ({"pair": [1]}, "expected 2 values"),
    ({"flag": 1}, "true/false"),
    ({"limit": 1.5}, "expected an integer"),
    ({"inner": {"width": True}}, r"inner: width: expected an integer"),
    ({"inner": {"width": -1}}, "width must be >= 0"),
    ({"name": 3}, "expected a string"),
])
def test_rejects_bad_values_naming_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(Outer, bad, source="x.yaml")


def test_partial_false_needs_every_key():
    with pytest.raises(ConfigError, match="missing key.*scale"):
        from_dict(Inner, {"width": 1}, partial=False)
    with pytest.raises(ConfigError, match="expected a mapping"):
        from_dict(Inner, [1, 2])


def test_yaml_files_and_sections(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  width: 5\nother:\n  widht: 1\n")
    assert load_yaml(path, Inner, section="inner") == Inner(width=5)
    with pytest.raises(ConfigError, match=r"c\.yaml \[other\].*widht"):
        load_yaml(path, Inner, section="other")
    assert load_yaml(path, Inner, section="absent") == Inner()
    path.write_text("")
    assert read_yaml(path) == {} and load_yaml(path, Inner) == Inner()
    path.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(tmp_path / "none.yaml")


def test_overrides_paths_stars_and_scalars():
    data = {"train": {"lr": 1e-3}, "stages": [{"w": 1}, {"w": 2}]}
    out = apply_overrides(data, ["train.lr=5e-4", "stages.*.w=0",
                                 "new.deep.key=true", "train.name=abc"])
    assert out["train"] == {"lr": 5e-4, "name": "abc"}
    assert out["stages"] == [{"w": 0}, {"w": 0}]
    assert out["new"] == {"deep": {"key": True}}
    assert data["train"]["lr"] == 1e-3  # the input is not changed
    for bad, match in (("train.lr", "KEY.PATH=VALUE"),
                       ("train.*.x=1", "'\\*' needs a list"),
                       ("train.lr.x=1", "not inside a mapping")):
        with pytest.raises(ConfigError, match=match):
            apply_overrides(data, [bad])
