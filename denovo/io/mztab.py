"""Incremental mzTab 1.0 writer for the PSM section.

Rows are written as results arrive and flushed per call to
``NAME.partial``, renamed to ``NAME`` on :meth:`MzTabWriter.close` (see
:mod:`denovo.io.atomic`), so a long run leaves a readable partial file and
a file at the output path is always complete.
``search_engine_score[1]`` is the sortable
:attr:`~denovo.io.psm.PSM.reported_score` (0 for flagged rows), the raw
model score is in ``opt_global_model_score``. The layout follows the
mzTab 1.0 spec and is read back in the tests by
``pyteomics.mztab.MzTab``: ``sequence`` holds plain residues,
``modifications`` the ``position-UNIMOD:N`` list (0 = N-terminus;
``CHEMMOD:+x`` for a modification given by its mass), the
full peptidoform sits in
``opt_global_cv_MS:1003169_proforma_peptidoform_sequence``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .. import __version__
from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .atomic import AtomicFile, AtomicWriter
from .csv_writer import format_raw_scores
from .psm import PSM

__all__ = ["MzTabWriter", "PSM_COLUMNS", "mztab_modifications"]

PSM_COLUMNS = (
    "sequence", "PSM_ID", "accession", "unique", "database",
    "database_version", "search_engine", "search_engine_score[1]",
    "modifications", "retention_time", "charge", "exp_mass_to_charge",
    "calc_mass_to_charge", "spectra_ref", "pre", "post", "start", "end",
    "opt_global_cv_MS:1003169_proforma_peptidoform_sequence",
    "opt_global_aa_scores", "opt_global_scan", "opt_global_title",
    "opt_global_status", "opt_global_rank", "opt_global_model_score",
    "opt_global_raw_scores",
)
# fragmentation class (Spectrum.fragmentation) -> PSI-MS activation term
_ACTIVATION = {
    "HCD": "[MS, MS:1000422, beam-type collision-induced dissociation, ]",
    "CID": "[MS, MS:1000133, collision-induced dissociation, ]",
    "CID-FT": "[MS, MS:1000133, collision-induced dissociation, ]",
    "CID (estimated)":
        "[MS, MS:1000133, collision-induced dissociation, ]",
    "ETD": "[MS, MS:1000598, electron transfer dissociation, ]",
    "EThcD": "[MS, MS:1002631, Electron-Transfer/Higher-Energy Collision "
             "Dissociation (EThcD), ]",
}
_RUN_FORMAT = {  # extension -> (file format, native id format)
    "mgf": ("[MS, MS:1001062, Mascot MGF format, ]",
            "[MS, MS:1000774, multiple peak list nativeID format, ]"),
    "msp": ("[MS, MS:1001062, Mascot MGF format, ]",
            "[MS, MS:1000774, multiple peak list nativeID format, ]"),
    "mzml": ("[MS, MS:1000584, mzML format, ]",
             "[MS, MS:1000776, scan number only nativeID format, ]"),
    "mzxml": ("[MS, MS:1000566, ISB mzXML format, ]",
              "[MS, MS:1000776, scan number only nativeID format, ]"),
}


def _text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return "null" if math.isnan(value) else f"{value:.6f}"
    return " ".join(str(value).split())  # no tabs or newlines in a cell


def mztab_modifications(peptide: Sequence[str], *,
                        vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """mzTab ``modifications`` cell, e.g. ``"0-UNIMOD:1,3-UNIMOD:35"``."""
    items, position = [], 0
    for name in peptide:
        token = vocabulary.tokens[vocabulary.index(name)]
        if not token.n_terminal:
            position += 1
        items.extend(f"{0 if token.n_terminal else position}-"
                     f"{m.accession}" for m in token.mods)
    return ",".join(items) or "null"


def _run_format(path: str) -> str:
    suffixes = [s.lower().lstrip(".") for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == "gz":
        suffixes.pop()
    return suffixes[-1] if suffixes and suffixes[-1] in _RUN_FORMAT \
        else "mzml"


class MzTabWriter(AtomicWriter):
    """Write PSMs to an mzTab file as they come.

    Parameters
    ----------
    path
        Output file.
    runs
        The input spectrum files, in order; they become ``ms_run[1..n]``
        and PSMs are matched to them by their ``source``.
    fixed
        Fixed modifications the search assumed, e.g.
        ``{"C": "C[UNIMOD:4]"}`` (default: the vocabulary's own,
        :attr:`~denovo.core.vocab.Vocabulary.fixed`); every other
        modification of a vocabulary token is listed as variable.
    settings
        Key/value pairs recorded as ``software[1]-setting[n]``.
    vocabulary
        Token table for modification positions and masses.

    When the run finishes, each ``ms_run`` gets the fragmentation its
    spectra were read as (``ms_run[k]-fragmentation_method[n]``, and a
    ``custom`` line counting the spectra of each class), known only then:
    the metadata is completed as the file gets its final name.
    """

    def __init__(self, path, runs: Sequence, *,
                 fixed: Mapping[str, str] | None = None,
                 settings: Mapping[str, object] | None = None,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        if not runs:
            raise ValueError("mzTab needs at least one ms_run")
        self.path = Path(path)
        self.vocabulary = vocabulary
        self._runs: dict[str, int] = {}
        names: dict[str, list[int]] = {}
        for k, run in enumerate(runs, 1):
            self._runs[str(run)] = k
            names.setdefault(Path(run).name, []).append(k)
        for name, ks in names.items():
            if len(ks) == 1:
                self._runs.setdefault(name, ks[0])
        self._n_rows = 0
        self._classes = {k: Counter() for k in range(1, len(runs) + 1)}
        self._file = AtomicFile(self.path, newline="\n")
        self._fh = self._file.fh
        self._write_header(runs, fixed or {}, settings or {})

    def _mtd(self, key: str, value) -> None:
        self._fh.write(f"MTD\t{key}\t{value}\n")

    def _write_header(self, runs, fixed, settings) -> None:
        mtd = self._mtd
        mtd("mzTab-version", "1.0.0")
        mtd("mzTab-mode", "Summary")
        mtd("mzTab-type", "Identification")
        mtd("mzTab-ID", _text(self.path.stem))
        mtd("description", "de novo peptide sequencing results; "
            "search_engine_score[1] is a sortable score in [0, 1], 0 for "
            "no_mass_match rows; opt_global_model_score is the raw mean "
            "token log-probability")
        mtd("software[1]", f"[MS, MS:1001456, analysis software, "
            f"denovo {__version__}]")
        for i, (key, value) in enumerate(settings.items(), 1):
            mtd(f"software[1]-setting[{i}]", _text(f"{key} = {value}"))
        mtd("psm_search_engine_score[1]",
            "[MS, MS:1001153, search engine specific score, ]")
        for k, run in enumerate(runs, 1):
            file_format, id_format = _RUN_FORMAT[_run_format(str(run))]
            mtd(f"ms_run[{k}]-format", file_format)
            mtd(f"ms_run[{k}]-location", Path(run).resolve().as_uri())
            mtd(f"ms_run[{k}]-id_format", id_format)
        self._write_mods(fixed)
        self._fh.write("\nPSH\t" + "\t".join(PSM_COLUMNS) + "\n")
        self._fh.flush()

    def _write_mods(self, fixed) -> None:
        vocab = self.vocabulary
        fixed_tokens = set((fixed or vocab.fixed).values())

        def pairs(names):  # (modification, site) of each token's mods
            for name in names:
                token = vocab.tokens[vocab.index(name)]
                site = "N-term" if token.n_terminal else token.residue
                for mod in token.mods:
                    yield mod, site

        fixed_pairs = list(pairs(sorted(fixed_tokens)))
        fixed_keys = {(m.accession, site) for m, site in fixed_pairs}
        variable_pairs = [
            (m, site) for m, site in pairs(
                t.name for t in vocab.tokens
                if t.mods and t.name not in fixed_tokens)
            if (m.accession, site) not in fixed_keys]
        for kind, items, empty in (
                ("fixed_mod", fixed_pairs,
                 "[MS, MS:1002453, No fixed modifications searched, ]"),
                ("variable_mod", variable_pairs,
                 "[MS, MS:1002454, No variable modifications searched, ]")):
            k, seen = 0, set()
            for mod, site in items:
                if (mod.accession, site) in seen:
                    continue
                seen.add((mod.accession, site))
                k += 1
                param = (f"[UNIMOD, {mod.accession}, {mod.name}, ]"
                         if mod.unimod is not None else
                         f"[MS, MS:1001460, unknown modification, "
                         f"{mod.name}]")
                self._mtd(f"{kind}[{k}]", param)
                self._mtd(f"{kind}[{k}]-site", site)
                self._mtd(f"{kind}[{k}]-position",
                          "Any N-term" if site == "N-term" else "Anywhere")
            if k == 0:
                self._mtd(f"{kind}[1]", empty)

    def _run(self, psm: PSM) -> int:
        try:
            return self._runs[psm.source]
        except KeyError:
            k = self._runs.get(Path(psm.source).name)
            if k is None:
                raise ValueError(f"PSM source {psm.source!r} is not one of "
                                 "the writer's runs") from None
            return k

    def _row(self, psm: PSM, k: int) -> list[str]:
        from ..core.peptide import plain_sequence, precursor_mz, to_proforma
        if psm.native_id is None:
            ref = f"ms_run[{k}]:index={psm.index}"
        elif psm.scan is not None:
            ref = f"ms_run[{k}]:scan={psm.scan}"
        else:
            ref = f"ms_run[{k}]:{psm.native_id}"
        peptide = psm.peptide
        vocab = self.vocabulary
        sequence = mods = proforma = calc = None
        if peptide:
            sequence = plain_sequence(peptide, vocabulary=vocab)
            mods = mztab_modifications(peptide, vocabulary=vocab)
            proforma = to_proforma(peptide, vocabulary=vocab)
            calc = psm.calc_mz
            if calc is None and psm.charge:
                calc = precursor_mz(peptide, psm.charge, vocabulary=vocab)
        aa = None if not psm.aa_scores else \
            ",".join(f"{a:.5f}" for a in psm.aa_scores)
        rt = None if psm.rt is None else float(psm.rt)
        cells = [
            sequence, self._n_rows + 1, None, None, None, None,
            "[MS, MS:1001456, analysis software, denovo]",
            psm.reported_score,
            mods if peptide else None, rt, psm.charge,
            None if psm.exp_mz is None else float(psm.exp_mz),
            None if calc is None else float(calc), ref,
            None, None, None, None, proforma, aa, psm.scan, psm.title,
            psm.status, psm.rank,
            None if psm.score is None else float(psm.score),
            format_raw_scores(psm.raw_scores) or None]
        return [_text(c) for c in cells]

    def write(self, psm: PSM) -> None:
        """Write one row and flush."""
        self.write_many((psm,))

    def write_many(self, psms: Iterable[PSM]) -> None:
        """Write rows, then flush once."""
        for psm in psms:
            k = self._run(psm)
            self._fh.write("PSM\t" + "\t".join(self._row(psm, k)) + "\n")
            self._n_rows += 1
            if psm.rank == 1:  # one per spectrum
                self._classes[k][psm.fragmentation] += 1
        self._fh.flush()

    def _fragmentation_lines(self) -> list[str]:
        lines, n_custom = [], 0
        for k, classes in self._classes.items():
            terms = []
            for name in sorted(c for c in classes if c in _ACTIVATION):
                if _ACTIVATION[name] not in terms:
                    terms.append(_ACTIVATION[name])
            for i, term in enumerate(terms, 1):
                lines.append(f"MTD\tms_run[{k}]-fragmentation_method[{i}]"
                             f"\t{term}\n")
            if classes:
                n_custom += 1
                said = ", ".join(f"{name or 'not stated'} {n}" for name, n
                                 in sorted(classes.items(),
                                           key=lambda c: str(c[0])))
                lines.append(f"MTD\tcustom[{n_custom}]\t[, , ms_run[{k}] "
                             f"spectra per fragmentation read, {said}]\n")
        return lines

    def close(self) -> None:
        """Complete the metadata with each run's fragmentation, then give
        the file its final name."""
        lines = self._fragmentation_lines()
        if lines and self._file.state == "open":
            self._fh.close()
            partial = self._file.partial_path
            staged = partial.with_name(partial.name + ".header")
            try:
                with open(partial, encoding="utf-8", newline="\n") as src, \
                        open(staged, "w", encoding="utf-8",
                             newline="\n") as dst:
                    for line in src:
                        if lines and line.startswith("PSH\t"):
                            dst.writelines(lines)
                            lines = None
                        dst.write(line)
                os.replace(staged, partial)
            finally:
                staged.unlink(missing_ok=True)
        super().close()

    @property
    def n_rows(self) -> int:
        """Rows written so far."""
        return self._n_rows
