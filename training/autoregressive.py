"""The autoregressive (AR) baseline: a small Casanovo-like decoder.

The yardstick the Tiny Recursive Model is compared with. The peaks go
through the TRM's own :class:`~denovo_training.model.PeakEncoder` (unchanged);
a causal transformer decoder of ``cfg.core_layers`` post-norm
:class:`~denovo_training.model.Block` s writes the peptide left to right,
cross-attending to the encoded peaks. The input at slot ``i`` is the
embedding of the token written at slot ``i - 1``; slot 0 gets a learned
start vector plus the precursor (mass sinusoids, projected, and charge
embedding), as Casanovo's precursor token. A learned position embedding
covers the ``L = max_length + 1`` slots (residues, end, padding).

Training is teacher-forced: :meth:`AutoregressiveModel.forward` takes the
targets and returns log-probs shaped ``(1, B, L, V)`` (one "step", so
the TRM's deep-supervision losses apply unchanged). Decoding
(:meth:`AutoregressiveModel.generate`) runs the encoder once and the
decoder one slot at a time with cached self-attention keys/values,
greedily or with a beam search that prefers peptides of the precursor's
mass (the engine's precursor window: 20 ppm, isotope errors 0 and 1).

Shapes: B batch, P peaks, S = P + 2 encoder tokens, L slots, D width,
V vocabulary, K beams, h heads, d = D / h.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from denovo.core.constants import H2O
from denovo.core.vocab import DEFAULT_VOCABULARY, END, PAD
from denovo.core.window import PrecursorWindow

from .config import ModelConfig
from .model import Block, PeakEncoder, _key_bias, sinusoid_features

__all__ = ["AutoregressiveModel", "causal_bias", "peptide_mass_matches"]



def causal_bias(n: int, device=None) -> torch.Tensor:
    """(1, 1, n, n) additive bias: 0 on and below the diagonal, -inf above."""
    idx = torch.arange(n, device=device)
    zero = torch.zeros((), dtype=torch.float32, device=device)
    bias = torch.where(idx[None, :] > idx[:, None],
                       torch.full_like(zero, float("-inf")), zero)
    return bias[None, None]


def peptide_mass_matches(mass: torch.Tensor, precursor_mass: torch.Tensor,
                         window: PrecursorWindow | None = None
                         ) -> torch.Tensor:
    """Whether neutral peptide masses (with water) fit the precursor
    window, the engine's rule (:class:`denovo.core.window.
    PrecursorWindow`); float64 inputs, broadcast."""
    window = window or PrecursorWindow()
    fits = window.fits(mass.detach().cpu().numpy(),
                       precursor_mass.detach().cpu().numpy())
    return torch.from_numpy(np.asarray(fits)).to(mass.device)


class AutoregressiveModel(nn.Module):
    """Peak encoder + causal decoder; log-probs of the next token.

    Parameters
    ----------
    cfg
        Sizes (``dim``, ``heads``, ``ff_mult``, ``encoder_layers``,
        ``core_layers`` = decoder layers, ``max_length``, ``vocab_size``,
        m/z sinusoids); the TRM's recursion settings are ignored.
    """

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        cfg = ModelConfig(kind="autoregressive") if cfg is None else cfg
        self.cfg = cfg
        self.n_slots = cfg.max_length + 1
        self.encoder = PeakEncoder(cfg)
        self.decoder = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.ff_mult, cfg.dropout, cross=True)
            for _ in range(cfg.core_layers))
        self.token_emb = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos_emb = nn.Parameter(0.02 * torch.randn(self.n_slots,
                                                       cfg.dim))
        self.start = nn.Parameter(0.02 * torch.randn(cfg.dim))
        self.precursor_proj = nn.Linear(2 * cfg.mz_frequencies, cfg.dim)
        self.charge_emb = nn.Embedding(cfg.max_charge + 1, cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size)
        masses = torch.zeros(cfg.vocab_size, dtype=torch.float64)
        nterm = torch.zeros(cfg.vocab_size, dtype=torch.bool)
        if cfg.vocab_size == len(DEFAULT_VOCABULARY):
            masses = torch.tensor(DEFAULT_VOCABULARY.masses,
                                  dtype=torch.float64)
            nterm = torch.tensor(DEFAULT_VOCABULARY.n_terminal)
        self.register_buffer("token_mass", masses, persistent=False)
        self.register_buffer("token_nterm", nterm, persistent=False)

    # -- pieces -----------------------------------------------------------

    def _start(self, precursor_mass: torch.Tensor,
               charge: torch.Tensor) -> torch.Tensor:
        """Slot-0 input: start + precursor mass + charge, (B, D)."""
        inv = self.encoder.inv_wavelength.to(torch.float64)
        return (self.start
                + self.precursor_proj(sinusoid_features(precursor_mass,
                                                        inv))
                + self.charge_emb(charge.clamp(0, self.cfg.max_charge)))

    def encode(self, mz, intensity, mask, precursor_mass, charge):
        """Encoder once: per-layer cross keys/values, their bias, start."""
        x, x_mask = self.encoder(mz, intensity, mask, precursor_mass,
                                 charge)
        memory = [layer.cross.kv(x) for layer in self.decoder]
        return memory, _key_bias(x_mask), self._start(precursor_mass,
                                                       charge)

    def forward(self, mz: torch.Tensor, intensity: torch.Tensor,
                mask: torch.Tensor, precursor_mass: torch.Tensor,
                charge: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-probs, (1, B, L, V).

        ``tokens`` (B, L) int64, L <= max_length + 1, are the targets
        (residues, END, PAD); output slot ``i`` is computed from
        ``tokens[:, :i]`` only. Other inputs follow the TRM's contract.
        """
        memory, memory_bias, start = self.encode(mz, intensity, mask,
                                                 precursor_mass, charge)
        n = tokens.shape[1]
        prev = self.token_emb(tokens[:, :-1])  # (B, L - 1, D)
        h = torch.cat([start.unsqueeze(1), prev], dim=1) + self.pos_emb[:n]
        bias = causal_bias(n, h.device)
        for layer, kv in zip(self.decoder, memory, strict=True):
            h = layer(h, bias, kv, memory_bias)
        return self.head(h).log_softmax(dim=-1).unsqueeze(0)

    def _step(self, x: torch.Tensor, cache: list, memory: list,
              memory_bias: torch.Tensor) -> torch.Tensor:
        """Decode one slot: x (N, 1, D) -> log-probs (N, V).

        ``cache`` holds per layer the self-attention keys/values of the
        earlier slots, (N, h, t, d) each, and is extended in place; the
        arithmetic is that of :class:`~denovo_training.model.Block`.
        """
        h = x
        for i, layer in enumerate(self.decoder):
            k, v = layer.self_attn.kv(h)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
            h = layer.norm1(h + layer.self_attn(h, (k, v)))
            h = layer.norm2(h + layer.cross(h, memory[i], memory_bias))
            h = layer.norm3(h + layer.mlp(h))
        return self.head(h[:, 0]).log_softmax(dim=-1)

    # -- decoding ---------------------------------------------------------

    @torch.no_grad()
    def generate(self, mz: torch.Tensor, intensity: torch.Tensor,
                 mask: torch.Tensor, precursor_mass: torch.Tensor,
                 charge: torch.Tensor, *, beam: int = 1,
                 mass_control: bool | None = None,
                 window: PrecursorWindow | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode peptides: token ids (B, L) int64 and scores (B,).

        Ids are residues, END, then PAD (as targets); the score is the
        mean log-prob of the emitted tokens, END included. ``beam=1`` is
        greedy. With ``mass_control`` (default: on for ``beam > 1``),
        extensions that make the prefix heavier than the precursor allows
        are not taken, and among finished peptides those whose mass
        fit the precursor ``window`` (the engine's rule) win over
        better-scored ones that do not. N-terminal modification tokens
        are only allowed in slot 0; a beam still open at the last slot
        must end there.
        """
        if beam < 1:
            raise ValueError("beam must be >= 1")
        if mass_control is None:
            mass_control = beam > 1
        was_training = self.training
        self.eval()
        try:
            return self._search(mz, intensity, mask, precursor_mass,
                                charge, beam, mass_control,
                                window or PrecursorWindow())
        finally:
            self.train(was_training)

    def _search(self, mz, intensity, mask, precursor_mass, charge, k,
                mass_control, window):
        b, n_slots, vsize = mz.shape[0], self.n_slots, self.cfg.vocab_size
        device = mz.device
        memory, memory_bias, start = self.encode(mz, intensity, mask,
                                                 precursor_mass, charge)
        n = b * k
        # Every beam of a spectrum shares its encoder output.
        memory = [(kk.repeat_interleave(k, 0), vv.repeat_interleave(k, 0))
                  for kk, vv in memory]
        memory_bias = memory_bias.repeat_interleave(k, 0)
        x = start.repeat_interleave(k, 0).unsqueeze(1)  # (N, 1, D)
        prec = precursor_mass.to(torch.float64)
        # Heaviest residue sum that can still match (isotope 0, + tol).
        half = window.half_width(prec.cpu().numpy())
        limit = (prec - H2O) + torch.as_tensor(half, dtype=torch.float64,
                                               device=device)  # (B,)
        tokens = torch.full((b, k, n_slots), PAD, dtype=torch.long,
                            device=device)
        score = torch.full((b, k), float("-inf"), device=device)
        score[:, 0] = 0.0  # one live beam at first: no duplicates
        mass = torch.zeros((b, k), dtype=torch.float64, device=device)
        best_key = torch.full((b,), float("-inf"), dtype=torch.float64,
                              device=device)
        best_score = torch.full((b,), float("-inf"), device=device)
        best_tokens = torch.full((b, n_slots), PAD, dtype=torch.long,
                                 device=device)
        cache: list = [None] * len(self.decoder)
        allowed = torch.ones(vsize, dtype=torch.bool, device=device)
        allowed[PAD] = False
        arange_b = torch.arange(b, device=device)
        for t in range(n_slots):
            logp = self._step(x + self.pos_emb[t], cache, memory,
                              memory_bias).view(b, k, vsize)
            ok = allowed.clone()
            if t > 0:
                ok &= ~self.token_nterm
            if t == n_slots - 1:
                ok[:] = False
                ok[END] = True
            cand = torch.where(ok, logp, float("-inf"))
            if mass_control:
                new_mass = mass.unsqueeze(-1) + self.token_mass  # (B,K,V)
                too_heavy = new_mass > limit[:, None, None]
                too_heavy[..., END] = False
                cand = cand.masked_fill(too_heavy, float("-inf"))
            total = score.unsqueeze(-1) + cand  # (B, K, V)
            top, flat = total.view(b, k * vsize).topk(k, dim=-1)
            parent, tok = flat // vsize, flat % vsize  # (B, K)
            live = torch.isfinite(top)
            tokens = tokens[arange_b[:, None], parent]
            tokens[..., t] = torch.where(live, tok, PAD)
            mass = mass[arange_b[:, None], parent] + torch.where(
                tok == END, 0.0, self.token_mass[tok])
            # Finished beams: keep each spectrum's best, drop the beam.
            ended = live & (tok == END)
            mean = top / (t + 1)
            key = mean.to(torch.float64)
            if mass_control:
                matched = peptide_mass_matches(mass + H2O, prec[:, None],
                                               window)
                key = torch.where(matched, key, key - 1e6)
            key = torch.where(ended, key, float("-inf"))
            cand_key, which = key.max(dim=-1)  # (B,)
            better = cand_key > best_key
            best_key = torch.where(better, cand_key, best_key)
            best_score = torch.where(better, mean[arange_b, which],
                                     best_score)
            best_tokens = torch.where(better[:, None],
                                      tokens[arange_b, which], best_tokens)
            score = torch.where(live & ~ended, top, float("-inf"))
            if not torch.isfinite(score).any():
                break
            order = (arange_b[:, None] * k + parent).view(-1)
            cache = [(kk[order], vv[order]) for kk, vv in cache]
            x = self.token_emb(tokens[..., t].reshape(n)).unsqueeze(1)
        return best_tokens, best_score

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
