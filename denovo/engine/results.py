"""What the engine hands back: one :class:`Result` per input spectrum.

Every input spectrum leaves exactly one result, in input order —
sequenced, flagged ``no_mass_match``, or ``skipped:<reason>`` — so
nothing disappears between the file and the output; :class:`Summary`
counts them for the run's report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..core.decode import Candidate
from ..io.psm import PSM

__all__ = ["Match", "Result", "Summary", "STAGES", "NO_MASS_MATCH",
           "NO_PEAKS_LEFT"]

NO_MASS_MATCH = "no_mass_match"
NO_PEAKS_LEFT = "skipped:no_peaks_after_preprocessing"
STAGES = ("read", "preprocess", "evidence", "model", "decode", "write")


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
    for name in ("evidence", "model", "verifier"):
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
    # Spectra per fragmentation the files state (Spectrum.fragmentation;
    # None: not said), and the fragment tolerance the search read them at
    # (Da, None when in ppm).
    fragmentation: Counter = field(default_factory=Counter)
    # the same per input file (Spectrum.source): runs can differ
    fragmentation_by_file: dict = field(default_factory=dict)
    fragment_tol_da: float | None = None
    ion_trap_tol_da: float | None = None  # the tolerance of stated CID
    ion_trap_settings: str | None = None  # what they were fitted on

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
        kind = getattr(result.spectrum, "fragmentation", None)
        self.fragmentation[kind] += 1
        source = getattr(result.spectrum, "source", None)
        if source:
            self.fragmentation_by_file.setdefault(source,
                                                  Counter())[kind] += 1
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
            "(no peptide of the precursor mass is supported by the "
            "peaks; model mode: best unconstrained peptide, flagged)",
            f"skipped:           {sum(self.skipped.values())}",
        ]
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"  {reason}: {n}")
        said = {k: n for k, n in self.fragmentation.items() if k}
        if said:
            lines.append("fragmentation:     " + ", ".join(
                f"{k} {n}" for k, n in sorted(said.items()))
                + " (as the files state, or their peaks show)")
            if len(self.fragmentation_by_file) > 1:
                for source, kinds in self.fragmentation_by_file.items():
                    name = str(source).replace("\\", "/").rsplit("/", 1)[-1]
                    lines.append(f"  {name}: " + ", ".join(
                        f"{k or 'not stated'} {n}" for k, n in
                        sorted(kinds.items(), key=lambda c: str(c[0]))))
        tol = self.fragment_tol_da
        trap = said.get("CID", 0) + said.get("CID (estimated)", 0)
        if trap and self.ion_trap_settings is not None:
            at = (f"{self.ion_trap_tol_da:g} Da" if self.ion_trap_tol_da
                  is not None else "a ppm")
            lines.append(
                f"  ion-trap CID spectra read at {at} fragment tolerance "
                f"with the ion-trap settings ({self.ion_trap_settings})")
        elif trap and tol is not None and tol < 0.1:
            lines.append(
                f"  note: {trap} spectra are ion-trap CID (low-"
                f"resolution fragments), read at {tol:g} Da, a tolerance "
                "for high-resolution ones: run them with --fragment-tol "
                "0.5Da")
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
