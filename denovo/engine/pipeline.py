"""The sequencing pipeline: read, preprocess, model, decode, evidence
search and ranking (:mod:`denovo.engine.ranking`), write.

Spectra stream through in windows of a few batches, so memory stays flat
on whole runs; inside a window the rows are sorted by peak count before
batching, so a model batch pads little (a spectrum's attention cost grows
with the padded width, and real runs mix 40- and 150-peak spectra). Every
input spectrum leaves exactly one :class:`Result` in input
order — sequenced, flagged ``no_mass_match``, or ``skipped:<reason>`` —
so nothing disappears between the file and the output.

Preprocessing uses the settings stored in the model (the same function
training used); a spectrum without a charge is tried at each configured
charge and the best candidate kept (mass-matching first, then score).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from ..core.constants import PROTON
from ..core.decode import Candidate, DecodeConfig, Decoder
from ..core.fragments import fragment_mz
from ..core.match import match
from ..core.evidence import EvidenceScorer, load_default_scorer
from ..core.preprocess import PreprocessConfig, preprocess_batch
from ..core.search import SearchConfig
from ..core.vocab import DEFAULT_VOCABULARY
from ..io.psm import PSM
from .ranking import MODES, Ranker
from .session import ModelSession

__all__ = [
    "sequence_files",
    "open_writers",
    "EngineConfig",
    "Match",
    "Result",
    "Summary",
    "Engine",
    "STAGES",
    "NO_MASS_MATCH",
    "NO_PEAKS_LEFT",
]

log = logging.getLogger(__name__)

NO_MASS_MATCH = "no_mass_match"
NO_PEAKS_LEFT = "skipped:no_peaks_after_preprocessing"
RESCORE_WEIGHT = 1.0  # fragment-match score (0-1) vs mean log-prob
WINDOW_BATCHES = 8  # batches read ahead and sorted by peak count
# Reader statuses about the label only: the spectrum is still sequenced.
_LABEL_ONLY = ("skipped:unknown_modification", "skipped:bad_label")
STAGES = ("read", "preprocess", "model", "decode", "evidence", "write")


@dataclass(frozen=True)
class EngineConfig:
    """How the engine batches and runs (decoding is in DecodeConfig)."""

    batch_size: int = 32  # model rows per batch (charge expansions count)
    charges: tuple = (2, 3)  # tried for spectra without a charge
    threads: int = 0  # ONNX Runtime intra-op threads, 0 = all cores

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not self.charges or min(self.charges) < 1:
            raise ValueError("charges must be positive integers")
        if self.threads < 0:
            raise ValueError("threads must be >= 0")


@dataclass(frozen=True)
class Match:
    """A candidate with the precursor charge it was decoded at, and the
    terms of its rank score (:mod:`denovo.engine.ranking`)."""

    candidate: Candidate
    charge: int
    terms: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """The outcome for one input spectrum.

    ``status`` is ``"ok"`` (best match fits the precursor),
    ``"no_mass_match"`` (best unconstrained peptide, flagged) or the
    ``"skipped:<reason>"`` status; ``matches`` is best first and empty
    for skipped spectra.
    """

    spectrum: object  # denovo.io Spectrum
    matches: tuple = ()
    status: str = "ok"

    def psms(self) -> list[PSM]:
        """Output rows: one per match, or one status row if none."""
        if not self.matches:
            return [PSM.from_spectrum(self.spectrum, status=self.status)]
        return [PSM.from_spectrum(
            self.spectrum, peptide=m.candidate.tokens,
            score=m.terms.get("model", None if m.terms
                              else m.candidate.score),
            aa_scores=m.candidate.aa_scores,
            charge=m.charge, rank=rank,
            status="ok" if m.candidate.mass_match else NO_MASS_MATCH,
            confidence=m.terms.get("confidence"),
            raw_scores=_raw_scores(m))
            for rank, m in enumerate(self.matches, 1)]


def _raw_scores(m: Match) -> dict | None:
    """The rank score and its terms, for the output's raw-score column."""
    if not m.terms:
        return None
    out = {"rank_score": m.candidate.score}
    for name in ("evidence", "model"):
        if name in m.terms:
            out[name] = m.terms[name]
    if "source" in m.terms:
        out["from_search"] = float(m.terms["source"] == "search")
    return out


