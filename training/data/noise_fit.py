"""Fitting the noise model (:mod:`.noise_model`) to real spectra.

A direct fit of the annotated real spectra, then calibrated by simulating
them with the realistic simulator; ``python -m denovo_training.data.fit_noise``
runs it and writes ``denovo/configs/noise_model.json``.
"""

from __future__ import annotations

import json
import logging

import numpy as np

from denovo.core.fragments import (ION_B, ION_Y, LOSS_H2O, LOSS_NAMES,
                                   LOSS_NH3)

from .annotate import (A_ION, IMMONIUM, INTERNAL, LOSS, NOISE, PRECURSOR,
                       PRECURSOR_KINDS, AnnotationConfig, annotate)
from .derived_ions import charge_rates, immonium_fit, loss_spread
from .derived_ions import lognormal_fit as _lognormal
from .derived_ions import rate_fit as _rate
from .ms2pip_library import LibraryIntensity
from .realistic import RealisticSimulator
from .synthetic import SimulationConfig

__all__ = ["fit"]

log = logging.getLogger(__name__)

DETECTION_BINS = np.arange(-3.0, 0.01, 0.25)  # log10 predicted intensity
ISOTOPE_BINS = np.arange(-2.0, -0.01, 0.25)  # log10 parent / ref
NOISE_MZ_BINS = np.linspace(0.0, 1.5, 31)  # m/z / neutral precursor mass
# Fine enough that interpolating between the top ones does not smear a
# few strong peaks over a whole band.
QUANTILES = np.linspace(0.0, 1.0, 101)


def _fit_detection(anns, preds) -> tuple[dict, dict]:
    """Detection rate by predicted intensity, and the b/y scatter.

    Real intensities follow MS2PIP's only in part: within a spectrum,
    log10(observed) ~ ``slope`` * log10(predicted) + N(0, ``sigma``).
    ``slope`` < 1 means real b/y ladders are flatter than predicted. Both
    are biased by the 1% view threshold, so :func:`fit` calibrates them.
    """
    logp, seen, xs, ys = [], [], [], []
    for ann, pred in zip(anns, preds, strict=True):
        row = (ann.by_type == ION_Y).astype(int) + 2 * (ann.by_charge >= 2)
        p = np.maximum(pred[row, ann.by_index - 1], 1e-4)
        logp.append(np.log10(p))
        seen.append(ann.by_obs > 0)
        ok = ann.by_obs > 0
        if ok.sum() > 2:
            # Centred per spectrum: the spectrum's own scale cancels.
            x, y = np.log10(p[ok]), np.log10(ann.by_obs[ok])
            xs.append(x - x.mean())
            ys.append(y - y.mean())
    logp, seen = np.concatenate(logp), np.concatenate(seen)
    which = np.clip(np.digitize(logp, DETECTION_BINS) - 1, 0,
                    len(DETECTION_BINS) - 1)
    p_obs = [float(seen[which == b].mean()) if (which == b).any() else 0.0
             for b in range(len(DETECTION_BINS))]
    detection = {"log10_pred": DETECTION_BINS.tolist(), "p": p_obs}
    x, y = np.concatenate(xs), np.concatenate(ys)
    slope = float((x * y).sum() / max((x * x).sum(), 1e-12))
    return detection, {"mu": 0.0, "slope": slope,
                       "sigma": float((y - slope * x).std()),
                       "n": int(len(x))}


