"""Training losses: deep supervision, precursor mass, soft spectrum match.

The cross-entropy tells every refinement step which token belongs in
each slot (including end and pad, so length is learned). The other two
losses need no labels and tie the answer to the physics: the expected
peptide mass must equal the precursor mass, and soft b/y ladders built
from the expected slot masses must explain the observed peaks. Both are
written so that their gradients stay finite and non-zero when the answer
is far off (log-cosh; a narrow Gaussian plus a wide Cauchy kernel).

All mass arithmetic runs in float32 with autocast disabled: bf16 cannot
resolve 0.02 Da at 1000 Da.
"""

from __future__ import annotations

import math

import torch

from denovo.core.constants import H2O, PROTON
from denovo.core.vocab import DEFAULT_VOCABULARY, END, PAD, Vocabulary

from .config import LossConfig

__all__ = [
    "step_weights",
    "deep_supervision_loss",
    "expected_slot_mass",
    "precursor_mass_loss",
    "fragment_ladder",
    "spectrum_loss",
    "compute_losses",
    "verifier_labels",
    "verifier_losses",
    "listwise_loss",
]


def step_weights(n_steps: int, weighting: str = "uniform") -> torch.Tensor:
    """Weights of the T supervision steps, summing to 1.

    ``"uniform"`` weighs all steps equally, ``"linear"`` favours later
    steps (t + 1), ``"last"`` trains only the final answer.
    """
    t = torch.arange(1, n_steps + 1, dtype=torch.float32)
    if weighting == "uniform":
        w = torch.ones(n_steps)
    elif weighting == "linear":
        w = t
    elif weighting == "last":
        w = (t == n_steps).float()
    else:
        raise ValueError(f"unknown step weighting {weighting!r}")
    return w / w.sum()