@dataclass
class Summary:
    """Counts and timings of a run, for the final report."""

    n_spectra: int = 0
    n_sequenced: int = 0
    n_no_mass_match: int = 0
    skipped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    stage_seconds: dict = field(
        default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    # (file, what is wrong) for every damaged input (rows were still
    # written for every spectrum known to exist in it).
    damaged: list = field(default_factory=list)
    warm_up_seconds: float = 0.0  # kernels compiled or loaded, not in
    n_compiled: int = 0  # ``seconds``; Numba kernel compilations (cache
    # misses): > 0 on the first run after an install.

    @property
    def first_run_note(self) -> str | None:
        """One line about kernel compilation, or None when cached."""
        if not self.n_compiled:
            return None
        return (f"first run: compiled {self.n_compiled} Numba kernels in "
                f"{self.warm_up_seconds:.1f}s (not counted in the speed "
                "below); later runs load them from the cache")

    def add(self, result: Result) -> None:
        """Count one result."""
        self.n_spectra += 1
        if result.status == "ok":
            self.n_sequenced += 1
        elif result.status == NO_MASS_MATCH:
            self.n_no_mass_match += 1
        else:
            self.skipped[result.status] += 1

    @property
    def spectra_per_second(self) -> float:
        return self.n_spectra / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        """Human-readable multi-line report."""
        lines = [
            f"spectra in:        {self.n_spectra}",
            f"sequenced:         {self.n_sequenced}",
            f"no mass match:     {self.n_no_mass_match} "
            "(best unconstrained peptide reported, flagged)",
            f"skipped:           {sum(self.skipped.values())}",
        ]
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"  {reason}: {n}")
        if self.damaged:
            lines.append(f"damaged inputs:    {len(self.damaged)} ("
                         + ", ".join(src for src, _ in self.damaged)
                         + "; spectra lost to the damage have "
                         "skipped:unreadable rows where known)")
        stages = ", ".join(f"{k} {v:.2f}s"
                           for k, v in self.stage_seconds.items())
        lines.append(f"time:              {self.seconds:.2f}s "
                     f"({self.spectra_per_second:.1f} spectra/s; "
                     f"{stages})")
        return "\n".join(lines)


def _usable(spectrum) -> bool:
    return spectrum.ok or spectrum.status in _LABEL_ONLY


