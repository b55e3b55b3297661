"""Configuration of the torch side: one frozen dataclass per concern.

Defaults live in the dataclasses; a YAML file only overrides them,
through the typed loader of :mod:`denovo.core.config` (``from_dict``,
``load_yaml``), which rejects unknown keys and values of the wrong type.

To add a concern, write another frozen dataclass with defaults; nested
dataclass fields are loaded recursively.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Mapping

from denovo.core.config import ConfigError

__all__ = [
    "ModelConfig",
    "LossConfig",
    "TrainConfig",
    "MODEL_PRESETS",
    "model_preset",
]


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
    # Verifier head (needs ``draft``): at every step the model also says
    # whether the draft is right as a whole and residue by residue.
    verifier: bool = False

    def __post_init__(self) -> None:
        if self.verifier and not (self.draft and self.kind == "trm"):
            raise ConfigError("model.verifier needs a draft-conditioned "
                              "TRM (model.draft: true)")
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
    # Verifier head (model.verifier): BCE of "the draft is right" and of
    # "the draft's residue in this slot is right", at every step (same
    # step weighting as the cross-entropy); blank drafts are left out.
    verify_weight: float = 0.0
    residue_weight: float = 0.0
    # Listwise verifier loss (needs data.draft_group_top): per real
    # spectrum, softmax cross-entropy of its group's whole-draft logits
    # (the truth and the search's best wrong peptides) with the truth as
    # target, at every step (same step weighting as the cross-entropy).
    listwise_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.step_weighting not in ("uniform", "linear", "last"):
            raise ConfigError("step_weighting must be 'uniform', 'linear' "
                              f"or 'last', got {self.step_weighting!r}")
        if self.aux_steps not in ("last", "all"):
            raise ConfigError("aux_steps must be 'last' or 'all', got "
                              f"{self.aux_steps!r}")
        for name in ("ce_weight", "mass_weight", "spectrum_weight",
                     "verify_weight", "residue_weight", "listwise_weight"):
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

