"""Fitted rates of ions that derive from a parent ion or a residue.

Kept apart from :mod:`.noise_fit` (which fits everything) and shared
with :mod:`.annotate` and :mod:`.realistic`, so the fit and the simulator
ask the same questions of a fragment. What real HCD spectra show:

* neutral losses depend on what the fragment holds: water leaves the side
  chains of S, T, E and D, ammonia those of K, R, Q and N (b ions holding
  one lose about four times as often as b ions that do not);
* how prone a spectrum is to losses varies from spectrum to spectrum
  (instrument, collision energy) more than one fixed rate allows, which
  skews the number of loss peaks per spectrum;
* immonium ions differ in level by residue (L/I, P and V strong, K, D and
  N weak), so a peptide's composition sets its immonium share, and they
  are seen about half as often in 3+ spectra as in 2+ ones (a ions
  too: higher charge states spread their intensity over more ions).
"""

from __future__ import annotations

import numpy as np

from denovo.core.fragments import LOSS_H2O, LOSS_NH3

__all__ = ["LOSS_PRONE", "lognormal_fit", "rate_fit", "prone_parent",
           "loss_spread", "immonium_fit", "logit_shift", "charge_rates",
           "charge_factor"]

# Residues whose side chain loses the neutral (one-letter codes).
LOSS_PRONE = {LOSS_H2O: "STED", LOSS_NH3: "KRQN"}
SPREAD_MIN = 5  # loss candidates with a parent for a per-spectrum rate
SHRINK = 5.0  # pseudo-peaks pulling a rare residue's offset towards 0


def lognormal_fit(values) -> dict:
    v = np.log10(np.asarray(values, np.float64))
    v = v[np.isfinite(v)]
    if len(v) < 3:
        return {"mu": -2.0, "sigma": 0.5, "n": int(len(v))}
    return {"mu": float(np.mean(v)), "sigma": float(np.std(v)),
            "n": int(len(v))}


def rate_fit(obs, parent, charge=None) -> dict:
    """P(observed | parent observed) and how intense, given the parent.

    ``obs`` and ``parent`` are relative to the spectrum's top b/y ion.
    log10(obs) ~ ``slope`` * log10(parent) + N(``mu``, ``sigma``): real
    losses grow less than in proportion to their parent (slope < 1).
    With the precursor ``charge`` of each, the rate by charge too.
    """
    obs, parent = np.asarray(obs), np.asarray(parent)
    base = parent > 0
    both = base & (obs > 0)
    out = lognormal_fit(obs[both] / parent[both])
    out["slope"] = 1.0
    x, y = np.log10(parent[both]), np.log10(obs[both])
    if len(x) >= 3 and x.std() > 0:
        out["slope"] = float(np.cov(x, y, bias=True)[0, 1] / x.var())
        out["mu"] = float(y.mean() - out["slope"] * x.mean())
        out["sigma"] = float((y - out["slope"] * x - out["mu"]).std())
    out["p"] = float(both.sum() / max(base.sum(), 1))
    # Seen although the parent is not (e.g. a2 without b2), vs the ref.
    orphan = ~base & (obs > 0)
    out["orphan"] = lognormal_fit(obs[orphan])
    out["orphan"]["p"] = float(orphan.sum() / max((~base).sum(), 1))
    if charge is not None:
        out["by_charge"] = charge_rates(both[base], np.asarray(charge)[base])
    return out


def prone_parent(residues, spec, is_y, cleavage, code) -> np.ndarray:
    """Does each fragment hold a residue prone to its loss ``code``?

    ``residues``: one string of one-letter codes per peptide; per
    fragment: its peptide ``spec``, whether it is a y ion and
    ``cleavage``, the number of residues N-terminal of its bond.
    """
    spec, cleavage = np.asarray(spec), np.asarray(cleavage)
    out = np.zeros(len(spec), bool)
    for c, prone in LOSS_PRONE.items():
        # cum[k]: prone residues among the first k of the peptide.
        cums = [np.concatenate([[0], np.cumsum([r in prone for r in s])])
                for s in residues]
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in cums])])
        flat = np.concatenate(cums) if cums else np.zeros(1)
        total = flat[offsets[1:] - 1]
        sel = np.asarray(code) == c
        k = np.clip(cleavage[sel], 0, offsets[1:][spec[sel]]
                    - offsets[spec[sel]] - 1)
        before = flat[offsets[spec[sel]] + k]
        held = np.where(np.asarray(is_y)[sel], total[spec[sel]] - before,
                        before)
        out[sel] = held > 0
    return out


