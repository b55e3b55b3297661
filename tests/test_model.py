"""Tests for denovo_training.model and denovo_training.config."""

import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from denovo.core.constants import H2O, PROTON  # noqa: E402
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB  # noqa: E402
from denovo.core.vocab import END  # noqa: E402
from denovo.core.config import (  # noqa: E402
    ConfigError,
    from_dict,
    load_yaml,
    to_dict,
)
from denovo_training.config import (  # noqa: E402
    MODEL_PRESETS,
    LossConfig,
    ModelConfig,
    model_preset,
)
from denovo_training.losses import compute_losses  # noqa: E402
from denovo_training.checkpoint import (  # noqa: E402
    checkpoint_dict,
    load_model_from_checkpoint,
)
from denovo_training.model import (  # noqa: E402
    TRM,
    ExportWrapper,
    implied_ions,
    sinusoid_features,
)

SMALL = ModelConfig(max_length=12, dim=32, heads=4, ff_mult=2,
                    encoder_layers=1, core_layers=1, steps=2, cycles=2,
                    latent_updates=2, mz_frequencies=16)
FEEDBACK = dataclasses.replace(SMALL, mass_feedback=True)
BOTH = pytest.mark.parametrize("cfg", [SMALL, FEEDBACK],
                               ids=["plain", "mass_feedback"])


def _batch(b=3, p=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(b, p, generator=g) > 0.3
    mask[:, 0] = True
    return dict(
        mz=torch.rand(b, p, generator=g) * 1500 + 100,
        intensity=torch.rand(b, p, generator=g),
        mask=mask,
        precursor_mass=torch.rand(b, generator=g) * 2000 + 500,
        charge=torch.randint(1, 5, (b,), generator=g))


def _model(cfg=SMALL, seed=0):
    torch.manual_seed(seed)
    return TRM(cfg).eval()


@BOTH
def test_output_shapes_and_normalisation(cfg):
    model = _model(cfg)
    with torch.no_grad():
        out = model(**_batch())
    assert out.shape == (cfg.steps, 3, cfg.max_length + 1, len(VOCAB))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(out.shape[:-1]))
    with torch.no_grad():
        final = ExportWrapper(model)(**_batch())
        both = ExportWrapper(model, all_steps=True)(**_batch())
    torch.testing.assert_close(final, out[-1])
    torch.testing.assert_close(both[1], out)


def test_default_config_size_and_vocabulary():
    cfg = ModelConfig()
    assert cfg.vocab_size == len(VOCAB)
    assert cfg.max_length >= 32
    assert 1e6 <= TRM(cfg).n_parameters() <= 4e6
    assert model_preset("small") == cfg
    with pytest.raises(ConfigError, match="preset"):
        model_preset("huge")


@BOTH
def test_padding_peaks_do_not_change_outputs(cfg):
    model = _model(cfg)
    batch = _batch()
    extra = 13
    padded = dict(batch)
    padded["mz"] = torch.cat([batch["mz"], torch.rand(3, extra) * 3000], 1)
    padded["intensity"] = torch.cat([batch["intensity"],
                                     torch.rand(3, extra) * 5], 1)
    padded["mask"] = torch.cat([batch["mask"],
                                torch.zeros(3, extra, dtype=torch.bool)], 1)
    # Garbage behind the mask inside the original width too.
    padded["mz"] = torch.where(padded["mask"], padded["mz"], 1e4)
    with torch.no_grad():
        ref = model(**batch)
        out = model(**padded)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@BOTH
def test_samples_are_independent_of_batch_mates(cfg):
    model = _model(cfg)
    batch = _batch(b=4)
    with torch.no_grad():
        full = model(**batch)
        one = model(**{k: v[2:3] for k, v in batch.items()})
    torch.testing.assert_close(one[:, 0], full[:, 2], atol=1e-5, rtol=1e-5)


@BOTH
def test_inputs_are_used(cfg):
    model = _model(cfg)
    batch = _batch()
    with torch.no_grad():
        ref = model(**batch)
        for key, change in (("precursor_mass", lambda v: v + 100.0),
                            ("charge", lambda v: v + 1),
                            ("intensity", lambda v: v.flip(-1)),
                            ("mz", lambda v: v + 0.5)):
            out = model(**{**batch, key: change(batch[key])})
            assert (out - ref).abs().max() > 1e-4, key


def test_high_charges_share_the_last_embedding():
    model = _model()
    batch = _batch()
    with torch.no_grad():
        a = model(**{**batch, "charge": torch.full((3,), 10)})
        b = model(**{**batch, "charge": torch.full((3,), 99)})
    torch.testing.assert_close(a, b)


def _cos_dist(a, b, inv):
    fa, fb = sinusoid_features(a, inv), sinusoid_features(b, inv)
    return 1 - torch.nn.functional.cosine_similarity(fa, fb, dim=-1)


