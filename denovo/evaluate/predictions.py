"""Read predictions (mzTab or CSV) and join them to annotated spectra.

Formats
-------
* **mzTab** (denovo's and Casanovo's): the ``PSH``/``PSM`` section.
  The peptide comes from an ``opt_*proforma*`` column when there is one
  (denovo writes
  ``opt_global_cv_MS:1003169_proforma_peptidoform_sequence``),
  else from ``sequence``, which may hold Casanovo-v4 mass notation
  (``+42.011PEPM+15.995K``), ProForma with names, accessions or deltas
  (Casanovo >= 4.1), or plain letters plus the standard ``modifications``
  column (``"3-UNIMOD:35,0-UNIMOD:1"``). The score is
  ``search_engine_score[1]``; the spectrum is ``spectra_ref``.
* **CSV/TSV** with a header (denovo's CSV is the community benchmark
  format): peptide column ``peptide``/``proforma``/``sequence``; score
  ``score``/``peptide_score``/``search_engine_score[1]``; spectrum
  either ``spectrum_id``/``spectrum_ref``/``spectra_ref`` (``"run.mgf:3"``
  = index 3, or mzTab syntax with a file name instead of ``ms_run[k]``:
  ``"run.mgf:index=3"``, ``"run.mzML:scan=7"``), or ``file`` plus
  ``index``, ``scan`` or ``title``.

Joining
-------
A prediction names its spectrum by (file, ``index=N``) — the 0-based
position of the spectrum in an MGF, as Casanovo writes it — or by
(file, ``scan=N``) — the scan number of mzML/mzXML native ids
(``controllerType=0 controllerNumber=1 scan=N``) or MGF ``SCANS=`` — or
by (file, title). Files are matched on their base name without
extensions (``.gz`` too); with one truth file every prediction refers to
it. Several rows for one spectrum (top-k output): the highest score is
kept. Rows that join no annotated spectrum are counted and reported.
Empty sequences, ``null`` and unparseable peptides count as no
prediction (unparseable ones are also reported with file and line).

Checks
------
A file that is not a predictions table is an error, not zeros: a CSV
needs a peptide column and a spectrum reference, a file needs at least
one row, and not every peptide may be unreadable. Each joined prediction
is checked against its truth spectrum: its file name (when it names one),
its precursor m/z (mzTab ``exp_mass_to_charge``, CSV ``precursor_mz``;
within 0.01 + 10 ppm) and its scan number (mzTab ``opt_global_scan``,
CSV ``scan``, when it joined by index). When more than half of the
joined predictions disagree, :func:`join` stops with an error (wrong
``--truth``?) unless ``allow_partial``; the disagreeing ones are never
scored.

The module stays whole (about 500 lines): reading, joining and checking
share the spectrum-reference parsing and the prediction records, and the
rules above are easier to keep consistent in one place.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary

__all__ = [
    "Prediction",
    "TruthSpectrum",
    "PredictionFormatError",
    "read_predictions",
    "read_truth",
    "join",
    "parse_spectrum_ref",
]

log = logging.getLogger(__name__)

_RUN = re.compile(r"^ms_run\[(\d+)\]:(.*)$")
_KEYVAL = re.compile(r"(?:^|\s)(index|scan|spectrum)=(\d+)(?:\s|$)")
_MZTAB_MOD = re.compile(r"^(\d+)-(UNIMOD:\d+)$")
_NULL = {"", "null", "nan", "none", "na"}
MAX_WARNINGS = 10  # unreadable peptides reported one by one
PRECURSOR_TOL_MZ = 0.01  # + PRECURSOR_TOL_PPM: same spectrum
PRECURSOR_TOL_PPM = 10.0
_PEPTIDE_COLUMNS = ("peptide", "proforma", "sequence")
_REF_COLUMNS = ("spectra_ref", "spectrum_ref", "spectrum_id", "index",
                "scan", "title")
_LABEL_PROBLEMS = ("skipped:unknown_modification", "skipped:bad_label")


class PredictionFormatError(ValueError):
    """A predictions file that cannot be read; names file and line."""


@dataclass(frozen=True)
class Prediction:
    """One predicted PSM: where it points and what it says."""

    file: str | None  # file the spectrum came from (None: unknown)
    kind: str  # "index", "scan" or "title"
    key: int | str
    peptide: tuple[str, ...] | None  # None: no (usable) prediction
    score: float
    line: int  # 1-based line in the predictions file
    precursor_mz: float | None = None  # as the predictions file says
    scan: int | None = None  # scan number it names besides its key


@dataclass(frozen=True)
class TruthSpectrum:
    """An annotated spectrum of the evaluation set."""

    file: str
    index: int
    scan: int | None
    title: str | None
    peptide: tuple[str, ...]
    precursor_mz: float | None = None


def _stem(name: str) -> str:
    """Base name without directories, URI scheme and extensions."""
    name = re.sub(r"^file:/*", "/", str(name)).replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    return base.split(".", 1)[0] if "." in base[1:] else base


def parse_spectrum_ref(ref: str) -> tuple[str | None, str, int | str]:
    """Split ``"ms_run[1]:index=5"`` into ``("ms_run[1]", "index", 5)``.

    The first part is the run (``ms_run[k]`` or a file name, ``None``
    when absent). ``scan=``/``spectrum=`` in a native id give a scan, a
    bare number after the file name (``"run.mgf:5"``, the community
    benchmark ``spectrum_id``) an index; anything else is a title.
    """
    ref = ref.strip().split("|")[0]
    run = None
    m = _RUN.match(ref)
    if m:
        run, ref = f"ms_run[{m.group(1)}]", m.group(2)
    elif ":" in ref and not ref.startswith(("index=", "scan=")):
        head, tail = ref.rsplit(":", 1)
        if tail.strip().isdigit():  # "{file name}:{index}" benchmark id
            return head, "index", int(tail)
        if _KEYVAL.search(tail):
            run, ref = head, tail
    m = _KEYVAL.search(ref)
    if m:
        kind = "index" if m.group(1) == "index" else "scan"
        return run, kind, int(m.group(2))
    return run, "title", ref


def _parse_peptide(text, mods, vocabulary, where, bad):
    """Peptide tokens of a sequence (+ mzTab modifications) or None.

    Unreadable peptides are appended to ``bad`` as (where, text, why).
    """
    from ..core import peptide as pep  # lazy: written in parallel

    text = (text or "").strip()
    if text.lower() in _NULL:
        return None
    try:
        if mods and mods.strip().lower() not in _NULL and text.isalpha():
            text = _apply_mztab_mods(text, mods, where)
        return pep.parse(text, vocabulary=vocabulary)
    except ValueError as err:
        bad.append((where, text, str(err)))
        return None


def _apply_mztab_mods(seq: str, mods: str, where: str) -> str:
    """Plain sequence + ``"3-UNIMOD:35,0-UNIMOD:1"`` -> ProForma."""
    after = {}
    for item in mods.split(","):
        m = _MZTAB_MOD.match(item.strip())
        if not m:
            raise ValueError(f"unsupported mzTab modification {item!r}")
        pos = int(m.group(1))
        if pos > len(seq):
            raise ValueError(f"modification position {pos} beyond "
                             f"{seq!r}")
        after.setdefault(pos, []).append(f"[{m.group(2)}]")
    nterm = "".join(after.pop(0, []))
    body = "".join(aa + "".join(after.get(i + 1, []))
                   for i, aa in enumerate(seq))
    return f"{nterm}-{body}" if nterm else body


def _score(text, where) -> float:
    if text is None or text.strip().lower() in _NULL:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise PredictionFormatError(
            f"{where}: score {text!r} is not a number") from None


def _read_mztab(path: Path, vocabulary, bad) -> list[Prediction]:
    runs, header, out = {}, None, []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            cells = line.rstrip("\r\n").split("\t")
            tag = cells[0]
            where = f"{path}:{lineno}"
            if tag == "MTD" and len(cells) >= 3:
                m = re.match(r"^(ms_run\[\d+\])-location$", cells[1])
                if m:
                    runs[m.group(1)] = cells[2]
            elif tag == "PSH":
                header = {name: i for i, name in enumerate(cells)}
                for need in ("sequence", "spectra_ref"):
                    if need not in header:
                        raise PredictionFormatError(
                            f"{where}: PSH header has no {need!r} column")
            elif tag == "PSM":
                if header is None:
                    raise PredictionFormatError(
                        f"{where}: PSM row before the PSH header")
                row = dict(zip(header, cells, strict=False))
                out.append(_row_prediction(row, runs, vocabulary, where,
                                           lineno, bad, mztab=True))
    if header is None:
        raise PredictionFormatError(
            f"{path}: no PSH line; not an mzTab file with PSMs")
    return out


def _pick(row: dict, names: Iterable[str]):
    low = {k.strip().lower(): v for k, v in row.items() if k is not None}
    for name in names:
        if name in low:
            return low[name]
    return None


def _row_prediction(row, runs, vocabulary, where, lineno, bad, *, mztab):
    proforma = next((v for k, v in row.items()
                     if k and k.lower().startswith("opt")
                     and "proforma" in k.lower()
                     and v and v.strip().lower() not in _NULL), None)
    text = proforma or _pick(row, ("peptide", "proforma", "sequence"))
    mods = None if proforma else _pick(row, ("modifications",))
    peptide = _parse_peptide(text, mods, vocabulary, where, bad)
    score = _score(_pick(row, ("search_engine_score[1]", "score",
                               "peptide_score")), where)
    ref = _pick(row, ("spectra_ref", "spectrum_ref", "spectrum_id"))
    if ref is not None and ref.strip():
        run, kind, key = parse_spectrum_ref(ref)
        file = runs.get(run, run) if mztab else run
    else:
        file = _pick(row, ("file", "source", "filename"))
        for kind in ("index", "scan", "title"):
            key = _pick(row, (kind,))
            if key is not None and key.strip():
                break
        else:
            raise PredictionFormatError(
                f"{where}: no spectrum reference (need spectrum_ref, or "
                "index, scan or title)")
        if kind != "title":
            try:
                key = int(key)
            except ValueError:
                raise PredictionFormatError(
                    f"{where}: {kind} {key!r} is not an integer") from None
    return Prediction(file, kind, key, peptide, score, lineno,
                      _optional_float(_pick(row, (
                          "exp_mass_to_charge", "precursor_mz", "exp_mz",
                          "precursor"))),
                      _optional_int(_pick(row, ("opt_global_scan",
                                                "scan"))))


def _optional_float(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _optional_int(text) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _read_csv(path: Path, vocabulary, bad) -> list[Prediction]:
    with open(path, encoding="utf-8", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        delim = "\t" if path.suffix.lower() == ".tsv" or (
            "\t" in first and "," not in first) else ","
        reader = csv.DictReader(fh, delimiter=delim)
        if reader.fieldnames is None:
            raise PredictionFormatError(f"{path}: empty file")
        names = {str(n).strip().lower() for n in reader.fieldnames}
        if not names & set(_PEPTIDE_COLUMNS) or not names & set(
                _REF_COLUMNS):
            raise PredictionFormatError(
                f"{path}:1: not a predictions table: the header needs a "
                f"peptide column ({', '.join(_PEPTIDE_COLUMNS)}) and a "
                f"spectrum reference ({', '.join(_REF_COLUMNS)})")
        return [
            _row_prediction(row, {}, vocabulary, f"{path}:{lineno}",
                            lineno, bad, mztab=False)
            for lineno, row in enumerate(reader, 2)
        ]


def read_predictions(
    path: str | Path, *, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> list[Prediction]:
    """Read an mzTab (``.mztab``) or CSV/TSV predictions file."""
    path = Path(path)
    if not path.is_file():
        raise PredictionFormatError(f"{path}: no such file")
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096)
    bad: list = []
    if path.suffix.lower() == ".mztab" or head.startswith(("MTD", "PSH")):
        preds = _read_mztab(path, vocabulary, bad)
    else:
        preds = _read_csv(path, vocabulary, bad)
    if not preds:
        raise PredictionFormatError(f"{path}: no prediction rows")
    if len(bad) == len(preds):
        where, text, why = bad[0]
        raise PredictionFormatError(
            f"{path}: no peptide could be read (first: {where}: {text!r}, "
            f"{why})")
    for where, text, why in bad[:MAX_WARNINGS]:
        log.warning("%s: cannot read peptide %r (%s); counted as no "
                    "prediction", where, text, why)
    if len(bad) > MAX_WARNINGS:
        log.warning("%s: %d unreadable peptides in all, counted as no "
                    "prediction", path, len(bad))
    log.info("%s: %d predictions", path, len(preds))
    return preds


def read_truth(
    paths: Sequence[str | Path],
    *,
    labels: Sequence[str | Path | None] | None = None,
    fixed: dict | None = None,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> list[TruthSpectrum]:
    """Annotated spectra of ``paths`` via :mod:`denovo.io`.

    ``labels`` pairs each spectrum file with a label file (mzIdentML,
    PEPREC) or None (labels inside the file: MGF ``SEQ=``, MSP).
    Unannotated spectra are not part of the evaluation set and are
    skipped, as are spectra whose label holds a modification outside
    ``vocabulary`` (no model with this vocabulary can get them right);
    both are counted in a warning. ``fixed`` (``{"C": "C[UNIMOD:4]"}``)
    is handed to the reader for labels that leave fixed modifications
    implicit.
    """
    from ..io.reader import read_annotated  # lazy: heavy readers

    if labels is None:
        labels = [None] * len(paths)
    if len(labels) != len(paths):
        raise ValueError(f"{len(labels)} label files for {len(paths)} "
                         "spectrum files")
    out: list[TruthSpectrum] = []
    for path, label in zip(paths, labels, strict=True):
        n_unlabelled = n_foreign = 0
        reader = read_annotated(path, labels=label, fixed=fixed,
                                vocabulary=vocabulary)
        for pos, spec in enumerate(reader):
            pep = getattr(spec, "peptide", None)
            status = str(getattr(spec, "status", ""))
            if pep and any(t not in vocabulary for t in pep) or (
                    not pep and status.startswith(_LABEL_PROBLEMS)):
                n_foreign += 1
                continue
            if not pep:
                n_unlabelled += 1
                continue
            index = getattr(spec, "index", None)
            out.append(TruthSpectrum(
                file=str(path), index=pos if index is None else int(index),
                scan=getattr(spec, "scan", None),
                title=getattr(spec, "title", None), peptide=tuple(pep),
                precursor_mz=_optional_float(
                    getattr(spec, "precursor_mz", None))))
        if n_unlabelled or n_foreign:
            log.warning("%s: left out %d unannotated spectra and %d whose "
                        "label is outside the vocabulary", path,
                        n_unlabelled, n_foreign)
    return out


def join(
    predictions: Sequence[Prediction],
    truths: Sequence[TruthSpectrum],
    *,
    source: str = "predictions",
    allow_partial: bool = False,
) -> tuple[list[Prediction | None], int]:
    """Align predictions to ``truths``, checking they are the same spectra.

    Returns
    -------
    aligned
        Per truth spectrum the best-scoring prediction or ``None``.
    n_unmatched
        Prediction rows that join no annotated spectrum, or join one that
        is not theirs (file name, precursor m/z or scan differ).

    Raises
    ------
    PredictionFormatError
        When more than half of the joined predictions are not their truth
        spectrum's and ``allow_partial`` is False.
    """
    stems = sorted({_stem(t.file) for t in truths})
    index: dict = {}
    dupes = set()
    for i, t in enumerate(truths):
        stem = _stem(t.file)
        keys = [(stem, "index", t.index)]
        if t.scan is not None:
            keys.append((stem, "scan", int(t.scan)))
        if t.title:
            keys.append((stem, "title", t.title))
        for key in keys:
            if key in index:
                dupes.add(key)
            index[key] = i
    for key in dupes:
        del index[key]  # e.g. MGFs whose SCANS= are all 0
    aligned: list[Prediction | None] = [None] * len(truths)
    n_unmatched = n_joined = 0
    wrong: list[str] = []
    for p in predictions:
        stem = _stem(p.file) if p.file else None
        other_file = False
        if stem not in stems:
            if len(stems) != 1:
                raise PredictionFormatError(
                    f"{source}:{p.line}: spectrum file {p.file!r} is none "
                    f"of the truth files {stems}")
            other_file = stem is not None and not stem.startswith(
                "ms_run[")
            stem = stems[0]
        i = index.get((stem, p.kind, p.key))
        if i is None:
            n_unmatched += 1
            continue
        n_joined += 1
        why = _mismatch(p, truths[i], other_file)
        if why:
            wrong.append(f"{source}:{p.line}: {why}")
            n_unmatched += 1
            continue
        old = aligned[i]
        if old is None or _better(p, old):
            aligned[i] = p
    if wrong and (2 * len(wrong) > n_joined and not allow_partial):
        raise PredictionFormatError(
            f"{source}: {len(wrong)} of {n_joined} predictions are not "
            f"the truth spectrum they join (first: {wrong[0]}); wrong "
            "--truth? (--allow-partial-match scores only the ones that "
            "agree)")
    if wrong:
        log.warning("%s: %d of %d predictions are not the truth spectrum "
                    "they join and are left out (first: %s)", source,
                    len(wrong), n_joined, wrong[0])
    if predictions and n_unmatched == len(predictions):
        raise PredictionFormatError(
            f"{source}: none of {len(predictions)} predictions refers to "
            "an annotated spectrum of the truth files; wrong --truth?")
    if n_unmatched:
        log.warning("%s: %d predictions refer to no annotated spectrum",
                    source, n_unmatched)
    return aligned, n_unmatched


def _mismatch(p: Prediction, t: TruthSpectrum, other_file: bool) -> str:
    """Why ``p`` is not the spectrum ``t`` ("" when it may be)."""
    if other_file:
        return f"file {p.file!r} is not {Path(t.file).name!r}"
    if p.precursor_mz is not None and t.precursor_mz is not None:
        tol = PRECURSOR_TOL_MZ + PRECURSOR_TOL_PPM * 1e-6 * t.precursor_mz
        if abs(p.precursor_mz - t.precursor_mz) > tol:
            return (f"precursor m/z {p.precursor_mz:.4f} != "
                    f"{t.precursor_mz:.4f}")
    if p.kind != "scan" and p.scan is not None and t.scan is not None \
            and p.scan != t.scan:
        return f"scan {p.scan} != {t.scan}"
    return ""


def _better(new: Prediction, old: Prediction) -> bool:
    """Higher score wins; a usable peptide beats none; NaN loses."""
    if (new.peptide is None) != (old.peptide is None):
        return old.peptide is None
    a = -math.inf if math.isnan(new.score) else new.score
    b = -math.inf if math.isnan(old.score) else old.score
    return a > b
