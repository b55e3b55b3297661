"""Raw spectrum batches and their conversion to model inputs.

Synthetic and real spectra meet here as one :class:`RawBatch` (peaks
concatenated CSR-style), and both go through the *same*
:func:`denovo.core.preprocess` batch function that inference uses, so
training never sees peaks prepared differently from deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from denovo.core.constants import PROTON
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["RawBatch", "concat", "repeat_rows", "from_spectra", "collate",
           "to_arrays"]


@dataclass
class RawBatch:
    """Annotated spectra with their peaks concatenated.

    Peaks of spectrum ``i`` are ``mz[offsets[i]:offsets[i + 1]]``.
    """

    mz: np.ndarray  # float64 [N]
    intensity: np.ndarray  # float32 [N]
    offsets: np.ndarray  # int64 [B + 1]
    precursor_mz: np.ndarray  # float64 [B]
    charge: np.ndarray  # int32 [B]
    peptides: list  # B tuples of token names

    def __len__(self) -> int:
        return len(self.peptides)

    def spectrum(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Peaks ``(mz, intensity)`` of spectrum ``i``."""
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.mz[lo:hi], self.intensity[lo:hi]


def concat(batches) -> RawBatch:
    """One batch from several (e.g. synthetic and real parts)."""
    batches = [b for b in batches if len(b)]
    if len(batches) == 1:
        return batches[0]
    sizes = np.cumsum([0] + [len(b.mz) for b in batches[:-1]])
    offsets = [b.offsets[:-1] + s for b, s in zip(batches, sizes,
                                                   strict=True)]
    offsets.append(np.array([sizes[-1] + len(batches[-1].mz)]))
    return RawBatch(
        mz=np.concatenate([b.mz for b in batches]),
        intensity=np.concatenate([b.intensity for b in batches]),
        offsets=np.concatenate(offsets).astype(np.int64),
        precursor_mz=np.concatenate([b.precursor_mz for b in batches]),
        charge=np.concatenate([b.charge for b in batches]),
        peptides=[p for b in batches for p in b.peptides])


def repeat_rows(raw: RawBatch, counts) -> RawBatch:
    """Each spectrum ``i`` of ``raw`` ``counts[i]`` times in a row (the
    same spectrum under several drafts, for listwise groups)."""
    counts = np.asarray(counts, np.int64)
    parts = []
    for i, n in enumerate(counts):
        mz, inten = raw.spectrum(i)
        parts += [RawBatch(mz, inten, np.array([0, len(mz)], np.int64),
                           raw.precursor_mz[[i]], raw.charge[[i]],
                           [raw.peptides[i]])] * int(n)
    return concat(parts)


def from_spectra(spectra) -> RawBatch:
    """A batch from :mod:`denovo.io` ``Spectrum`` records."""
    lengths = [len(s.mz) for s in spectra]
    offsets = np.zeros(len(spectra) + 1, np.int64)
    offsets[1:] = np.cumsum(lengths)
    return RawBatch(
        mz=np.concatenate([np.asarray(s.mz, np.float64) for s in spectra]),
        intensity=np.concatenate(
            [np.asarray(s.intensity, np.float32) for s in spectra]),
        offsets=offsets,
        precursor_mz=np.array([s.precursor_mz for s in spectra],
                              np.float64),
        charge=np.array([s.charge for s in spectra], np.int32),
        peptides=[tuple(s.peptide) for s in spectra])


def to_arrays(raw: RawBatch, *, preprocess=None, max_length: int = 32,
              vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """NumPy model inputs and targets for a raw batch.

    Returns a dict with ``mz [B,P] f32``, ``intensity [B,P] f32``,
    ``mask [B,P] bool``, ``precursor_mass [B] f32`` (neutral),
    ``charge [B] i64``, ``targets [B, max_length + 1] i64`` and
    ``precursor_mz [B] f64``.
    """
    from denovo.core.preprocess import PreprocessConfig, preprocess_csr

    cfg = preprocess if preprocess is not None else PreprocessConfig()
    out = preprocess_csr(raw.mz, raw.intensity, raw.offsets,
                         raw.precursor_mz, raw.charge, config=cfg)
    targets = np.stack([vocabulary.encode(p, max_length)
                        for p in raw.peptides]).astype(np.int64)
    charge = raw.charge.astype(np.int64)
    mass = (raw.precursor_mz - PROTON) * charge
    return {
        "mz": np.asarray(out.mz, np.float32),
        "intensity": np.asarray(out.intensity, np.float32),
        "mask": out.mask,
        "precursor_mass": mass.astype(np.float32),
        "charge": charge,
        "targets": targets,
        "precursor_mz": raw.precursor_mz,
    }


def collate(raw: RawBatch, *, preprocess=None, max_length: int = 32,
            vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> dict:
    """Torch tensors for :meth:`denovo_training.model` forward plus targets."""
    import torch

    arrays = to_arrays(raw, preprocess=preprocess, max_length=max_length,
                       vocabulary=vocabulary)
    return {k: torch.from_numpy(np.ascontiguousarray(v))
            for k, v in arrays.items()}
