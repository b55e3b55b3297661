"""Find out what a spectrum file is and open it, gzipped or not.

The format comes from the extension (``.mgf``, ``.mzML``, ``.mzXML``,
``.msp``, each optionally ``.gz``); files with another extension are
sniffed. Compression is detected from the magic bytes, not the name.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

from .errors import InputFileError

__all__ = ["FORMATS", "detect_format", "is_gzipped", "open_binary",
           "open_text", "announced_count", "count_spectra"]

FORMATS = ("mgf", "mzml", "mzxml", "msp")
_EXTENSIONS = {".mgf": "mgf", ".mzml": "mzml", ".mzxml": "mzxml",
               ".msp": "msp", ".sptxt": "msp"}
_GZIP_MAGIC = b"\x1f\x8b"


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "file not found")
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a file")


def is_gzipped(path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    path = Path(path)
    _check_readable(path)
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError as err:
        raise InputFileError(path, f"cannot open: {err.strerror}") from None


def open_binary(path):
    """Binary file object, transparently decompressing gzip."""
    path = Path(path)
    gz = is_gzipped(path)
    try:
        return gzip.open(path, "rb") if gz else open(path, "rb")
    except OSError as err:
        raise InputFileError(path, f"cannot open: {err}") from None


def open_text(path):
    """Text file object (UTF-8, undecodable bytes replaced)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8",
                            errors="replace")


def detect_format(path) -> str:
    """One of :data:`FORMATS`, from the extension or the content."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _EXTENSIONS:
        _check_readable(path)
        return _EXTENSIONS[suffixes[-1]]
    try:
        with open_binary(path) as fh:
            head = fh.read(8192)
    except (OSError, EOFError) as err:
        raise InputFileError(path, f"cannot read: {err}") from None
    text = head.decode("utf-8", errors="replace")
    if "<mzML" in text or "<indexedmzML" in text:
        return "mzml"
    if "<mzXML" in text:
        return "mzxml"
    if "BEGIN IONS" in text:
        return "mgf"
    if text.lstrip().lower().startswith("name:"):
        return "msp"
    raise InputFileError(
        path, "unknown file format (expected MGF, mzML, mzXML or MSP, "
        "optionally gzipped)", position="start of file")


_COUNT = {"mzml": re.compile(rb"<spectrumList\b[^>]*?\bcount=\"(\d+)\""),
          "mzxml": re.compile(rb"<msRun\b[^>]*?\bscanCount=\"(\d+)\"")}
_BLOCK_START = {"mgf": re.compile(rb"(?m)^[ \t]*BEGIN IONS"),
                "msp": re.compile(rb"(?mi)^[ \t]*name:")}


def announced_count(path, fmt: str) -> int | None:
    """Spectra an mzML/mzXML says it holds (all MS levels), from its head."""
    with open_binary(path) as fh:
        try:
            head = fh.read(1 << 16)
        except (EOFError, OSError):
            return None
    m = _COUNT[fmt].search(head)
    return int(m.group(1)) if m else None


def count_spectra(path) -> int | None:
    """Spectra in a file, cheaply, for a progress bar; None if unknown.

    mzML/mzXML: the count the header announces (all MS levels). MGF and
    MSP: ``BEGIN IONS`` / ``Name:`` lines, counted by a byte scan (about
    a second per GB uncompressed). None when the file does not say or
    cannot be read.
    """
    try:
        fmt = detect_format(path)
        if fmt in ("mzml", "mzxml"):
            return announced_count(path, fmt)
        pattern, n, tail = _BLOCK_START[fmt], 0, b""
        with open_binary(path) as fh:
            while chunk := fh.read(1 << 22):
                data = tail + chunk
                cut = data.rfind(b"\n") + 1
                n += len(pattern.findall(data, 0, cut))
                tail = data[cut:]
        return n + len(pattern.findall(tail))
    except (InputFileError, OSError, EOFError, ValueError):
        return None
