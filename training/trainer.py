"""The training loop: curriculum, EMA, checkpoints, exact resume, DDP.

Design choices, and why:

* The data stream is a pure function of ``(seed, step, rank)``
  (:func:`denovo_training.data.synthetic.step_rng`), so resuming needs no data
  loader state and step ``k`` of a resumed run sees the same batch as
  step ``k`` of an uninterrupted one.
* The learning-rate schedule depends on ``train.max_steps`` only; use
  :meth:`Trainer.fit` ``until=`` to stop early without changing it.
* Checkpoints are written to a temporary file and moved into place with
  :func:`os.replace`, so a crash never leaves a half-written
  ``last.ckpt``. Everything in them is plain data that
  ``torch.load(weights_only=True)`` accepts.
* Evaluation and export use EMA weights.
* Under ``torchrun`` each process draws its own batches (stream = rank),
  gradients are averaged by DistributedDataParallel, and only rank 0
  validates, logs and writes checkpoints.

It stays one module of about 560 lines: :class:`Trainer` is one loop
whose methods share its state (model, EMA, optimiser, curriculum, data
streams), and splitting it would only pass that state around. The
``denovo train`` glue (recipe, overrides, errors) is in :mod:`.commands`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from denovo.core.vocab import DEFAULT_VOCABULARY

from .data.batch import RawBatch, collate, concat, to_arrays
from .data.curriculum import Curriculum, Recipe
from .data.peptides import (DigestPeptides, ListPeptides, RandomPeptides,
                            read_split)
from .data.synthetic import Simulator, step_rng
from .losses import compute_losses, verifier_labels, verifier_losses
from .metrics import (
    MetricsLog,
    auc,
    greedy_decode,
    peptide_metrics,
    validation_metrics,
)
from .checkpoint import build_model, checkpoint_dict

__all__ = ["Trainer", "lr_factor", "resolve_device"]

log = logging.getLogger(__name__)

_VAL_STREAM = 1_000_003  # separates validation draws from training draws


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; others are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and \
                torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    if name == "mps" and not (getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()):
        raise ValueError("--device mps requested but MPS is not available")
    if name not in ("cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {name!r}; use auto, cuda, mps "
                         "or cpu")
    return torch.device(name)


def lr_factor(step: int, *, warmup: int, total: int,
              min_ratio: float) -> float:
    """Linear warm-up, then cosine from 1 to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi
                                                             * progress))


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True,
            timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _peptide_source(data):
    if data.peptides == "list":
        return ListPeptides(data.peptide_path, data.modifications)
    if data.peptides == "fasta":
        return DigestPeptides(data.peptide_path, data.modifications)
    return RandomPeptides(data.modifications,
                          tryptic_fraction=data.tryptic_fraction)