def fit(spectra, predict_by, *,
        config: AnnotationConfig | None = None,
        rounds: int = 5, seed: int = 0, copies: int = 4) -> dict:
    """Fit every parameter from labelled real spectra.

    A direct fit is biased: a peak below the 1% view threshold is
    invisible, and the simulator applies that threshold again. So the
    direct estimates are then calibrated by simulation (method of
    moments): ``rounds`` times, the real peptides are simulated at their
    real charges, the same statistics are fitted to the simulated
    spectra, and each rate is scaled (each log-mean shifted) by how far
    the simulated estimate is from the real one. Each peptide is
    simulated ``copies`` times: less Monte Carlo noise in the estimates,
    so the fitted parameters move less with the seed.

    Parameters
    ----------
    spectra
        ``Spectrum`` records with ``peptide`` and ``charge``.
    predict_by
        ``(peptides, charges) -> list of [4, n - 1]`` b/y predictions
        scaled to max 1 (:func:`denovo_training.data.ms2pip_library.predict`).
    """
    config = config or AnnotationConfig()
    anns = [annotate(s.mz, s.intensity, s.peptide, s.charge, config=config)
            for s in spectra]
    keep = [i for i, a in enumerate(anns) if a.by_ref > 0]
    anns = [anns[i] for i in keep]
    peptides = [spectra[i].peptide for i in keep]
    charges = np.array([spectra[i].charge for i in keep])
    preds = predict_by(peptides, charges)
    target = _direct_fit(anns, preds, config)
    params = json.loads(json.dumps(target))
    rng = np.random.default_rng(seed)
    sim_config = SimulationConfig(min_length=1, max_length=100)
    peps, zs = peptides * copies, np.tile(charges, copies)
    sim_preds = preds * copies
    for r in range(rounds):
        sim = RealisticSimulator(None, intensity=_Fixed(sim_preds),
                                 params=params)
        batch = sim.spectra(rng, peps, zs, sim_config)
        sim_anns = [annotate(*batch.spectrum(i), peps[i], zs[i],
                             config=config) for i in range(len(batch))]
        ok = [i for i, a in enumerate(sim_anns) if a.by_ref > 0]
        got = _direct_fit([sim_anns[i] for i in ok],
                          [sim_preds[i] for i in ok], config)
        _adjust(params, target, got)
        log.info("calibration round %d done", r + 1)
    return params


class _Fixed:
    """Intensity model returning given b/y predictions, in batch order."""

    def __init__(self, preds):
        self.preds = preds

    def predict(self, ions, rng, config) -> np.ndarray:
        model = LibraryIntensity(None, live=False)
        model.lookup = lambda peptides, charges: list(self.preds)
        return model.predict(ions, rng, config)


def _adjust(params: dict, target: dict, got: dict) -> None:
    """Move ``params`` by the gap between ``target`` and ``got``."""
    for key, want in target.items():
        have, cur = got.get(key), params.get(key)
        if key == "shared_level":
            # Variance adds: move it by the gap in seen covariance.
            var = cur["sigma"] ** 2 + want["cov"] - have["cov"]
            cur["sigma"] = float(np.sqrt(max(var, 0.0)))
        elif key.endswith("_spread"):
            # Extra variance of the rate ~ (p (1 - p) sigma)^2.
            var = cur["sigma"] ** 2 + (want["var"] - have["var"]) / (
                want["scale"] ** 2)
            cur["sigma"] = float(np.sqrt(max(var, 0.0)))
        elif key == "log_count":
            cur["intercept"] += want["mean"] - have["mean"]
        elif key == "slope" and have > 0:
            # The view threshold flattens the seen slope about in
            # proportion.
            params[key] = cur * want / have
        elif key == "p" and isinstance(want, dict):
            # Rates per residue (immonium ions): each like one rate. L
            # and I share an m/z, so one peptide's two draws both count.
            for r, w in want.items():
                h = have.get(r, 0.0) if isinstance(have, dict) else 0.0
                if h > 0 and r in cur:
                    cur[r] = float(np.clip(cur[r] * w / h, 0, 1))
        elif isinstance(want, dict) and isinstance(have, dict):
            _adjust(cur, want, have)
        elif key == "p" and isinstance(want, list):
            params[key] = [float(np.clip(c * w / h, 0, 1)) if h > 0 else c
                           for c, w, h in zip(cur, want, have,
                                              strict=True)]
        elif key == "p" and isinstance(want, float) and have > 0:
            params[key] = float(np.clip(cur * want / have, 0, 1))
        elif key == "mu" and isinstance(want, float):
            params[key] = cur + want - have
        elif key == "sigma" and "mu" in target and have > 0:
            # The view threshold cuts the low tail, narrowing the seen
            # spread; match it like the mean.
            params[key] = cur * want / have