@pytest.mark.parametrize("delta", [0.0364, 0.9840])  # K/Q, N/I - 1 Da
def test_mz_embedding_separates_small_mass_differences(delta):
    cfg = ModelConfig()
    inv = torch.logspace(-math.log10(cfg.mz_min_wavelength),
                         -math.log10(cfg.mz_max_wavelength),
                         cfg.mz_frequencies, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    m = (torch.rand(2000, generator=g, dtype=torch.float64) * 2900 + 100)
    noise = _cos_dist(m.float(), (m + 1e-4).float(), inv)  # f32 rounding
    apart = _cos_dist(m.float(), (m + delta).float(), inv)
    assert float(apart.min()) > 5 * float(noise.max())
    # The same holds after the (random) learned projection of the model.
    model = _model(cfg=cfg)
    proj = model.encoder.mz_proj
    with torch.no_grad():
        e0 = proj(sinusoid_features(m.float(), inv))
        e1 = proj(sinusoid_features((m + delta).float(), inv))
        e2 = proj(sinusoid_features((m + 1e-4).float(), inv))
    d_apart = (e0 - e1).norm(dim=-1)
    d_noise = (e0 - e2).norm(dim=-1)
    # A single distance threshold tells "same" from "delta apart".
    assert float(d_apart.min()) > 2 * float(d_noise.max())


def test_no_gradient_through_early_cycles_and_carry():
    batch = _batch()

    def y_init_grad(**flags):
        torch.manual_seed(0)
        cfg = ModelConfig(**{**to_dict(SMALL), **flags})
        model = TRM(cfg).train()
        model(**batch)[-1].sum().backward()
        grad = model.y_init.grad
        return 0.0 if grad is None else float(grad.abs().sum())

    # TRM default: y_init only feeds the no-grad first cycle.
    assert y_init_grad() == 0.0
    assert y_init_grad(grad_all_cycles=True) == 0.0  # detached carry
    assert y_init_grad(grad_all_cycles=True,
                       detach_between_steps=False) > 0.0
    assert y_init_grad(cycles=1) == 0.0
    assert y_init_grad(cycles=1, detach_between_steps=False) > 0.0
    assert y_init_grad(cycles=1, steps=1) > 0.0


def _synthetic(n=8, max_length=12, peaks=32, seed=0):
    """b/y ions (charge 1) of random peptides: plain NumPy on vocab."""
    rng = np.random.default_rng(seed)
    peps = [tuple(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"),
                             rng.integers(5, 10))) for _ in range(n)]
    mz = np.zeros((n, peaks), np.float32)
    inten = np.zeros((n, peaks), np.float32)
    mask = np.zeros((n, peaks), bool)
    prec = np.zeros(n, np.float32)
    for i, pep in enumerate(peps):
        m = np.array([VOCAB.masses[VOCAB.index(t)] for t in pep])
        prefix = np.cumsum(m)[:-1]
        total = m.sum() + H2O
        ions = np.sort(np.concatenate([prefix + PROTON,
                                       total - prefix + PROTON]))
        k = len(ions)
        mz[i, :k], inten[i, :k], mask[i, :k] = ions, rng.uniform(
            0.2, 1, k), True
        prec[i] = total
    batch = dict(mz=torch.from_numpy(mz), intensity=torch.from_numpy(inten),
                 mask=torch.from_numpy(mask),
                 precursor_mass=torch.from_numpy(prec),
                 charge=torch.full((n,), 2))
    targets = torch.from_numpy(np.stack(
        [VOCAB.encode(p, max_length) for p in peps])).long()
    return batch, targets, peps


def _margin(logits, targets) -> float:
    """Smallest log-prob lead of the true token over the best other one."""
    lp = logits.detach().log_softmax(-1)
    true = lp.gather(-1, targets[..., None])[..., 0]
    other = lp.scatter(-1, targets[..., None], -torch.inf).max(-1).values
    return float((true - other).min())


def test_overfits_tiny_batch_with_predicted_length():
    # Stop on the weights being checked, once every token leads by a
    # margin: the trajectory depends on torch's thread count (float
    # reduction order), and a bare argmax match one update earlier (the
    # old stop) flipped tokens with 2 threads. Margin 1 is reached in
    # 75-126 steps with 1, 2 or 4 threads and seeds 0-2.
    batch, targets, peps = _synthetic()
    cfg = ModelConfig(max_length=12, dim=64, heads=4, encoder_layers=1,
                      core_layers=1, steps=2, cycles=2, latent_updates=2,
                      mz_frequencies=32)
    torch.manual_seed(0)
    model = TRM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_cfg = LossConfig(mass_weight=0.05, spectrum_weight=0.05)
    for _ in range(300):
        out = model(**batch)
        if _margin(out[-1], targets) > 1.0:
            break
        loss = compute_losses(out, targets, **batch, cfg=loss_cfg)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(**batch)[-1]
    assert _margin(logits, targets) > 1.0, "not overfit in 300 steps"
    pred = logits.argmax(-1)
    decoded = [VOCAB.decode(row.tolist()) for row in pred]
    assert decoded == peps
    lengths = (pred == END).int().argmax(-1)
    assert lengths.tolist() == [len(p) for p in peps]


