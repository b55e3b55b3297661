"""Sequencing on a Dask cluster: chunks of spectra out, results back.

The driver reads the files, cuts the spectrum stream into chunks and
submits each chunk to a Dask worker, which runs the same
:class:`~denovo.engine.pipeline.Engine` a single-process run would (built
from the same keyword arguments) and sends back the results without their
spectra. The driver puts each spectrum back into its result and hands the
results on in input order, so reading, writing, the summary and the exit
codes are those of :func:`~denovo.engine.run.sequence_files`.

Outputs are identical to a single-process run: a chunk always ends where
the engine would close a read-ahead window anyway, so every model batch
holds the same spectra as it would in one process. Each worker opens the
model once (a cache per worker thread, keyed by model and settings).

A chunk that raises is retried (``ClusterConfig.retries``), one whose
worker dies is resubmitted by the scheduler; if it still fails the run
stops with that chunk named, after writing the rows before it, as a
single-process run stops at the same error. Dask (``distributed``) is
imported only here and only when a cluster is asked for.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import pickle
import threading
import time
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

from .. import __version__ as _VERSION
from .pipeline import Engine, EngineConfig, timed
from .results import Result
from .rows import windows
from .session import MODELS_DIR, ModelSession

__all__ = ["ClusterConfig", "ClusterError", "ClusterStats", "connect",
           "run_chunks", "INSTALL_HINT"]

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "sequencing on a cluster needs Dask; install the 'cluster' extra "
    "(pip install -e \".[cluster]\" in a checkout) or "
    "pip install \"dask[distributed]\"")
_CACHE_SIZE = 2  # engines kept per worker thread (distinct settings)


class ClusterError(RuntimeError):
    """Dask is missing, the scheduler is unreachable, or a chunk was lost."""


@dataclass(frozen=True)
class ClusterConfig:
    """How spectra are cut into chunks and how failures are retried."""

    chunk_spectra: int = 512  # at least this many spectra per chunk
    retries: int = 2  # resubmissions of a chunk whose task raised
    in_flight: int = 0  # chunks submitted ahead; 0 = 2 per worker thread

    def __post_init__(self):
        if self.chunk_spectra < 1:
            raise ValueError("chunk_spectra must be >= 1")
        if self.retries < 0 or self.in_flight < 0:
            raise ValueError("retries and in_flight must be >= 0")


@dataclass
class ClusterStats:
    """What the chunks cost, filled in by :func:`run_chunks`.

    Seconds are per chunk, in submission order: ``wait`` is submission to
    result on the driver, ``run`` the engine on the worker, ``open`` the
    model opening on the worker (0 when cached), ``bytes`` the pickled
    size of the spectra sent (measured only when ``measure_bytes``).
    """

    measure_bytes: bool = False
    spectra: list = field(default_factory=list)
    wait: list = field(default_factory=list)
    run: list = field(default_factory=list)
    open: list = field(default_factory=list)
    bytes: list = field(default_factory=list)
    workers: set = field(default_factory=set)


@dataclass(frozen=True)
class _ChunkOutput:
    results: list  # Result per spectrum, spectrum=None
    stage_seconds: dict
    open_seconds: float
    run_seconds: float
    worker: str


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return distributed


# -- worker side ------------------------------------------------------------

_ENGINES: collections.OrderedDict = collections.OrderedDict()
_LOCK = threading.Lock()


def _engine_for(model: str | None, threads: int, engine_kwargs: dict):
    """This thread's engine for a model and settings; opened once.

    ``model`` None means no model (an engine that needs none). Returns the
    engine and the seconds spent opening it (0 if cached). One per thread
    because an engine keeps per-run state (timings).
    """
    settings = hashlib.sha1(pickle.dumps(sorted(engine_kwargs.items())))
    key = (threading.get_ident(), model, threads, settings.hexdigest())
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            _ENGINES.move_to_end(key)
            return engine, 0.0
    start = time.perf_counter()
    session = None if model is None else ModelSession(model,
                                                      threads=threads)
    engine = Engine(session, **engine_kwargs)
    seconds = time.perf_counter() - start
    with _LOCK:
        _ENGINES[key] = engine
        mine = [k for k in _ENGINES if k[0] == key[0]]  # oldest first
        for old in mine[:-_CACHE_SIZE]:
            del _ENGINES[old]
    return engine, seconds


def _run_chunk(spectra: list, model: str | None, threads: int,
               engine_kwargs: dict, version: str) -> _ChunkOutput:
    """Worker task: sequence one chunk; results come back spectrum-less.

    A worker with another denovo version than the driver refuses: its
    results could differ from a single-process run.
    """
    import denovo

    if denovo.__version__ != version:
        raise ClusterError(f"a worker runs denovo {denovo.__version__}, "
                           f"the driver {version}; install the same "
                           "version on both")
    engine, open_seconds = _engine_for(model, threads, engine_kwargs)
    before = dict(engine.stage_seconds)
    start = time.perf_counter()
    results = [replace(r, spectrum=None) for r in engine.run(spectra)]
    run_seconds = time.perf_counter() - start
    stages = {k: v - before.get(k, 0.0)
              for k, v in engine.stage_seconds.items()}
    try:
        from distributed import get_worker
        worker = get_worker().address
    except (ImportError, ValueError):
        worker = ""
    return _ChunkOutput(results, stages, open_seconds, run_seconds, worker)


# -- driver side ------------------------------------------------------------

def _chunks(spectra: Iterable, config: EngineConfig,
            size: int) -> Iterator[list]:
    """Whole read-ahead windows of :meth:`Engine.run`
    (:func:`denovo.engine.rows.windows`), at least ``size`` spectra a
    chunk but the last; so a worker forms exactly the windows, hence the
    model batches, of a single-process run."""
    chunk = []
    for window in windows(spectra, config.batch_size, config.charges):
        chunk.extend(window)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _where(chunk: list) -> str:
    first, last = chunk[0], chunk[-1]
    return f"spectra {first.spectrum_id} to {last.spectrum_id}"


def _model_ref(path: Path) -> str:
    """A bundled model by name (workers have their own install), else the
    path, which workers must see (a shared file system)."""
    path = Path(path).resolve()
    if path.parent == MODELS_DIR.resolve():
        return path.stem
    return str(path)


def _session_threads(session) -> int:
    try:
        options = session.session.get_session_options()
        return int(options.intra_op_num_threads)
    except AttributeError:
        return 0


def run_chunks(spectra: Iterable, *, client, session, engine_kwargs: dict,
               cluster: ClusterConfig | None = None,
               stage_seconds: dict | None = None,
               stats: ClusterStats | None = None) -> Iterator[Result]:
    """Sequence a spectrum stream on a Dask cluster; results in order.

    Parameters
    ----------
    spectra
        The spectra, in order (a reader's stream).
    client
        A ``distributed.Client``.
    session
        The driver's open :class:`ModelSession`, or None where the engine
        runs without a model; workers open the same model file (a bundled
        model by name) with the same threads.
    engine_kwargs
        Keyword arguments of :class:`Engine` (``decode``, ``config``,
        ``rescore``, ...), exactly as the driver would build it.
    cluster
        Chunking and retries.
    stage_seconds
        Timings to add to: ``read`` on the driver, the other stages summed
        over the workers.
    stats
        Filled with per-chunk costs (for benchmarks).

    Raises
    ------
    ClusterError
        A chunk was lost with its worker more often than the scheduler
        allows (``distributed.scheduler.allowed-failures``).
    Exception
        A chunk's own error after its retries, re-raised as is.
    """
    cluster = cluster or ClusterConfig()
    config = engine_kwargs.get("config") or EngineConfig()
    seconds = stage_seconds if stage_seconds is not None else {}
    seconds.setdefault("read", 0.0)
    model = None if session is None else _model_ref(session.path)
    threads = 0 if session is None else _session_threads(session)
    distributed = _distributed()
    tag = uuid.uuid4().hex[:12]
    stream = _chunks(timed(spectra, seconds, "read"), config,
                     cluster.chunk_spectra)
    queue: collections.deque = collections.deque()

    def limit() -> int:
        if cluster.in_flight:
            return cluster.in_flight
        return max(2, 2 * sum(client.nthreads().values()))

    def submit(number: int, chunk: list) -> None:
        future = client.submit(
            _run_chunk, chunk, model, threads, engine_kwargs, _VERSION,
            key=f"denovo-chunk-{tag}-{number}", pure=False,
            retries=cluster.retries)
        queue.append((number, chunk, future, time.perf_counter()))
        if stats is not None and stats.measure_bytes:
            stats.bytes.append(len(pickle.dumps(chunk, protocol=5)))

    number = 0
    try:
        cap = limit()
        for chunk in stream:
            submit(number, chunk)
            number += 1
            while len(queue) >= cap:
                yield from _collect(queue.popleft(), distributed, seconds,
                                    stats, cluster.retries)
                cap = limit()
        while queue:
            yield from _collect(queue.popleft(), distributed, seconds,
                                stats, cluster.retries)
    finally:
        for _, _, future, _ in queue:
            future.cancel()


def _collect(entry, distributed, seconds: dict, stats, retries: int):
    number, chunk, future, submitted = entry
    # distributed >= 2024.4 raises its own subclass of CancelledError
    cancelled = (CancelledError, getattr(distributed.client,
                                         "FutureCancelledError",
                                         CancelledError))
    try:
        out = future.result()
    except distributed.KilledWorker as exc:
        raise ClusterError(
            f"chunk {number} ({_where(chunk)}) was lost: its worker died "
            f"each time it ran it ({exc})") from None
    except cancelled as exc:
        raise ClusterError(
            f"chunk {number} ({_where(chunk)}) was cancelled ({exc}); "
            "did the scheduler go away?") from None
    except Exception as exc:
        log.error("chunk %d (%s) failed after %d retries: %s: %s", number,
                  _where(chunk), retries, type(exc).__name__, exc)
        raise
    if len(out.results) != len(chunk):
        raise ClusterError(
            f"chunk {number} ({_where(chunk)}) came back with "
            f"{len(out.results)} results for {len(chunk)} spectra")
    for stage, value in out.stage_seconds.items():
        if stage != "read":
            seconds[stage] = seconds.get(stage, 0.0) + value
    if stats is not None:
        stats.spectra.append(len(chunk))
        stats.wait.append(time.perf_counter() - submitted)
        stats.run.append(out.run_seconds)
        stats.open.append(out.open_seconds)
        stats.workers.add(out.worker)
    for spectrum, result in zip(chunk, out.results, strict=True):
        yield replace(result, spectrum=spectrum)


@contextlib.contextmanager
def connect(*, workers: int | None = None, scheduler: str | None = None,
            timeout_s: float = 30.0):
    """A Dask client: a new local cluster of ``workers`` processes (one
    thread each), or the running scheduler at ``scheduler``; None (and no
    Dask import) when neither is given.

    Raises
    ------
    ClusterError
        Dask is not installed or the scheduler cannot be reached.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give workers or a scheduler, not both")
    if workers is None and scheduler is None:
        yield None
        return
    distributed = _distributed()
    # Dask logs every start and stop at INFO; follow our own verbosity.
    logging.getLogger("distributed").setLevel(
        max(logging.getLogger().getEffectiveLevel(), logging.INFO))
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at "
                               f"{scheduler}: {exc}") from None
        try:
            yield client
        finally:
            _close_quietly(client)
        return
    if workers < 1:
        raise ValueError("workers must be >= 1")
    with distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            scheduler_kwargs={"dashboard": False}, dashboard_address=":0",
            silence_logs=logging.ERROR) as local:
        client = distributed.Client(local)
        try:
            yield client
        finally:
            _close_quietly(client)


def _close_quietly(client) -> None:
    """Close a client without masking the run's own outcome: after a
    failed chunk, Dask may raise while closing (seen in CI: a bare
    AssertionError replaced the chunk's error and its message)."""
    try:
        client.close()
    except Exception as exc:  # noqa: BLE001 - never hide the real error
        log.warning("closing the Dask client failed: %r", exc)
