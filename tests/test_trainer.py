"""Trainer, validation metrics, CLI and plots, on a tiny recipe."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from pyteomics import mass as pmass

from denovo.cli import main
from denovo.core.vocab import DEFAULT_VOCABULARY, END, PAD
from denovo_training.data.curriculum import recipe_from_dict
from denovo_training.data.synthetic import SimulationConfig, Simulator
from denovo_training.metrics import (
    greedy_decode,
    peptide_metrics,
    spectrum_coverage,
    step_metrics,
)
from denovo_training.checkpoint import load_model_from_checkpoint
from denovo_training.trainer import Trainer, lr_factor

TINY = {
    "model": {"max_length": 12, "dim": 32, "heads": 2, "encoder_layers": 1,
              "core_layers": 1, "steps": 2, "cycles": 2,
              "latent_updates": 1, "mz_frequencies": 16},
    "loss": {"mass_weight": 0.05},
    "simulation": {"min_length": 6, "max_length": 12, "noise_peaks": 5.0},
    "data": {"val_synthetic": 8},
    "train": {"batch_size": 4, "warmup_steps": 2, "log_every": 1,
              "val_every": 3, "checkpoint_every": 2, "val_batch_size": 8,
              "ema_decay": 0.9},
    "preprocess": {"max_peaks": 40},
    "curriculum": [
        {"name": "easy", "steps": 3,
         "simulation": {"max_length": 8, "noise_peaks": 0.0}},
        {"name": "hard", "steps": 3, "loss": {"spectrum_weight": 0.05}},
    ],
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_recipe(**train):
    data = json.loads(json.dumps(TINY))
    data["train"].update(train)
    return recipe_from_dict(data, source="tiny")


def test_lr_schedule_warms_up_then_decays():
    f = [lr_factor(s, warmup=10, total=100, min_ratio=0.1)
         for s in range(120)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert f[100] == pytest.approx(0.1) and f[119] == pytest.approx(0.1)


def test_resume_is_exact(tmp_path, caplog):
    full = Trainer(tiny_recipe(), tmp_path / "full", device="cpu",
                   progress=False)
    full.fit()
    part = Trainer(tiny_recipe(), tmp_path / "part", device="cpu",
                   progress=False)
    part.fit(until=4)  # stops mid-stage 2, after a checkpoint
    assert part.step == 4
    with caplog.at_level("INFO", logger="denovo_training"):
        resumed = Trainer(tiny_recipe(), tmp_path / "part", device="cpu",
                          progress=False,
                          resume=tmp_path / "part" / "last.ckpt")
        resumed.fit()
    assert resumed.step == full.step == 6
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value,
                                   rtol=0, atol=1e-6)
        torch.testing.assert_close(resumed.ema[key], full.ema[key], rtol=0,
                                   atol=1e-6)
    assert any("stage 2 of 2" in r.getMessage() for r in caplog.records)
    rows = [json.loads(x) for x in
            (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in
           (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(
        range(1, 7))
    np.testing.assert_allclose(
        losses, [r["loss"] for r in ref if r["kind"] == "train"], atol=1e-5)


def test_resume_rejects_a_model_only_checkpoint(tmp_path):
    trainer = Trainer(tiny_recipe(), tmp_path, device="cpu", progress=False)
    ckpt = trainer.state()
    del ckpt["optimizer"]
    torch.save(ckpt, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="lacks optimizer"):
        Trainer(tiny_recipe(), tmp_path, device="cpu", progress=False,
                resume=tmp_path / "bad.ckpt")


def test_init_from_starts_a_new_run_from_a_checkpoints_weights(tmp_path):
    first = Trainer(tiny_recipe(), tmp_path / "a", device="cpu",
                    progress=False)
    first.fit(until=2)
    source, _, _ = load_model_from_checkpoint(tmp_path / "a" / "last.ckpt")
    tuned = Trainer(tiny_recipe(init_from=str(tmp_path / "a" / "last.ckpt")),
                    tmp_path / "b", device="cpu", progress=False)
    assert tuned.step == 0  # a new schedule, from the EMA weights
    for key, value in source.state_dict().items():
        torch.testing.assert_close(tuned.model.state_dict()[key], value)
        torch.testing.assert_close(tuned.ema[key], value)
    other = json.loads(json.dumps(TINY))
    other["model"]["dim"] = 16
    other["train"]["init_from"] = str(tmp_path / "a" / "last.ckpt")
    with pytest.raises(ValueError, match="model config differs"):
        Trainer(recipe_from_dict(other, source="x"), tmp_path / "c",
                device="cpu", progress=False)


def test_bf16_autocast_path_trains(tmp_path, monkeypatch):
    # No GPU here: run the CUDA bf16 path under torch's CPU autocast.
    monkeypatch.setattr(Trainer, "BF16_DEVICES", ("cuda", "cpu"))
    trainer = Trainer(tiny_recipe(), tmp_path, device="cpu", progress=False)
    dtypes = []
    trainer.model.head.register_forward_hook(
        lambda mod, args, out: dtypes.append(out.dtype))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    losses = [trainer.train_step()["loss"] for _ in range(4)]
    assert torch.bfloat16 in dtypes  # autocast was on
    assert all(np.isfinite(losses))
    for key, value in trainer.model.state_dict().items():
        assert value.dtype == before[key].dtype  # weights stay fp32
    assert any(not torch.equal(before[k], v)
               for k, v in trainer.model.state_dict().items())
    assert np.isfinite(trainer.validate()["val_token_accuracy"])


def test_cli_train_writes_checkpoints_metrics_and_plots(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [
        "train", "--config", str(config), "--max-steps", "4", "--device",
        "cpu", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    for name in ("last.ckpt", "best.ckpt", "metrics.jsonl", "train.csv",
                 "val.csv", "train.log"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp"))
    assert "Curriculum: Advanced to stage 2" in (out / "train.log"
                                                 ).read_text()
    model, cfg, extra = load_model_from_checkpoint(out / "last.ckpt")
    assert extra["used_ema"] and cfg.max_length == 12
    assert extra["vocabulary"] == DEFAULT_VOCABULARY.to_dict()
    assert extra["preprocess"]["max_peaks"] == 40
    assert extra["provenance"]["step"] == 4
    header = (out / "val.csv").read_text().splitlines()[0].split(",")
    for key in ("val_token_accuracy", "val_sequence_accuracy",
                "val_length_accuracy", "val_precursor_ppm_median",
                "val_step2_flip_rate", "val_step1_ce",
                "val_spectrum_coverage"):
        assert key in header
    res = CliRunner().invoke(main, ["plot", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("loss.png", "accuracy.png", "steps.png"):
        assert (out / name).stat().st_size > 1000


def test_cli_reports_bad_input_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {lr_max: 1}\n")
    res = CliRunner().invoke(main, ["train", "--config", str(bad),
                                    "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "unknown key" in res.output and "lr_max" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "none")])
    assert res.exit_code != 0 and "metrics.jsonl" in res.output


def test_training_mixes_real_spectra(tmp_path, real_file):
    path = str(real_file("yeast_small.mzML"))
    recipe = tiny_recipe()
    data = json.loads(json.dumps(TINY))
    data["data"].update(train_files=[path], val_files=[path])
    data["model"]["max_length"] = 30
    data["simulation"]["max_length"] = 12
    for stage in data["curriculum"]:
        stage["real_fraction"] = 0.5
    recipe = recipe_from_dict(data, source="tiny-real")
    trainer = Trainer(recipe, tmp_path, device="cpu", progress=False)
    assert len(trainer.train_real) == 65
    stage = trainer.curriculum.stages[0]
    raw = trainer._raw_batch(np.random.default_rng(0), 4, stage)
    real_peptides = {s.peptide for s in trainer.train_real.spectra}
    assert sum(p in real_peptides for p in raw.peptides) == 2
    out = trainer.fit(until=1)
    assert 0.0 <= out["real_token_accuracy"] <= 1.0


def test_greedy_decode_and_peptide_metrics_use_predicted_length():
    v = DEFAULT_VOCABULARY
    target = v.encode(("P", "E", "P", "K"), 6)
    short = v.encode(("P", "E", "P"), 6)
    il = v.encode(("P", "E", "P", "K"), 6)
    lp = np.full((3, 7, len(v)), -10.0, np.float32)
    for row, seq in enumerate((target, short, il)):
        lp[row, np.arange(7), seq] = 0.0
    lp[0, 6, v.index("A")] = 1.0  # junk after END must be ignored
    pred = greedy_decode(lp)
    assert pred[0].tolist() == target.tolist()
    assert pred[1, 3] == END and pred[1, 4:].tolist() == [PAD] * 3
    targets = np.stack([target] * 3)
    mass = np.full(3, pmass.fast_mass("PEPK"))  # neutral
    m = peptide_metrics(pred, targets, mass)
    assert m["sequence_accuracy"] == pytest.approx(2 / 3)
    assert m["length_accuracy"] == pytest.approx(2 / 3)
    assert m["token_accuracy"] == pytest.approx(11 / 12)
    assert m["precursor_match"] == pytest.approx(2 / 3)
    # I and L stay distinct.
    pil = pred.copy()
    pil[2, 0] = v.index("L")
    targets[2, 0] = v.index("I")
    assert peptide_metrics(pil, targets, mass)["sequence_accuracy"] == \
        pytest.approx(1 / 3)


def test_step_metrics_flip_rate_by_hand():
    v = DEFAULT_VOCABULARY
    a = v.encode(("A", "C", "D"), 4)
    b = v.encode(("A", "E", "D", "F"), 4)
    lp = np.full((2, 1, 5, len(v)), -9.0, np.float32)
    lp[0, 0, np.arange(5), a] = 0.0
    lp[1, 0, np.arange(5), b] = 0.0
    out = step_metrics(lp, a[None].astype(np.int64))
    # Slots with a residue in either step: 0..3; changed: 1 and 3.
    assert out["step2_flip_rate"] == pytest.approx(2 / 4)
    assert out["step1_token_accuracy"] == 1.0
    assert out["step2_token_accuracy"] == pytest.approx(2 / 3)
    assert out["step1_ce"] < out["step2_ce"]


def test_spectrum_coverage_of_true_and_wrong_peptides():
    from denovo_training.data.batch import to_arrays

    cfg = SimulationConfig(clean_fraction=1.0, a_ions=False,
                           neutral_losses=False, max_fragment_charge=1,
                           charges=(2,), charge_weights=(1.0,))
    raw = Simulator().batch(np.random.default_rng(0), 8, cfg)
    arrays = to_arrays(raw, max_length=30)
    args = (arrays["mz"], arrays["intensity"], arrays["mask"],
            arrays["charge"])
    true = spectrum_coverage(arrays["targets"], *args)
    np.testing.assert_allclose(true, 1.0, atol=1e-5)
    wrong = np.roll(arrays["targets"], 1, axis=0)
    assert spectrum_coverage(wrong, *args).mean() < 0.5
    empty = np.zeros_like(arrays["targets"])
    assert spectrum_coverage(empty, *args).sum() == 0


def test_cli_stop_at_keeps_the_schedule_of_the_whole_recipe(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = {}
    for name, extra in (("part", ["--stop-at", "2"]), ("whole", [])):
        res = CliRunner().invoke(main, [
            "train", "--config", str(config), "--max-steps", "4",
            "--device", "cpu", "--out", str(tmp_path / name),
            "--no-progress", *extra])
        assert res.exit_code == 0, res.output
        runs[name] = [json.loads(line) for line in
                      (tmp_path / name / "metrics.jsonl").open()
                      if '"train"' in line]
    assert [r["step"] for r in runs["part"]][-1] == 2
    ckpt = torch.load(tmp_path / "part" / "last.ckpt", weights_only=True)
    assert ckpt["step"] == 2
    # The learning rate at each step is the one of the full 4-step run.
    whole = {r["step"]: r["lr"] for r in runs["whole"]}
    for row in runs["part"]:
        assert row["lr"] == pytest.approx(whole[row["step"]])


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None or shutil.which("denovo") is None:
        pytest.skip("torchrun or the denovo script is not on PATH")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", "29533",
         "--no-python", "denovo", "train", "--config", str(config),
         "--max-steps", "3",
         "--device", "cpu", "--out", str(tmp_path / "ddp"),
         "--no-progress"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ddp" / "last.ckpt", weights_only=True)
    assert ckpt["step"] == 3 and ckpt["provenance"]["world_size"] == 2
    rows = (tmp_path / "ddp" / "train.csv").read_text().splitlines()
    assert len(rows) == 4  # header + one row per step, rank 0 only


def _handmade_library(path, n=60):
    """An MS2PIP library written by hand (no ms2pip needed)."""
    from denovo_training.data.ms2pip_library import FORMAT_VERSION, entry_key

    rng = np.random.default_rng(0)
    peptides = [tuple(rng.choice(list("AGLSTVEPDN"), rng.integers(6, 11)))
                + ("K",) for _ in range(n)]
    keys = [entry_key(p, z) for p in peptides for z in (2, 3, 4)]
    sizes = [len(p) - 1 for p in peptides for _ in (2, 3, 4)]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    values = rng.uniform(0, 1, (4, offsets[-1])).astype(np.float16)
    path.mkdir()
    np.savez_compressed(path / "shard_00000.npz", keys=np.array(keys),
                        offsets=offsets, values=values)
    (path / "manifest.json").write_text(json.dumps(
        {"format": FORMAT_VERSION, "chunk": len(keys),
         "n_entries": len(keys),
         "shards": [{"index": 0, "file": "shard_00000.npz",
                     "n": len(keys)}]}))
    return path


def test_realistic_validation_without_realistic_training(tmp_path):
    # A basic-generator run still reports the realistic validation set,
    # so it can be compared with a realistic run.
    data = json.loads(json.dumps(TINY))
    data["data"]["library"] = str(_handmade_library(tmp_path / "lib"))
    trainer = Trainer(recipe_from_dict(data, source="basic"), tmp_path / "r",
                      device="cpu", progress=False)
    names = [name for name, _ in trainer._validation_sets()]
    assert names == ["val", "val_realistic"]
    assert "val_realistic_token_accuracy" in trainer.validate()
