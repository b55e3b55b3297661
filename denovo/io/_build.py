"""Turn the raw fields a format parser found into a checked Spectrum.

Shared by every reader so that statuses, label parsing, warnings and read
statistics follow one set of rules whatever the file format.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from ..core.vocab import DEFAULT_VOCABULARY, Vocabulary
from .spectrum import OK, ReadStats, Spectrum, check_peaks, check_precursor

__all__ = ["Builder", "BAD_CHARGE", "parse_label"]

log = logging.getLogger("denovo.io")

MAX_WARNINGS = 20  # per file; later bad spectra are logged at DEBUG
BAD_CHARGE = object()  # sentinel: a charge field that could not be read


def parse_label(text: str, *, fixed: Mapping[str, str] | None,
                vocabulary: Vocabulary):
    """Label text -> ``(tokens or None, status)``, never raising."""
    from ..core.peptide import PeptideError, UnknownModificationError, parse
    try:
        return parse(text, vocabulary=vocabulary, fixed=dict(fixed or {})), OK
    except UnknownModificationError as err:
        return None, f"skipped:unknown_modification ({err.token})"
    except PeptideError:
        return None, "skipped:bad_label"


class Builder:
    """Builds spectra for one file and keeps its :class:`ReadStats`.

    Parameters
    ----------
    stats
        Statistics to update.
    fixed
        Fixed modifications applied when parsing label text.
    vocabulary
        Tokens labels are parsed into.
    labels
        External labels by key (title or native id): token tuples, or a
        ``"skipped:..."`` status for labels that could not be parsed.
    label_key
        Which spectrum field joins to ``labels``: ``"title"`` or
        ``"native_id"``.
    """

    def __init__(self, stats: ReadStats, *,
                 fixed: Mapping[str, str] | None = None,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                 labels: Mapping | None = None,
                 label_key: str = "title"):
        self.stats = stats
        self.fixed = fixed
        self.vocabulary = vocabulary
        self.labels = labels
        self.label_key = label_key
        self._n_warned = 0
        # True once the file's damage is reported: the records of the
        # spectra lost to it are logged at DEBUG only.
        self.quiet = False

    def build(self, *, mz, intensity, precursor_mz, charge, position: str,
              index: int, rt=None, scan=None, native_id=None, title=None,
              label=None, status: str | None = None,
              fragmentation: str | None = None) -> Spectrum:
        """Check the fields, parse the label, count and return a Spectrum.

        ``label`` is label text or tokens from the file itself; ``status``
        a problem the format parser already found (e.g. truncated block).
        ``position`` names the place in the file for warnings.
        """
        mz = np.asarray(mz, np.float64)
        intensity = np.asarray(intensity, np.float32)
        if mz.shape != intensity.shape:
            status = status or "skipped:bad_peaks"
            mz, intensity = mz[:0], intensity[:0]
        elif mz.size > 1 and (np.diff(mz) < 0).any():
            order = np.argsort(mz, kind="stable")
            mz, intensity = mz[order], intensity[order]
        reasons = [status] if status else []
        reasons.append(check_peaks(mz, intensity))
        if not check_precursor(precursor_mz):
            reasons.append("skipped:bad_precursor")
        if precursor_mz is None:
            precursor_mz = math.nan
        if charge is BAD_CHARGE or (charge is not None and charge < 0):
            reasons.append("skipped:bad_charge")
            charge = None
        elif charge == 0:
            charge = None  # 0 is how several tools write "unknown"
        if self.labels is not None:
            key = title if self.label_key == "title" else native_id
            label = self.labels.get(key)
        peptide = None
        if isinstance(label, str) and label.startswith("skipped:"):
            reasons.append(label)
        elif isinstance(label, str):
            peptide, why = parse_label(label, fixed=self.fixed,
                                       vocabulary=self.vocabulary)
            reasons.append(why)
        elif label is not None:
            peptide = tuple(label)
        bad = [r for r in reasons if r != OK]
        status = OK
        if bad:
            status = bad[0].split(" ", 1)[0]
            self._n_warned += 1
            # The first few bad spectra individually, the rest in the
            # summary, so a file of bad spectra cannot flood the log.
            level = (logging.WARNING if self._n_warned <= MAX_WARNINGS
                     and not self.quiet else logging.DEBUG)
            log.log(level, "%s, %s: spectrum %d %s (%s)", self.stats.source,
                        position, index, status, "; ".join(bad))
        spectrum = Spectrum(
            mz=mz, intensity=intensity, precursor_mz=float(precursor_mz),
            charge=charge, rt=rt, scan=scan, native_id=native_id,
            index=index, title=title, peptide=peptide,
            source=self.stats.source, status=status,
            fragmentation=fragmentation)
        self.stats.add(spectrum)
        return spectrum
