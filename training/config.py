"""Configuration of the torch side: one frozen dataclass per concern.

Defaults live in the dataclasses; a YAML file only overrides them. The
loader (:func:`from_dict`, :func:`load_yaml`) takes each key's type from
the dataclass field, converts what is safe to convert (a YAML list into a
tuple, an int into a float), rejects unknown keys and values of the wrong
type, and names the offending key and file in the error, so a typo in a
config never silently falls back to a default.

To add a concern (e.g. ``TrainConfig``), write another frozen dataclass
with defaults; nested dataclass fields are loaded recursively.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TypeVar

__all__ = [
    "ConfigError",
    "ModelConfig",
    "LossConfig",
    "MODEL_PRESETS",
    "model_preset",
    "from_dict",
    "to_dict",
    "load_yaml",
    "read_yaml",
    "apply_overrides",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key is unknown, missing or has the wrong type."""


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and recursion schedule of the Tiny Recursive Model.

    The default is a ~1.5 M parameter model that trains on a CPU; see
    :data:`MODEL_PRESETS` for larger ones.
    """

    max_length: int = 40  # residue slots; output has max_length + 1 slots
    vocab_size: int = 30  # len(DEFAULT_VOCABULARY): pad, end, 28 tokens
    dim: int = 160  # width of every token (peaks, slots)
    heads: int = 4  # attention heads; dim must be divisible by heads
    ff_mult: int = 4  # MLP hidden width = ff_mult * dim
    encoder_layers: int = 2  # transformer layers over the peaks
    core_layers: int = 2  # layers of the shared recursive network
    dropout: float = 0.0  # dropout in attention outputs and MLPs
    # Recursion: T supervision steps, each H cycles of n latent updates
    # z = f(x, y, z) followed by one answer update y = g(y, z).
    steps: int = 3  # T, supervision / refinement steps (outputs)
    cycles: int = 2  # H, cycles per step; the first H-1 run without grad
    latent_updates: int = 2  # n, latent updates per cycle
    grad_all_cycles: bool = False  # True: backprop through all H cycles
    detach_between_steps: bool = True  # TRM: detach carry between steps
    # Sinusoidal m/z embedding: wavelengths from min to max (Da).
    mz_min_wavelength: float = 0.001
    mz_max_wavelength: float = 10000.0
    mz_frequencies: int = 64  # number of wavelengths (2x features)
    max_charge: int = 10  # larger precursor charges share the last index
    # Mass feedback: every cycle embeds the b/y ion m/z implied by the
    # current answer into the slots, and every peak also carries its
    # complement m/z, so slots can look up the peaks their answer predicts.
    mass_feedback: bool = False
    # "trm" (the recursive model) or "autoregressive" (the baseline: a
    # causal decoder over the same peak encoder, core_layers layers).
    kind: str = "trm"
    # Draft-conditioned TRM: the model also takes a draft peptide (token
    # ids per slot, all PAD = blank) and starts its answer from it.
    draft: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("trm", "autoregressive"):
            raise ConfigError(f"model.kind must be 'trm' or "
                              f"'autoregressive', not {self.kind!r}")
        if self.dim % self.heads:
            raise ConfigError(f"dim {self.dim} is not divisible by heads "
                              f"{self.heads}")
        for name in ("max_length", "vocab_size", "dim", "heads", "ff_mult",
                     "core_layers", "steps", "cycles", "latent_updates",
                     "mz_frequencies", "max_charge"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.encoder_layers < 0:
            raise ConfigError("encoder_layers must be >= 0")
        if not 0 < self.mz_min_wavelength < self.mz_max_wavelength:
            raise ConfigError("need 0 < mz_min_wavelength < "
                              "mz_max_wavelength")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must be in [0, 1)")


@dataclass(frozen=True)
class LossConfig:
    """Which losses are on, their weights and their shape parameters.

    A weight of 0 switches a loss off (it is then not computed).
    """

    ce_weight: float = 1.0  # deep-supervision cross-entropy
    step_weighting: str = "uniform"  # "uniform", "linear" or "last"
    label_smoothing: float = 0.0
    mass_weight: float = 0.0  # differentiable precursor-mass loss
    mass_scale_da: float = 1.0  # log-cosh: quadratic below, linear above
    mass_norm_da: float = 100.0  # far off, loss = |error| / mass_norm_da
    # Soft b/y ladder explained intensity. Its gradients are steep (the
    # narrow kernel) and noisy while the model is unsure: keep the weight
    # small (~1e-3) or switch it on in late curriculum stages.
    spectrum_weight: float = 0.0
    narrow_sigma_da: float = 0.02  # Gaussian kernel, fragment tolerance
    wide_sigma_da: float = 2.0  # Cauchy kernel, gradient at large errors
    wide_fraction: float = 0.1  # share of the wide kernel in the match
    narrow_grad_scale: float = 1.0  # <1 tempers the narrow kernel's slope
    max_fragment_charge: int = 2  # fragment charges 1..min(this, z - 1)
    aux_steps: str = "last"  # mass/spectrum losses on "last" or "all"

    def __post_init__(self) -> None:
        if self.step_weighting not in ("uniform", "linear", "last"):
            raise ConfigError("step_weighting must be 'uniform', 'linear' "
                              f"or 'last', got {self.step_weighting!r}")
        if self.aux_steps not in ("last", "all"):
            raise ConfigError("aux_steps must be 'last' or 'all', got "
                              f"{self.aux_steps!r}")
        for name in ("ce_weight", "mass_weight", "spectrum_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("label_smoothing must be in [0, 1)")
        if min(self.mass_scale_da, self.mass_norm_da, self.narrow_sigma_da,
               self.wide_sigma_da) <= 0:
            raise ConfigError("mass scales and kernel widths must be > 0")
        if not 0.0 <= self.wide_fraction <= 1.0:
            raise ConfigError("wide_fraction must be in [0, 1]")
        if not 0.0 < self.narrow_grad_scale <= 1.0:
            raise ConfigError("narrow_grad_scale must be in (0, 1]")
        if self.max_fragment_charge < 1:
            raise ConfigError("max_fragment_charge must be >= 1")


# Named model sizes. "small" is the default (CPU); the others are for GPU.
MODEL_PRESETS: Mapping[str, ModelConfig] = types.MappingProxyType({
    "tiny": ModelConfig(dim=64, heads=4, encoder_layers=1, core_layers=1,
                        mz_frequencies=32),
    "small": ModelConfig(),
    "base": ModelConfig(dim=256, heads=8, encoder_layers=4, core_layers=2,
                        steps=4, cycles=3, latent_updates=3),
    "large": ModelConfig(dim=512, heads=8, encoder_layers=6, core_layers=3,
                         steps=6, cycles=3, latent_updates=4,
                         mz_frequencies=128),
})


def model_preset(name: str) -> ModelConfig:
    """The :class:`ModelConfig` of a named preset ('tiny' ... 'large')."""
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model preset {name!r}; choose from "
                          f"{', '.join(MODEL_PRESETS)}") from None


def _convert(value: Any, kind: Any, where: str) -> Any:
    """Check/convert ``value`` to the annotated type ``kind``."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value")
    if dataclasses.is_dataclass(kind):
        if isinstance(value, kind):
            return value
        return from_dict(kind, value, source=where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]")
                         for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got "
                              f"{len(value)}")
        pairs = zip(args, value, strict=True)
        return tuple(_convert(v, a, f"{where}[{i}]")
                     for i, (a, v) in enumerate(pairs))
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"{where}: {value!r} is not one of "
                              f"{typing.get_args(kind)}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got "
                              f"{value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got "
                              f"{value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {kind!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], *,
              source: str = "config", partial: bool = True) -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types.

    Parameters
    ----------
    cls
        A (frozen) dataclass type whose fields carry type annotations.
    data
        Values overriding the defaults.
    source
        Where ``data`` came from (file and section), used in errors.
    partial
        If False, every field must be given (used for checkpoints, whose
        configs must be complete); if True, missing keys keep defaults.

    Raises
    ------
    ConfigError
        For an unknown key, a missing key (``partial=False``), a value
        of the wrong type or a value the dataclass itself rejects.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to "
                          f"values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} "
                          f"for {cls.__name__} (known: "
                          f"{', '.join(names)})")
    missing = [n for n in names if n not in data]
    if missing and not partial:
        raise ConfigError(f"{source}: missing key(s) {', '.join(missing)} "
                          f"for {cls.__name__}")
    values = {name: _convert(data[name], hints[name], f"{source}: {name}")
              for name in names if name in data}
    try:
        return cls(**values)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def to_dict(config: Any) -> dict:
    """Plain-data (JSON/YAML-ready) dict of a config dataclass."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(dataclasses.asdict(config))


def read_yaml(path: str | Path):
    """Parsed YAML of ``path`` ({} when empty); errors name the file."""
    import yaml

    try:
        with Path(path).open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return {} if data is None else data


def apply_overrides(data: Mapping, overrides) -> dict:
    """Return ``data`` with ``KEY.PATH=VALUE`` settings applied.

    Values are parsed as YAML scalars (``1``, ``0.5``, ``false``); ``*``
    in a path stands for every entry of a list, so
    ``curriculum.*.loss.spectrum_weight=0`` switches a loss off in every
    stage. Missing mappings are created; unknown keys are left for the
    config loaders to reject.
    """
    import copy

    import yaml

    data = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"override {item!r}: expected KEY.PATH=VALUE")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: bad value ({exc})"
                              ) from None
        if isinstance(value, str):  # YAML 1.1 reads 5e-4 as a string
            try:
                value = float(value)
            except ValueError:
                pass
        _set_path(data, parts, value, item)
    return data


def _set_path(node, parts: list[str], value, item: str) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        if not isinstance(node, list):
            raise ConfigError(f"override {item!r}: '*' needs a list")
        keys = range(len(node))
    elif isinstance(node, dict):
        keys = [head]
    else:
        raise ConfigError(f"override {item!r}: {head!r} is not inside a "
                          "mapping")
    for key in keys:
        if not rest:
            node[key] = value
            continue
        if isinstance(node, dict) and node.get(key) is None:
            node[key] = {}
        _set_path(node[key], rest, value, item)


def load_yaml(path: str | Path, cls: type[T], *,
              section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (or one top-level ``section`` of it).

    Keys absent from the file keep the dataclass defaults; an empty file
    (or section) yields the defaults.
    """
    path = Path(path)
    data = read_yaml(path)
    source = str(path)
    if section is not None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping at top level")
        source = f"{path} [{section}]"
        data = data.get(section) or {}
    return from_dict(cls, data, source=source)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, evaluation and checkpoint cadence.

    The learning rate warms up linearly for ``warmup_steps`` and then
    follows a cosine down to ``min_lr_ratio * lr`` at ``max_steps``.
    """

    seed: int = 0  # seeds the model init and the data stream
    batch_size: int = 32  # spectra per step (per process under torchrun)
    max_steps: int = 0  # 0: the curriculum's total number of steps
    lr: float = 1e-3
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.95
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    ema_decay: float = 0.999  # EMA weights evaluate and export
    bf16: bool = True  # bf16 autocast, on CUDA only
    val_every: int = 200  # steps between validations (0: only at end)
    val_batch_size: int = 64
    checkpoint_every: int = 200  # steps between last.ckpt saves
    log_every: int = 10  # steps between metric rows
    decoder: str = "greedy"  # "greedy" or "beam" (denovo.core.decode)
    tensorboard: bool = False  # also log to TensorBoard if installed
    # Fine-tuning: start from this checkpoint's (EMA) weights, with a new
    # optimiser and schedule ("" = random init; --resume continues a run).
    init_from: str = ""

    def __post_init__(self) -> None:
        for name in ("batch_size", "val_batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        for name in ("max_steps", "warmup_steps", "val_every",
                     "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.lr <= 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError("need lr > 0 and min_lr_ratio in [0, 1]")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("ema_decay must be in [0, 1)")
        if self.decoder not in ("greedy", "beam"):
            raise ConfigError("decoder must be 'greedy' or 'beam', got "
                              f"{self.decoder!r}")


__all__ += ["TrainConfig"]