def loss_spread(rows) -> dict:
    """How much the loss rate varies between spectra, beyond chance.

    ``rows``: per spectrum, ``(observed, parent)`` of its loss
    candidates. The variance of the per-spectrum rate (candidates with a
    parent) less its binomial part, on the logit scale, is the variance
    of a per-spectrum shift of every loss's log-odds (``sigma``); the
    simulation calibrates it by the gap in ``var``.
    """
    rates, sizes = [], []
    for obs, parent in rows:
        base = parent > 0
        if base.sum() >= SPREAD_MIN:
            rates.append(float((obs[base] > 0).mean()))
            sizes.append(int(base.sum()))
    if len(rates) < 3:
        return {"var": 0.0, "scale": 0.25, "sigma": 0.0}
    rates, sizes = np.array(rates), np.array(sizes)
    p = rates.mean()
    scale = max(p * (1 - p), 1e-3)
    extra = rates.var() - np.mean(scale / sizes)
    return {"var": float(rates.var()), "scale": float(scale),
            "sigma": float(np.sqrt(max(extra, 0.0)) / scale)}


def logit_shift(p: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Probabilities ``p`` with their log-odds moved by ``shift``."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return 1.0 / (1.0 + (1.0 - p) / p * np.exp(-shift))


def charge_rates(hit, charge) -> dict:
    """The rate of ``hit`` overall (``all``) and per precursor charge."""
    hit, charge = np.asarray(hit, bool), np.asarray(charge)
    out = {"all": {"p": float(hit.mean()) if len(hit) else 0.0}}
    for z in np.unique(charge).tolist():
        out[str(z)] = {"p": float(hit[charge == z].mean())}
    return out


def charge_factor(rates: dict | None, charge) -> np.ndarray:
    """How much more often than overall, at each precursor charge.

    ``rates`` from :func:`charge_rates`; a charge it lacks, or no
    ``rates`` at all (older files), gives 1.
    """
    charge = np.asarray(charge)
    if not rates or rates["all"]["p"] <= 0:
        return np.ones(len(charge))
    out = np.ones(len(charge))
    for z in np.unique(charge).tolist():
        out[charge == z] = (rates.get(str(z), rates["all"])["p"]
                            / rates["all"]["p"])
    return out


def immonium_fit(res, level, is_first, charge) -> dict:
    """Immonium rates and levels: the first residue's and the others'.

    The first residue's immonium ion is the a1 ion, much stronger than
    the rest, so each group has its own rates and log-normal level; a
    residue's own ``offset`` (log10, shrunk towards 0 when rarely seen)
    moves the level of both; ``by_charge`` scales every rate.
    """
    res, level = np.asarray(res), np.asarray(level, np.float64)
    seen = level > 0
    logv = np.log10(np.where(seen, level, 1.0))
    groups = (("first", is_first), ("pooled", ~is_first))
    dev = np.zeros(len(level))
    for _, sel in groups:
        m = sel & seen
        if m.any():
            dev[m] = logv[m] - logv[m].mean()
    offset = {}
    for r in sorted(set(res[seen].tolist())):
        m = seen & (res == r)
        offset[r] = {"mu": float(dev[m].sum() / (m.sum() + SHRINK)),
                     "n": int(m.sum())}
    shift = np.array([offset[r]["mu"] if r in offset else 0.0
                      for r in res.tolist()])
    out = {}
    for name, sel in groups:
        m = sel & seen
        fit = lognormal_fit(level[m] / 10.0 ** shift[m])
        fit["p"] = {r: float(seen[sel & (res == r)].mean())
                    for r in sorted(set(res[sel].tolist()))}
        out[name] = fit
    # Rates of the other residues, where older files kept them.
    out["p"] = out["pooled"].pop("p")
    out["offset"] = offset
    out["by_charge"] = charge_rates(seen, charge)
    return out
