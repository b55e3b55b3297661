"""The engine: one path from spectra to ranked peptides.

For each read-ahead window of spectra (:func:`denovo.engine.rows.windows`)
the stages run in one order, whatever the mode and model:

1. **rows**: each usable spectrum at its charge (or at each configured
   charge), with its evidence peaks prepared once per spectrum;
2. **preprocess** (a model runs): the model's view of each row's peaks,
   with the settings stored in the model (the same function training
   used); rows left without peaks are skipped;
3. **evidence**: the evidence search of every row (not in ``model``
   mode), on a small thread pool;
4. **model**: one padded ONNX call per batch of rows, sorted by peak
   count, only for rows the search found something for (every row in
   ``model`` mode). A draft-conditioned model gets each row's ``drafts``
   best-ranked search peptides (after a blank draft with
   ``draft_scoring = "blank"``); a model without drafts is the case of
   one blank draft;
5. **decode**: every distribution through the mass-controlled beam,
   guided by the row's evidence; the unconstrained fallback runs only in
   ``model`` mode, the only ranking that reports its peptides;
6. **rank** (:mod:`denovo.engine.ranking`), then each spectrum's best
   candidates over its rows become its :class:`Result`.

Every input spectrum leaves exactly one result, in input order.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from ..core.constants import PROTON
from ..core.decode import BeamGuide, DecodeConfig, Decoder
from ..core.fragments import fragment_mz
from ..core.match import match
from ..core.modifications import ModSet, engine_vocabulary
from ..core.preprocess import (PreprocessConfig, PreprocessedBatch,
                               preprocess_batch)
from ..core.search import SearchConfig
from ..core.settings import FittedSettings, load_default
from ..core.vocab import DEFAULT_VOCABULARY
from ..core.window import PrecursorWindow
from .ranking import MODES, Ranker
from .results import (NO_MASS_MATCH, NO_PEAKS_LEFT, STAGES, Match, Result)
from .rows import Row, usable, windows
from .session import ModelSession

__all__ = ["EngineConfig", "Engine"]

RESCORE_WEIGHT = 1.0  # fragment-match score (0-1) vs mean log-prob
# Spectra their files state are ion-trap CID, or whose file's peaks show
# low-resolution fragments (MGF, MSP), are read with the ion-trap settings
# (their own scorer, ranker and calibration, fitted on ion-trap spectra).
ESTIMATED_CID = "CID (estimated)"
ION_TRAP = ("CID", ESTIMATED_CID)
# ... and searched four times wider (paths per node, peptides kept): read
# at 0.5 Da their peaks propose many more nodes. Chosen on the CID train
# side (515 spectra, evidence-mode recall; ``benchmarks/ion_trap.py``).
# Their paths keep the cleavage scorer's log-odds: at 0.5 Da noise peaks
# meet many nodes, and the ranker's cheap cleavages (``rank_paths``, fitted
# at 0.02 Da) let paths collect them (a one-off check on the CID train
# side, the other orders of composition steps added in both: evidence
# recall 0.202 vs 0.167).
ION_TRAP_SEARCH = SearchConfig(paths_per_node=32, top_k=128,
                               rank_paths=False)


def ion_trap_settings(info=None) -> FittedSettings:
    """The ion-trap CID settings: the model file's (format 4), else the
    package's."""
    by_class = getattr(info, "fitted_by_fragmentation", None) or {}
    return by_class.get("CID") or load_default("CID")


@dataclass(frozen=True)
class EngineConfig:
    """How the engine batches and runs (decoding is in DecodeConfig)."""

    batch_size: int = 32  # rows per model batch (charge expansions count)
    charges: tuple = (2, 3)  # tried for spectra without a charge
    threads: int = 0  # ONNX Runtime intra-op threads, 0 = all cores

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not self.charges or min(self.charges) < 1:
            raise ValueError("charges must be positive integers")
        if self.threads < 0:
            raise ValueError("threads must be >= 0")


class ModelBatch(NamedTuple):
    """A window's rows as the model sees them (row ``Row.batch_row``)."""

    peaks: PreprocessedBatch
    mass: np.ndarray  # neutral precursor mass per row
    charge: np.ndarray


def timed(iterable: Iterable, seconds: dict, stage: str) -> Iterator:
    """Yield from ``iterable``, adding the time spent in it to a stage."""
    it = iter(iterable)
    while True:
        start = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            seconds[stage] += time.perf_counter() - start
            return
        seconds[stage] += time.perf_counter() - start
        yield item


