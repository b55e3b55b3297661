"""First-run compilation and the progress bar of ``denovo sequence``.

The Numba kernels are compiled on the first run after an install and
cached on disk (``cache=True``) for later runs. :func:`warm_up` runs them
once on a dummy spectrum before the input is read, so that the cost is
measured apart from the sequencing speed, and :class:`KernelCache` says
whether anything was compiled (Numba's per-kernel cache statistics), so
the command can tell the user why the first run was slow.

On a cold cache in ``hybrid`` mode the two independent kernel groups
compile at the same time: the evidence search's kernels in a child
process (it writes them to the same on-disk cache), the model
side's (preprocessing, beam) here; the engine's own warm-up then loads
the child's kernels from the cache. What the child compiled is counted
in :class:`KernelCache` as if compiled here.
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from numba.core import event

__all__ = ["KernelCache", "warm_up", "Progress"]


def _dispatchers() -> list:
    """Every disk-cached Numba kernel of the loaded denovo modules."""
    out = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("denovo.") or module is None:
            continue
        for value in list(vars(module).values()):
            stats = getattr(value, "stats", None)
            if stats is not None and hasattr(stats, "cache_misses") \
                    and hasattr(value, "py_func"):
                out.append(value)
    return out


class _CompileTimer(event.Listener):
    """``numba:compile`` listener: seconds spent compiling (outermost
    compilations only; a kernel's callees compile inside it)."""

    def __init__(self):
        self.seconds = 0.0
        self.listening = False
        self._depth = 0
        self._start = 0.0

    def on_start(self, event) -> None:
        if self._depth == 0:
            self._start = time.perf_counter()
        self._depth += 1

    def on_end(self, event) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._start


# What child processes compiled for this process (see _compile_parallel):
# signatures per kernel name, seconds, and their numba:compile records.
_CHILD = {"compiled": {}, "seconds": 0.0, "events": []}


def _kernel_name(disp) -> str:
    return disp.py_func.__module__ + "." + disp.py_func.__qualname__


def _misses() -> dict:
    """Cache misses of each loaded denovo kernel so far, by name."""
    out = {}
    for disp in _dispatchers():
        out[_kernel_name(disp)] = sum(disp.stats.cache_misses.values())
    return out


@dataclass
class KernelCache:
    """Numba cache misses (= compilations) since :meth:`start`, and the
    seconds they took (also those compiled after the warm-up, on first
    use, and those a warm-up child process compiled for this one: a
    kernel compiled in both counts once, its seconds in both)."""

    misses_at_start: dict = field(default_factory=dict)
    child_at_start: dict = field(default_factory=dict)
    child_seconds_at_start: float = 0.0
    timer: _CompileTimer | None = None

    @staticmethod
    def misses() -> int:
        """Cache misses of all loaded denovo kernels so far."""
        return sum(_misses().values())

    def start(self) -> "KernelCache":
        self.misses_at_start = _misses()
        self.child_at_start = dict(_CHILD["compiled"])
        self.child_seconds_at_start = _CHILD["seconds"]
        self.stop()
        self.timer = _CompileTimer()
        event.register("numba:compile", self.timer)
        self.timer.listening = True
        return self

    def stop(self) -> None:
        """Stop timing compilations (:meth:`compile_seconds` keeps its
        value)."""
        if self.timer is not None and self.timer.listening:
            event.unregister("numba:compile", self.timer)
            self.timer.listening = False

    def compiled(self) -> int:
        """Kernel signatures compiled since :meth:`start` (here or in a
        warm-up child)."""
        here = {k: v - self.misses_at_start.get(k, 0)
                for k, v in _misses().items()}
        child = {k: v - self.child_at_start.get(k, 0)
                 for k, v in _CHILD["compiled"].items()}
        return sum(max(here.get(k, 0), child.get(k, 0))
                   for k in set(here) | set(child))

    def compile_seconds(self) -> float:
        """Seconds spent compiling since :meth:`start` (here and in a
        warm-up child, which ran at the same time)."""
        here = self.timer.seconds if self.timer is not None else 0.0
        return here + _CHILD["seconds"] - self.child_seconds_at_start


def _dummy():
    """A clean b/y ladder of PEPTLDEK at charge 2 (the search finds it)."""
    from ..core.constants import H2O, PROTON
    from ..core.vocab import RESIDUE_MASS
    from ..io.spectrum import Spectrum

    residues = np.array([RESIDUE_MASS[a] for a in "PEPTLDEK"])
    prefixes = np.cumsum(residues)[:-1]
    total = residues.sum()
    ions = np.sort(np.concatenate([prefixes + PROTON,
                                   total - prefixes + H2O + PROTON]))
    return Spectrum(mz=ions, intensity=np.linspace(
        1.0, 2.0, ions.size, dtype=np.float32),
        precursor_mz=(total + H2O + 2 * PROTON) / 2, charge=2)


# The kernels of each side of a hybrid run (module, name): the evidence
# search's and the model's (preprocessing, knapsack table, beam).
_SEARCH_KERNELS = (("denovo.core.evidence", "rank_weights"),
                   ("denovo.core.evidence", "candidate_prefixes"),
                   ("denovo.core.paths", "node_log_odds"),
                   ("denovo.core.paths", "search_kernel"),
                   ("denovo.core.peak_once", "peak_once_batch"))
_MODEL_KERNELS = (("denovo.core.preprocess", "preprocess_batch_inplace"),
                  ("denovo.core.beam", "feasibility_table"),
                  ("denovo.core.beam", "beam_search_row"))


def _cold(kernels) -> bool:
    """True when none of ``kernels`` has a fresh entry in Numba's on-disk
    cache (its index file is missing, or stale for the source): a cheap
    test, reading a few small index files; False when it cannot tell."""
    try:
        for module, name in kernels:
            disp = getattr(importlib.import_module(module), name)
            if disp.signatures or disp._cache._cache_file._load_index():
                return False
        return True
    except Exception:  # another Numba, caching off: never spawn
        return False


class _Recorder(event.Listener):
    """numba:compile records of a child: kernel, signature, depth,
    seconds with and without the callees compiled inside."""

    def __init__(self):
        self.records, self._stack = [], []

    def on_start(self, ev) -> None:
        self._stack.append([_kernel_name(ev.data["dispatcher"]),
                            str(ev.data["args"]), time.perf_counter(), 0.0])

    def on_end(self, ev) -> None:
        name, args, t0, inner = self._stack.pop()
        took = time.perf_counter() - t0
        if self._stack:
            self._stack[-1][3] += took
        self.records.append({"kernel": name, "args": args,
                             "depth": len(self._stack), "seconds": took,
                             "own_seconds": took - inner})


def _child_main() -> None:
    """Child process (``python -c``; see :func:`_compile_parallel`):
    reads its setup from stdin (pickled), compiles the evidence search's
    kernels of a hybrid run (the peaks' rank weights, the candidate
    prefixes, their log-odds, the paths) by running the ranker's search
    on the dummy spectrum, and writes what it compiled (pickled) to the
    file named on the command line."""
    import pickle

    from ..core.evidence import rank_weights
    from ..core.vocab import Vocabulary
    from .ranking import Ranker

    tokens, fitted, mode, search, window = pickle.load(sys.stdin.buffer)
    recorder = _Recorder()
    event.register("numba:compile", recorder)
    try:
        ranker = Ranker.build(Vocabulary(tokens), fitted, mode=mode,
                              search=search, window=window)
        spectrum = _dummy()
        ranker.search.search(_peaks(spectrum, rank_weights),
                             _mass(spectrum), spectrum.charge)
    finally:
        event.unregister("numba:compile", recorder)
        compiled = {_kernel_name(d): sum(d.stats.cache_misses.values())
                    for d in _dispatchers()}
        with open(sys.argv[1], "wb") as f:
            pickle.dump({"compiled": {k: v for k, v in compiled.items()
                                      if v},
                         "events": recorder.records}, f)


def _peaks(spectrum, rank_weights):
    """Evidence peaks of the dummy, typed as ``prepare_peaks`` returns
    them (float64 m/z, rank weights of float32 intensities), without
    its preprocessing kernel (compiled by the other process)."""
    return (np.array(spectrum.mz, np.float64),
            rank_weights(np.array(spectrum.intensity, np.float32)))


def _mass(spectrum) -> float:
    from ..core.constants import PROTON
    return float((spectrum.precursor_mz - PROTON) * spectrum.charge)


def _compile_parallel(engine) -> None:
    """Cold cache, hybrid mode: the search's kernels in a child process,
    the model side's here, at the same time (see the module docstring).
    The child is a plain ``python -c`` (no re-import of the caller's
    main module) with this denovo first on its path. Any failure leaves
    the kernels to the engine's own warm-up."""
    import os
    import pickle
    import subprocess
    import tempfile
    from pathlib import Path

    from ..core.decode import BeamGuide
    from ..core.preprocess import preprocess_batch

    search = engine.ranker.search
    setup = pickle.dumps((search.vocabulary.tokens[2:], engine.fitted,
                          engine.mode, search.config, engine.window))
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p]))
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "compiled.pickle")
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", "from denovo.engine.firstrun import "
                 "_child_main; _child_main()", result],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env)
        except OSError:
            return
        try:
            child.stdin.write(setup)
            child.stdin.close()
            # here: preprocessing, knapsack table, beam, peak-once ranking
            spectrum = _dummy()
            preprocess_batch([spectrum.mz], [spectrum.intensity],
                             np.array([spectrum.precursor_mz], np.float64),
                             np.array([spectrum.charge], np.int64),
                             config=engine.preprocess)
            decoder = engine.decoder
            n_slots = engine.session.info.n_slots
            vocab = len(decoder.vocabulary)
            peaks = (np.array(spectrum.mz, np.float64),
                     np.linspace(1.0, 0.5, spectrum.mz.size))
            guide = BeamGuide.from_peaks(
                [peaks], [spectrum.charge], engine.fitted.scorer,
                engine.ranker.settings.beam_guide)
            decoder.decode_arrays(
                np.full((1, n_slots, vocab), -np.log(vocab), np.float32),
                np.array([_mass(spectrum)]), guide, fallback=False)
            search.rank_scores(peaks, [tuple("PEPTLDEK")], spectrum.charge)
            child.wait(600)
            with open(result, "rb") as f:
                out = pickle.load(f)
        except Exception:
            return
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    _CHILD["compiled"] = {k: _CHILD["compiled"].get(k, 0) + v
                          for k, v in out["compiled"].items()}
    _CHILD["seconds"] += sum(r["seconds"] for r in out["events"]
                             if r["depth"] == 0)
    _CHILD["events"].extend(out["events"])


