"""The evidence verifier: a tiny recursive model that re-reads the best
candidates' cleavages and corrects their rank score (NumPy, no torch).

The peptide ranker is linear in whole-peptide sums; it cannot say that a
cleavage N-terminal to proline without its y ion is suspicious while one
between two glycines is not, nor weigh a missing b2 by the residues that
make it. The verifier reads each of a candidate's cleavages: its
peak-once evidence (:func:`denovo.core.peak_once.peak_once_sites`), the
residue classes either side and the precursor charge. A cleavage's
embedding ``h`` and a latent state ``z`` (zero at first) are refined
over ``steps`` recursions, each mixing in the neighbouring cleavages'
states; after every step the summed read-out of ``z`` is the candidate's
correction, and a per-cleavage read-out says whether that cleavage is
one of the true peptide's. The verified score is ``rank_scale * rank
score + correction`` of the last step.

It is trained listwise on the engine's own candidate lists of train-side
spectra (``python -m denovo_training.verifier_fit``) with deep
supervision at every step, and lives in the fitted settings
(``RankSettings.verifier``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.evidence import FEATURE_NAMES, N_FEATURES
from ..core.peak_once import RESIDUE_CLASSES

__all__ = ["EvidenceVerifier", "site_inputs", "N_INPUTS", "CHARGES"]

CHARGES = (2, 3, 4)  # one-hot of the precursor charge (4: 4 and above)
_N_CLASSES = len(RESIDUE_CLASSES)
N_INPUTS = N_FEATURES + 2 * _N_CLASSES + len(CHARGES)
_ARRAYS = ("mean", "scale", "w_in", "b_in", "w_h", "w_z", "w_c", "b_z",
           "w_out", "w_site", "b_site")


def site_inputs(feats, left, right, charge: int, mean, scale):
    """The verifier's inputs ``[n, S, N_INPUTS]`` and mask ``[n, S]`` of
    :func:`~denovo.core.peak_once.peak_once_sites`' output."""
    mask = left >= 0
    n, s = left.shape
    x = np.zeros((n, s, N_INPUTS), np.float32)
    x[..., :N_FEATURES] = (feats - mean) / scale
    rows, cols = np.nonzero(mask)
    x[rows, cols, N_FEATURES + left[rows, cols]] = 1.0
    x[rows, cols, N_FEATURES + _N_CLASSES + right[rows, cols]] = 1.0
    z = min(max(int(charge), CHARGES[0] - 1), CHARGES[-1])
    if z >= CHARGES[0]:
        x[..., N_FEATURES + 2 * _N_CLASSES + CHARGES.index(z)] = 1.0
    x *= mask[..., None]
    return x, mask


@dataclass(frozen=True)
class EvidenceVerifier:
    """Fitted weights (see the module docstring): an ensemble of members
    (seeds) whose corrections are averaged, the weights' leading axis;
    ``top``: how many of the best candidates it verifies."""

    steps: int
    top: int
    rank_scale: float
    arrays: dict

    @classmethod
    def from_dict(cls, data: dict) -> "EvidenceVerifier":
        if tuple(data.get("feature_names", ())) != FEATURE_NAMES \
                or data.get("classes") != RESIDUE_CLASSES:
            raise ValueError("the verifier was fitted on other cleavage "
                             "features; refit it")
        if not float(data["rank_scale"]) > 0:
            raise ValueError("the verifier's rank_scale must be > 0")
        arrays = {k: np.asarray(data[k], np.float32) for k in _ARRAYS}
        if arrays["w_in"].ndim != 3 or arrays["w_in"].shape[1] != N_INPUTS:
            raise ValueError(f"verifier inputs {arrays['w_in'].shape[1:2]}"
                             f" are not {N_INPUTS} wide; refit it")
        return cls(int(data["steps"]), int(data["top"]),
                   float(data["rank_scale"]), arrays)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "top": self.top,
                "rank_scale": self.rank_scale,
                "feature_names": list(FEATURE_NAMES),
                "classes": RESIDUE_CLASSES,
                **{k: np.round(v.astype(np.float64), 6).tolist()
                   for k, v in self.arrays.items()}}

    def __post_init__(self):
        a = self.arrays
        # one wide input layer for all members ([d, k h]); the recurrent
        # and neighbour weights stacked for one product per step
        object.__setattr__(self, "_w_in", np.ascontiguousarray(
            np.concatenate(list(a["w_in"]), axis=1)))
        object.__setattr__(self, "_w_zc", np.ascontiguousarray(
            np.concatenate([a["w_z"], a["w_c"]], axis=1)))

    def run(self, feats, left, right, charge: int, sites: bool = True,
            every_step: bool = True):
        """Corrections ``[steps, n]`` and cleavage logits ``[steps, n, S]``
        (None without ``sites``) of ``n`` candidates
        (:func:`peak_once_sites` output): the mean of the ensemble's
        members (the leading axis of the weights). Without
        ``every_step`` only the last step's (``[1, n]``)."""
        a = self.arrays
        x, mask = site_inputs(feats, left, right, charge, a["mean"],
                              a["scale"])
        n, s = mask.shape
        k, _, hidden = a["w_in"].shape
        m = mask.reshape(1, n * s, 1).astype(np.float32)
        h = x.reshape(n * s, -1) @ self._w_in  # [n s, k h]
        h = np.maximum(h.reshape(n * s, k, hidden).transpose(1, 0, 2)
                       + a["b_in"][:, None], 0.0) * m  # [k, n s, h]
        base = h @ a["w_h"] + a["b_z"][:, None]
        w_out = a["w_out"][:, :, None] / k
        w_site = a["w_site"][:, :, None] / k
        both = np.zeros((k, n, s, 2 * hidden), np.float32)  # [z, ctx]
        corrections, logits = [], []
        z = None
        for step in range(self.steps):
            if z is None:  # the first step starts from z = 0
                z = np.tanh(base) * m
            else:
                grid = z.reshape(k, n, s, hidden)
                both[..., :hidden] = grid
                ctx = both[..., hidden:]  # neighbours in a peptide
                ctx[:] = 0.0
                ctx[:, :, 1:] += grid[:, :, :-1]
                ctx[:, :, :-1] += grid[:, :, 1:]
                z = np.tanh(base + both.reshape(k, n * s, 2 * hidden)
                            @ self._w_zc) * m
            if every_step or step == self.steps - 1:
                corrections.append((z @ w_out).sum(axis=0).reshape(n, s)
                                   .sum(axis=1))
                if sites:
                    logits.append((z @ w_site).sum(axis=0).reshape(n, s)
                                  + float(a["b_site"].mean()))
        return np.stack(corrections), np.stack(logits) if sites else None

    def scores(self, rank_scores, feats, left, right, charge: int):
        """Verified scores of candidates with these rank scores."""
        corrections, _ = self.run(feats, left, right, charge, sites=False,
                                  every_step=False)
        return self.rank_scale * np.asarray(rank_scores) + corrections[-1]