def deep_supervision_loss(
        step_log_probs: torch.Tensor, targets: torch.Tensor, *,
        weights: torch.Tensor | None = None, label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted cross-entropy over all steps and all slots.

    step_log_probs (T, B, L, V); targets (B, L) token indices (residues,
    END, then PAD — as from ``Vocabulary.encode``). Returns the weighted
    total and the per-step losses (T,), detached, for logging.
    """
    n_steps = step_log_probs.shape[0]
    if weights is None:
        weights = step_weights(n_steps)
    logp = step_log_probs.float()
    index = targets.long().unsqueeze(0).unsqueeze(-1)  # (1, B, L, 1)
    nll = -logp.gather(-1, index.expand(n_steps, -1, -1, -1)).squeeze(-1)
    if label_smoothing > 0:
        smooth = -logp.mean(dim=-1)  # (T, B, L)
        nll = (1 - label_smoothing) * nll + label_smoothing * smooth
    per_step = nll.mean(dim=(1, 2))  # (T,)
    total = (per_step * weights.to(per_step.device)).sum()
    return total, per_step.detach()


def _mass_table(vocabulary: Vocabulary,
                device: torch.device) -> tuple[torch.Tensor, ...]:
    """Masses (V,), N-terminal and residue token masks (V,) bool."""
    masses = torch.tensor(vocabulary.masses, dtype=torch.float32,
                          device=device)
    nterm = torch.tensor(vocabulary.n_terminal, device=device)
    special = torch.zeros_like(nterm)
    special[[PAD, END]] = True
    return masses, nterm, ~(nterm | special)


def expected_slot_mass(log_probs: torch.Tensor,
                       masses: torch.Tensor) -> torch.Tensor:
    """Expected token mass per slot, (B, L); pad and end weigh 0 Da."""
    return (log_probs.float().exp() * masses).sum(dim=-1)


def _log_cosh(x: torch.Tensor) -> torch.Tensor:
    """Overflow-free log(cosh(x)): quadratic near 0, |x| far out."""
    a = x.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def precursor_mass_loss(
        log_probs: torch.Tensor, precursor_mass: torch.Tensor, *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        scale_da: float = 1.0, norm_da: float = 100.0) -> torch.Tensor:
    """Scaled log-cosh of expected peptide mass - precursor mass.

    ``(scale / norm) * logcosh(error / scale)``: quadratic for errors
    below ``scale_da``, ``|error| / norm_da`` far out (error counted in
    "average residues" of 100 Da by default). Its gradient with respect
    to the error tends to ±1/norm_da, so it neither explodes nor
    vanishes at large errors, and stays comparable to the cross-entropy.
    log_probs (B, L, V); precursor_mass (B,) neutral, Da. Returns the
    batch mean.
    """
    with torch.autocast(log_probs.device.type, enabled=False):
        masses, _, _ = _mass_table(vocabulary, log_probs.device)
        mass = expected_slot_mass(log_probs, masses).sum(dim=-1) + H2O
        err = (mass - precursor_mass.float()) / scale_da
        return (scale_da / norm_da) * _log_cosh(err).mean()


def fragment_ladder(
        log_probs: torch.Tensor, precursor_mass: torch.Tensor,
        charge: torch.Tensor, *, vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        max_fragment_charge: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft b and y ion m/z with the probability that each ion exists.

    Prefix masses are cumulative sums of expected slot masses. The b ion
    after slot k exists when slot k holds a residue (not an N-terminal
    modification) and the peptide goes on past it:
    ``w_k = P(slot k residue) * prod_{j=k+1} P(slot j not end/pad)``
    (slots taken as independent), computed in log space. y ions are the
    complements ``precursor_mass - prefix``. Fragment charge c is used for
    c = 1 and for 1 < c <= min(max_fragment_charge, z - 1).

    Returns ion m/z (B, I) and weights (B, I), I = 2 C (L - 1).
    """
    logp = log_probs.float()
    masses, nterm, residue = _mass_table(vocabulary, logp.device)
    prefix = torch.cumsum(expected_slot_mass(logp, masses), dim=-1)
    log_cont = torch.logsumexp(logp[..., residue | nterm], dim=-1)  # (B, L)
    log_res = torch.logsumexp(logp[..., residue], dim=-1)  # (B, L)
    log_inside = torch.cumsum(log_cont, dim=-1)  # slots 0..k all inside
    # Fragment k (k = 0..L-2): residue at k, slots 0..k+1 inside.
    w = torch.exp(log_inside[:, 1:] - log_cont[:, :-1] + log_res[:, :-1])
    prefix = prefix[:, :-1]  # (B, L-1)
    y_mass = precursor_mass.float().unsqueeze(-1) - prefix
    ions, weights = [], []
    for c in range(1, max_fragment_charge + 1):
        ok = (charge > c) | (c == 1)  # (B,)
        wc = w * ok.unsqueeze(-1).float()
        for neutral in (prefix, y_mass):
            ions.append((neutral + c * PROTON) / c)
            weights.append(wc)
    return torch.cat(ions, dim=-1), torch.cat(weights, dim=-1)


def spectrum_loss(
        log_probs: torch.Tensor, mz: torch.Tensor, intensity: torch.Tensor,
        mask: torch.Tensor, precursor_mass: torch.Tensor,
        charge: torch.Tensor, *,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        narrow_sigma_da: float = 0.02, wide_sigma_da: float = 2.0,
        wide_fraction: float = 0.1, max_fragment_charge: int = 2,
        narrow_grad_scale: float = 1.0,
        reduction: str = "mean") -> torch.Tensor:
    """1 - fraction of observed intensity explained by soft b/y ladders.

    Each observed peak j is matched by ion i with strength
    ``w_i K(mz_j - ion_i)``, K a mix of a narrow Gaussian (the fragment
    tolerance) and a wide Cauchy kernel whose tail keeps gradients alive
    far from any peak; the peak counts as explained with probability
    ``1 - prod_i (1 - w_i K)``. Padding peaks (mask False) are ignored.
    ``narrow_grad_scale`` < 1 tempers the narrow kernel's steep slope in
    the backward pass only (the loss value is unchanged).
    Returns the batch mean, or (B,) with ``reduction="none"``.
    """
    with torch.autocast(log_probs.device.type, enabled=False):
        ions, w = fragment_ladder(log_probs, precursor_mass, charge,
                                  vocabulary=vocabulary,
                                  max_fragment_charge=max_fragment_charge)
        diff = mz.float().unsqueeze(-1) - ions.unsqueeze(1)  # (B, P, I)
        fixed = diff.detach()
        tempered = fixed + narrow_grad_scale * (diff - fixed)
        kernel = ((1 - wide_fraction)
                  * torch.exp(-0.5 * (tempered / narrow_sigma_da) ** 2)
                  + wide_fraction / (1 + (diff / wide_sigma_da) ** 2))
        hit = w.unsqueeze(1) * kernel * (1 - 1e-6)  # < 1: log1p finite
        explained = -torch.expm1(torch.log1p(-hit).sum(dim=-1))  # (B, P)
        weight = intensity.float() * mask.float()
        total = weight.sum(dim=-1).clamp(min=1e-12)
        loss = 1 - (explained * weight).sum(dim=-1) / total  # (B,)
        if reduction == "none":
            return loss
        if reduction != "mean":
            raise ValueError(f"unknown reduction {reduction!r}")
        return loss.mean()


def compute_losses(
        step_log_probs: torch.Tensor, targets: torch.Tensor | None, *,
        mz: torch.Tensor, intensity: torch.Tensor, mask: torch.Tensor,
        precursor_mass: torch.Tensor, charge: torch.Tensor,
        cfg: LossConfig | None = None,
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> dict[str, torch.Tensor]:
    """All switched-on losses, weighted, for one batch.

    step_log_probs (T, B, L, V) from ``TRM.forward``; targets (B, L) or
    ``None`` when ``cfg.ce_weight`` is 0; ``cfg`` defaults to
    ``LossConfig()``. Returns ``"loss"`` (the weighted
    sum to back-propagate) and each unweighted component (``"ce"``,
    ``"ce_step"`` (T,), ``"mass"``, ``"spectrum"``) that is switched on.
    """
    cfg = LossConfig() if cfg is None else cfg
    n_steps = step_log_probs.shape[0]
    weights = step_weights(n_steps, cfg.step_weighting).to(
        step_log_probs.device)
    out: dict[str, torch.Tensor] = {}
    total = step_log_probs.new_zeros((), dtype=torch.float32)
    if cfg.ce_weight > 0:
        if targets is None:
            raise ValueError("targets are required when ce_weight > 0")
        ce, per_step = deep_supervision_loss(
            step_log_probs, targets, weights=weights,
            label_smoothing=cfg.label_smoothing)
        out["ce"], out["ce_step"] = ce, per_step
        total = total + cfg.ce_weight * ce
    if cfg.aux_steps == "last":
        aux = [(step_log_probs[-1], 1.0)]
    else:
        aux = [(step_log_probs[t], weights[t]) for t in range(n_steps)
               if weights[t] > 0]
    if cfg.mass_weight > 0:
        mass = sum(w * precursor_mass_loss(
            lp, precursor_mass, vocabulary=vocabulary,
            scale_da=cfg.mass_scale_da, norm_da=cfg.mass_norm_da)
            for lp, w in aux)
        out["mass"] = mass
        total = total + cfg.mass_weight * mass
    if cfg.spectrum_weight > 0:
        spec = sum(w * spectrum_loss(
            lp, mz, intensity, mask, precursor_mass, charge,
            vocabulary=vocabulary, narrow_sigma_da=cfg.narrow_sigma_da,
            wide_sigma_da=cfg.wide_sigma_da,
            wide_fraction=cfg.wide_fraction,
            max_fragment_charge=cfg.max_fragment_charge,
            narrow_grad_scale=cfg.narrow_grad_scale) for lp, w in aux)
        out["spectrum"] = spec
        total = total + cfg.spectrum_weight * spec
    out["loss"] = total
    return out


def verifier_labels(draft: torch.Tensor, targets: torch.Tensor,
                    vocabulary: Vocabulary = DEFAULT_VOCABULARY
                    ) -> dict[str, torch.Tensor]:
    """What the verifier head must say about each draft.

    draft, targets (B, L) token ids. ``whole`` (B,): the draft is the
    truth's peptide (:func:`denovo.core.peptide.peptide_key`: I = L);
    ``residue`` (B, L): the draft's token in the slot is the truth's
    token there (I = L); ``rows`` (B,): the draft is not blank;
    ``slots`` (B, L): the slots holding a draft residue (not END, PAD).
    """
    from denovo.core.peptide import peptide_key

    il = torch.arange(len(vocabulary), device=draft.device)
    il[vocabulary.index("I")] = vocabulary.index("L")
    d, t = il[draft.long()], il[targets.long()]
    rows = (draft != PAD).any(dim=-1)
    slots = (draft != PAD) & (draft != END)
    keys = []
    for row in (draft, targets):
        keys.append([peptide_key(vocabulary.decode(r)) for r in
                     row.cpu().tolist()])
    whole = torch.tensor([a == b and bool(a) for a, b in zip(*keys)],
                         dtype=torch.float32, device=draft.device)
    return {"whole": whole, "residue": (d == t).float(), "rows": rows,
            "slots": slots}


def listwise_loss(verify_logits: torch.Tensor, group: torch.Tensor,
                  right: torch.Tensor, weights: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    """Softmax cross-entropy of each group's whole-draft logits with its
    right draft as the target, per step, weighted over the steps.

    Pointwise BCE can score the ~45 easy wrong candidates of a list low
    and still get the order of the first 2-3 wrong; this loss is the
    selection itself: of the drafts on one spectrum, which is right.

    verify_logits (T, B); group (B,) the row's group index, -1 for rows
    in no group; right (B,) 1 for right drafts; weights (T,) the step
    weights. Every group must hold exactly one right draft (ValueError
    otherwise); groups of one draft take no part. Returns ``"loss"``
    (weighted over steps), ``"step"`` (T,) and ``"top1"``, the share of
    groups whose right draft has the highest logit at the last step
    (both detached).
    """
    logits = verify_logits.float()
    n_groups = int(group.max()) + 1 if group.numel() else 0
    ids = torch.arange(max(n_groups, 0), device=group.device)
    member = group[None, :] == ids[:, None]  # (G, B)
    target = member & (right[None, :] > 0.5)
    if n_groups and not bool((target.sum(dim=1) == 1).all()):
        raise ValueError("every listwise group needs exactly one right "
                         "draft")
    valid = (member.sum(dim=1) > 1).float()  # (G,)
    masked = logits[:, None, :].masked_fill(~member[None], -math.inf)
    lse = torch.logsumexp(masked, dim=-1)  # (T, G)
    right_logit = logits[:, None, :].masked_fill(~target[None], 0.0).sum(
        dim=-1)  # (T, G)
    n_valid = valid.sum().clamp_min(1.0)
    per_step = ((lse - right_logit) * valid).sum(dim=-1) / n_valid
    best = masked[-1].argmax(dim=-1)  # (G,)
    hit = target.gather(1, best[:, None])[:, 0].float()
    return {"loss": (per_step * weights).sum(),
            "step": per_step.detach(),
            "top1": ((hit * valid).sum() / n_valid).detach()}


def verifier_losses(verify_logits: torch.Tensor,
                    residue_logits: torch.Tensor, draft: torch.Tensor,
                    targets: torch.Tensor, *, cfg: LossConfig | None = None,
                    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                    group: torch.Tensor | None = None,
                    ) -> dict[str, torch.Tensor]:
    """Deep-supervised BCE of the verifier head, weighted, for one batch.

    verify_logits (T, B), residue_logits (T, B, L) from ``TRM.forward(...,
    with_verifier=True)``; draft and targets (B, L). Blank drafts take no
    part. Returns ``"loss"`` (``verify_weight`` x whole-draft BCE +
    ``residue_weight`` x per-residue BCE, steps weighted as the
    cross-entropy), the two unweighted BCEs (``"verify"``,
    ``"residue"``), their per-step values (``"verify_step"``) and the
    share of right drafts among the non-blank ones (``"verify_positive"``).
    With ``group`` (B,) (-1: no group) and ``cfg.listwise_weight`` > 0 it
    adds ``listwise_weight`` x :func:`listwise_loss` (``"listwise"``,
    ``"listwise_step"``, ``"listwise_top1"``).
    """
    import torch.nn.functional as F

    cfg = LossConfig() if cfg is None else cfg
    labels = verifier_labels(draft, targets, vocabulary)
    n_steps = verify_logits.shape[0]
    weights = step_weights(n_steps, cfg.step_weighting).to(
        verify_logits.device)
    rows = labels["rows"].float()  # (B,)
    slots = labels["slots"].float() * rows[:, None]  # (B, L)
    whole = F.binary_cross_entropy_with_logits(
        verify_logits.float(), labels["whole"].expand(n_steps, -1),
        reduction="none")  # (T, B)
    per_step = (whole * rows).sum(dim=1) / rows.sum().clamp_min(1.0)
    residue = F.binary_cross_entropy_with_logits(
        residue_logits.float(), labels["residue"].expand(n_steps, -1, -1),
        reduction="none")  # (T, B, L)
    res_step = (residue * slots).sum(dim=(1, 2)) / slots.sum().clamp_min(
        1.0)
    verify = (per_step * weights).sum()
    res = (res_step * weights).sum()
    total = cfg.verify_weight * verify + cfg.residue_weight * res
    positive = (labels["whole"] * rows).sum() / rows.sum().clamp_min(1.0)
    out = {"verify": verify, "residue": res,
           "verify_step": per_step.detach(),
           "verify_positive": positive.detach()}
    if group is not None and cfg.listwise_weight > 0:
        lw = listwise_loss(verify_logits, group.to(verify_logits.device),
                           labels["whole"], weights)
        total = total + cfg.listwise_weight * lw["loss"]
        out.update({"listwise": lw["loss"], "listwise_step": lw["step"],
                    "listwise_top1": lw["top1"]})
    out["loss"] = total
    return out
