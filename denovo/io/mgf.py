"""Streaming MGF reader that survives bad blocks and reports positions.

pyteomics' ``mgf.MGF`` stops the whole iteration at the first malformed
block (an unreadable ``CHARGE``, a missing ``END IONS``) and reports no
line numbers, so this module scans blocks itself, line by line with
constant memory, and parses each block with the same rules (header
parameters as defaults, ``PEPMASS`` with optional intensity and charge,
``CHARGE`` as ``2+``/``2``/``2+ and 3+``). Tests use pyteomics as the
oracle on well-formed files.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterator

import numpy as np

from ._build import BAD_CHARGE, Builder
from .errors import InputFileError
from .formats import open_text
from .spectrum import Spectrum

__all__ = ["read_mgf", "parse_charge"]

log = logging.getLogger("denovo.io")

_COMMENT = "#;!/"
_CHARGE = re.compile(r"^\s*([+-]?)(\d+)\s*([+-]?)\s*$")
_INT = re.compile(r"\d+")


def parse_charge(text: str | None):
    """MGF charge text -> int, None (absent/ambiguous) or BAD_CHARGE.

    ``"2+"``, ``"+2"``, ``"2"`` give 2, ``"2-"`` gives -2; several charges
    (``"2+ and 3+"``, ``"2+,3+"``) give None, as the charge is unknown.
    """
    if text is None or not text.strip():
        return None
    parts = re.split(r",|\band\b", text)
    if len(parts) > 1:
        values = [parse_charge(p) for p in parts]
        if any(v is BAD_CHARGE for v in values):
            return BAD_CHARGE
        return None
    m = _CHARGE.match(text)
    if m is None:
        return BAD_CHARGE
    sign = -1 if "-" in (m.group(1) + m.group(3)) else 1
    return sign * int(m.group(2))


def _float(text: str | None):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _peaks(lines: list[str]):
    """Peak lines -> (mz, intensity), or the index of the first bad line."""
    n = len(lines)
    tokens = " ".join(lines).split()
    try:
        if len(tokens) == 2 * n:
            flat = np.fromiter(map(float, tokens), np.float64, 2 * n)
        else:  # extra columns (fragment charge, annotation) or bad lines
            flat = np.empty(2 * n, np.float64)
            for i, line in enumerate(lines):
                fields = line.split()
                flat[2 * i] = float(fields[0])
                flat[2 * i + 1] = float(fields[1])
    except (ValueError, IndexError):
        for i, line in enumerate(lines):
            fields = line.split()
            try:
                float(fields[0]), float(fields[1])
            except (ValueError, IndexError):
                return i
        return 0
    pairs = flat.reshape(n, 2)
    return pairs[:, 0].copy(), pairs[:, 1].astype(np.float32)


class _Block:
    __slots__ = ("start", "params", "peaks", "peak_lines")

    def __init__(self, start: int):
        self.start = start
        self.params: dict[str, str] = {}
        self.peaks: list[str] = []
        self.peak_lines: list[int] = []


def _finish(block: _Block, header: dict, index: int, builder: Builder,
            status: str | None = None) -> Spectrum:
    params = {**header, **block.params} if header else block.params
    pepmass = params.get("PEPMASS", "").split()
    precursor = _float(pepmass[0]) if pepmass else None
    # The block's CHARGE, then a charge in its PEPMASS, then the header's.
    charge_text = block.params.get("CHARGE")
    if charge_text is None and len(pepmass) > 2:
        charge_text = pepmass[2]
    charge = parse_charge(charge_text or header.get("CHARGE"))
    scans = _INT.search(params.get("SCANS", ""))
    position = f"line {block.start}"
    mz = intensity = ()
    if block.peaks:
        result = _peaks(block.peaks)
        if isinstance(result, int):
            bad = block.peak_lines[result]
            status = status or "skipped:bad_peaks"
            position += f" (bad peak at line {bad})"
        else:
            mz, intensity = result
    return builder.build(
        mz=mz, intensity=intensity, precursor_mz=precursor, charge=charge,
        position=position, index=index, rt=_float(params.get("RTINSECONDS")),
        scan=int(scans.group()) if scans else None,
        title=params.get("TITLE"), label=params.get("SEQ"), status=status)


def read_mgf(path, builder: Builder) -> Iterator[Spectrum]:
    """Yield every ``BEGIN IONS`` block of an MGF file as a Spectrum.

    Blocks are yielded in file order with ``index`` = block number. A
    block that lacks ``END IONS`` (cut by the next ``BEGIN IONS`` or by
    the end of the file) is yielded with status ``skipped:truncated`` and
    the damage is recorded in ``builder.stats``.

    Raises
    ------
    InputFileError
        If the file holds no ``BEGIN IONS`` block at all or cannot be read
        before the first one.
    """
    stats = builder.stats
    header: dict[str, str] = {}
    block = None
    index = 0
    lineno = 0
    stray = []
    with open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                text = line.strip()
                if not text:
                    continue
                if block is None:
                    if text == "BEGIN IONS":
                        block = _Block(lineno)
                    elif text[0] in _COMMENT:
                        pass
                    elif index == 0 and "=" in text:
                        key, value = text.split("=", 1)
                        header[key.strip().upper()] = value.strip()
                    else:
                        stray.append(lineno)
                    continue
                if text == "END IONS":
                    yield _finish(block, header, index, builder)
                    block, index = None, index + 1
                elif text == "BEGIN IONS":
                    note = (f"line {block.start}: spectrum {index} has no "
                            f"END IONS before line {lineno}")
                    stats.warnings.append(note)
                    yield _finish(block, header, index, builder,
                                  "skipped:truncated")
                    block, index = _Block(lineno), index + 1
                elif "=" in text:
                    key, value = text.split("=", 1)
                    block.params[key.strip().upper()] = value.strip()
                elif text[0] not in _COMMENT:
                    block.peaks.append(text)
                    block.peak_lines.append(lineno)
        except (EOFError, OSError, zlib.error) as err:
            stats.damage = f"unreadable after line {lineno}: {err}"
        if block is not None:
            if stats.damage is None:
                stats.damage = (f"file ends inside spectrum {index} (line "
                                f"{block.start}) without END IONS")
            yield _finish(block, header, index, builder, "skipped:truncated")
            index += 1
    if stray:
        note = (f"{len(stray)} line(s) outside BEGIN/END IONS blocks "
                f"ignored, first at line {stray[0]}")
        stats.warnings.append(note)
        log.warning("%s: %s", stats.source, note)
    if index == 0:
        if stats.damage:
            raise InputFileError(path, stats.damage, position=f"line "
                                 f"{lineno}")
        what = "file is empty" if lineno == 0 else \
            "no 'BEGIN IONS' line found; not an MGF file?"
        raise InputFileError(path, what, position=f"line {max(lineno, 1)}")
    stats.ms_levels[2] += index
    if stats.damage:
        log.error("%s: damaged file: %s; %d spectra before the damage were "
                  "read", stats.source, stats.damage, index)
    stats.complete = True
