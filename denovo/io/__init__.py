"""Spectrum readers and result writers.

Read with :func:`read_spectra` (mzML, mzXML, MGF, MSP; gzipped or not) or
:func:`read_annotated` (labels from the file, a PEPREC or an mzIdentML);
write with :class:`MzTabWriter` or :class:`CsvWriter`. A file that cannot
be read at all raises :class:`InputFileError`; a bad spectrum inside a
good file is yielded with a ``skipped:<reason>`` status.
"""

from .csv_writer import CsvWriter
from .errors import InputFileError
from .mztab import MzTabWriter
from .psm import PSM
from .reader import SpectrumReader, read_annotated, read_spectra
from .spectrum import ReadStats, Spectrum

__all__ = [
    "CsvWriter",
    "InputFileError",
    "MzTabWriter",
    "PSM",
    "ReadStats",
    "Spectrum",
    "SpectrumReader",
    "read_annotated",
    "read_spectra",
]