class Trainer:
    """Trains a :class:`denovo_training.model.TRM` on a :class:`Recipe`.

    Parameters
    ----------
    recipe
        Model, loss, data, training and curriculum settings.
    out_dir
        Run directory: checkpoints, ``metrics.jsonl``, CSV files.
    device
        ``auto``, ``cuda``, ``mps`` or ``cpu``.
    resume
        Checkpoint to continue from (``last.ckpt`` of an earlier run).
    progress
        Show a progress bar (rank 0 only).
    """

    BF16_DEVICES = ("cuda",)  # where ``train.bf16`` turns on autocast

    def __init__(self, recipe: Recipe, out_dir: str | Path, *,
                 device: str = "auto", resume: str | Path | None = None,
                 progress: bool = True):
        self.recipe = recipe
        self.cfg = recipe.train
        self.out_dir = Path(out_dir)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(device)
        if self.world > 1:
            self._init_distributed()
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        self._check_recipe()
        self.curriculum = Curriculum(recipe.curriculum)
        self.max_steps = self.cfg.max_steps or self.curriculum.total_steps
        torch.manual_seed(self.cfg.seed)
        self.model = build_model(recipe.model).to(self.device)
        if self.cfg.init_from and resume is None:
            self._init_weights(Path(self.cfg.init_from))
        self.ema = {k: v.detach().clone()
                    for k, v in self.model.state_dict().items()}
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(
                s, warmup=self.cfg.warmup_steps, total=self.max_steps,
                min_ratio=self.cfg.min_lr_ratio))
        self.net = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # With H > 1 cycles the first run without gradients, so some
            # parameters (e.g. the initial carry) may get none.
            self.net = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=True)
        self.simulator = Simulator(_peptide_source(recipe.data))
        self.realistic = self._realistic(recipe, "train")
        self.train_real = self._real(recipe.data.train_files, "training")
        self.val_real = self._real(recipe.data.val_files, "validation")
        self.drafts = self._draft_maker(recipe)
        self.step = 0
        self.best: float | None = None
        self.commit = _git_commit()
        if resume is not None:
            self._load(Path(resume))
        self._val_batches: list | None = None

    # -- setup ----------------------------------------------------------
    def _init_distributed(self) -> None:
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        if self.device.type == "cuda":
            self.device = torch.device("cuda", local)
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            dist.init_process_group(
                "nccl" if self.device.type == "cuda" else "gloo")

    def _init_weights(self, path: Path) -> None:
        """Fine-tuning: weights (EMA when stored) of a checkpoint of the
        same model config; optimiser, schedule and step start afresh."""
        from .checkpoint import load_model_from_checkpoint

        from dataclasses import replace

        source, cfg, _ = load_model_from_checkpoint(path)
        target = self.recipe.model
        # a model without the verifier head may start one with it: the
        # head starts from its own initialisation
        adds_head = (target.verifier and not cfg.verifier
                     and replace(cfg, verifier=True) == target)
        if cfg != target and not adds_head:
            raise ValueError(f"train.init_from {path}: its model config "
                             "differs from the recipe's")
        missing, unexpected = self.model.load_state_dict(
            source.state_dict(), strict=not adds_head)
        if unexpected or any(not k.startswith("verifier.")
                             for k in missing):
            raise ValueError(f"train.init_from {path}: weights do not fit "
                             "the recipe's model")
        log.info("initialised from %s%s", path,
                 " (new verifier head)" if adds_head else "")

    def _check_recipe(self) -> None:
        m = self.recipe.model
        if m.vocab_size != len(DEFAULT_VOCABULARY):
            raise ValueError(f"model.vocab_size is {m.vocab_size} but the "
                             f"vocabulary has {len(DEFAULT_VOCABULARY)} "
                             "tokens")
        listwise = any(s.loss.listwise_weight > 0
                       for s in self.recipe.curriculum)
        groups = self.recipe.data.draft_group_top > 0
        if listwise and not (m.verifier and groups):
            raise ValueError("loss.listwise_weight needs model.verifier "
                             "and data.draft_group_top > 0")
        if groups and not (m.kind == "trm" and m.draft):
            raise ValueError("data.draft_group_top needs a draft-"
                             "conditioned TRM (model.draft)")
        for i, stage in enumerate(self.recipe.curriculum):
            if stage.simulation.max_length > m.max_length:
                raise ValueError(
                    f"curriculum stage {i + 1}: simulation.max_length "
                    f"{stage.simulation.max_length} exceeds "
                    f"model.max_length {m.max_length}")

    def _optimizer(self) -> torch.optim.Optimizer:
        # No weight decay on biases, norms and embeddings-like vectors.
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        rest = [p for p in self.model.parameters() if p.ndim < 2]
        return torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.cfg.weight_decay},
             {"params": rest, "weight_decay": 0.0}],
            lr=self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2))

    def _real(self, files, what: str):
        if not files:
            return None
        from .data.real import RealDataset

        data = RealDataset(files, max_length=self.recipe.model.max_length)
        log.info("%s spectra: %d from %d file(s)", what, len(data),
                 len(files))
        return data if len(data) else None

    @staticmethod
    def _realistic(recipe: Recipe, side: str):
        """The realistic simulator of ``data.library``, else None.

        Built whenever a library is named, also for a curriculum that
        never trains on it, so every run reports the same realistic
        validation set (a basic-generator run is then comparable).
        """
        data = recipe.data
        if not data.library:
            if any(s.realistic_fraction > 0 for s in recipe.curriculum):
                raise ValueError("a curriculum stage has realistic_fraction "
                                 "> 0 but data.library names no MS2PIP "
                                 "library")
            return None
        from .data.realistic import RealisticSimulator

        exclude = frozenset()
        if data.exclude_split:
            exclude = frozenset(r.key for r in read_split(data.exclude_split)
                                if r.split == "dev")
        sim = RealisticSimulator.from_library(data.library, side=side,
                                              exclude=exclude)
        log.info("realistic simulator: %d %s peptides from %s (%d dev "
                 "peptides excluded)", len(sim.source), side, data.library,
                 len(exclude))
        return sim

    @staticmethod
    def _draft_maker(recipe: Recipe):
        """Drafts for a draft-conditioned TRM (None for other models),
        from the evidence search with the package's scorer (fitted on
        train-side spectra only)."""
        if recipe.model.kind != "trm" or not recipe.model.draft:
            return None
        from denovo.core.search import EvidenceSearch
        from denovo.core.settings import load_default

        from .data.drafts import DraftMaker, DraftMix

        fitted = load_default()
        search = EvidenceSearch(DEFAULT_VOCABULARY, fitted.scorer,
                                fitted.rank)
        data = recipe.data
        return DraftMaker(DraftMix(data.draft_blank, data.draft_search,
                                   truth=data.draft_truth,
                                   hard=data.draft_hard,
                                   search_top=data.draft_search_top),
                          search, max_length=recipe.model.max_length,
                          group_top=data.draft_group_top)

    # -- data -----------------------------------------------------------
    def _raw_parts(self, rng: np.random.Generator, size: int,
                   stage) -> tuple[list, np.ndarray | None]:
        """The simulated parts of a batch and the indices of its real
        spectra (None when it has none), drawn in this order."""
        n_real = 0
        if self.train_real is not None and stage.real_fraction > 0:
            n_real = int(round(stage.real_fraction * size))
        n_sim = size - n_real
        n_realistic = int(round(stage.realistic_fraction * n_sim))
        parts = []
        if n_sim - n_realistic:
            parts.append(self.simulator.batch(rng, n_sim - n_realistic,
                                              stage.simulation))
        if n_realistic:
            parts.append(self.realistic.batch(rng, n_realistic,
                                              stage.simulation))
        idx = None
        if n_real:
            idx = rng.integers(0, len(self.train_real), size=n_real)
        return parts, idx

    def _raw_batch(self, rng: np.random.Generator, size: int,
                   stage) -> RawBatch:
        parts, idx = self._raw_parts(rng, size, stage)
        if idx is not None:
            parts.append(self.train_real.raw_batch(idx))
        return concat(parts)

    def _grouped(self) -> bool:
        return (self.drafts is not None and self.drafts.group_top > 0
                and self.train_real is not None)

    def _train_batch(self, rng: np.random.Generator, stage) -> dict:
        """A training batch. With listwise groups its real spectra come
        last, each once per draft of its group (``"group"``: the row's
        group, -1 for the simulated rows, which keep the pointwise mix)."""
        if not self._grouped():
            return self._tensors(self._raw_batch(rng, self.cfg.batch_size,
                                                 stage), rng)
        parts, idx = self._raw_parts(rng, self.cfg.batch_size, stage)
        sim = concat(parts) if parts else None
        drafts, group = [], []
        if sim is not None:
            drafts.append(self.drafts(sim, rng))
            group.append(np.full(len(sim), -1, np.int64))
        if idx is not None:
            groups = self.drafts.groups(self.train_real.raw_batch(idx), idx)
            parts.append(groups.raw)
            drafts.append(groups.drafts)
            group.append(groups.group)
        batch = collate(concat(parts), preprocess=self.recipe.preprocess,
                        max_length=self.recipe.model.max_length)
        batch["draft"] = torch.from_numpy(np.concatenate(drafts))
        batch["group"] = torch.from_numpy(np.concatenate(group))
        return {k: v.to(self.device) for k, v in batch.items()}

    def _tensors(self, raw: RawBatch,
                 rng: np.random.Generator | None = None) -> dict:
        batch = collate(raw, preprocess=self.recipe.preprocess,
                        max_length=self.recipe.model.max_length)
        if self.drafts is not None:
            batch["draft"] = torch.from_numpy(self.drafts(raw, rng))
        return {k: v.to(self.device) for k, v in batch.items()}

    # -- training ---------------------------------------------------------
    def _autocast(self):
        enabled = self.cfg.bf16 and self.device.type in self.BF16_DEVICES
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=enabled)

    def _forward(self, net, batch: dict, *, verifier: bool = False):
        """Step log-probs (T, B, L, V); the AR baseline reads the targets
        (teacher forcing), a draft-conditioned TRM its drafts. With
        ``verifier`` (a model with the head) also its logits, (T, B) and
        (T, B, L)."""
        extra = {}
        if self.recipe.model.kind == "autoregressive":
            extra["tokens"] = batch["targets"]
        elif "draft" in batch:
            extra["draft"] = batch["draft"]
        if verifier:
            extra["with_verifier"] = True
        with self._autocast():
            out = net(batch["mz"], batch["intensity"], batch["mask"],
                      batch["precursor_mass"], batch["charge"], **extra)
        if verifier:
            return tuple(o.float() for o in out)
        return out.float()

    def _predict(self, model, batch: dict) -> torch.Tensor:
        """Validation log-probs: the AR baseline decodes greedily (its
        tokens as near-one-hot log-probs), the TRM runs as trained."""
        if self.recipe.model.kind != "autoregressive":
            return self._forward(model, batch)
        tokens, _ = model.generate(batch["mz"], batch["intensity"],
                                   batch["mask"], batch["precursor_mass"],
                                   batch["charge"], beam=1)
        lp = torch.full((*tokens.shape, self.recipe.model.vocab_size),
                        -30.0, device=tokens.device)
        lp.scatter_(-1, tokens.unsqueeze(-1), 0.0)
        return lp.unsqueeze(0)

    def train_step(self) -> dict:
        """One optimisation step; returns its scalar metrics."""
        stage = self.curriculum.update(self.step)
        rng = step_rng(self.cfg.seed, self.step, self.rank)
        t0 = time.perf_counter()
        batch = self._train_batch(rng, stage)
        t_data = time.perf_counter() - t0
        self.net.train()
        verify = self.recipe.model.verifier
        step_lp = self._forward(self.net, batch, verifier=verify)
        if verify:
            step_lp, verify_logits, residue_logits = step_lp
        losses = compute_losses(
            step_lp, batch["targets"], mz=batch["mz"],
            intensity=batch["intensity"], mask=batch["mask"],
            precursor_mass=batch["precursor_mass"], charge=batch["charge"],
            cfg=stage.loss)
        if verify:
            vlosses = verifier_losses(verify_logits, residue_logits,
                                      batch["draft"], batch["targets"],
                                      cfg=stage.loss,
                                      group=batch.get("group"))
            losses["loss"] = losses["loss"] + vlosses.pop("loss")
            losses.update(vlosses)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self._update_ema()
        self.step += 1
        pred = greedy_decode(step_lp[-1].detach().cpu().numpy())
        acc = peptide_metrics(pred, batch["targets"].cpu().numpy(),
                              batch["precursor_mass"].double().cpu()
                              .numpy())
        row = {"step": self.step,
               "stage": self.curriculum.index_at(self.step - 1) + 1,
               "lr": lr, "grad_norm": float(norm),
               "data_s": t_data, "step_s": time.perf_counter() - t0,
               "train_token_accuracy": acc["token_accuracy"],
               "train_sequence_accuracy": acc["sequence_accuracy"],
               "train_length_accuracy": acc["length_accuracy"]}
        for key, value in losses.items():
            if value.ndim == 0:
                row[key] = float(value.detach())
        return row

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up keeps early EMA weights close to the live model.
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for key, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                self.ema[key].lerp_(value, 1.0 - decay)
            else:
                self.ema[key].copy_(value)

    def fit(self, *, until: int | None = None) -> dict:
        """Train up to ``max_steps`` (or ``until``); returns last metrics.

        Validates every ``val_every`` steps and at the end, writes
        ``last.ckpt`` every ``checkpoint_every`` steps and at the end.
        """
        stop = min(self.max_steps, until or self.max_steps)
        metrics = MetricsLog(self.out_dir, resume_step=self.step,
                             enabled=self.is_main,
                             tensorboard=self.cfg.tensorboard)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=stop, initial=self.step, unit="step",
                       dynamic_ncols=True)
        last_val: dict = {}
        start, t_start = self.step, time.perf_counter()
        try:
            while self.step < stop:
                row = self.train_step()
                if self.step % self.cfg.log_every == 0 or self.step == stop:
                    elapsed = time.perf_counter() - t_start
                    row["spectra_per_s"] = ((self.step - start)
                                            * self.cfg.batch_size
                                            * self.world / elapsed)
                    metrics.write("train", row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.3f}",
                                    stage=row["stage"])
                val_due = (self.cfg.val_every
                           and self.step % self.cfg.val_every == 0)
                if val_due or self.step == stop:
                    last_val = self.validate()
                    metrics.write("val", {"step": self.step, **last_val})
                    self._maybe_best(last_val)
                if (self.cfg.checkpoint_every
                        and self.step % self.cfg.checkpoint_every == 0) \
                        or self.step == stop:
                    self.save(self.out_dir / "last.ckpt")
        finally:
            if bar is not None:
                bar.close()
            metrics.close()
        return last_val

    # -- validation -------------------------------------------------------
    def _validation_sets(self) -> list:
        if self._val_batches is None:
            sets = []
            n = self.recipe.data.val_synthetic
            if n:
                stage = self.curriculum.stages[-1]
                rng = step_rng(self.cfg.seed, 0, _VAL_STREAM)
                sets.append(("val", self.simulator.batch(
                    rng, n, stage.simulation)))
                if self.realistic is not None:
                    # held-out library peptides (the "val" hash side)
                    sim = self._realistic(self.recipe, "val")
                    sets.append(("val_realistic", sim.batch(
                        rng, n, stage.simulation)))
            if self.val_real is not None:
                sets.append(("real", self.val_real.raw_batch(
                    np.arange(len(self.val_real)))))
            self._val_batches = sets
        return self._val_batches

    @torch.no_grad()
    def validate(self) -> dict:
        """Metrics of the EMA weights on every validation set (rank 0)."""
        if not self.is_main:
            return {}
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.ema)
        model.eval()
        out: dict = {}
        bs = self.cfg.val_batch_size
        verify = self.recipe.model.verifier
        for name, raw in self._validation_sets():
            rows = []
            judged: list = []  # (first, last step logit, right) per draft
            for lo in range(0, len(raw), bs):
                idx = np.arange(lo, min(lo + bs, len(raw)))
                part = _subset(raw, idx)
                arrays = to_arrays(part, preprocess=self.recipe.preprocess,
                                   max_length=self.recipe.model.max_length)
                batch = {k: torch.from_numpy(np.ascontiguousarray(v))
                         .to(self.device) for k, v in arrays.items()}
                if self.drafts is not None:  # same drafts at every check
                    batch["draft"] = torch.from_numpy(self.drafts(
                        part, np.random.default_rng(lo))).to(self.device)
                if verify:
                    lp, vl, _ = self._forward(model, batch, verifier=True)
                    labels = verifier_labels(batch["draft"],
                                             batch["targets"])
                    keep = labels["rows"].cpu().numpy()
                    judged.append(np.stack(
                        [vl[0].cpu().numpy(), vl[-1].cpu().numpy(),
                         labels["whole"].cpu().numpy()], axis=1)[keep])
                    lp = lp.cpu().numpy()
                else:
                    lp = self._predict(model, batch).cpu().numpy()
                rows.append((len(idx), validation_metrics(
                    lp, arrays, decoder=self.cfg.decoder)))
            total = sum(n for n, _ in rows)
            for key in rows[0][1]:
                out[f"{name}_{key}"] = float(sum(
                    n * r[key] for n, r in rows) / total)
            if judged:
                j = np.concatenate(judged)
                out[f"{name}_verify_positive"] = float(j[:, 2].mean())
                for k, step in ((0, "first"), (1, "last")):
                    out[f"{name}_verify_auc_{step}"] = auc(j[:, k], j[:, 2])
                out[f"{name}_verify_accuracy"] = float(
                    ((j[:, 1] > 0) == (j[:, 2] > 0.5)).mean())
        return out

    def _maybe_best(self, val: dict) -> None:
        prefix = "real" if "real_token_accuracy" in val else "val"
        if f"{prefix}_token_accuracy" not in val:
            return
        score = (val[f"{prefix}_sequence_accuracy"]
                 + val[f"{prefix}_token_accuracy"] / 10)
        if self.best is None or score > self.best:
            self.best = score
            self.save(self.out_dir / "best.ckpt")

    # -- checkpoints ------------------------------------------------------
    def state(self) -> dict:
        """The full checkpoint: model files plus trainer state."""
        ckpt = checkpoint_dict(
            self.model, ema=self.ema,
            preprocess=self.recipe.preprocess.to_dict(),
            vocabulary=DEFAULT_VOCABULARY.to_dict(),
            provenance={"recipe": self.recipe.to_dict(), "step": self.step,
                        "git_commit": self.commit,
                        "train_files": list(self.recipe.data.train_files),
                        "world_size": self.world})
        rng = {"torch": torch.get_rng_state(),
               "python": list(random.getstate()[1]),
               "python_version": random.getstate()[0],
               "python_gauss": random.getstate()[2]}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        ckpt.update({"optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(),
                     "step": self.step, "rng": rng,
                     "curriculum": self.curriculum.state_dict(),
                     "best": self.best})
        return ckpt

    def save(self, path: Path) -> None:
        """Write a checkpoint atomically (rank 0 only)."""
        if not self.is_main:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, path)
        log.debug("saved %s at step %d", path, self.step)

    def _load(self, path: Path) -> None:
        try:
            ckpt = torch.load(path, map_location=self.device,
                              weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"checkpoint {path} not found") \
                from None
        missing = {"model", "ema", "optimizer", "scheduler", "step",
                   "rng"} - set(ckpt)
        if missing:
            raise ValueError(f"{path}: cannot resume, checkpoint lacks "
                             f"{', '.join(sorted(missing))}")
        self.model.load_state_dict(ckpt["model"])
        self.ema = {k: v.to(self.device) for k, v in ckpt["ema"].items()}
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.step = int(ckpt["step"])
        self.best = ckpt.get("best")
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        random.setstate((rng["python_version"], tuple(rng["python"]),
                         rng["python_gauss"]))
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self.curriculum.load_state_dict(ckpt.get("curriculum") or {})
        log.info("resumed from %s at step %d", path, self.step)


def _subset(raw: RawBatch, idx: np.ndarray) -> RawBatch:
    parts = []
    for i in idx:
        mz, inten = raw.spectrum(int(i))
        parts.append(RawBatch(mz, inten, np.array([0, len(mz)], np.int64),
                              raw.precursor_mz[[i]], raw.charge[[i]],
                              [raw.peptides[i]]))
    return concat(parts)