def _timed(iterable: Iterable, seconds: dict, stage: str) -> Iterator:
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
    decoder, and ranks what they find.

    Parameters
    ----------
    session
        An open :class:`ModelSession` (its metadata gives the vocabulary,
        the preprocessing settings and, from format 2 on, the evidence
        scorer), or None in ``evidence`` mode, where no model runs.
    decode
        Beam-search and precursor-window settings (the search uses the
        same window and isotope errors).
    config
        Batching and charge expansion.
    mode
        ``hybrid`` (default), ``evidence`` or ``model``; see
        :mod:`denovo.engine.ranking`.
    scorer
        Evidence scorer; default: the model file's, else the one shipped
        with the package.
    search
        Evidence-search settings; the precursor window and isotope errors
        always come from ``decode``.
    """

    def __init__(self, session: ModelSession | None, *,
                 decode: DecodeConfig | None = None,
                 config: EngineConfig | None = None,
                 rescore: bool = False, mode: str = "hybrid",
                 scorer: EvidenceScorer | None = None,
                 search: SearchConfig | None = None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, "
                             f"not {mode!r}")
        if session is None and mode != "evidence":
            raise ValueError(f"mode {mode!r} needs a model")
        self.session = session
        self.mode = mode
        self.config = config = config or EngineConfig()
        decode = decode or DecodeConfig()
        self.top_k = decode.top_k
        self.rescore = rescore and mode == "model"
        if self.rescore or mode == "hybrid":
            # rank every finished beam, not only the top_k
            decode = replace(decode, top_k=max(decode.top_k, decode.beam))
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)
        self.ranker = None
        vocabulary = DEFAULT_VOCABULARY
        if session is not None:
            info = session.info
            vocabulary = info.vocabulary
            pre = info.preprocess
            self.preprocess = (pre if isinstance(pre, PreprocessConfig)
                               else PreprocessConfig.from_dict(pre))
            scorer = scorer or getattr(info, "evidence_scorer", None)
        self.decoder = Decoder(vocabulary, decode)
        if mode != "model":
            search = replace(
                search or SearchConfig(),
                precursor_tol_ppm=decode.precursor_tol_ppm,
                precursor_tol_da=getattr(decode, "precursor_tol_da", 0.0)
                or 0.0, isotope_errors=tuple(decode.isotope_errors))
            self.ranker = Ranker(vocabulary, scorer or load_default_scorer(),
                                 mode=mode, search=search)

    def run(self, spectra: Iterable) -> Iterator[Result]:
        """One :class:`Result` per spectrum, in input order (streaming)."""
        cfg = self.config
        pending, rows = [], 0
        for spectrum in _timed(spectra, self.stage_seconds, "read"):
            pending.append(spectrum)
            if _usable(spectrum):
                rows += 1 if spectrum.charge else len(cfg.charges)
            window = WINDOW_BATCHES * cfg.batch_size
            if rows >= window or len(pending) >= 4 * window:
                yield from self._flush(pending)
                pending, rows = [], 0
        if pending:
            yield from self._flush(pending)

    def _flush(self, spectra: list) -> list[Result]:
        owner, charges = [], []
        for i, s in enumerate(spectra):
            if not _usable(s):
                continue
            for z in ((s.charge,) if s.charge else self.config.charges):
                owner.append(i)
                charges.append(int(z))
        matches: list[list[Match]] = [[] for _ in spectra]
        has_peaks = np.zeros(len(spectra), bool)
        if owner:
            self._sequence_rows(spectra, np.array(owner), np.array(charges),
                                matches, has_peaks)
        results = []
        for i, s in enumerate(spectra):
            if not _usable(s):
                results.append(Result(s, (), s.status))
            elif not has_peaks[i]:
                results.append(Result(s, (), NO_PEAKS_LEFT))
            elif not matches[i]:  # the search found nothing of this mass
                results.append(Result(s, (), NO_MASS_MATCH))
            else:
                rank = self._rank_key(s)
                best = sorted(matches[i], key=rank,
                              reverse=True)[:self.top_k]
                status = "ok" if best[0].candidate.mass_match \
                    else NO_MASS_MATCH
                results.append(Result(s, tuple(best), status))
        return results

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
                                    vocabulary=self.decoder.vocabulary)
            physics = match(spectrum.mz, spectrum.intensity, fragments).score
            return (m.candidate.mass_match,
                    m.candidate.score + RESCORE_WEIGHT * physics)
        return key

    def _sequence_rows(self, spectra, owner, charges, matches,
                       has_peaks) -> None:
        seconds = self.stage_seconds
        prec_mz = np.array([spectra[i].precursor_mz for i in owner],
                           np.float64)
        mass = (prec_mz - PROTON) * charges
        if self.session is None or self.mode == "evidence":  # no model
            jobs = []
            for row in range(owner.size):
                s = spectra[owner[row]]
                has_peaks[owner[row]] |= s.mz.size > 0
                jobs.append((s, int(charges[row]), mass[row], None, (),
                             matches[owner[row]], None))
            self._rank_rows(jobs)
            return
        start = time.perf_counter()
        batch = preprocess_batch(
            [spectra[i].mz for i in owner],
            [spectra[i].intensity for i in owner], prec_mz, charges,
            config=self.preprocess)
        keep = np.flatnonzero(batch.n_peaks > 0)
        has_peaks[owner[keep]] = True
        keep = keep[np.argsort(batch.n_peaks[keep], kind="stable")]
        seconds["preprocess"] += time.perf_counter() - start
        size = self.config.batch_size
        for first in range(0, keep.size, size):
            rows = keep[first:first + size]
            self._run_model(spectra, batch, rows, mass, charges, owner,
                            matches)

    def _rank_rows(self, jobs) -> None:
        """Search, pool and rank spectra, each at one charge: ``jobs`` of
        ``(spectrum, charge, mass, log_probs, model candidates, out,
        peaks or None[, the search's peptides, their rank scores])``.

        The search kernels release the GIL, so rows run on a small
        thread pool (``EngineConfig.threads``, 0 = all cores); each row
        writes only its own ``out`` list, in job order.
        """
        start = time.perf_counter()

        def one(job):
            spectrum, charge, mass, log_probs, cands, _, peaks = job[:7]
            found, scores = job[7:9] if len(job) > 7 else (None, None)
            return [Match(r.candidate, charge, r.terms)
                    for r in self.ranker.rank(
                        spectrum, charge, mass, log_probs=log_probs,
                        model_candidates=cands, keep=self.top_k,
                        peaks=peaks, found=found, found_scores=scores)]

        pool = self._pool()
        found = pool.map(one, jobs) if pool is not None else map(one, jobs)
        for job, rows in zip(jobs, found, strict=True):
            job[5].extend(rows)
        self.stage_seconds["evidence"] += time.perf_counter() - start

    def _pool(self):
        """Threads for the decoder and the evidence stage (None for one)."""
        if not hasattr(self, "_executor"):
            import os
            from concurrent.futures import ThreadPoolExecutor
            n = self.config.threads or os.cpu_count() or 1
            self._executor = (ThreadPoolExecutor(n, "denovo-evidence")
                              if n > 1 else None)
        return self._executor

    def _model(self, batch, rows, mass, charges, draft=None) -> np.ndarray:
        """The model's log-probs for ``rows`` of the preprocessed batch,
        padded to their widest spectrum (timed as the model stage)."""
        start = time.perf_counter()
        width = int(batch.n_peaks[rows].max())
        log_probs = self.session.run(
            mz=batch.mz[rows, :width].astype(np.float32),
            intensity=batch.intensity[rows, :width],
            mask=batch.mask[rows, :width],
            precursor_mass=mass[rows].astype(np.float32),
            charge=charges[rows].astype(np.int64), draft=draft)
        self.stage_seconds["model"] += time.perf_counter() - start
        return log_probs

    def _run_model(self, spectra, batch, rows, mass, charges, owner,
                   matches) -> None:
        """One padded model batch of ``rows``, decoded into ``matches``."""
        if self.ranker is not None and self.session.info.takes_draft:
            self._refine_drafts(spectra, batch, rows, mass, charges, owner,
                                matches)
            return
        seconds = self.stage_seconds
        log_probs = self._model(batch, rows, mass, charges)

        start = time.perf_counter()
        peaks = guide = None
        if self.ranker is not None:
            peaks = [self.ranker.peaks(spectra[owner[row]]) for row in rows]
            guide = self.ranker.guide(peaks, charges[rows])
        found = self.decoder.candidates(self.decoder.decode_arrays(
            log_probs, mass[rows], guide, pool=self._pool()))
        seconds["decode"] += time.perf_counter() - start
        jobs = []
        for k, (row, cands) in enumerate(zip(rows, found, strict=True)):
            z = int(charges[row])
            if self.ranker is None:
                matches[owner[row]].extend(Match(c, z) for c in cands)
            else:
                jobs.append((spectra[owner[row]], z, mass[row],
                             log_probs[k], cands, matches[owner[row]],
                             peaks[k]))
        if jobs:
            self._rank_rows(jobs)

    def _refine_drafts(self, spectra, batch, rows, mass, charges, owner,
                       matches) -> None:
        """A draft-conditioned model's batch: search every row; let the
        model refine each row's ``drafts`` best-ranked peptides, after a
        blank draft with ``draft_scoring = "blank"`` (one ONNX call);
        decode every refined distribution with the guided beam; rank.

        Rows the search finds nothing for skip the model: no peptide of
        their mass is supported by the peaks, so none is reported.
        """
        seconds = self.stage_seconds
        ranker = self.ranker
        start = time.perf_counter()
        peaks = [ranker.peaks(spectra[owner[row]]) for row in rows]

        def search(k):
            return ranker.drafts(peaks[k], mass[rows[k]],
                                 int(charges[rows[k]]))

        pool = self._pool()
        found = list(pool.map(search, range(rows.size)) if pool is not None
                     else map(search, range(rows.size)))
        seconds["evidence"] += time.perf_counter() - start
        vocab = self.decoder.vocabulary
        n_slots = self.session.info.n_slots
        limit = max(int(ranker.search.scorer.drafts), 1)
        owner_k, drafts = [], []
        for k, (peps, _) in enumerate(found):
            usable = [f.tokens for f in peps
                      if len(f.tokens) < n_slots][:limit]
            if peps and ranker.draft_scoring == "blank":
                usable = [()] + usable  # scores the candidates: first
            for tokens in usable or ([()] if peps else []):
                owner_k.append(k)
                drafts.append(vocab.encode(tokens, n_slots - 1) if tokens
                              else np.zeros(n_slots, np.int64))
        log_probs = cands = None
        if owner_k:
            sel = rows[np.asarray(owner_k)]
            log_probs = self._model(batch, sel, mass, charges,
                                    np.stack(drafts).astype(np.int64))
            start = time.perf_counter()
            guide = ranker.guide([peaks[k] for k in owner_k], charges[sel])
            cands = self.decoder.candidates(self.decoder.decode_arrays(
                log_probs, mass[sel], guide, pool=pool))
            seconds["decode"] += time.perf_counter() - start
        per_row: dict = {}
        for j, k in enumerate(owner_k):
            per_row.setdefault(k, []).append(j)
        jobs = []
        for k, row in enumerate(rows):
            out = matches[owner[row]]
            if k not in per_row:
                continue  # nothing found: no peptide reported
            idx = per_row[k]
            jobs.append((spectra[owner[row]], int(charges[row]), mass[row],
                         log_probs[idx], [c for j in idx for c in cands[j]],
                         out, peaks[k], *found[k]))
        if jobs:
            self._rank_rows(jobs)


@contextlib.contextmanager
def open_writers(*, mztab=None, csv=None, inputs: Iterable = (),
                 session: ModelSession | None = None,
                 decode: DecodeConfig | None = None) -> Iterator[list]:
    """Open the mzTab and/or CSV writers for a run; finish them after.

    The inputs are checked first (existence, format), and no output may
    be an input (resolved paths), so neither a typo nor a swapped
    argument loses a file. Outputs are written as ``NAME.partial`` and
    renamed when the ``with`` block ends normally; when it raises
    (including Ctrl-C) each partial file is kept if it holds rows (and
    logged) or removed if not (:mod:`denovo.io.atomic`).
    """
    from ..io import CsvWriter, MzTabWriter
    from ..io.atomic import check_output_paths
    from ..io.formats import detect_format

    inputs = [str(p) for p in inputs]
    for path in inputs:
        detect_format(path)
    check_output_paths([mztab, csv], inputs)
    decode = decode or DecodeConfig()
    vocab = session.info.vocabulary if session is not None else None
    kwargs = {} if vocab is None else {"vocabulary": vocab}
    settings = {"model": None if session is None else session.path.name,
                "beam": decode.beam, "top_match": decode.top_k,
                "precursor_tol": (f"{decode.precursor_tol_da} Da"
                                  if decode.precursor_tol_da else
                                  f"{decode.precursor_tol_ppm} ppm"),
                "isotope_errors": ",".join(map(str, decode.isotope_errors))}
    writers = []
    try:
        if mztab is not None:
            writers.append(MzTabWriter(mztab, inputs, settings=settings,
                                       **kwargs))
        if csv is not None:
            writers.append(CsvWriter(csv, runs=inputs, **kwargs))
        yield writers
    except BaseException:
        for writer in writers:
            kept = writer.abort()
            if kept is not None:
                log.warning("the run did not finish: the rows written so "
                            "far are in %s", kept)
        raise
    for writer in writers:
        writer.close()


def sequence_files(inputs: Iterable, *, session: ModelSession,
                   decode: DecodeConfig | None = None,
                   config: EngineConfig | None = None,
                   writers: Iterable = (), rescore: bool = False,
                   progress: bool = False, client=None,
                   cluster=None, mode: str = "hybrid", scorer=None) -> Summary:
    """Sequence spectrum files and stream the rows into ``writers``.

    Parameters
    ----------
    inputs
        Spectrum files (mzML, mzXML, MGF, MSP; gzipped or not).
    session
        The open model.
    decode, config
        Decoding and engine settings.
    writers
        Objects with ``write_many(psms)`` (``denovo.io`` writers).
    rescore
        Re-rank each spectrum's finished beams by model score plus
        fragment-match score (see :meth:`Engine._rank_key`; model mode).
    mode
        ``hybrid``, ``evidence`` or ``model`` (:mod:`denovo.engine.ranking`);
        ``session`` may be None in ``evidence`` mode.
    scorer
        Evidence scorer (default: the model's, else the package's).
    progress
        Show a tqdm progress bar (on stderr).
    client
        A Dask ``distributed.Client``: run the engine on its workers in
        chunks (:mod:`denovo.engine.cluster`; same rows, same order).
    cluster
        Chunking and retries on the cluster
        (:class:`denovo.engine.cluster.ClusterConfig`).

    Raises
    ------
    denovo.io.errors.InputFileError
        For a file that cannot be read; rows already written stay.
    """
    from ..io.reader import read_spectra
    from .firstrun import KernelCache, Progress, warm_up

    engine_kwargs = {"decode": decode, "config": config, "rescore": rescore,
                     "mode": mode, "scorer": scorer}
    engine = Engine(session, **engine_kwargs)
    config = engine.config
    writers = list(writers)
    summary = Summary()
    readers = []
    inputs = [str(p) for p in inputs]
    kernels = KernelCache().start()
    summary.warm_up_seconds = warm_up(session, decode or DecodeConfig(),
                                      engine.mode)
    compiled_in_warm_up = kernels.compile_seconds()

    def spectra():
        for path in inputs:
            reader = read_spectra(path)
            readers.append(reader)
            yield from reader

    def flush(rows):
        t0 = time.perf_counter()
        for writer in writers:
            writer.write_many(rows)
        engine.stage_seconds["write"] += time.perf_counter() - t0

    start = time.perf_counter()
    bar = Progress(inputs, enabled=progress)
    rows = []
    try:
        if client is None:
            results = engine.run(spectra())
        else:
            from .cluster import run_chunks
            results = run_chunks(spectra(), client=client, session=session,
                                 engine_kwargs=engine_kwargs,
                                 cluster=cluster,
                                 stage_seconds=engine.stage_seconds)
        for result in results:
            rows.extend(result.psms())
            summary.add(result)
            if len(rows) >= config.batch_size:
                flush(rows)
                rows = []
            bar.update(readers)
        flush(rows)
    finally:
        bar.close()
        kernels.stop()
    # kernels compiled on first use, after the warm-up: counted in the
    # first-run note, not in the speed
    late = kernels.compile_seconds() - compiled_in_warm_up
    summary.seconds = time.perf_counter() - start - late
    summary.warm_up_seconds += late
    summary.stage_seconds = dict(engine.stage_seconds)
    summary.n_compiled = kernels.compiled()
    # The reader has logged each damage once; the summary lists them.
    summary.damaged = [(r.stats.source, r.stats.damage) for r in readers
                       if r.stats.damage]
    return summary