def _direct_fit(anns, preds, config: AnnotationConfig) -> dict:
    detection, scatter = _fit_detection(anns, preds)
    cat = np.concatenate

    def rel(get):
        return cat([get(a) / a.by_ref for a in anns])

    # Isotope M+1 / parent grows with the fragment mass (averagine);
    # strong parents only, so the 1% view threshold does not bias it.
    par = rel(lambda a: a.by_obs)
    iso = rel(lambda a: a.iso_obs)
    mass = cat([a.by_mass for a in anns])
    strong = (par >= 0.2) & (iso > 0)
    iso_fit = _lognormal(iso[strong] / par[strong] / mass[strong])
    # Many are missing (deisotoped or unresolved): M+1 seen per b/y seen,
    # overall and by the parent's level (weak parents lose theirs more).
    seen = par > 0
    iso_fit["p"] = float((iso[seen] > 0).mean())
    which = np.clip(np.digitize(np.log10(par[seen]), ISOTOPE_BINS) - 1, 0,
                    len(ISOTOPE_BINS) - 1)
    hit = iso[seen] > 0
    iso_fit["by_parent"] = {
        "log10_parent": ISOTOPE_BINS.tolist(),
        "p": [float(hit[which == b].mean()) if (which == b).any() else 0.0
              for b in range(len(ISOTOPE_BINS))]}
    a_idx = cat([a.a_index for a in anns])
    a_obs, a_par = rel(lambda a: a.a_obs), rel(lambda a: a.a_parent)
    other = a_idx > 2  # a1 is the first immonium ion, fitted there
    a_z = cat([np.full(len(a.a_obs), a.charge) for a in anns])
    a_ions = {name: _rate(a_obs[sel], a_par[sel], a_z[sel])
              for name, sel in (("a2", a_idx == 2), ("other", other))}
    l_type, l_code = cat([a.loss_type for a in anns]), cat(
        [a.loss_code for a in anns])
    l_obs, l_par = rel(lambda a: a.loss_obs), rel(lambda a: a.loss_parent)
    prone = cat([a.loss_prone for a in anns])
    l_z = cat([np.full(len(a.loss_obs), a.charge) for a in anns])
    losses = {}
    for series, sname in ((ION_B, "b"), (ION_Y, "y")):
        for code in (LOSS_H2O, LOSS_NH3):
            sel = (l_type == series) & (l_code == code)
            fit = _rate(l_obs[sel], l_par[sel], l_z[sel])
            # Rates by whether the parent holds a residue that loses it.
            fit["by_prone"] = {
                name: {"p": r["p"], "orphan": {"p": r["orphan"]["p"]}}
                for name, r in (("prone", _rate(l_obs[sel & prone],
                                                l_par[sel & prone])),
                                ("other", _rate(l_obs[sel & ~prone],
                                                l_par[sel & ~prone])))}
            losses[f"{sname}-{LOSS_NAMES[code]}"] = fit
    # The first residue's immonium ion is the a1 ion (left out of the a
    # ions): much stronger than the others, so fitted on its own.
    immonium = immonium_fit(
        cat([a.immonium_residue for a in anns]),
        rel(lambda a: a.immonium_obs),
        cat([np.arange(len(a.immonium_obs)) == 0 for a in anns]),
        cat([np.full(len(a.immonium_obs), a.charge) for a in anns]))
    # Precursor and internal peaks: rates by precursor charge too (3+
    # spectra show fewer, like a ions and immonium ions).
    pre = np.stack([a.precursor_obs / a.by_ref for a in anns])
    z = np.array([a.charge for a in anns])
    precursor = {}
    for k, kind in enumerate(PRECURSOR_KINDS):
        ok = np.isfinite(pre[:, k])
        col = pre[:, k][ok]
        precursor[kind] = _lognormal(col[col > 0])
        precursor[kind]["p"] = float((col > 0).mean()) if len(col) else 0.0
        if len(col):
            precursor[kind]["by_charge"] = charge_rates(col > 0, z[ok])
    internal = rel(lambda a: a.internal_obs)
    internal_fit = _lognormal(internal[internal > 0])
    internal_fit["p"] = float((internal > 0).mean())
    internal_fit["by_charge"] = charge_rates(internal > 0, cat(
        [np.full(len(a.internal_obs), a.charge) for a in anns]))
    # Unexplained peaks: how many, where, how intense.
    counts = np.array([(a.klass == NOISE).sum() for a in anns], float)
    x = np.log10([a.precursor_mass for a in anns])
    design = np.stack([np.ones_like(x), x], axis=1)
    y = np.log(counts + 1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    # In the unit FittedNoise draws them in: the base peak where an
    # unexplained peak is the base (drawn first, so left out here), the
    # top b/y ion elsewhere.
    noise_base = np.array([a.klass[np.argmax(a.intensity)] == NOISE
                           for a in anns])
    noise_rel = cat([_noise_levels(a, nb)
                     for a, nb in zip(anns, noise_base, strict=True)])
    ref_base = np.array([a.by_ref for a in anns])[noise_base]
    pos = cat([a.mz[a.klass == NOISE] / a.precursor_mass for a in anns])
    hist, _ = np.histogram(pos, bins=NOISE_MZ_BINS)
    noise = {
        "log_count": {"intercept": float(coef[0]),
                      "slope_log10_mass": float(coef[1]),
                      "sigma": float(resid.std()),
                      "mean": float(y.mean())},
        "mz_bins": NOISE_MZ_BINS.tolist(),
        "mz_weights": (hist / hist.sum()).tolist(),
        "log10_base_quantiles": np.quantile(np.log10(noise_rel),
                                            QUANTILES).tolist(),
        "base": {"p": float(noise_base.mean()),
                 "log10_ref_quantiles": np.quantile(
                     np.log10(ref_base), QUANTILES).tolist()},
    }
    return {
        "format": 1,
        "n_spectra": len(anns),
        "annotation": {"tol_da": config.tol_da,
                       "min_ratio": config.min_ratio,
                       "max_peaks": config.max_peaks,
                       "max_internal": config.max_internal},
        "detection": detection, "by_scatter": scatter,
        "isotope_per_da": iso_fit, "a_ions": a_ions, "losses": losses,
        "immonium": immonium, "precursor": precursor,
        "internal": internal_fit, "noise": noise,
        "shared_level": _shared_level(anns),
        "loss_spread": loss_spread([(a.loss_obs, a.loss_parent)
                                    for a in anns]),
        # Spectra differ in how many internal fragments they show, as in
        # losses: the same per-spectrum spread.
        "internal_spread": loss_spread([
            (a.internal_obs, np.ones(len(a.internal_obs))) for a in anns]),
        "noise_median_count": float(np.median(counts)),
    }


def _shared_level(anns) -> dict:
    """How much the peaks not tied to the b/y ladder move together.

    Per spectrum, the mean log10(intensity / ref) of each such class; the
    covariance between two classes, averaged over class pairs, is the
    variance of a level they share (independent draws do not covary).
    Before calibration ``sigma`` is its square root.
    """
    classes = (A_ION, LOSS, IMMONIUM, PRECURSOR, INTERNAL, NOISE)
    means = np.full((len(anns), len(classes)), np.nan)
    for i, a in enumerate(anns):
        for j, c in enumerate(classes):
            v = a.intensity[a.klass == c]
            if len(v):
                means[i, j] = np.log10(v / a.by_ref).mean()
    covs = []
    for j in range(len(classes)):
        for k in range(j + 1, len(classes)):
            ok = np.isfinite(means[:, j]) & np.isfinite(means[:, k])
            if ok.sum() > 2:
                covs.append(np.cov(means[ok, j], means[ok, k])[0, 1])
    cov = float(np.mean(covs)) if covs else 0.0
    return {"cov": cov, "sigma": float(np.sqrt(max(cov, 0.0)))}


def _noise_levels(ann, noisy_base: bool) -> np.ndarray:
    sel = ann.klass == NOISE
    if noisy_base:
        sel[np.argmax(ann.intensity)] = False
    return ann.intensity[sel]
