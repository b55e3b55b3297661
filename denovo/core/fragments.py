"""Peptide masses and theoretical fragment ions, as Numba kernels.

Training (spectrum-matching loss tests), rescoring and evaluation all need
the same b/y/a ladders, so they are computed once here, from the masses in
:mod:`denovo.core.vocab`. Kernels take a peptide as an int32 array of
vocabulary indices plus the vocabulary's mass array; an N-terminal
modification token (first position only) shifts every N-terminal fragment
and the peptide mass but is not a residue. The Python wrappers accept
token-name tuples (as produced by :func:`denovo.core.peptide.parse`) or
index arrays, validate them and call the kernels.

Fragment order is fixed: for each ion type of the config, for each charge,
for each loss, ion index 1..n-1; immonium ions (one per distinct residue
token) come last.

The module stays whole (~400 lines): one kernel family, its
configuration and the wrappers that validate inputs for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple, Sequence

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from .constants import CO, H2O, NH3, PROTON
from .vocab import DEFAULT_VOCABULARY, END, PAD, Vocabulary

__all__ = [
    "ION_A", "ION_B", "ION_Y", "ION_IMMONIUM", "ION_NAMES", "N_ION_TYPES",
    "LOSS_NONE", "LOSS_H2O", "LOSS_NH3", "LOSS_NAMES",
    "FragmentConfig", "Fragments", "FragmentBatch",
    "peptide_mass_kernel", "precursor_mz_kernel", "peptide_mass_batch_kernel",
    "fragments_kernel", "fragments_batch_inplace", "max_fragments",
    "encode_peptide", "encode_batch",
    "batch_peptide_mass", "batch_precursor_mz",
    "fragment_mz", "fragment_mz_batch",
]

# Ion type codes (index into per-type arrays, e.g. in denovo.core.match).
ION_A = 0
ION_B = 1
ION_Y = 2
ION_IMMONIUM = 3
ION_NAMES = ("a", "b", "y", "immonium")
N_ION_TYPES = len(ION_NAMES)

# Neutral loss codes.
LOSS_NONE = 0
LOSS_H2O = 1
LOSS_NH3 = 2
LOSS_NAMES = ("", "H2O", "NH3")

_LOSS_MASS = np.array([0.0, H2O, NH3], np.float64)
_LOSS_MASS.setflags(write=False)

# A peptide: token names (or indices); a batch: peptides or an int matrix.
Peptide = Sequence[str] | Sequence[int] | np.ndarray
Peptides = Sequence[Peptide] | np.ndarray


# --------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def peptide_mass_kernel(tokens, masses):
    """Neutral monoisotopic mass of ``tokens`` (int32[L]): sum + H2O."""
    total = H2O
    for i in range(tokens.shape[0]):
        total += masses[tokens[i]]
    return total


@njit(cache=True, nogil=True)
def precursor_mz_kernel(tokens, masses, charge):
    """Precursor m/z of ``tokens`` at ``charge`` ([M+zH]z+)."""
    return (peptide_mass_kernel(tokens, masses) + charge * PROTON) / charge


@njit(cache=True, nogil=True)
def peptide_mass_batch_kernel(tokens, lengths, masses):
    """Neutral masses of the rows of a padded int32[N, L] token matrix."""
    out = np.empty(tokens.shape[0], np.float64)
    for i in range(tokens.shape[0]):
        out[i] = peptide_mass_kernel(tokens[i, :lengths[i]], masses)
    return out


@njit(cache=True, nogil=True)
def _fill_fragments(tokens, masses, is_nterm, charge, ion_types, losses,
                    max_fragment_charge, immonium, out_mz, out_type,
                    out_index, out_charge, out_loss):
    # Writes one peptide's fragments into the given 1-D buffers (length
    # >= max_fragments(...)), pads the rest, returns the fragment count.
    n_tok = tokens.shape[0]
    start = 0
    shift = 0.0
    if n_tok > 0 and is_nterm[tokens[0]]:
        start = 1
        shift = masses[tokens[0]]
    n = n_tok - start
    total = shift
    for i in range(start, n_tok):
        total += masses[tokens[i]]
    z_max = min(charge - 1, max_fragment_charge)
    if z_max < 1:
        z_max = 1
    k = 0
    for t in range(ion_types.shape[0]):
        ion = ion_types[t]
        for z in range(1, z_max + 1):
            for li in range(losses.shape[0]):
                loss = losses[li]
                offset = z * PROTON - _LOSS_MASS[loss]
                prefix = shift
                suffix = 0.0
                for i in range(1, n):
                    if ion == ION_Y:
                        suffix += masses[tokens[n_tok - i]]
                        neutral = suffix + H2O
                    else:
                        prefix += masses[tokens[start + i - 1]]
                        neutral = prefix
                        if ion == ION_A:
                            neutral -= CO
                    out_mz[k] = (neutral + offset) / z
                    out_type[k] = ion
                    out_index[k] = i
                    out_charge[k] = z
                    out_loss[k] = loss
                    k += 1
    if immonium:
        for i in range(start, n_tok):
            seen = False
            for j in range(start, i):
                if tokens[j] == tokens[i]:
                    seen = True
                    break
            if seen:
                continue
            out_mz[k] = masses[tokens[i]] - CO + PROTON
            out_type[k] = ION_IMMONIUM
            out_index[k] = i - start + 1
            out_charge[k] = 1
            out_loss[k] = LOSS_NONE
            k += 1
    for j in range(k, out_mz.shape[0]):
        out_mz[j] = 0.0
        out_type[j] = -1
        out_index[j] = -1
        out_charge[j] = -1
        out_loss[j] = -1
    return k


@njit(cache=True, nogil=True)
def max_fragments(n_tokens, charge, n_ion_types, n_losses,
                  max_fragment_charge, immonium):
    """Upper bound on the fragment count of a peptide of ``n_tokens``."""
    z_max = max(1, min(charge - 1, max_fragment_charge))
    n = max(n_tokens - 1, 0)
    return n_ion_types * z_max * n_losses * n + (n_tokens if immonium else 0)


@njit(cache=True, nogil=True)
def fragments_kernel(tokens, masses, is_nterm, charge, ion_types, losses,
                     max_fragment_charge, immonium):
    """Fragments of one peptide.

    Returns ``(mz f64, ion_type i8, ion_index i32, charge i8, loss i8)``;
    ``ion_types`` and ``losses`` are int arrays of ``ION_*``/``LOSS_*``
    codes (``losses`` must include ``LOSS_NONE`` for the plain ions).
    """
    size = max_fragments(tokens.shape[0], charge, ion_types.shape[0],
                         losses.shape[0], max_fragment_charge, immonium)
    mz = np.empty(size, np.float64)
    ion = np.empty(size, np.int8)
    index = np.empty(size, np.int32)
    z = np.empty(size, np.int8)
    loss = np.empty(size, np.int8)
    k = _fill_fragments(tokens, masses, is_nterm, charge, ion_types, losses,
                        max_fragment_charge, immonium, mz, ion, index, z,
                        loss)
    return mz[:k], ion[:k], index[:k], z[:k], loss[:k]


@njit(cache=True, nogil=True)
def fragments_batch_inplace(tokens, lengths, charges, masses, is_nterm,
                            ion_types, losses, max_fragment_charge, immonium,
                            out_mz, out_type, out_index, out_charge, out_loss,
                            out_n):
    """Fill padded ``out_*[N, F]`` and ``out_n[N]`` for many peptides.

    Padding: m/z 0.0 and codes -1. ``F`` must be at least
    :func:`max_fragments` of every row (the wrapper checks).
    """
    for i in range(tokens.shape[0]):
        out_n[i] = _fill_fragments(
            tokens[i, :lengths[i]], masses, is_nterm, charges[i], ion_types,
            losses, max_fragment_charge, immonium, out_mz[i], out_type[i],
            out_index[i], out_charge[i], out_loss[i])


# --------------------------------------------------------------------------
# configuration and Python wrappers
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class FragmentConfig:
    """Which theoretical fragments to generate.

    Defaults are the b/y ladders used for rescoring; charges run from 1
    to ``min(precursor charge - 1, max_fragment_charge)`` (at least 1).
    Losses apply uniformly to every ion of the selected types.
    """

    ion_types: tuple[str, ...] = ("b", "y")  # any of "a", "b", "y"
    max_fragment_charge: int = 2
    losses: tuple[str, ...] = ()  # any of "H2O", "NH3"
    immonium: bool = False

    def __post_init__(self):
        for name in self.ion_types:
            if name not in ("a", "b", "y"):
                raise ValueError(f"unknown ion type {name!r}; "
                                 "use 'a', 'b' or 'y'")
        for name in self.losses:
            if name not in LOSS_NAMES[1:]:
                raise ValueError(f"unknown neutral loss {name!r}; "
                                 "use 'H2O' or 'NH3'")
        if len(set(self.ion_types)) != len(self.ion_types) \
                or len(set(self.losses)) != len(self.losses):
            raise ValueError("duplicate ion types or losses")
        if self.max_fragment_charge < 1:
            raise ValueError("max_fragment_charge must be >= 1")

    @property
    def ion_codes(self) -> np.ndarray:
        """``ION_*`` codes of ``ion_types`` (int64)."""
        return np.array([ION_NAMES.index(n) for n in self.ion_types],
                        np.int64)

    @property
    def loss_codes(self) -> np.ndarray:
        """``LOSS_NONE`` then the ``LOSS_*`` codes of ``losses``."""
        return np.array([LOSS_NONE] + [LOSS_NAMES.index(n)
                                       for n in self.losses], np.int64)


class Fragments(NamedTuple):
    """Parallel arrays describing the fragments of one peptide."""

    mz: np.ndarray  # float64
    ion_type: np.ndarray  # int8, ION_* codes
    ion_index: np.ndarray  # int32, residues in the fragment (immonium: pos)
    charge: np.ndarray  # int8
    loss: np.ndarray  # int8, LOSS_* codes


class FragmentBatch(NamedTuple):
    """Padded ``[N, F]`` fragment arrays and ``n_fragments[N]``."""

    mz: np.ndarray
    ion_type: np.ndarray
    ion_index: np.ndarray
    charge: np.ndarray
    loss: np.ndarray
    n_fragments: np.ndarray  # int64


def encode_peptide(peptide: Peptide, *,
                   vocabulary: Vocabulary = DEFAULT_VOCABULARY
                   ) -> np.ndarray:
    """Token names or indices -> validated int32 index array.

    Raises ``ValueError`` for special tokens, indices outside the
    vocabulary or an N-terminal token anywhere but first, and
    ``KeyError`` for a token name not in the vocabulary.
    """
    tokens, _ = encode_batch([peptide], vocabulary=vocabulary)
    return tokens[0]


def _validate(tokens: np.ndarray, lengths: np.ndarray,
              vocabulary: Vocabulary) -> None:
    inside = np.arange(tokens.shape[1]) < lengths[:, None]
    bad = inside & ((tokens <= END) | (tokens >= len(vocabulary)))
    if bad.any():
        row, pos = np.argwhere(bad)[0]
        raise ValueError(f"peptide {row}, position {pos}: token index "
                         f"{int(tokens[row, pos])} is special or not in "
                         "the vocabulary")
    nterm = inside & vocabulary.n_terminal[tokens]
    nterm[:, :1] = False
    if nterm.any():
        row, pos = np.argwhere(nterm)[0]
        name = vocabulary.tokens[tokens[row, pos]].name
        raise ValueError(f"peptide {row}, position {pos}: N-terminal token "
                         f"{name!r} is only allowed first")


def _flat_indices(peptides, vocabulary: Vocabulary) -> np.ndarray:
    # Fast path: token names, looked up at C speed; else one by one.
    lookup = {t.name: i for i, t in enumerate(vocabulary.tokens)}
    try:
        flat = list(map(lookup.__getitem__, chain.from_iterable(peptides)))
    except (KeyError, TypeError):
        flat = [vocabulary.index(t) if isinstance(t, str) else int(t)
                for p in peptides for t in p]
    return np.array(flat, np.int32)


def encode_batch(peptides: Peptides, lengths: ArrayLike | None = None, *,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Peptides -> validated padded int32 ``[N, L]`` matrix and lengths.

    ``peptides`` is a sequence of peptides (each a sequence of token names
    or indices) or an int matrix; matrix rows end at ``lengths`` or, if
    not given, at the first PAD/END token (as :meth:`Vocabulary.encode`
    writes them). Padding is PAD.
    """
    if isinstance(peptides, np.ndarray) and peptides.ndim == 2:
        tokens = np.ascontiguousarray(peptides, np.int32)
        if lengths is None:
            special = tokens <= END
            lengths = np.where(special.any(axis=1), special.argmax(axis=1),
                               tokens.shape[1])
        lengths = np.asarray(lengths, np.int64)
        if lengths.shape != (tokens.shape[0],) or (
                lengths.size and (lengths.min() < 0
                                  or lengths.max() > tokens.shape[1])):
            raise ValueError("lengths must give one length per row, "
                             "within the row width")
        tokens = np.where(np.arange(tokens.shape[1]) < lengths[:, None],
                          tokens, PAD).astype(np.int32)
    else:
        flat = _flat_indices(peptides, vocabulary)
        lengths = np.fromiter(map(len, peptides), np.int64, len(peptides))
        width = int(lengths.max(initial=0))
        tokens = np.full((len(lengths), width), PAD, np.int32)
        tokens[np.arange(width) < lengths[:, None]] = flat
    _validate(tokens, lengths, vocabulary)
    return tokens, lengths


