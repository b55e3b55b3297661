"""One entry point for reading spectra, with or without labels.

:func:`read_spectra` streams mzML, mzXML, MGF or MSP (gzipped or not);
:func:`read_annotated` adds labels kept in a second file (PEPREC,
mzIdentML). Both return a :class:`SpectrumReader`: iterate it for
:class:`~denovo.io.spectrum.Spectrum` records, then read its ``stats``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from ._build import Builder
from .errors import InputFileError
from .formats import detect_format
from .labels import join_rt_mz, load_idxml, load_mzid, load_peprec
from .mgf import read_mgf
from .msp import read_msp
from .mzml import read_mzml, read_mzxml
from .spectrum import ReadStats, Spectrum

__all__ = ["SpectrumReader", "read_spectra", "read_annotated"]

log = logging.getLogger("denovo.io")

_READERS = {"mgf": read_mgf, "mzml": read_mzml, "mzxml": read_mzxml,
            "msp": read_msp}


class SpectrumReader:
    """Iterable over a file's spectra; ``stats`` fills in as it goes.

    Iterate once. After the loop, ``stats.complete`` is True and
    ``stats.damage`` says whether the file ended early.
    """

    def __init__(self, path, builder: Builder, fmt: str):
        self.path = Path(path)
        self.format = fmt
        self.stats = builder.stats
        self._iterator = _READERS[fmt](path, builder)

    def __iter__(self) -> Iterator[Spectrum]:
        return self._iterator

    def __next__(self) -> Spectrum:
        return next(self._iterator)

    def __enter__(self) -> "SpectrumReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the file (also done when iteration ends)."""
        self._iterator.close()


def read_spectra(path, *, fixed: Mapping[str, str] | None = None,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                 fmt: str | None = None) -> SpectrumReader:
    """Stream the MS2 spectra of a spectrum file.

    Parameters
    ----------
    path
        mzML, mzXML, MGF or MSP file, optionally gzipped.
    fixed
        Fixed modifications for labels written in the file (MGF ``SEQ=``),
        e.g. ``{"C": "C[UNIMOD:4]"}``.
    vocabulary
        Tokens labels are parsed into.
    fmt
        Force the format instead of detecting it.

    Raises
    ------
    InputFileError
        When the file is missing, of unknown format or unreadable from the
        start (raised at creation or on the first ``next``).
    """
    fmt = fmt or detect_format(path)
    stats = ReadStats(source=str(path), format=fmt)
    builder = Builder(stats, fixed=fixed, vocabulary=vocabulary)
    return SpectrumReader(path, builder, fmt)


def read_annotated(path, *, labels=None,
                   fixed: Mapping[str, str] | None = None,
                   vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                   max_q: float = 0.01) -> SpectrumReader:
    """Stream labelled spectra, the labels from the file or ``labels``.

    Parameters
    ----------
    path
        Spectra: MGF with ``SEQ=``, MSP, or MGF/mzML/mzXML plus ``labels``.
    labels
        None (labels inside ``path``), a PEPREC file (joined on MGF
        ``TITLE`` = ``spec_id``), an mzIdentML file (joined on the native
        id, rank-1 passing identifications only) or an OpenMS idXML file
        (joined on retention time within 0.5 s and precursor m/z within
        0.01, see :func:`~denovo.io.labels.join_rt_mz`). Unlabelled
        spectra have ``peptide`` None.
    fixed
        Fixed modifications for labels read from ``path`` itself.
    max_q
        idXML only: keep PSMs with a q-value of at most this.
    """
    if labels is None:
        return read_spectra(path, fixed=fixed, vocabulary=vocabulary)
    fmt = detect_format(path)
    name = Path(labels).name.lower().removesuffix(".gz")
    if name.endswith((".mzid", ".mzidentml")):
        label_map = load_mzid(labels, spectra=str(path),
                              vocabulary=vocabulary)
        key = "native_id"
    elif name.endswith(".idxml"):
        psms = load_idxml(labels, max_q=max_q, vocabulary=vocabulary)
        with read_spectra(path, fmt=fmt) as reader:
            label_map = join_rt_mz(psms, ((s.native_id, s.rt, s.precursor_mz)
                                          for s in reader))
        key = "native_id"
    elif name.endswith((".peprec", ".csv", ".tsv", ".txt")):
        label_map = load_peprec(labels, vocabulary=vocabulary)
        key = "title"
    else:
        raise InputFileError(labels, "unknown label file type (expected "
                             ".peprec/.csv/.tsv, .mzid or .idXML)")
    stats = ReadStats(source=str(path), format=fmt)
    builder = Builder(stats, fixed=fixed, vocabulary=vocabulary,
                      labels=label_map, label_key=key)
    return SpectrumReader(path, builder, fmt)
