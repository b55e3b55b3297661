"""Sequencing files: open the outputs, stream the spectra through the
engine (in this process or on a Dask cluster), write the rows, report.

The engine (:mod:`denovo.engine.pipeline`) and the cluster driver
(:mod:`denovo.engine.cluster`) both sit below this module, so neither
imports the other's caller.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from dataclasses import replace
from typing import Iterable, Iterator, Mapping

from ..core.decode import DecodeConfig
from ..core.modifications import ModSet, engine_vocabulary
from ..core.resolution import LOW, RESOLUTION_SPECTRA, fragment_resolution
from ..io.formats import detect_format
from ..core.search import SearchConfig
from ..core.settings import FittedSettings
from ..core.window import PrecursorWindow
from ..io.reader import read_spectra
from .cluster import ClusterConfig, run_chunks
from .firstrun import KernelCache, Progress, warm_up
from .pipeline import ESTIMATED_CID, Engine, EngineConfig
from .results import Summary
from .session import ModelSession

__all__ = ["open_writers", "sequence_files", "sequence_on_cluster"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def open_writers(*, mztab=None, csv=None, tsv=None, inputs: Iterable = (),
                 session: ModelSession | None = None,
                 decode: DecodeConfig | None = None,
                 window: PrecursorWindow | None = None,
                 fragment_tol: Mapping[str, str] | None = None,
                 modifications: ModSet | None = None) -> Iterator[list]:
    """Open the mzTab, CSV and/or psm_utils TSV writers for a run; finish
    them after.

    The writers get the engine's vocabulary: the model's, with the
    ``modifications`` the user named (the mzTab header declares them).

    The inputs are checked first (existence, format), and no output may
    be an input (resolved paths), so neither a typo nor a swapped
    argument loses a file. Outputs are written as ``NAME.partial`` and
    renamed when the ``with`` block ends normally; when it raises
    (including Ctrl-C) each partial file is kept if it holds rows (and
    logged) or removed if not (:mod:`denovo.io.atomic`).
    ``fragment_tol`` (fragmentation class -> tolerance, e.g. ``{"HCD":
    "0.02 Da"}``) joins the mzTab's recorded settings.
    """
    from ..io import CsvWriter, MzTabWriter
    from ..io.atomic import check_output_paths
    from ..io.psm_tsv import PsmTsvWriter

    inputs = [str(p) for p in inputs]
    for path in inputs:
        detect_format(path)
    check_output_paths([mztab, csv, tsv], inputs)
    decode = decode or DecodeConfig()
    window = window or PrecursorWindow()
    vocab = session.info.vocabulary if session is not None else None
    if modifications:
        from ..core.vocab import DEFAULT_VOCABULARY
        vocab = engine_vocabulary(vocab or DEFAULT_VOCABULARY,
                                  modifications, with_model=False)[0]
    kwargs = {} if vocab is None else {"vocabulary": vocab}
    settings = {"model": None if session is None else session.path.name,
                "beam": decode.beam, "top_match": decode.top_k,
                "precursor_tol": window.describe(),
                "isotope_errors": ",".join(map(str, window.isotope_errors))}
    settings.update({f"fragment_tol[{k}]": v
                     for k, v in (fragment_tol or {}).items()})
    if modifications:
        settings["modifications"] = modifications.describe()
    writers = []
    try:
        if mztab is not None:
            writers.append(MzTabWriter(mztab, inputs, settings=settings,
                                       **kwargs))
        if csv is not None:
            writers.append(CsvWriter(csv, runs=inputs, **kwargs))
        if tsv is not None:
            writers.append(PsmTsvWriter(tsv, **kwargs))
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


def sequence_files(inputs: Iterable, *, session: ModelSession | None,
                   window: PrecursorWindow | None = None,
                   decode: DecodeConfig | None = None,
                   config: EngineConfig | None = None,
                   writers: Iterable = (), rescore: bool = False,
                   progress: bool = False, client=None,
                   cluster=None, mode: str = "hybrid",
                   fitted: FittedSettings | None = None,
                   ion_trap: FittedSettings | str | None = "auto",
                   fragmentation: str = "auto",
                   search: SearchConfig | None = None,
                   modifications: ModSet | None = None) -> Summary:
    """Sequence spectrum files and stream the rows into ``writers``.

    Parameters
    ----------
    inputs
        Spectrum files (mzML, mzXML, MGF, MSP; gzipped or not).
    session
        The open model (None in ``evidence`` mode).
    window
        The precursor window.
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
    fitted
        Cleavage scorer and rank settings (default: the model's, else
        the package's).
    ion_trap
        Settings of the spectra read as ion-trap CID (:class:`Engine`):
        ``"auto"`` the model's or the package's, None: ``fitted`` for
        all.
    fragmentation
        ``"auto"``: each spectrum's class as its file states it, or for
        MGF/MSP files as their peaks show; ``"HCD"`` or ``"CID"``: every
        spectrum read as that class.
    search
        Evidence-search settings for every spectrum (default: the
        engine's, :class:`Engine`).
    modifications
        Fixed and variable modifications to search
        (:mod:`denovo.core.modifications`; give the same to
        :func:`open_writers`); None: the model's vocabulary.
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
    engine_kwargs = {"window": window, "decode": decode, "config": config,
                     "rescore": rescore, "mode": mode, "fitted": fitted,
                     "ion_trap": ion_trap, "search": search}
    if modifications:  # absent otherwise: the workers' cache keys stay
        engine_kwargs["modifications"] = modifications
    engine = Engine(session, **engine_kwargs)
    config = engine.config
    writers = list(writers)
    summary = Summary()
    readers = []
    inputs = [str(p) for p in inputs]
    kernels = KernelCache().start()
    summary.warm_up_seconds = warm_up(engine)
    compiled_in_warm_up = kernels.compile_seconds()

    def spectra():
        for path in inputs:
            reader = read_spectra(path)
            readers.append(reader)
            stream = iter(reader)
            if fragmentation != "auto":
                yield from (replace(s, fragmentation=fragmentation)
                            for s in stream)
                continue
            if ion_trap is None or detect_format(path) not in (
                    "mgf", "msp"):
                yield from stream
                continue
            # a file that states nothing: its first spectra tell
            head = list(itertools.islice(stream, RESOLUTION_SPECTRA))
            if fragment_resolution(head) != LOW:
                yield from head
                yield from stream
                continue
            for s in itertools.chain(head, stream):
                yield (replace(s, fragmentation=ESTIMATED_CID)
                       if s.fragmentation is None else s)

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
    evidence = engine.fitted.scorer.config
    summary.fragment_tol_da = (None if evidence.ppm
                               else float(evidence.fragment_tol))
    if engine.ion_trap is not None:
        trap = engine.ion_trap.scorer
        summary.ion_trap_tol_da = (None if trap.config.ppm
                                   else float(trap.config.fragment_tol))
        fitted_on = trap.provenance.get("fragmentation", "HCD")
        summary.ion_trap_settings = (
            f"scorer fitted on {fitted_on} spectra, confidence on "
            f"{trap.provenance.get('engine_fit_on', fitted_on)}")
    return summary


def sequence_on_cluster(inputs: Iterable, client, *, model=None,
                        mztab=None, csv=None, window=None, decode=None,
                        config: EngineConfig | None = None,
                        cluster: ClusterConfig | None = None,
                        rescore: bool = False, mode: str = "hybrid",
                        fitted=None, progress: bool = False,
                        ion_trap: FittedSettings | str | None = "auto",
                        fragmentation: str = "auto",
                        modifications: ModSet | None = None) -> Summary:
    """Sequence files on a Dask cluster into mzTab and/or CSV files.

    The library form of ``denovo sequence --scheduler``: same settings,
    same outputs, same errors as a single-process run.

    Parameters
    ----------
    inputs
        Spectrum files, read by the calling process.
    client
        A ``distributed.Client`` (a ``LocalCluster``, dask-jobqueue's
        ``SLURMCluster``, ...). Workers need denovo installed and, for a
        model that is not bundled, the model file at the same path.
    model
        Model file or bundled name (None: the default model).
    mztab, csv
        Output paths (at least one).
    window, decode, config, cluster
        Precursor window, decoding, engine and chunking settings.
    rescore, mode, fitted, progress, ion_trap, fragmentation, modifications
        As for :func:`sequence_files`.

    Returns
    -------
    Summary
        Counts and timings of the run.
    """
    if mztab is None and csv is None:
        raise ValueError("give an mzTab and/or a CSV output path")
    inputs = [str(p) for p in inputs]
    config = config or EngineConfig()
    session = ModelSession(model, threads=config.threads)
    with open_writers(mztab=mztab, csv=csv, inputs=inputs, session=session,
                      decode=decode, window=window,
                      modifications=modifications) as writers:
        return sequence_files(inputs, session=session, window=window,
                              decode=decode, config=config, writers=writers,
                              rescore=rescore, mode=mode, fitted=fitted,
                              ion_trap=ion_trap,
                              fragmentation=fragmentation,
                              modifications=modifications,
                              progress=progress, client=client,
                              cluster=cluster)
