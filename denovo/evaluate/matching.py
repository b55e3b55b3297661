"""Residue- and peptide-level matching of a predicted to a true peptide.

The rules are the ones the de novo literature reports its numbers with
(Casanovo and the papers that compare against it), so our numbers can be
put beside theirs:

* Walk both peptides from the N-terminus, keeping the cumulative (prefix)
  mass of each. When the two prefix masses *including* the current
  residues agree within ``prefix_tol_da`` (0.5 Da) the residues are
  aligned; they *match* when their own masses agree within
  ``residue_tol_da`` (0.1 Da). Otherwise the peptide whose prefix is
  lighter advances by one residue.
* The outcome is a boolean "slot" array of length ``max(len(pred),
  len(true))``; an aligned pair writes slot ``max(i_pred, i_true)``.
  Matched residues are the ``True`` slots.
* ``mode="best"`` (the default, Casanovo's ``aa_match_prefix_suffix``):
  when the forward pass does not match the whole peptide, a second pass
  walks from the C-terminus over the slots from the first forward
  mismatch onwards and overwrites them. A swapped pair in the middle thus
  costs only the swapped residues.
* A peptide matches when it has the same number of tokens as the truth
  and every slot matches.
* I and L have the same mass, so they always match in mass mode. K/Q
  (0.036 Da) and F/M[Oxidation] (0.033 Da) also match, as do N[Deamidated]
  and D (same composition).
* **N-terminal modification tokens** (``"[UNIMOD:1]-"`` …) are slots of
  their own with their mass shift as "residue" mass, as Casanovo's
  ``+42.011`` token is. A prediction that misses the acetylation of an
  otherwise correct peptide thus gets every residue right but not the
  peptide (one extra or missing slot).
* **Exact mode** keeps the same alignment but a residue matches only when
  the tokens are identical after mapping I to L, so only I/L may differ
  (N[Deamidated] vs D or K vs Q no longer match).

Masses come from the vocabulary (:mod:`denovo.core.vocab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary

__all__ = [
    "MatchConfig",
    "DEFAULT_MATCH",
    "PeptideMatch",
    "match_masses",
    "match_peptide",
    "token_masses",
    "exact_key",
]

MODES = ("best", "forward", "backward")


@dataclass(frozen=True)
class MatchConfig:
    """How residues are matched (defaults: the published convention)."""

    residue_tol_da: float = 0.1  # residue masses must agree this well
    prefix_tol_da: float = 0.5  # prefix masses must agree to align
    mode: str = "best"  # "best" (both ends), "forward", "backward"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(
                f"mode must be one of {MODES}, got {self.mode!r}")
        if self.residue_tol_da < 0 or self.prefix_tol_da < 0:
            raise ValueError("tolerances must be non-negative")


DEFAULT_MATCH = MatchConfig()


@dataclass(frozen=True)
class PeptideMatch:
    """Matching result for one (prediction, truth) pair.

    ``slots`` has ``max(n_pred, n_true)`` entries; ``n_matched`` is the
    number of ``True`` slots; ``peptide`` whether the whole peptide
    matches.
    """

    n_pred: int
    n_true: int
    slots: np.ndarray
    peptide: bool

    @property
    def n_matched(self) -> int:
        return int(self.slots.sum())


def token_masses(
    tokens: Sequence[str], vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> list[float]:
    """Masses of ``tokens``; unknown tokens raise a ``KeyError``."""
    return [float(vocabulary.masses[vocabulary.index(t)]) for t in tokens]


def exact_key(tokens: Sequence[str]) -> tuple[str, ...]:
    """Token tuple with I mapped to L: what exact mode compares."""
    return tuple("L" + t[1:] if t[:1] == "I" else t for t in tokens)


def _walk(m1, m2, same, out, *, res_tol, pre_tol, reverse, i_stop=0,
          flip=False):
    """One alignment pass over masses ``m1``/``m2``; writes ``out``.

    Forward passes start at the N-terminus; ``reverse`` passes start at
    the C-terminus and stop below index ``i_stop``. An aligned pair
    writes slot ``max(i1, i2)`` (``flip``: the slot counted from the
    C-terminus, as when both peptides are reversed first).
    """
    n1, n2 = len(m1), len(m2)
    last = max(n1, n2) - 1
    step = -1 if reverse else 1
    i1, i2 = (n1 - 1, n2 - 1) if reverse else (0, 0)
    cum1 = cum2 = 0.0
    while i_stop <= i1 < n1 and i_stop <= i2 < n2:
        a1, a2 = m1[i1], m2[i2]
        if abs((cum1 + a1) - (cum2 + a2)) < pre_tol:
            ok = abs(a1 - a2) < res_tol if same is None else same(i1, i2)
            if flip:
                out[last - max(n1 - 1 - i1, n2 - 1 - i2)] = ok
            else:
                out[max(i1, i2)] = ok
            i1 += step
            i2 += step
            cum1 += a1
            cum2 += a2
        elif cum2 + a2 > cum1 + a1:
            i1 += step
            cum1 += a1
        else:
            i2 += step
            cum2 += a2


def match_masses(
    pred: Sequence[float],
    true: Sequence[float],
    *,
    residue_tol_da: float = 0.1,
    prefix_tol_da: float = 0.5,
    mode: str = "best",
    same=None,
) -> np.ndarray:
    """Slot array of the matching rules on plain residue masses.

    Parameters
    ----------
    pred, true
        Residue (token) masses in peptide order.
    residue_tol_da, prefix_tol_da, mode
        See :class:`MatchConfig`.
    same
        Optional ``same(i_pred, i_true) -> bool`` used instead of the
        residue-mass test (exact mode); alignment still uses masses.

    Returns
    -------
    numpy.ndarray
        Boolean array of length ``max(len(pred), len(true))``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    out = np.zeros(max(len(pred), len(true)), bool)
    if len(pred) == 0 or len(true) == 0:
        return out
    tol = dict(res_tol=residue_tol_da, pre_tol=prefix_tol_da)
    if mode == "backward":
        _walk(pred, true, same, out, reverse=True, flip=True, **tol)
        return out
    _walk(pred, true, same, out, reverse=False, **tol)
    if mode == "best" and not out.all():
        # Second pass from the C-terminus over the slots from the first
        # forward mismatch on; it overwrites what the forward pass wrote.
        i_stop = int(np.argmin(out))
        _walk(pred, true, same, out, reverse=True, i_stop=i_stop, **tol)
    return out


def match_peptide(
    pred: Sequence[str] | None,
    true: Sequence[str],
    *,
    exact: bool = False,
    config: MatchConfig = DEFAULT_MATCH,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> PeptideMatch:
    """Match a predicted token tuple against the true one.

    A missing (``None``) or empty prediction has no residues and no
    match. In ``exact`` mode residues match only when their tokens are
    identical after mapping I to L.
    """
    pred = tuple(pred or ())
    true = tuple(true)
    m1 = token_masses(pred, vocabulary)
    m2 = token_masses(true, vocabulary)
    same = None
    if exact:
        k1, k2 = exact_key(pred), exact_key(true)

        def same(i1, i2):
            return k1[i1] == k2[i2]
    slots = match_masses(
        m1, m2, residue_tol_da=config.residue_tol_da,
        prefix_tol_da=config.prefix_tol_da, mode=config.mode, same=same)
    whole = bool(len(pred) == len(true) and len(pred) > 0 and slots.all())
    return PeptideMatch(len(pred), len(true), slots, whole)
