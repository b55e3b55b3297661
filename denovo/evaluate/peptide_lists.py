"""Lists of peptides in files, as the keys that decide "seen" peptides
(:func:`denovo.core.peptide.peptide_key`, re-exported here).

Below both :mod:`.pipeline` and :mod:`.training_peptides`, which both
compare peptides by these keys.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from ..core.peptide import peptide_key

__all__ = ["peptide_key", "read_peptide_list"]


def read_peptide_list(path: str | Path) -> set[str]:
    """Keys of the peptides in a list file (gzip allowed).

    One peptide per line; in CSV/TSV lines the first field is taken.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    keys = set()
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            field = re.split(r"[,\t ]", line.strip(), maxsplit=1)[0]
            key = peptide_key(field)
            if key:
                keys.add(key)
    return keys
