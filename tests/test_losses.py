"""Tests for denovo_training.losses: oracles from pyteomics and plain NumPy."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyteomics import mass as pmass  # noqa: E402

from denovo.core.constants import H2O, PROTON  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB  # noqa: E402
from denovo.core.vocab import END, PAD  # noqa: E402
from denovo_training.config import LossConfig  # noqa: E402
from denovo_training.losses import (  # noqa: E402
    compute_losses,
    deep_supervision_loss,
    fragment_ladder,
    precursor_mass_loss,
    spectrum_loss,
    step_weights,
)

MAX_LEN = 20
RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def _peptide(rng, low=7, high=15):
    return tuple(rng.choice(list(RESIDUES), rng.integers(low, high)))


def _by_ions(tokens):
    """Singly charged b and y m/z of a peptide: plain NumPy on vocab."""
    m = np.array([VOCAB.masses[VOCAB.index(t)] for t in tokens])
    prefix = np.cumsum(m)[:-1]
    if tokens[0].endswith("-"):  # N-terminal mod: no b ion of the mod
        prefix = prefix[1:]
    total = m.sum() + H2O
    return prefix + PROTON, total - prefix + PROTON, total


def _spectra(rng, peptides, n_noise=5, pad_to=40):
    """Padded synthetic batch: b/y ions of each peptide plus noise."""
    b = len(peptides)
    mz = np.zeros((b, pad_to), np.float32)
    inten = np.zeros((b, pad_to), np.float32)
    mask = np.zeros((b, pad_to), bool)
    prec = np.zeros(b, np.float32)
    for i, pep in enumerate(peptides):
        b_ions, y_ions, total = _by_ions(pep)
        peaks = np.concatenate([b_ions, y_ions,
                                rng.uniform(100, total, n_noise)])
        n = len(peaks)
        mz[i, :n] = peaks
        inten[i, :n] = rng.uniform(0.2, 1.0, n)
        inten[i, n - n_noise:n] *= 0.3  # noise weaker than fragments
        mask[i, :n] = True
        prec[i] = total
    charge = np.full(b, 2, np.int64)
    return {k: torch.from_numpy(v) for k, v in dict(
        mz=mz, intensity=inten, mask=mask, precursor_mass=prec,
        charge=charge).items()}


def _peaked(peptides, gap=12.0):
    """Log-probs (B, L, V) sharply peaked on each peptide (+ end, pad)."""
    targets = np.stack([VOCAB.encode(p, MAX_LEN) for p in peptides])
    logits = torch.zeros(len(peptides), MAX_LEN + 1, len(VOCAB))
    logits.scatter_(-1, torch.from_numpy(targets).long()[..., None], gap)
    return logits.log_softmax(-1), torch.from_numpy(targets)


def test_step_weights():
    for kind in ("uniform", "linear", "last"):
        w = step_weights(4, kind)
        assert w.shape == (4,) and torch.isclose(w.sum(), torch.tensor(1.))
    assert torch.equal(step_weights(3, "last"), torch.tensor([0., 0., 1.]))
    assert step_weights(4, "linear")[3] > step_weights(4, "linear")[0]
    with pytest.raises(ValueError):
        step_weights(3, "cosine")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_deep_supervision_matches_torch_cross_entropy(smoothing):
    g = torch.Generator().manual_seed(0)
    logp = torch.randn(3, 4, 9, 30, generator=g).log_softmax(-1)
    targets = torch.randint(0, 30, (4, 9), generator=g)
    w = torch.tensor([0.2, 0.3, 0.5])
    total, per_step = deep_supervision_loss(logp, targets, weights=w,
                                            label_smoothing=smoothing)
    ref = torch.stack([torch.nn.functional.cross_entropy(
        logp[t].reshape(-1, 30), targets.reshape(-1),
        label_smoothing=smoothing) for t in range(3)])
    torch.testing.assert_close(per_step, ref)
    torch.testing.assert_close(total, (w * ref).sum())


def test_synthetic_precursor_matches_pyteomics():
    rng = np.random.default_rng(1)
    pep = _peptide(rng)
    _, _, total = _by_ions(pep)
    assert total == pytest.approx(pmass.calculate_mass(
        sequence="".join(pep)), abs=1e-6)


def test_ladder_matches_pyteomics_b_and_y():
    rng = np.random.default_rng(2)
    pep = _peptide(rng)
    seq = "".join(pep)
    batch = _spectra(rng, [pep])
    logp, _ = _peaked([pep], gap=30.0)
    ions, w = fragment_ladder(logp, batch["precursor_mass"],
                              batch["charge"], max_fragment_charge=1)
    n = len(pep)
    b_ref = [pmass.fast_mass(seq[:k], ion_type="b", charge=1)
             for k in range(1, n)]
    y_ref = [pmass.fast_mass(seq[k:], ion_type="y", charge=1)
             for k in range(1, n)]
    half = ions.shape[1] // 2
    live = w[0, :half] > 0.5
    assert int(live.sum()) == n - 1
    np.testing.assert_allclose(ions[0, :half][live].numpy(), b_ref,
                               atol=2e-3)
    np.testing.assert_allclose(ions[0, half:][live].numpy(), y_ref,
                               atol=2e-3)
    assert float(w[0, :half][~live].max()) < 1e-3


def test_ladder_skips_n_terminal_modification():
    pep = ("[UNIMOD:1]-", "P", "E", "P", "T", "I", "D", "E")
    batch = _spectra(np.random.default_rng(3), [pep])
    logp, _ = _peaked([pep], gap=30.0)
    ions, w = fragment_ladder(logp, batch["precursor_mass"],
                              batch["charge"], max_fragment_charge=1)
    half = ions.shape[1] // 2
    live = w[0, :half] > 0.5
    acetyl = VOCAB.masses[VOCAB.index("[UNIMOD:1]-")]
    b_ref = [pmass.fast_mass("PEPTIDE"[:k], ion_type="b", charge=1)
             + acetyl for k in range(1, 7)]
    np.testing.assert_allclose(ions[0, :half][live].numpy(), b_ref,
                               atol=2e-3)


def test_doubly_charged_fragments_only_for_higher_charges():
    pep = tuple("PEPTIDEK")
    batch = _spectra(np.random.default_rng(4), [pep, pep])
    batch["charge"] = torch.tensor([2, 3])
    logp, _ = _peaked([pep, pep], gap=30.0)
    ions, w = fragment_ladder(logp, batch["precursor_mass"],
                              batch["charge"], max_fragment_charge=2)
    quarter = ions.shape[1] // 4  # b1, y1, b2, y2 blocks
    assert float(w[0, 2 * quarter:].max()) == 0.0
    assert float(w[1, 2 * quarter:].max()) > 0.5
    b1 = ions[1, :quarter]
    np.testing.assert_allclose(ions[1, 2 * quarter:3 * quarter].numpy(),
                               ((b1 - PROTON + 2 * PROTON) / 2).numpy(),
                               rtol=1e-6)


def _candidates(rng, n=6):
    """True peptides, shuffled versions and random peptides."""
    true = [_peptide(rng) for _ in range(n)]
    shuffled = []
    for p in true:
        q = list(p)
        while tuple(q) == p:
            rng.shuffle(q)
        shuffled.append(tuple(q))
    random = [_peptide(rng) for _ in range(n)]
    return true, shuffled, random


def test_spectrum_loss_ranks_true_sequence_first():
    rng = np.random.default_rng(5)
    true, shuffled, random = _candidates(rng)
    batch = _spectra(rng, true)
    for gap in (12.0, 20.0):
        losses = {}
        for name, peps in (("true", true), ("shuffled", shuffled),
                           ("random", random)):
            logp, _ = _peaked(peps, gap=gap)
            losses[name] = spectrum_loss(logp, **batch, reduction="none")
        assert torch.all(losses["true"] < losses["shuffled"])
        assert torch.all(losses["true"] < losses["random"])
    # Off-peak probability shifts expected masses (~0.02 Da per slot at
    # gap 12); once confident, the truth explains all fragment intensity.
    assert float(losses["true"].max()) < 0.2


def test_mass_loss_ranks_true_sequence_first():
    rng = np.random.default_rng(6)
    true, shuffled, random = _candidates(rng)
    batch = _spectra(rng, true)
    prec = batch["precursor_mass"]

    def loss(peps):
        logp, _ = _peaked(peps)
        return torch.stack([precursor_mass_loss(logp[i:i + 1], prec[i:i + 1])
                            for i in range(len(peps))])

    lt, ls, lr = loss(true), loss(shuffled), loss(random)
    assert float(lt.max()) < 0.05
    assert torch.all(lt < lr)
    # A permutation has the same mass: the mass loss cannot tell them.
    torch.testing.assert_close(lt, ls, atol=1e-3, rtol=0)


def test_gradients_finite_and_nonzero_at_large_errors():
    rng = np.random.default_rng(7)
    true = [_peptide(rng, 8, 9) for _ in range(3)]
    batch = _spectra(rng, true, n_noise=0)
    batch["precursor_mass"] = batch["precursor_mass"] + 600.0  # far off
    wrong = [tuple("G" * 14) for _ in range(3)]
    logp, _ = _peaked(wrong, gap=8.0)
    logits = logp.detach().clone().requires_grad_(True)
    for fn in (lambda lp: precursor_mass_loss(lp, batch["precursor_mass"]),
               lambda lp: spectrum_loss(lp, **batch)):
        (grad,) = torch.autograd.grad(fn(logits.log_softmax(-1)), logits)
        assert torch.isfinite(grad).all()
        assert float(grad.abs().sum()) > 1e-6
        assert float(grad.abs().max()) < 1e3


def test_spectrum_loss_gradient_alive_far_from_any_peak():
    pep = tuple("PEPTIDEK")
    batch = _spectra(np.random.default_rng(8), [pep], n_noise=0)
    batch["mz"] = batch["mz"] + 300.0  # every ion > 100 sigma away
    logp, _ = _peaked([pep], gap=8.0)
    logits = logp.clone().requires_grad_(True)
    loss = spectrum_loss(logits.log_softmax(-1), **batch)
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 1e-6


def test_tempered_gradient_keeps_value_and_direction():
    rng = np.random.default_rng(11)
    peps = [_peptide(rng) for _ in range(2)]
    batch = _spectra(rng, peps)
    logp, _ = _peaked(peps, gap=6.0)
    grads, values = [], []
    for scale in (1.0, 0.1):
        logits = logp.clone().requires_grad_(True)
        loss = spectrum_loss(logits.log_softmax(-1), **batch,
                             narrow_grad_scale=scale)
        values.append(loss.detach())
        grads.append(torch.autograd.grad(loss, logits)[0])
    torch.testing.assert_close(values[0], values[1])
    assert float(grads[1].norm()) < float(grads[0].norm())
    assert torch.isfinite(grads[1]).all() and float(grads[1].norm()) > 0


def test_spectrum_loss_ignores_padding_peaks():
    rng = np.random.default_rng(9)
    peps = [_peptide(rng) for _ in range(3)]
    batch = _spectra(rng, peps, pad_to=40)
    logp, _ = _peaked(peps, gap=4.0)
    base = spectrum_loss(logp, **batch, reduction="none")
    padded = dict(batch)
    extra = 25
    padded["mz"] = torch.cat([batch["mz"], torch.from_numpy(
        rng.uniform(100, 1500, (3, extra)).astype(np.float32))], 1)
    padded["intensity"] = torch.cat([batch["intensity"],
                                     torch.ones(3, extra)], 1)
    padded["mask"] = torch.cat([batch["mask"],
                                torch.zeros(3, extra, dtype=bool)], 1)
    torch.testing.assert_close(
        spectrum_loss(logp, **padded, reduction="none"), base)


def test_compute_losses_weights_and_switches():
    rng = np.random.default_rng(10)
    peps = [_peptide(rng) for _ in range(4)]
    batch = _spectra(rng, peps)
    logp, targets = _peaked(peps, gap=3.0)
    steps = torch.stack([logp, logp.roll(1, dims=-1), logp])
    off = compute_losses(steps, targets, **batch, cfg=LossConfig())
    assert set(off) == {"loss", "ce", "ce_step"}
    cfg = LossConfig(ce_weight=0.5, mass_weight=0.2, spectrum_weight=2.0,
                     aux_steps="all", step_weighting="linear")
    out = compute_losses(steps, targets, **batch, cfg=cfg)
    assert out["ce_step"].shape == (3,)
    expected = 0.5 * out["ce"] + 0.2 * out["mass"] + 2.0 * out["spectrum"]
    torch.testing.assert_close(out["loss"], expected)
    w = step_weights(3, "linear")
    spec = sum(w[t] * spectrum_loss(steps[t], **batch) for t in range(3))
    torch.testing.assert_close(out["spectrum"], spec)
    only_aux = LossConfig(ce_weight=0.0, mass_weight=1.0)
    res = compute_losses(steps, None, **batch, cfg=only_aux)
    assert set(res) == {"loss", "mass"}
    with pytest.raises(ValueError, match="targets"):
        compute_losses(steps, None, **batch, cfg=LossConfig())


def test_pad_and_end_carry_no_mass():
    logp = torch.full((1, 3, len(VOCAB)), -1e4)
    logp[0, 0, PAD] = 0.0
    logp[0, 1, END] = 0.0
    logp[0, 2, PAD] = 0.0
    loss = precursor_mass_loss(logp, torch.tensor([H2O]))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
