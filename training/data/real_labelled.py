"""The labelled real spectra every fitted model of issue 5 learns from.

Kept apart from the fit (:mod:`.noise_fit`) so the fitting code stays
short.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["REAL_FILES", "load_real"]

log = logging.getLogger(__name__)

# Labelled real spectra with their noise (the MSP library holds annotated
# peaks only, so it is left out). (file, labels, fixed modifications)
REAL_FILES = (
    ("QEPlus2_10212016_40_F5.mgf", None, None),
    ("pepnet_124.mgf", None, {"C": "C[UNIMOD:4]"}),
    ("yeast_small.mzML", "yeast_small.mzid", None),
)


def load_real(data_dir, *, split_file=None, split: str = "train") -> list:
    """Labelled, charged spectra of :data:`REAL_FILES` under ``data_dir``.

    Returns ``Spectrum`` records; files that are absent are skipped. With
    ``split_file`` (``configs/real_split.tsv``) only the spectra of that
    side of the peptide split are kept, so a model fitted for training
    never sees the dev spectra.
    """
    keep = None
    if split_file is not None:
        from .peptides import read_split

        keep = {(r.file, r.index) for r in read_split(split_file)
                if r.split == split}
    from denovo.io import read_annotated

    real = Path(data_dir) / "real"
    out = []
    for name, labels, fixed in REAL_FILES:
        path = real / name
        if not path.exists():
            log.warning("%s not found, left out", path)
            continue
        reader = read_annotated(path, labels=(real / labels) if labels
                                else None, fixed=fixed)
        out.extend(s for s in reader if s.ok and s.peptide
                   and s.charge and s.charge >= 2
                   and (keep is None or (name, s.index) in keep))
    return out
