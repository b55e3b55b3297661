"""Write annotated spectra as MGF, readable by :func:`read_spectra`.

Simulated spectra are written in the same format as the real annotated
files (``TITLE``, ``PEPMASS``, ``CHARGE``, ``SEQ=`` in ProForma with
UNIMOD accessions), so that they can be inspected and tested with the
same tools.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import numpy as np

from ..core.peptide import to_proforma

__all__ = ["write_mgf_spectrum", "MgfWriter"]


def write_mgf_spectrum(fh: TextIO, mz, intensity, *, precursor_mz: float,
                       charge: int | None, title: str,
                       peptide=None) -> None:
    """Write one ``BEGIN IONS`` block to an open text file.

    m/z is written with 5 decimals (10 ppb at 1000 m/z), intensity with 6
    significant digits.
    """
    mz = np.asarray(mz, np.float64)
    intensity = np.asarray(intensity, np.float64)
    if mz.shape != intensity.shape:
        raise ValueError(f"{title}: {mz.size} m/z values but "
                         f"{intensity.size} intensities")
    if "\n" in title:
        raise ValueError(f"title {title!r} holds a line break")
    lines = ["BEGIN IONS", f"TITLE={title}", f"PEPMASS={precursor_mz:.6f}"]
    if charge is not None:
        lines.append(f"CHARGE={int(charge)}+")
    if peptide is not None:
        lines.append(f"SEQ={to_proforma(peptide)}")
    lines.extend(f"{m:.5f} {v:.6g}" for m, v in zip(
        mz.tolist(), intensity.tolist(), strict=True))
    lines.append("END IONS\n")
    fh.write("\n".join(lines) + "\n")


class MgfWriter:
    """Context manager writing annotated spectra to an MGF file.

    Titles default to ``{prefix}{n}`` with ``n`` counting from 0.
    """

    def __init__(self, path, *, prefix: str = "spectrum_"):
        self.path = Path(path)
        self.prefix = prefix
        self.count = 0
        self._fh: TextIO | None = None

    def __enter__(self) -> "MgfWriter":
        self._fh = open(self.path, "w")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def write(self, mz, intensity, *, precursor_mz: float,
              charge: int | None, peptide=None,
              title: str | None = None) -> None:
        """Append one spectrum."""
        if self._fh is None:
            raise ValueError(f"{self.path}: writer is not open")
        write_mgf_spectrum(self._fh, mz, intensity,
                           precursor_mz=precursor_mz, charge=charge,
                           title=title or f"{self.prefix}{self.count}",
                           peptide=peptide)
        self.count += 1
