"""Streaming mzML and mzXML readers on top of pyteomics.

pyteomics parses the XML iteratively (``use_index=False``: no offset index
is built, elements are released as they are consumed), so memory does not
grow with the file. Only MS2 spectra are yielded; every spectrum's MS
level is counted in the read statistics. A parse error after the first
spectrum is recorded as damage and ends the iteration cleanly.

After damage, the spectra known to exist but not readable still get a
record each, with status ``skipped:unreadable`` and no peaks
(:func:`lost_spectra`): every ``<spectrum>`` (mzML) or ``<scan>`` (mzXML)
start tag found in the rest of the file, with its index and id, and up to
the count the file announces at its start (``spectrumList count`` /
``msRun scanCount``) one record per further index whose id is lost.
Tags that say the spectrum is not MS2 are left out; spectra whose MS
level is lost with them are included, so the records may cover a few
MS1 spectra, never fewer spectra than were lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._build import BAD_CHARGE, Builder
from .errors import InputFileError
from .formats import announced_count, open_binary
from .spectrum import Spectrum

__all__ = ["read_mzml", "read_mzxml", "scan_number"]

log = logging.getLogger("denovo.io")

_SCAN = re.compile(r"\bscan=(\d+)")
# A spectrum start tag, or the mzML MS level parameter inside it.
_TAGS = {"mzml": re.compile(
    rb"<spectrum\s([^>]*)>|accession=\"MS:1000511\"[^>]*?value=\"(\d+)\""),
         "mzxml": re.compile(rb"<scan\s([^>]*)>|(?!)()")}
_ATTR = re.compile(rb"([A-Za-z]+)=\"([^\"]*)\"")
UNREADABLE = "skipped:unreadable"


def scan_number(native_id: str | None) -> int | None:
    """The ``scan=N`` number in a native id, or None."""
    m = _SCAN.search(native_id or "")
    return int(m.group(1)) if m else None


def _seconds(value) -> float | None:
    if value is None:
        return None
    unit = str(getattr(value, "unit_info", "") or "").lower()
    factor = 60.0 if unit.startswith("min") else \
        3600.0 if unit.startswith("hour") else 1.0
    return float(value) * factor


def _charge(value):
    if value is None:
        return None
    try:
        charge = float(value)
    except (TypeError, ValueError):
        return BAD_CHARGE
    return int(charge) if charge == int(charge) else BAD_CHARGE


def fragmentation(activation: str, filter_line: str | None) -> str | None:
    """The fragmentation class of a spectrum from its activation words
    (mzML activation cvParam names, or mzXML's ``activationMethod``) and
    Thermo filter string: ``HCD`` (beam-type CID, ``@hcd``), ``CID``
    (resonance CID in an ion trap, ``ITMS``, or with no analyzer said:
    low-resolution fragments), ``CID-FT`` (resonance CID read in an
    Orbitrap, ``FTMS ... @cid``), ``ETD``/``EThcD``; None when neither says
    anything."""
    words = (activation or "").lower()
    line = (filter_line or "").lower()
    if "electron transfer" in words or "@etd" in line or words == "etd":
        return "EThcD" if ("@hcd" in line or "beam-type" in words) \
            else "ETD"
    if ("beam-type" in words or "higher energy" in words or "@hcd" in line
            or words == "hcd"):
        return "HCD"
    if "collision-induced" in words or "@cid" in line or words == "cid":
        return "CID-FT" if line.startswith("ftms") else "CID"
    return None


def _mzml_fields(item: dict) -> dict:
    precursor = charge = rt = None
    scans = item.get("scanList", {}).get("scan") or [{}]
    rt = _seconds(scans[0].get("scan start time"))
    precursors = item.get("precursorList", {}).get("precursor") or []
    if precursors:
        ions = precursors[0].get("selectedIonList", {}).get("selectedIon")
        ion = ions[0] if ions else {}
        precursor = ion.get("selected ion m/z")
        if precursor is None:
            window = precursors[0].get("isolationWindow", {})
            precursor = window.get("isolation window target m/z")
        charge = ion.get("charge state")
        if charge is None and not isinstance(
                ion.get("possible charge state"), list):
            charge = ion.get("possible charge state")
    native_id = item.get("id")
    activation = precursors[0].get("activation", {}) if precursors else {}
    return dict(
        precursor_mz=None if precursor is None else float(precursor),
        charge=_charge(charge), rt=rt, native_id=native_id,
        scan=scan_number(native_id), title=item.get("spectrum title"),
        fragmentation=fragmentation(" ".join(activation),
                                    scans[0].get("filter string")))


def _mzxml_fields(item: dict) -> dict:
    precursors = item.get("precursorMz") or [{}]
    precursor = precursors[0].get("precursorMz")
    num = item.get("num")
    return dict(
        precursor_mz=None if precursor is None else float(precursor),
        charge=_charge(precursors[0].get("precursorCharge")),
        rt=_seconds(item.get("retentionTime")),
        native_id=f"scan={num}" if num is not None else None,
        scan=int(num) if num is not None else None, title=None,
        fragmentation=fragmentation(
            str(precursors[0].get("activationMethod") or ""),
            item.get("filterLine")))


def lost_spectra(path, fmt: str, first: int) -> list[tuple]:
    """``(index, native_id)`` of spectra at or after index ``first``.

    Scans the raw file (as far as it decompresses) for start tags, then
    fills up to the announced count; see the module docstring.
    """
    found: dict[int, str | None] = {}
    levels: dict[int, int] = {}
    last = None
    tail = b""
    pattern = _TAGS[fmt]
    with open_binary(path) as fh:
        while True:
            try:
                chunk = fh.read(1 << 20)
            except (EOFError, OSError, ValueError):
                chunk = b""
            data = tail + chunk
            # Keep an incomplete tag for the next chunk, unless at the end.
            cut = max(data.rfind(b"<"), len(data) - 4096, 0) if chunk \
                else len(data)
            for m in pattern.finditer(data, 0, cut):
                if m.group(1) is not None:
                    attrs = dict(_ATTR.findall(m.group(1)))
                    if fmt == "mzml":
                        index = attrs.get(b"index")
                        ident = attrs.get(b"id")
                    else:
                        index = None
                        num = attrs.get(b"num")
                        ident = b"scan=" + num if num else None
                        if b"msLevel" in attrs:
                            levels[len(found)] = int(attrs[b"msLevel"])
                    last = int(index) if index is not None else len(found)
                    found[last] = None if ident is None else \
                        ident.decode("utf-8", "replace")
                elif last is not None:
                    levels.setdefault(last, int(m.group(2)))
            tail = data[cut:]
            if not chunk:
                break
    total = announced_count(path, fmt)
    if total is not None:
        for index in range(first, total):
            found.setdefault(index, None)
    return [(i, found[i]) for i in sorted(found)
            if i >= first and levels.get(i, 2) == 2]


def _lost(path, builder: Builder, fmt: str, first: int) -> Iterator:
    """Status records for the spectra lost to damage."""
    for index, native_id in lost_spectra(path, fmt, first):
        yield builder.build(
            mz=np.empty(0), intensity=np.empty(0), precursor_mz=None,
            charge=None, position="after the damage", index=index,
            native_id=native_id, scan=scan_number(native_id),
            status=UNREADABLE)


def _read_xml(path, builder: Builder, fmt: str) -> Iterator[Spectrum]:
    from pyteomics import mzml, mzxml
    stats = builder.stats
    level_key = "ms level" if fmt == "mzml" else "msLevel"
    fields = _mzml_fields if fmt == "mzml" else _mzxml_fields
    cls = mzml.MzML if fmt == "mzml" else mzxml.MzXML
    if Path(path).stat().st_size == 0:
        raise InputFileError(path, "file is empty", position="line 1")
    fh = open_binary(path)
    position = 0
    last = "start of file"
    with fh:
        try:
            reader = cls(fh, use_index=False, read_schema=False,
                         decode_binary=True, huge_tree=True)
            spectra = iter(reader)
        except Exception as err:  # noqa: BLE001 - any failure is the file's
            raise InputFileError(path, f"cannot parse: {err}",
                                 position=last) from None
        while True:
            try:
                item = next(spectra)
            except StopIteration:
                break
            except Exception as err:  # noqa: BLE001 - lxml, zlib, base64
                where = getattr(err, "lineno", None)
                text = f"{type(err).__name__}: {err}"
                if where and f"line {where}" not in text:
                    text += f" (line {where})"
                if position == 0:
                    raise InputFileError(
                        path, f"cannot parse: {text}",
                        position="before the first spectrum") from None
                stats.damage = f"unreadable after {last}: {text}"
                log.error("%s: damaged file: %s; %d spectra before the "
                          "damage were read", stats.source, stats.damage,
                          position)
                builder.quiet = True
                yield from _lost(path, builder, fmt, position)
                break
            level = item.get(level_key)
            level = int(level) if level is not None else 2
            stats.ms_levels[level] += 1
            index = int(item.get("index", position)) if fmt == "mzml" \
                else position
            position += 1
            last = f"spectrum {item.get('id')!s} (index {index})"
            if level != 2:
                continue
            yield builder.build(
                mz=item.get("m/z array", np.empty(0)),
                intensity=item.get("intensity array", np.empty(0)),
                position=f"spectrum id={item.get('id')!s}", index=index,
                **fields(item))
    stats.complete = True


def read_mzml(path, builder: Builder) -> Iterator[Spectrum]:
    """Yield the MS2 spectra of an mzML file (see module docstring)."""
    return _read_xml(path, builder, "mzml")


def read_mzxml(path, builder: Builder) -> Iterator[Spectrum]:
    """Yield the MS2 spectra of an mzXML file (see module docstring)."""
    return _read_xml(path, builder, "mzxml")
