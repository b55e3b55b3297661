"""Peptide keys of free-text peptides, and lists of them in files.

Below both :mod:`.pipeline` and :mod:`.training_peptides`, which both
compare peptides by these keys.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Sequence

from ..core.peptide import peptide_key as core_peptide_key

__all__ = ["peptide_key", "read_peptide_list"]

_FLANKS = re.compile(r"^[A-Za-z_\-]\.(.+)\.[A-Za-z_\-]$")
_MODS = re.compile(r"\[[^\]]*\]|\([^)]*\)|[^A-Za-z]")


def peptide_key(peptide: str | Sequence[str]) -> str:
    """Bare residues with I -> L: the key that decides "seen" peptides.

    Takes token tuples or text in any common notation (flanks, brackets
    and mass deltas are dropped).
    """
    if not isinstance(peptide, str):
        return core_peptide_key(peptide)
    m = _FLANKS.match(peptide.strip())
    text = m.group(1) if m else peptide
    return _MODS.sub("", text).upper().replace("I", "L")


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
