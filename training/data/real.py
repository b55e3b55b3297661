"""Real annotated spectra for training, fine-tuning and validation.

Spectra come through :mod:`denovo.io` (MGF with ``SEQ=``, MSP, MGF plus
PEPREC, mzML plus mzIdentML), with modifications kept as vocabulary
tokens. A spectrum is excluded, and counted per reason, when its status
is not ok, it has no label or no charge, or its peptide is longer than
the model's slots.

Splits follow the Nine-Species style: hold out whole files (species) or
whole peptides (I = L, modifications ignored), never single spectra of a
peptide that is also in training.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from denovo.core.peptide import peptide_key
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary

from .batch import RawBatch, from_spectra

__all__ = [
    "RealDataset",
    "label_file_for",
    "split_by_peptide",
    "leave_one_out",
]

log = logging.getLogger(__name__)

_LABEL_SUFFIXES = (".mzid", ".mzidentml", ".peprec")


def label_file_for(path: str | Path) -> Path | None:
    """A label file beside ``path`` with the same stem, if any."""
    path = Path(path)
    stem = path.name.removesuffix(".gz").rsplit(".", 1)[0]
    for suffix in _LABEL_SUFFIXES:
        candidate = path.with_name(stem + suffix)
        if candidate.exists():
            return candidate
    return None


def _spec(entry) -> tuple[Path, Path | None]:
    """``"spectra"``, ``"spectra::labels"`` or a ``(spectra, labels)``."""
    if isinstance(entry, (tuple, list)):
        return Path(entry[0]), (Path(entry[1]) if entry[1] else None)
    text = str(entry)
    if "::" in text:
        spectra, labels = text.split("::", 1)
        return Path(spectra), Path(labels)
    path = Path(text)
    if path.suffix.lower() in (".mzml", ".mzxml") or (
            path.suffix.lower() == ".mgf" and label_file_for(path)):
        return path, label_file_for(path)
    return path, None


class RealDataset(Dataset):
    """Annotated spectra of one or more files, held in memory.

    Parameters
    ----------
    files
        Spectrum files; an mzML's labels are taken from a ``.mzid`` with
        the same stem, or given as ``"run.mzML::ids.mzid"``.
    max_length
        Longest peptide (tokens) the model can emit.
    fixed
        Fixed modifications for labels written without them, e.g.
        ``{"C": "C[UNIMOD:4]"}``.
    """

    def __init__(self, files, *, max_length: int,
                 fixed: dict | None = None,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        from denovo.io import read_annotated

        self.spectra: list = []
        self.files: list[str] = []
        self.excluded: Counter = Counter()
        for entry in files:
            path, labels = _spec(entry)
            self.files.append(str(path))
            kept = 0
            with read_annotated(path, labels=labels, fixed=fixed,
                                vocabulary=vocabulary) as reader:
                for spectrum in reader:
                    reason = _exclusion(spectrum, max_length)
                    if reason:
                        self.excluded[reason] += 1
                        continue
                    self.spectra.append(spectrum)
                    kept += 1
            log.info("%s: %d annotated spectra kept", path, kept)
        if self.excluded:
            log.info("excluded spectra: %s", ", ".join(
                f"{n} {why}" for why, n in sorted(self.excluded.items())))

    def __len__(self) -> int:
        return len(self.spectra)

    def __getitem__(self, i: int):
        return self.spectra[i]

    def raw_batch(self, indices) -> RawBatch:
        """The spectra at ``indices`` as one :class:`RawBatch`."""
        return from_spectra([self.spectra[int(i)] for i in indices])

    def subset(self, indices) -> "RealDataset":
        """A dataset view holding only ``indices`` (for splits)."""
        out = object.__new__(RealDataset)
        out.spectra = [self.spectra[int(i)] for i in indices]
        out.files, out.excluded = list(self.files), Counter()
        return out


def _exclusion(spectrum, max_length: int) -> str:
    if spectrum.status != "ok":
        return f"status {spectrum.status}"
    if spectrum.peptide is None:
        return "unlabelled"
    if not spectrum.charge:
        return "no charge"
    if len(spectrum.peptide) > max_length:
        return f"longer than {max_length} tokens"
    if len(spectrum.mz) == 0:
        return "no peaks"
    return ""


def split_by_peptide(peptides, *, fractions=(0.8, 0.1, 0.1),
                     seed: int = 0) -> list[np.ndarray]:
    """Index arrays of a peptide-disjoint split (train, dev, test, ...).

    Assignment hashes the :func:`peptide_key`, so it is stable across
    runs, machines and file orders.
    """
    edges = np.cumsum(fractions) / np.sum(fractions)
    groups: list[list[int]] = [[] for _ in fractions]
    for i, peptide in enumerate(peptides):
        digest = hashlib.sha256(f"{seed}:{peptide_key(peptide)}".encode())
        u = int.from_bytes(digest.digest()[:8], "big") / 2.0 ** 64
        groups[int(np.searchsorted(edges, u, side="right"))].append(i)
    return [np.array(g, np.int64) for g in groups]


def leave_one_out(groups: dict):
    """Yield ``(held_out_name, train_files, test_files)`` per group.

    ``groups`` maps a name (species, instrument) to its files, as in the
    Nine-Species cross-validation.
    """
    for name, test in groups.items():
        train = [f for other, files in groups.items() if other != name
                 for f in files]
        yield name, train, list(test)
