"""The Tiny Recursive Model (TRM) for de novo peptide sequencing.

After "Less is More: Recursive Reasoning with Tiny Networks"
(Jolicoeur-Martineau 2025). Instead of writing a peptide left to right,
the model fills ``L = max_length + 1`` slots at once (residues, then an
end token, then padding) and refines its own answer: per supervision step
it updates a latent state ``z`` n times from the spectrum ``x``, the
current answer ``y`` and ``z`` itself, then updates ``y`` from ``z``; the
same small network is reused everywhere. Every step emits per-slot
log-probabilities, so deep supervision can train each of them. With
``mass_feedback`` each cycle also shows every slot the b/y ion m/z that
the current best answer implies around it, so refining means checking the
answer against the peaks. With ``draft`` the answer starts from a given
peptide (the evidence search's, at inference), whose implied ions the
slots see in the first cycle: the steps then refine a draft instead of
guessing from nothing.

Bottom-up: sinusoidal m/z features, attention, block, peak encoder,
implied ions, carry, the model and the export wrapper (checkpoints:
:mod:`denovo_training.checkpoint`).
Shapes: B batch, P peaks, S = P + 2 encoder tokens, L slots, D width,
V vocabulary, T steps, h heads, d = D / h.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from denovo.core.constants import PROTON
from denovo.core.vocab import DEFAULT_VOCABULARY

from .config import ModelConfig

__all__ = [
    "sinusoid_features",
    "Attention",
    "Block",
    "PeakEncoder",
    "implied_ions",
    "Carry",
    "VerifierHead",
    "TRM",
    "ExportWrapper",
]

ION_MIN_WAVELENGTH = 0.01  # Da, finest wavelength of implied-ion features


def sinusoid_features(values: torch.Tensor,
                      inv_wavelength: torch.Tensor) -> torch.Tensor:
    """Multi-scale sin/cos features of masses, precise at 0.001 Da.

    The phase ``value / wavelength`` is formed in float64 and reduced to
    its fractional part before the trigonometry, so wavelengths far below
    the float32 spacing of ``value * frequency`` still resolve a 0.036 Da
    difference (K/Q) at m/z 2000.

    values: (...) float32; inv_wavelength: (F,) float64 -> (..., 2F).
    """
    cycles = values.to(torch.float64).unsqueeze(-1) * inv_wavelength
    phase = (cycles - torch.floor(cycles)).to(torch.float32) * (2 * math.pi)
    return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)


class Attention(nn.Module):
    """Multi-head attention whose keys/values can be computed once.

    The recursive core cross-attends to the same encoded peaks dozens of
    times; :meth:`kv` projects them once per forward pass.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, dim = x.shape  # (B, N, D) -> (B, h, N, d)
        return x.view(b, n, self.heads, dim // self.heads).transpose(1, 2)

    def kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``context`` (B, S, D), each (B, h, S, d)."""
        return self._split(self.k(context)), self._split(self.v(context))

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor],
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` (B, N, D) to ``kv``; bias (B, 1, 1, S)."""
        q = self._split(self.q(x))  # (B, h, N, d)
        k, v = kv
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if bias is not None:
            scores = scores + bias  # -inf at padded keys
        attn = scores.softmax(dim=-1)  # (B, h, N, S)
        out = (attn @ v).transpose(1, 2)  # (B, N, h, d)
        return self.drop(self.out(out.reshape(x.shape)))


class Block(nn.Module):
    """Post-norm transformer block: self-attn, optional cross-attn, MLP.

    Post-norm (as in TRM) keeps the state's scale fixed however often the
    block is applied recursively.
    """

    def __init__(self, dim: int, heads: int, ff_mult: int,
                 dropout: float = 0.0, *, cross: bool = False):
        super().__init__()
        self.self_attn = Attention(dim, heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.cross = Attention(dim, heads, dropout) if cross else None
        self.norm2 = nn.LayerNorm(dim) if cross else None
        self.mlp = nn.Sequential(
            nn.Linear(dim, ff_mult * dim), nn.GELU(),
            nn.Linear(ff_mult * dim, dim), nn.Dropout(dropout))
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor, bias: torch.Tensor | None = None,
                memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                memory_bias: torch.Tensor | None = None) -> torch.Tensor:
        """h (B, N, D) -> (B, N, D); cross-attends if ``memory_kv``."""
        h = self.norm1(h + self.self_attn(h, self.self_attn.kv(h), bias))
        if memory_kv is not None:
            h = self.norm2(h + self.cross(h, memory_kv, memory_bias))
        return self.norm3(h + self.mlp(h))


def _key_bias(mask: torch.Tensor) -> torch.Tensor:
    """(B, S) bool, True = real -> (B, 1, 1, S) additive attention bias."""
    zero = torch.zeros((), dtype=torch.float32, device=mask.device)
    bias = torch.where(mask, zero, torch.full_like(zero, float("-inf")))
    return bias[:, None, None, :]


class PeakEncoder(nn.Module):
    """Peaks, precursor mass and charge -> encoded tokens ``x``.

    Each peak token sums a projection of its m/z sinusoids and of its
    intensity (with ``mass_feedback`` also of its complement m/z, where
    the partner ion of a singly charged b/y pair would sit); the precursor
    mass (same sinusoids, own projection) and the charge (embedding) are
    two more tokens that are never masked, so every attention row has a
    real key.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        inv = torch.logspace(-math.log10(cfg.mz_min_wavelength),
                             -math.log10(cfg.mz_max_wavelength),
                             cfg.mz_frequencies, dtype=torch.float64)
        self.register_buffer("inv_wavelength", inv, persistent=False)
        self.max_charge = cfg.max_charge
        feats = 2 * cfg.mz_frequencies
        self.mz_proj = nn.Linear(feats, cfg.dim)
        self.intensity_proj = nn.Sequential(
            nn.Linear(1, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
        self.precursor_proj = nn.Linear(feats, cfg.dim)
        self.complement_proj = (nn.Linear(feats, cfg.dim)
                                if cfg.mass_feedback else None)
        self.charge_emb = nn.Embedding(cfg.max_charge + 1, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim)
        self.layers = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout)
            for _ in range(cfg.encoder_layers))

    def forward(self, mz: torch.Tensor, intensity: torch.Tensor,
                mask: torch.Tensor, precursor_mass: torch.Tensor,
                charge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return memory (B, S, D) and its key mask (B, S), S = P + 2."""
        inv = self.inv_wavelength.to(torch.float64)
        peaks = (self.mz_proj(sinusoid_features(mz, inv))
                 + self.intensity_proj(intensity.unsqueeze(-1)))  # (B,P,D)
        if self.complement_proj is not None:
            partner = precursor_mass.unsqueeze(-1) + 2 * PROTON - mz
            peaks = peaks + self.complement_proj(
                sinusoid_features(partner, inv))
        prec = self.precursor_proj(
            sinusoid_features(precursor_mass, inv)).unsqueeze(1)  # (B,1,D)
        chg = self.charge_emb(
            charge.clamp(0, self.max_charge)).unsqueeze(1)  # (B, 1, D)
        x = self.norm(torch.cat([prec, chg, peaks], dim=1))  # (B, S, D)
        keep = torch.ones_like(mask[:, :2])
        full_mask = torch.cat([keep, mask], dim=1)  # (B, S)
        bias = _key_bias(full_mask)
        for layer in self.layers:
            x = layer(x, bias)
        return x, full_mask


def implied_ions(slot_mass: torch.Tensor,
                 precursor_mass: torch.Tensor) -> torch.Tensor:
    """Singly charged ion m/z around each slot of an answer.

    The prefix masses before and after each slot give two b ions, their
    complements in the precursor two y ions. slot_mass (B, L) (pad and
    end weigh 0 Da); precursor_mass (B,) neutral, Da -> (B, L, 4) float64:
    b before, b after, y from before, y from after.
    """
    mass = slot_mass.double()
    after = torch.cumsum(mass, dim=-1)
    before = after - mass
    total = precursor_mass.double().unsqueeze(-1)  # neutral, with water
    return torch.stack([before, after, total - before, total - after],
                       dim=-1) + PROTON


@dataclass
class Carry:
    """Recursive state: current answer ``y`` and latent ``z``, (B, L, D)."""

    y: torch.Tensor
    z: torch.Tensor

    def detach(self) -> "Carry":
        return Carry(self.y.detach(), self.z.detach())


class VerifierHead(nn.Module):
    """Is the draft right? From one step's answer, latent and log-probs.

    Per slot it reads the answer ``y`` and latent ``z`` of the step, an
    embedding of the draft's token there, and two numbers from the
    step's refined distribution: the log-probability of the draft's token
    (I and L pooled) and how far it is below the slot's best token. A
    residue logit comes from each slot; the whole-draft logit from the
    slots the draft fills (its residues and END), pooled by mean and max,
    with the mean and the minimum of the draft's log-probabilities.
    Blank drafts (all PAD) give logits that carry no meaning.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dim = cfg.dim
        self.token_emb = nn.Embedding(cfg.vocab_size, dim)
        self.slot = nn.Sequential(nn.Linear(3 * dim + 2, dim), nn.GELU(),
                                  nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)
        self.residue = nn.Linear(dim, 1)
        self.whole = nn.Sequential(nn.Linear(2 * dim + 2, dim), nn.GELU(),
                                   nn.Linear(dim, 1))
        # same[v, w] = 1 where tokens v and w are one residue (I = L)
        same = torch.eye(cfg.vocab_size)
        if cfg.vocab_size == len(DEFAULT_VOCABULARY):
            i = DEFAULT_VOCABULARY.index("I")
            leu = DEFAULT_VOCABULARY.index("L")
            same[i, leu] = same[leu, i] = 1.0
        self.register_buffer("same", same, persistent=False)

    def forward(self, y: torch.Tensor, z: torch.Tensor,
                log_probs: torch.Tensor, draft: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """y, z (B, L, D); log_probs (B, L, V); draft (B, L) token ids ->
        whole-draft logits (B,) and residue logits (B, L)."""
        merged = (log_probs.float().exp() @ self.same).clamp_min(1e-12).log()
        lp = merged.gather(-1, draft.unsqueeze(-1))  # (B, L, 1)
        gap = log_probs.float().max(dim=-1, keepdim=True).values - lp
        h = self.norm(self.slot(torch.cat(
            [y, z, self.token_emb(draft), lp, gap], dim=-1)))  # (B, L, D)
        residue = self.residue(h).squeeze(-1)  # (B, L)
        filled = (draft != 0).unsqueeze(-1).float()  # residues and END
        some = (filled.sum(dim=1) > 0).float()  # (B, 1): not blank
        count = filled.sum(dim=1).clamp_min(1.0)  # (B, 1)
        mean_h = (h * filled).sum(dim=1) / count
        max_h = (h * filled - 1e4 * (1 - filled)).max(dim=1).values * some
        mean_lp = (lp * filled).sum(dim=1) / count  # (B, 1)
        min_lp = (lp * filled + 1e4 * (1 - filled)).min(dim=1).values * some
        whole = self.whole(torch.cat([mean_h, max_h, mean_lp, min_lp],
                                     dim=-1)).squeeze(-1)  # (B,)
        return whole, residue


class TRM(nn.Module):
    """Tiny Recursive Model: spectrum -> per-step per-slot log-probs.

    Parameters
    ----------
    cfg
        Sizes and recursion schedule (default ``ModelConfig()``).
    """

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        cfg = ModelConfig() if cfg is None else cfg
        self.cfg = cfg
        self.n_slots = cfg.max_length + 1
        self.encoder = PeakEncoder(cfg)
        self.core = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout, cross=True)
            for _ in range(cfg.core_layers))
        self.slot_pos = nn.Parameter(0.02 * torch.randn(self.n_slots,
                                                        cfg.dim))
        self.y_init = nn.Parameter(0.02 * torch.randn(cfg.dim))
        self.z_init = nn.Parameter(0.02 * torch.randn(cfg.dim))
        self.head = nn.Linear(cfg.dim, cfg.vocab_size)
        # A draft peptide's tokens seed the answer (all PAD: blank).
        self.draft_emb = (nn.Embedding(cfg.vocab_size, cfg.dim)
                          if cfg.draft else None)
        self.mass_proj = None
        if cfg.mass_feedback:
            if cfg.vocab_size != len(DEFAULT_VOCABULARY):
                raise ValueError("mass_feedback needs the default "
                                 f"vocabulary ({len(DEFAULT_VOCABULARY)} "
                                 f"tokens), not {cfg.vocab_size}")
            self.register_buffer("token_mass", torch.tensor(
                DEFAULT_VOCABULARY.masses, dtype=torch.float64),
                persistent=False)
            # Peaks' wavelengths from ION_MIN_WAVELENGTH up: finer ones
            # are below the fragment m/z error, noise for the slots.
            keep = self.encoder.inv_wavelength <= 1 / ION_MIN_WAVELENGTH
            self.register_buffer("ion_inv_wavelength",
                                 self.encoder.inv_wavelength[keep].clone(),
                                 persistent=False)
            self.mass_proj = nn.Linear(8 * int(keep.sum()), cfg.dim)
        # Built last, so the other parameters start as without it.
        self.verifier = VerifierHead(cfg) if cfg.verifier else None

    def _net(self, h: torch.Tensor, memory: list | None,
             memory_bias: torch.Tensor | None) -> torch.Tensor:
        """The shared network; with ``memory`` it also sees the peaks."""
        for i, layer in enumerate(self.core):
            h = layer(h, None, None if memory is None else memory[i],
                      memory_bias)
        return h

    def initial_carry(self, batch: int,
                      draft: torch.Tensor | None = None) -> Carry:
        """Start values (B, L, D): learned, identical for every slot, plus
        the draft's token embeddings when the model takes drafts."""
        shape = (batch, self.n_slots, self.cfg.dim)
        y = self.y_init.expand(shape)
        if self.draft_emb is not None and draft is not None:
            y = y + self.draft_emb(draft)
        return Carry(y, self.z_init.expand(shape))

    def _ion_features(self, y: torch.Tensor, precursor_mass: torch.Tensor,
                      tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Embed the ions of the current best answer: (B, L, D) -> (B, L, D).

        With the peaks' sinusoids, so a slot can find the peaks that
        confirm or contradict its residue. The answer is ``tokens`` (the
        draft, in the first cycle) or the most likely token per slot, not
        the expected mass: exact masses keep the fine sinusoids
        meaningful (an expected mass moves by 1e-4 Da with float
        rounding). Nothing flows back through the argmax.
        """
        if tokens is None:
            tokens = self.head(y).argmax(dim=-1)  # (B, L)
        ions = implied_ions(self.token_mass[tokens], precursor_mass)
        inv = self.ion_inv_wavelength.to(torch.float64)
        feats = sinusoid_features(ions, inv)  # (B, L, 4, 2F')
        return self.mass_proj(feats.flatten(-2))

    def _cycle(self, carry: Carry, memory: list,
               memory_bias: torch.Tensor, precursor_mass: torch.Tensor,
               tokens: torch.Tensor | None = None) -> Carry:
        """n latent updates z = f(x, y, z), then y = g(y, z); ``tokens``:
        the answer whose ions the slots see (default: y's argmax)."""
        y, z = carry.y, carry.z
        slots = self.slot_pos
        if self.mass_proj is not None:
            slots = slots + self._ion_features(y, precursor_mass, tokens)
        for _ in range(self.cfg.latent_updates):
            z = self._net(z + y + slots, memory, memory_bias)
        y = self._net(y + z, None, None)
        return Carry(y, z)

    def step(self, carry: Carry, memory: list, memory_bias: torch.Tensor,
             precursor_mass: torch.Tensor,
             tokens: torch.Tensor | None = None
             ) -> tuple[Carry, torch.Tensor]:
        """One supervision step: H cycles, then the output head.

        Unless ``grad_all_cycles``, the first H - 1 cycles run without
        gradients (TRM); unless ``detach_between_steps`` is off, the
        returned carry is detached so each step's loss trains only its
        own last cycle. ``tokens`` (the draft) replaces the answer's
        argmax in the first cycle. Returns the new carry and log-probs
        (B, L, V).
        """
        carry, log_probs = self._step(carry, memory, memory_bias,
                                      precursor_mass, tokens)
        if self.cfg.detach_between_steps:
            carry = carry.detach()
        return carry, log_probs

    def _step(self, carry: Carry, memory: list, memory_bias: torch.Tensor,
              precursor_mass: torch.Tensor,
              tokens: torch.Tensor | None = None
              ) -> tuple[Carry, torch.Tensor]:
        """:meth:`step` before the carry is detached."""
        no_grad = (contextlib.nullcontext() if self.cfg.grad_all_cycles
                   else torch.no_grad())
        with no_grad:
            for _ in range(self.cfg.cycles - 1):
                carry = self._cycle(carry, memory, memory_bias,
                                    precursor_mass, tokens)
                tokens = None
        carry = self._cycle(carry, memory, memory_bias, precursor_mass,
                            tokens)
        log_probs = self.head(carry.y).log_softmax(dim=-1)  # (B, L, V)
        return carry, log_probs

    def forward(self, mz: torch.Tensor, intensity: torch.Tensor,
                mask: torch.Tensor, precursor_mass: torch.Tensor,
                charge: torch.Tensor,
                draft: torch.Tensor | None = None, *,
                with_verifier: bool = False):
        """Log-probs of every supervision step, (T, B, L, V).

        Inputs follow the ONNX contract: mz, intensity (B, P) float32,
        mask (B, P) bool (True = real peak), precursor_mass (B,) float32
        (neutral, Da), charge (B,) int64; for a draft-conditioned model
        ``draft`` (B, L) int64 token ids (residues, END, PAD as
        ``Vocabulary.encode`` writes them; all PAD or None = blank).

        With ``with_verifier`` (a model with the verifier head) returns
        ``(log_probs, verify_logits (T, B), residue_logits (T, B, L))``:
        per step, the logit that the draft is right as a whole and that
        its token in each slot is right.
        """
        if with_verifier and self.verifier is None:
            raise ValueError("this model has no verifier head "
                             "(model.verifier)")
        x, x_mask = self.encoder(mz, intensity, mask, precursor_mass,
                                 charge)
        memory = [layer.cross.kv(x) for layer in self.core]  # per layer
        memory_bias = _key_bias(x_mask)
        if self.draft_emb is None:
            draft = None
        elif draft is None:
            draft = torch.zeros((mz.shape[0], self.n_slots),
                                dtype=torch.long, device=mz.device)
        carry = self.initial_carry(mz.shape[0], draft)
        outputs, verify, residue = [], [], []
        tokens = draft
        for _ in range(self.cfg.steps):
            carry, log_probs = self._step(carry, memory, memory_bias,
                                          precursor_mass, tokens)
            if with_verifier:
                whole, per_slot = self.verifier(carry.y, carry.z,
                                                log_probs, draft)
                verify.append(whole)
                residue.append(per_slot)
            if self.cfg.detach_between_steps:
                carry = carry.detach()
            tokens = None
            outputs.append(log_probs)
        if with_verifier:
            return (torch.stack(outputs), torch.stack(verify),
                    torch.stack(residue))
        return torch.stack(outputs)  # (T, B, L, V)

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class ExportWrapper(nn.Module):
    """What goes into the ONNX graph: final log-probs (and every step).

    Outputs ``log_probs`` (B, L, V), plus ``step_log_probs`` (T, B, L, V)
    when ``all_steps`` is set (for early-exit and flip-rate diagnostics);
    a model with the verifier head also outputs ``verify_logits`` (B, T)
    and ``residue_logits`` (B, T, L), last.
    """

    def __init__(self, model: TRM, *, all_steps: bool = False):
        super().__init__()
        self.model = model
        self.all_steps = all_steps
        self.verifier = getattr(model, "verifier", None) is not None

    def forward(self, mz, intensity, mask, precursor_mass, charge,
                draft=None):
        if not self.verifier:
            steps = self.model(mz, intensity, mask, precursor_mass, charge,
                               draft)
            if self.all_steps:
                return steps[-1], steps
            return steps[-1]
        steps, verify, residue = self.model(
            mz, intensity, mask, precursor_mass, charge, draft,
            with_verifier=True)
        out = (steps[-1],) + ((steps,) if self.all_steps else ())
        return out + (verify.transpose(0, 1), residue.transpose(0, 1))
