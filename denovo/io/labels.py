"""Peptide labels kept beside the spectra: PEPREC, mzIdentML, idXML.

Each loader returns a mapping from the join key (MGF ``TITLE`` for
PEPREC ``spec_id``, mzML native id for mzIdentML ``spectrumID``) to a
token tuple, or to a ``"skipped:..."`` status when the label cannot be
expressed in the vocabulary. OpenMS idXML names no spectrum, only its
retention time and precursor m/z: :func:`load_idxml` returns the PSMs
and :func:`join_rt_mz` maps them to native ids. Label files are small
next to the spectra, so they are loaded whole.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import logging
import re
from pathlib import Path
from typing import NamedTuple

from ..core.vocab import DEFAULT_VOCABULARY, MODIFICATIONS, Vocabulary
from ._build import parse_label
from .errors import InputFileError
from .formats import open_binary, open_text

__all__ = ["load_peprec", "load_mzid", "load_idxml", "join_rt_mz",
           "IdxmlPsm"]

log = logging.getLogger("denovo.io")

_UNIMOD_BY_NAME = {m.name.lower(): m for m in MODIFICATIONS.values()}


def load_peprec(path, *, vocabulary: Vocabulary = DEFAULT_VOCABULARY
                ) -> dict:
    """``spec_id`` -> tokens (or status) from an ms2pip PEPREC file.

    The separator (space, tab or comma) is taken from the header line,
    which must name ``spec_id``, ``modifications`` and ``peptide``;
    fields may be double-quoted (titles with spaces).
    """
    from ..core.peptide import PeptideError, UnknownModificationError
    from ..core.peptide import from_peprec
    labels: dict = {}
    with open_text(path) as fh:
        header = fh.readline()
        sep = "\t" if "\t" in header else "," if "," in header else " "
        rows = csv.reader(itertools.chain([header], fh), delimiter=sep,
                          skipinitialspace=True)
        columns = [c.strip() for c in next(rows)]
        missing = {"spec_id", "modifications", "peptide"} - set(columns)
        if missing:
            raise InputFileError(
                path, f"not a PEPREC file: header lacks "
                f"{', '.join(sorted(missing))}", position="line 1")
        sid, mod, pep = (columns.index(c) for c in
                         ("spec_id", "modifications", "peptide"))
        need = max(sid, mod, pep) + 1
        for lineno, fields in enumerate(rows, 2):
            if not any(f.strip() for f in fields):
                continue
            if len(fields) < need:
                raise InputFileError(
                    path, f"expected {len(columns)} columns, found "
                    f"{len(fields)}", position=f"line {lineno}")
            try:
                value = from_peprec(fields[pep].strip(),
                                    fields[mod].strip() or "-",
                                    vocabulary=vocabulary)
            except UnknownModificationError as err:
                value = f"skipped:unknown_modification ({err.token})"
            except PeptideError:
                value = "skipped:bad_label"
            if fields[sid] in labels:
                log.warning("%s, line %d: duplicate spec_id %r ignored",
                            path, lineno, fields[sid])
                continue
            labels[fields[sid]] = value
    return labels


def _mzid_proforma(item: dict) -> str:
    sequence = item["PeptideSequence"]
    per_position: dict[int, list[str]] = {}
    for mod in item.get("Modification", []):
        known = _UNIMOD_BY_NAME.get(str(mod.get("name", "")).lower())
        if known is not None:
            label = known.accession
        elif mod.get("monoisotopicMassDelta") is not None:
            label = f"{float(mod['monoisotopicMassDelta']):+.5f}"
        else:
            label = str(mod.get("name", "?"))
        per_position.setdefault(int(mod.get("location", 0)), []).append(
            f"[{label}]")
    if len(sequence) + 1 in per_position:
        raise ValueError("C-terminal modification")
    text = "".join(per_position.get(0, []))
    text += "-" if text else ""
    for i, aa in enumerate(sequence, 1):
        text += aa + "".join(per_position.get(i, []))
    return text


def _stem(location: str) -> str:
    name = re.split(r"[\\/]", location or "")[-1]
    return name.split(".", 1)[0].lower()


def load_mzid(path, *, spectra: str | None = None,
              vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """Native id -> tokens (or status) of rank-1 passing identifications.

    When several rank-1 items pass for one spectrum the first (the file's
    best) is kept. When the file references several spectra files, only
    results for the one whose name matches ``spectra`` are kept.
    """
    from pyteomics import mzid
    by_run: dict[str, dict] = {}
    try:
        with open_binary(path) as fh:
            reader = mzid.MzIdentML(fh, use_index=False, read_schema=False,
                                    retrieve_refs=True)
            for result in reader:
                passing = [
                    i for i in result.get("SpectrumIdentificationItem", [])
                    if int(i.get("rank", 0)) == 1 and i.get("passThreshold")]
                if not passing:
                    continue
                try:
                    text = _mzid_proforma(passing[0])
                    value, status = parse_label(
                        text, fixed=None, vocabulary=vocabulary)
                except ValueError:
                    value, status = None, "skipped:unknown_modification"
                run = by_run.setdefault(result.get("location", ""), {})
                run.setdefault(result["spectrumID"],
                               value if value is not None else status)
    except InputFileError:
        raise
    except Exception as err:  # noqa: BLE001 - lxml/pyteomics, file's fault
        raise InputFileError(path, f"cannot parse mzIdentML: "
                             f"{type(err).__name__}: {err}") from None
    if len(by_run) <= 1:
        return next(iter(by_run.values()), {})
    wanted = _stem(Path(spectra).name) if spectra else None
    for location, labels in by_run.items():
        if _stem(location) == wanted:
            return labels
    raise InputFileError(
        path, f"identifications for several spectra files "
        f"({', '.join(sorted(by_run))}); none matches {spectra!r}")


class IdxmlPsm(NamedTuple):
    """Best hit of one idXML ``PeptideIdentification``."""

    rt: float  # seconds
    mz: float  # precursor m/z
    q: float  # the file's q-value (or FDR) score
    charge: int
    label: object  # token tuple or "skipped:..." status


_OPENMS_MOD = re.compile(r"\(([^()]*)\)")


def _idxml_proforma(sequence: str) -> str:
    """OpenMS ``.(Acetyl)PEPC(Carbamidomethyl)K`` -> ProForma text."""
    text = sequence.strip()
    if re.search(r"\.\([^()]*\)$", text):
        raise ValueError("C-terminal modification")
    nterm = re.match(r"^\.?\(([^()]*)\)", text)
    prefix = ""
    if nterm:
        prefix, text = f"[{nterm.group(1)}]-", text[nterm.end():]
    return prefix + _OPENMS_MOD.sub(r"[\1]", text)


def load_idxml(path, *, max_q: float = 0.01,
               vocabulary: Vocabulary = DEFAULT_VOCABULARY
               ) -> list[IdxmlPsm]:
    """Best hits of an OpenMS idXML file with a q-value of at most ``max_q``.

    Only files scored by q-value or FDR (lower is better) are accepted,
    since the threshold means nothing for other scores. Decoy hits are
    dropped. PSMs are returned best first (lowest q, then file order).
    """
    from lxml import etree
    psms = []
    try:
        with open_binary(path) as fh:
            for _, ident in etree.iterparse(
                    fh, tag="PeptideIdentification"):
                score_type = (ident.get("score_type") or "").lower()
                if score_type not in ("q-value", "fdr") or \
                        ident.get("higher_score_better") != "false":
                    raise InputFileError(
                        path, f"PSM score {score_type!r} is not a q-value "
                        f"(lower is better)", position=f"line "
                        f"{ident.sourceline}")
                hits = ident.findall("PeptideHit")
                if not hits:
                    continue
                best = min(hits, key=lambda h: float(h.get("score")))
                q = float(best.get("score"))
                decoy = any(u.get("name") == "target_decoy"
                            and u.get("value") == "decoy"
                            for u in best.findall("UserParam"))
                if q > max_q or decoy:
                    ident.clear()
                    continue
                try:
                    value, status = parse_label(
                        _idxml_proforma(best.get("sequence")), fixed=None,
                        vocabulary=vocabulary)
                except ValueError:
                    value, status = None, "skipped:unknown_modification"
                psms.append(IdxmlPsm(
                    float(ident.get("RT")), float(ident.get("MZ")), q,
                    int(best.get("charge") or 0),
                    value if value is not None else status))
                ident.clear()
    except InputFileError:
        raise
    except Exception as err:  # noqa: BLE001 - lxml, the file's fault
        raise InputFileError(path, f"cannot parse idXML: "
                             f"{type(err).__name__}: {err}") from None
    return sorted(psms, key=lambda p: p.q)


def join_rt_mz(psms, spectra, *, rt_tol_s: float = 0.5,
               mz_tol: float = 0.01) -> dict:
    """Native id -> label for PSMs matched by retention time and m/z.

    ``spectra`` yields ``(native_id, rt_s, precursor_mz)``. A PSM goes to
    the spectrum closest in retention time among those within both
    tolerances; a spectrum keeps the first (best) PSM that reaches it.
    Unmatched PSMs are logged.
    """
    keys = [(rt, mz, nid) for nid, rt, mz in spectra
            if rt is not None and mz is not None]
    keys.sort()
    rts = [k[0] for k in keys]
    labels: dict = {}
    missed = 0
    for psm in psms:
        lo = bisect.bisect_left(rts, psm.rt - rt_tol_s)
        hi = bisect.bisect_right(rts, psm.rt + rt_tol_s)
        near = [k for k in keys[lo:hi] if abs(k[1] - psm.mz) <= mz_tol]
        if not near:
            missed += 1
            continue
        nid = min(near, key=lambda k: abs(k[0] - psm.rt))[2]
        labels.setdefault(nid, psm.label)
    if missed:
        log.warning("%d of %d PSMs matched no spectrum within %g s and "
                    "%g m/z", missed, len(psms), rt_tol_s, mz_tol)
    return labels
