"""Peptides of an MS2PIP library for the realistic simulator.

Kept apart from :mod:`.realistic` (which re-exports both names) so the
simulator module stays short.
"""

from __future__ import annotations

import hashlib

import numpy as np

from denovo.core.peptide import peptide_key

from .ms2pip_library import Library
from .peptides import _check_lengths

__all__ = ["holdout_side", "LibraryPeptides"]


def holdout_side(peptide, val_percent: int = 5) -> str:
    """"val" for a stable ``val_percent`` share of peptides, else "train"."""
    digest = hashlib.sha256(peptide_key(peptide).encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") % 100 < val_percent \
        else "train"


class LibraryPeptides:
    """The peptidoforms of an MS2PIP library, drawn uniformly by length.

    ``side`` keeps all peptides ("all") or one side of a stable hash
    split by peptide ("train" / "val", see :func:`holdout_side`), so
    simulated validation spectra have peptides never trained on.
    ``exclude`` holds peptide keys (:func:`peptide_key`) never to draw,
    e.g. those of the real dev split.
    """

    def __init__(self, library: Library, *, side: str = "all",
                 exclude=frozenset()):
        if side not in ("all", "train", "val"):
            raise ValueError(f"side must be all, train or val, not {side!r}")
        self.peptides = [p for p in library.peptides()
                         if (side == "all" or holdout_side(p) == side)
                         and peptide_key(p) not in exclude]
        if not self.peptides:
            raise ValueError(f"no library peptides on side {side!r}")
        self._lengths = np.array([len(p) for p in self.peptides])

    def __len__(self) -> int:
        return len(self.peptides)

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> list[tuple[str, ...]]:
        _check_lengths(min_length, max_length)
        ok = np.nonzero((self._lengths >= min_length)
                        & (self._lengths <= max_length))[0]
        if not len(ok):
            raise ValueError(f"library has no peptide of {min_length}-"
                             f"{max_length} tokens")
        return [self.peptides[i] for i in rng.choice(ok, size=n)]