def test_checkpoint_round_trip_prefers_ema(tmp_path):
    model = _model()
    ema = {f"module.{k}": v + 1.0 for k, v in model.state_dict().items()}
    ema["n_averaged"] = torch.tensor(3)
    ckpt = checkpoint_dict(model, ema=ema, preprocess={"top_k": 150},
                           vocabulary=VOCAB.to_dict(),
                           provenance={"steps": 5})
    ckpt["optimizer"] = {}
    path = tmp_path / "last.ckpt"
    torch.save(ckpt, path)
    loaded, cfg, extra = load_model_from_checkpoint(path)
    assert cfg == SMALL and extra["used_ema"]
    assert extra["preprocess"] == {"top_k": 150}
    assert extra["provenance"] == {"steps": 5}
    torch.testing.assert_close(loaded.head.weight, model.head.weight + 1)
    raw, _, extra = load_model_from_checkpoint(path, use_ema=False)
    assert not extra["used_ema"] and not raw.training
    batch = _batch()
    with torch.no_grad():
        torch.testing.assert_close(raw(**batch), model(**batch))


def test_checkpoint_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.ckpt"
    torch.save({"model": {}}, bad)
    with pytest.raises(ValueError, match="bad.ckpt"):
        load_model_from_checkpoint(bad)
    ckpt = checkpoint_dict(_model())
    ckpt["model_config"]["dim"] = 48
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match="bad.ckpt"):
        load_model_from_checkpoint(bad)
    ckpt["model_config"].pop("dim")
    torch.save(ckpt, bad)
    with pytest.raises(ConfigError, match="missing key"):
        load_model_from_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        load_model_from_checkpoint(tmp_path / "none.ckpt")


def test_checkpoints_from_before_mass_feedback_still_load(tmp_path):
    ckpt = checkpoint_dict(_model())
    ckpt["model_config"].pop("mass_feedback")
    torch.save(ckpt, tmp_path / "old.ckpt")
    _, cfg, _ = load_model_from_checkpoint(tmp_path / "old.ckpt")
    assert cfg == SMALL


def test_config_loader_types_and_unknown_keys(tmp_path):
    cfg = from_dict(ModelConfig, {"dim": 96, "heads": 4, "dropout": 0})
    assert cfg.dim == 96 and isinstance(cfg.dropout, float)
    assert from_dict(ModelConfig, to_dict(cfg), partial=False) == cfg
    for bad, match in (({"dimm": 96}, "unknown key"),
                       ({"dim": "96"}, "expected an integer"),
                       ({"dim": 96.0}, "expected an integer"),
                       ({"grad_all_cycles": 1}, "true/false"),
                       ({"dim": 100, "heads": 8}, "divisible")):
        with pytest.raises(ConfigError, match=match):
            from_dict(ModelConfig, bad, source="x.yaml")
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  dim: 64\n  stepz: 3\nloss:\n"
                    "  mass_weight: 0.5\n  step_weighting: linear\n")
    with pytest.raises(ConfigError, match=r"c\.yaml \[model\].*stepz"):
        load_yaml(path, ModelConfig, section="model")
    loss = load_yaml(path, LossConfig, section="loss")
    assert loss.mass_weight == 0.5 and loss.step_weighting == "linear"
    path.write_text("")
    assert load_yaml(path, LossConfig) == LossConfig()
    with pytest.raises(ConfigError, match="step_weighting"):
        LossConfig(step_weighting="cosine")


def test_presets_build():
    for name in ("tiny", "small"):
        model = TRM(MODEL_PRESETS[name])
        assert model.n_slots == MODEL_PRESETS[name].max_length + 1


def test_implied_ions_of_a_certain_answer_are_its_b_and_y_ions():
    mass = pytest.importorskip("pyteomics.mass")
    seq = "PEPTIDEKR"
    tokens = torch.from_numpy(VOCAB.encode(list(seq), 12)).long()
    precursor = mass.fast_mass(seq)  # neutral, with water
    token_mass = torch.tensor(VOCAB.masses, dtype=torch.float64)
    ions = implied_ions(token_mass[tokens][None],
                        torch.tensor([precursor], dtype=torch.float64))[0]
    n = len(seq)
    for i in range(n):  # slot i holds residue i
        b_before = mass.fast_mass(seq[:i], ion_type="b", charge=1)
        b_after = mass.fast_mass(seq[:i + 1], ion_type="b", charge=1)
        y_before = mass.fast_mass(seq[i:], ion_type="y", charge=1)
        y_after = mass.fast_mass(seq[i + 1:], ion_type="y", charge=1)
        expected = torch.tensor([b_before, b_after, y_before, y_after],
                                dtype=torch.float64)
        torch.testing.assert_close(ions[i], expected, atol=1e-5, rtol=0)
    # End and pad slots add no mass: the ladder stays at the full peptide.
    torch.testing.assert_close(ions[n:, 1], ions[n - 1, 1].expand(13 - n))


def test_mass_feedback_needs_the_default_vocabulary():
    with pytest.raises(ValueError, match="default vocabulary"):
        TRM(dataclasses.replace(FEEDBACK, vocab_size=12))