class Engine:
    """Batches spectra through the evidence search, the model and the
    decoder, and ranks what they find (see the module docstring).

    Parameters
    ----------
    session
        An open :class:`ModelSession` (its metadata gives the vocabulary,
        the preprocessing settings and, from format 2 on, the fitted
        engine settings), or None in ``evidence`` mode.
    window
        The precursor window, for the search, the beam and the ranking.
    decode
        Beam-search settings.
    config
        Batching and charge expansion.
    mode
        ``hybrid`` (default), ``evidence`` or ``model``.
    fitted
        Cleavage scorer and rank settings; default: the model file's,
        else those shipped with the package.
    ion_trap
        Settings for ion-trap spectra (``Spectrum.fragmentation``
        ``"CID"``, stated by the file, or ``"CID (estimated)"``, from the
        peaks of a file that states nothing: low-resolution fragments):
        ``"auto"`` takes :func:`ion_trap_settings`, a
        :class:`FittedSettings` is used as given, None reads every
        spectrum with ``fitted``.
    search
        Evidence-search settings (default: ``SearchConfig()``, and
        :data:`ION_TRAP_SEARCH` for ion-trap spectra).
    rescore
        Model mode: re-rank the beams by model score plus fragment match.
    modifications
        Fixed and variable modifications the user named
        (:mod:`denovo.core.modifications`): the search's vocabulary is
        the model's with them, the model scores their tokens neutrally;
        None or empty: the model's vocabulary, unchanged.
    """

    def __init__(self, session: ModelSession | None, *,
                 window: PrecursorWindow | None = None,
                 decode: DecodeConfig | None = None,
                 config: EngineConfig | None = None,
                 rescore: bool = False, mode: str = "hybrid",
                 fitted: FittedSettings | None = None,
                 search: SearchConfig | None = None,
                 ion_trap: FittedSettings | str | None = "auto",
                 modifications: ModSet | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, "
                             f"not {mode!r}")
        if session is None and mode != "evidence":
            raise ValueError(f"mode {mode!r} needs a model")
        self.session = session if mode != "evidence" else None
        self.mode = mode
        self.config = config or EngineConfig()
        self.window = window = window or PrecursorWindow()
        decode = decode or DecodeConfig()
        self.top_k = decode.top_k
        self.rescore = rescore and mode == "model"
        if self.rescore or mode == "hybrid":
            # rank every finished beam, not only the top_k
            decode = replace(decode, top_k=max(decode.top_k, decode.beam))
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)
        vocabulary = DEFAULT_VOCABULARY
        info = None if session is None else session.info
        if info is not None:
            vocabulary = info.vocabulary
            pre = info.preprocess
            self.preprocess = (pre if isinstance(pre, PreprocessConfig)
                               else PreprocessConfig.from_dict(pre))
            fitted = fitted or info.fitted
        self.fitted = fitted = fitted or load_default()
        model_vocabulary = vocabulary
        vocabulary, view = engine_vocabulary(
            model_vocabulary, modifications,
            with_model=self.session is not None)
        self.vocabulary, self.view = vocabulary, view
        self.decoder = Decoder(
            model_vocabulary if view is None else view.beam, decode, window,
            start=None if view is None else view.start)
        self.ranker = Ranker.build(vocabulary, fitted, mode=mode,
                                   search=search, window=window, view=view)
        # ion-trap CID spectra: the same engine with their own settings
        self._ion_trap = None
        if ion_trap is not None:
            trap = (ion_trap_settings(info) if ion_trap == "auto"
                    else ion_trap)
            self._ion_trap = (trap, Ranker.build(
                vocabulary, trap, mode=mode, window=window,
                search=search or ION_TRAP_SEARCH, view=view))
        self.takes_draft = bool(self.session is not None
                                and self.session.info.takes_draft)
        self._executor = None

    # -- the stream -----------------------------------------------------
    def run(self, spectra: Iterable) -> Iterator[Result]:
        """One :class:`Result` per spectrum, in input order (streaming)."""
        cfg = self.config
        stream = timed(spectra, self.stage_seconds, "read")
        for window in windows(stream, cfg.batch_size, cfg.charges):
            yield from self.sequence(window)

    def sequence(self, spectra: list) -> list[Result]:
        """Results of one window of spectra (all stages, in order)."""
        rows, batch = self._preprocess(self._rows(spectra))
        if self.mode != "model":
            self._stage("evidence", lambda r: self._ranker(r).find(r), rows)
            modelled = [r for r in rows if r.found]
        else:
            modelled = rows
        if self.session is not None:
            self._run_model(modelled, batch)
        matches: list[list[Match]] = [[] for _ in spectra]
        ranked = self._stage("evidence", self._rank, rows)
        for row, row_matches in zip(rows, ranked, strict=True):
            matches[row.index].extend(row_matches)
        has_peaks = {row.index for row in rows}
        return [self._result(s, matches[i], i in has_peaks)
                for i, s in enumerate(spectra)]

    def _rows(self, spectra: list) -> list[Row]:
        """Each usable spectrum at each charge tried; its evidence peaks
        prepared once and shared by its rows."""
        rows = []
        for i, s in enumerate(spectra):
            if not usable(s):
                continue
            peaks = None
            if self.mode != "model":
                peaks = self._ranker(s).search.peaks(s.mz, s.intensity,
                                                     s.precursor_mz)
            for z in ((s.charge,) if s.charge else self.config.charges):
                rows.append(Row(i, s, int(z),
                                float((s.precursor_mz - PROTON) * z),
                                peaks))
        return rows

    def _preprocess(self, rows: list[Row]) -> tuple[list, ModelBatch]:
        """The rows that keep peaks — after the model's preprocessing when
        a model runs, else any raw peak — and the model's view of the
        window (None without a model)."""
        if self.session is None:
            return [r for r in rows if r.spectrum.mz.size > 0], None
        start = time.perf_counter()
        charge = np.array([r.charge for r in rows], np.int64)
        peaks = preprocess_batch(
            [r.spectrum.mz for r in rows],
            [r.spectrum.intensity for r in rows],
            np.array([r.spectrum.precursor_mz for r in rows], np.float64),
            charge, config=self.preprocess)
        for k, r in enumerate(rows):
            r.batch_row = k
        kept = [r for r in rows if peaks.n_peaks[r.batch_row] > 0]
        self.stage_seconds["preprocess"] += time.perf_counter() - start
        return kept, ModelBatch(
            peaks, np.array([r.mass for r in rows], np.float64), charge)

    # -- stages ---------------------------------------------------------
    def _stage(self, stage: str, work, rows: list) -> list:
        """``work(row)`` for every row on the thread pool (the kernels
        release the GIL), timed as ``stage``; results in row order."""
        start = time.perf_counter()
        pool = self._pool()
        out = list(pool.map(work, rows) if pool is not None
                   else map(work, rows))
        self.stage_seconds[stage] += time.perf_counter() - start
        return out

    def _pool(self):
        """Threads for the decoder and the evidence stage (None for one)."""
        if self._executor is None:
            n = self.config.threads or os.cpu_count() or 1
            self._executor = (ThreadPoolExecutor(n, "denovo-evidence")
                              if n > 1 else False)
        return self._executor or None

    def _drafts(self, row: Row) -> list[tuple]:
        """The model inputs of a row: one blank draft, or the search's
        best peptides that fit the model's slots (after a blank one when
        the blank draft scores)."""
        if not self.takes_draft:
            return [()]
        n_slots = self.session.info.n_slots
        settings = self._ranker(row).settings
        limit = max(int(settings.drafts), 1)
        drafts = [f.tokens for f in row.found
                  if len(f.tokens) < n_slots][:limit]
        if row.found and settings.draft_scoring == "blank":
            drafts = [()] + drafts
        return drafts or [()]

    def _run_model(self, rows: list[Row], batch: ModelBatch) -> None:
        """Model and decoder for ``rows``, in padded batches of rows with
        similar peak counts."""
        n_peaks = batch.peaks.n_peaks
        size = self.config.batch_size
        for trap in (False, True):  # one fragment tolerance per batch
            group = sorted((r for r in rows if self._is_trap(r) == trap),
                           key=lambda r: n_peaks[r.batch_row])
            for first in range(0, len(group), size):
                self._model_batch(group[first:first + size], batch)

    def _model_batch(self, rows: list[Row], batch: ModelBatch) -> None:
        encode = (self.decoder.vocabulary.encode if self.view is None
                  else self.view.encode_draft)
        n_slots = self.session.info.n_slots
        owner, drafts = [], []
        for k, row in enumerate(rows):
            row.drafts = self._drafts(row)
            for tokens in row.drafts:
                owner.append(k)
                drafts.append(encode(tokens, n_slots - 1) if tokens
                              else np.zeros(n_slots, np.int64))
        owner = np.asarray(owner)
        sel = np.array([rows[k].batch_row for k in owner])
        draft = (np.stack(drafts).astype(np.int64) if self.takes_draft
                 else None)
        log_probs = self._model(batch, sel, draft)
        start = time.perf_counter()
        mass = np.array([rows[k].mass for k in owner])
        guide = None
        if self.mode != "model":
            guide = BeamGuide.from_peaks(
                [rows[k].peaks for k in owner],
                [rows[k].charge for k in owner],
                self._fitted(rows[0]).scorer,
                self._ranker(rows[0]).settings.beam_guide)
        cands = self.decoder.candidates(self.decoder.decode_arrays(
            log_probs, mass, guide, pool=self._pool(),
            fallback=self.mode == "model"))
        self.stage_seconds["decode"] += time.perf_counter() - start
        for k, row in enumerate(rows):
            idx = np.flatnonzero(owner == k)
            row.log_probs = log_probs[idx]
            row.model_candidates = [c for j in idx for c in cands[j]]

    def _model(self, batch: ModelBatch, sel: np.ndarray,
               draft) -> np.ndarray:
        """The model's log-probs for rows ``sel`` of the window's
        preprocessed peaks, padded to their widest spectrum (timed as the
        model stage)."""
        start = time.perf_counter()
        peaks = batch.peaks
        width = int(peaks.n_peaks[sel].max())
        log_probs = self.session.run(
            mz=peaks.mz[sel, :width].astype(np.float32),
            intensity=peaks.intensity[sel, :width],
            mask=peaks.mask[sel, :width],
            precursor_mass=batch.mass[sel].astype(np.float32),
            charge=batch.charge[sel], draft=draft)
        self.stage_seconds["model"] += time.perf_counter() - start
        return log_probs

    def _is_trap(self, item) -> bool:
        """Whether a row or spectrum is read as ion-trap CID."""
        spectrum = getattr(item, "spectrum", item)
        return (self._ion_trap is not None
                and getattr(spectrum, "fragmentation", None) in ION_TRAP)

    @property
    def ion_trap(self) -> FittedSettings | None:
        """The settings ion-trap spectra are read with (None: none are)."""
        return None if self._ion_trap is None else self._ion_trap[0]

    def _ranker(self, item) -> Ranker:
        return self._ion_trap[1] if self._is_trap(item) else self.ranker

    def _fitted(self, item) -> FittedSettings:
        return self._ion_trap[0] if self._is_trap(item) else self.fitted

    def _rank(self, row: Row) -> list[Match]:
        return [Match(r.candidate, row.charge, r.terms)
                for r in self._ranker(row).rank(row, keep=self.top_k)]

    # -- results --------------------------------------------------------
    def _result(self, spectrum, matches: list, has_peaks: bool) -> Result:
        if not usable(spectrum):
            return Result(spectrum, (), spectrum.status)
        if not has_peaks:
            return Result(spectrum, (), NO_PEAKS_LEFT)
        if not matches:  # the search found nothing of this mass
            return Result(spectrum, (), NO_MASS_MATCH)
        best = sorted(matches, key=self._rank_key(spectrum),
                      reverse=True)[:self.top_k]
        status = "ok" if best[0].candidate.mass_match else NO_MASS_MATCH
        return Result(spectrum, tuple(best), status)

    def _rank_key(self, spectrum):
        """Sort key: mass-matching first, then the (re)scored score.

        Rescoring (model mode only) adds the fragment-match score of
        :func:`denovo.core.match.match` (0-1: explained intensity and b/y
        ions found, within 0.05 Da) to the model's mean log-probability.
        """
        if not self.rescore:
            return lambda m: (m.candidate.mass_match, m.candidate.score)

        def key(m):
            fragments = fragment_mz(m.candidate.tokens, m.charge,
                                    vocabulary=self.vocabulary)
            physics = match(spectrum.mz, spectrum.intensity, fragments).score
            return (m.candidate.mass_match,
                    m.candidate.score + RESCORE_WEIGHT * physics)
        return key