def warm_up(engine) -> float:
    """Run ``engine`` once on a dummy spectrum (a clean b/y ladder the
    search finds), so exactly the kernels its mode runs are compiled
    (first run) or loaded (later runs) before the input is read; the
    engine's stage timings are left as they were. On a cold cache in
    hybrid mode the search's and the model's kernels compile in two
    processes first. Returns the seconds it took."""
    start = time.perf_counter()
    if (engine.mode == "hybrid" and engine.session is not None
            and _cold(_SEARCH_KERNELS) and _cold(_MODEL_KERNELS)):
        _compile_parallel(engine)
    seconds = dict(engine.stage_seconds)
    engine.sequence([_dummy()])
    engine.stage_seconds.update(seconds)
    return time.perf_counter() - start


class Progress:
    """tqdm bar over the spectra of all inputs, with a total if known.

    The total is the sum of :func:`denovo.io.formats.count_spectra` over
    the inputs (MGF/MSP: blocks counted by a fast byte scan; mzML/mzXML:
    the count in the file header, all MS levels), or None when a file
    does not say. The bar counts spectra read, all MS levels, so it ends
    at the total.
    """

    def __init__(self, inputs, *, enabled: bool):
        self.bar = None
        if not enabled:
            return
        from tqdm import tqdm

        from ..io.formats import count_spectra
        counts = [count_spectra(p) for p in inputs]
        total = None if any(c is None for c in counts) else sum(counts)
        self.bar = tqdm(total=total, unit=" spectra", desc="sequencing",
                        leave=False, dynamic_ncols=True)

    def update(self, readers) -> None:
        """Move the bar to the spectra the ``readers`` have read."""
        if self.bar is None:
            return
        done = sum(max(sum(r.stats.ms_levels.values()), r.stats.n_spectra)
                   for r in readers)
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
