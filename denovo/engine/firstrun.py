"""First-run compilation and the progress bar of ``denovo sequence``.

The Numba kernels are compiled on the first run after an install and
cached on disk (``cache=True``) for later runs. :func:`warm_up` runs them
once on a dummy spectrum before the input is read, so that the cost is
measured apart from the sequencing speed, and :class:`KernelCache` says
whether anything was compiled (Numba's per-kernel cache statistics), so
the command can tell the user why the first run was slow.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

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


@dataclass
class KernelCache:
    """Numba cache misses (= compilations) since :meth:`start`, and the
    seconds they took (also those compiled after the warm-up, on first
    use)."""

    misses_at_start: int = 0
    timer: _CompileTimer | None = None

    @staticmethod
    def misses() -> int:
        """Cache misses of all loaded denovo kernels so far."""
        seen, total = set(), 0
        for disp in _dispatchers():
            if id(disp) in seen:
                continue
            seen.add(id(disp))
            total += sum(disp.stats.cache_misses.values())
        return total

    def start(self) -> "KernelCache":
        self.misses_at_start = self.misses()
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
        """Kernel signatures compiled since :meth:`start`."""
        return self.misses() - self.misses_at_start

    def compile_seconds(self) -> float:
        """Seconds spent compiling since :meth:`start`."""
        return self.timer.seconds if self.timer is not None else 0.0

def warm_up(engine) -> float:
    """Run ``engine`` once on a dummy spectrum (a clean b/y ladder the
    search finds), so exactly the kernels its mode runs are compiled
    (first run) or loaded (later runs) before the input is read; the
    engine's stage timings are left as they were. Returns the seconds it
    took."""
    from ..core.constants import H2O, PROTON
    from ..core.vocab import RESIDUE_MASS
    from ..io.spectrum import Spectrum

    start = time.perf_counter()
    residues = np.array([RESIDUE_MASS[a] for a in "PEPTLDEK"])
    fixed = getattr(getattr(engine, "vocabulary", None), "fixed", None)
    if fixed:  # the user's fixed mods: a peptide the search can find
        vocab = engine.vocabulary
        names = [fixed.get(a, a) for a in "PEPTLDEK"]
        residues = vocab.masses[[vocab.index(t) for t in names]].copy()
        if "N-term" in fixed:
            residues[0] += vocab.masses[vocab.index(fixed["N-term"])]
    prefixes = np.cumsum(residues)[:-1]
    total = residues.sum()
    ions = np.sort(np.concatenate([prefixes + PROTON,
                                   total - prefixes + H2O + PROTON]))
    dummy = Spectrum(mz=ions, intensity=np.linspace(
        1.0, 2.0, ions.size, dtype=np.float32),
        precursor_mz=(total + H2O + 2 * PROTON) / 2, charge=2)
    seconds = dict(engine.stage_seconds)
    engine.sequence([dummy])
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