def _charges(charge, n: int) -> np.ndarray:
    charges = np.broadcast_to(np.asarray(charge, np.int64), (n,)).copy()
    if n and charges.min() < 1:
        raise ValueError("charges must be >= 1")
    return charges


def batch_peptide_mass(peptides: Peptides,
                       lengths: ArrayLike | None = None, *,
                       vocabulary: Vocabulary = DEFAULT_VOCABULARY
                       ) -> np.ndarray:
    """Neutral monoisotopic masses (float64[N]) of many peptides."""
    tokens, lengths = encode_batch(peptides, lengths, vocabulary=vocabulary)
    return peptide_mass_batch_kernel(tokens, lengths, vocabulary.masses)


def batch_precursor_mz(peptides: Peptides, charges: ArrayLike, *,
                       lengths: ArrayLike | None = None,
                       vocabulary: Vocabulary = DEFAULT_VOCABULARY
                       ) -> np.ndarray:
    """Precursor m/z (float64[N]) of many peptides at their charges."""
    mass = batch_peptide_mass(peptides, lengths, vocabulary=vocabulary)
    z = _charges(charges, mass.shape[0])
    return (mass + z * PROTON) / z


def fragment_mz(peptide: Peptide, charge: int, *,
                config: FragmentConfig = FragmentConfig(),
                vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> Fragments:
    """Theoretical fragments of one peptide at precursor ``charge``."""
    tokens = encode_peptide(peptide, vocabulary=vocabulary)
    charge = int(_charges(charge, 1)[0])
    return Fragments(*fragments_kernel(
        tokens, vocabulary.masses, vocabulary.n_terminal, charge,
        config.ion_codes, config.loss_codes, config.max_fragment_charge,
        config.immonium))


def fragment_mz_batch(peptides: Peptides, charges: ArrayLike, *,
                      lengths: ArrayLike | None = None,
                      config: FragmentConfig = FragmentConfig(),
                      vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                      out: FragmentBatch | None = None) -> FragmentBatch:
    """Fragments of many peptides as padded ``[N, F]`` arrays.

    Pass ``out`` (a :class:`FragmentBatch` with at least N rows and enough
    columns) to reuse buffers across batches; its first N rows are filled
    and a view of them is returned.
    """
    tokens, lengths = encode_batch(peptides, lengths, vocabulary=vocabulary)
    n = tokens.shape[0]
    charges = _charges(charges, n)
    ions, losses = config.ion_codes, config.loss_codes
    z_max = np.clip(np.minimum(charges - 1, config.max_fragment_charge),
                    1, None)
    sizes = len(ions) * len(losses) * z_max * np.maximum(lengths - 1, 0)
    if config.immonium:
        sizes = sizes + lengths
    need = int(sizes.max(initial=0))
    if out is None:
        out = FragmentBatch(np.zeros((n, need), np.float64),
                            *(np.full((n, need), -1, dt) for dt in
                              (np.int8, np.int32, np.int8, np.int8)),
                            np.zeros(n, np.int64))
    else:
        if out.mz.shape[0] < n or out.mz.shape[1] < need:
            raise ValueError(f"out holds {out.mz.shape} fragments, need "
                             f"({n}, {need})")
        out = FragmentBatch(*(a[:n] for a in out))
    fragments_batch_inplace(tokens, lengths, charges, vocabulary.masses,
                            vocabulary.n_terminal, ions, losses,
                            config.max_fragment_charge, config.immonium,
                            *out)
    return out
