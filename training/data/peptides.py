"""Peptide sources for simulation: random, from a list file, from a FASTA.

A source only decides *which* peptides are simulated; the generator in
:mod:`denovo_training.data.synthetic` turns them into spectra. Sources are
pluggable: anything with a ``sample(rng, n, min_length=, max_length=)``
method returning tuples of vocabulary token names works, so a later issue
can plug in real peptide lists without touching the generator.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

__all__ = [
    "SplitRow",
    "read_split",
    "AMINO_ACIDS",
    "RESIDUE_FREQUENCY",
    "ModificationRates",
    "PeptideSource",
    "RandomPeptides",
    "ListPeptides",
    "DigestPeptides",
    "apply_modifications",
    "tryptic_digest",
]

log = logging.getLogger(__name__)

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# Approximate amino-acid frequencies of UniProtKB/Swiss-Prot (percent), so
# random peptides have a realistic composition (and thus mass spectrum).
RESIDUE_FREQUENCY = {
    "A": 8.25, "C": 1.38, "D": 5.46, "E": 6.72, "F": 3.86, "G": 7.07,
    "H": 2.27, "I": 5.91, "K": 5.80, "L": 9.64, "M": 2.41, "N": 4.06,
    "P": 4.74, "Q": 3.93, "R": 5.53, "S": 6.65, "T": 5.36, "V": 6.86,
    "W": 1.10, "Y": 2.92,
}


@dataclass(frozen=True)
class ModificationRates:
    """Probabilities of each modification, applied per eligible site.

    Carbamidomethylation is a fixed modification in most workflows, hence
    the default of 1. N-terminal rates are per peptide and mutually
    exclusive.
    """

    carbamidomethyl: float = 1.0  # C -> C[UNIMOD:4]
    oxidation: float = 0.15  # M -> M[UNIMOD:35]
    deamidation: float = 0.03  # N/Q -> N[UNIMOD:7]/Q[UNIMOD:7]
    acetyl: float = 0.02  # [UNIMOD:1]-
    carbamyl: float = 0.01  # [UNIMOD:5]-
    ammonia_loss: float = 0.01  # [UNIMOD:385]-
    carbamyl_ammonia_loss: float = 0.005  # [UNIMOD:5][UNIMOD:385]-


_NTERM = ("[UNIMOD:1]-", "[UNIMOD:5]-", "[UNIMOD:385]-",
          "[UNIMOD:5][UNIMOD:385]-")


def apply_modifications(residues: str, rng: np.random.Generator,
                        rates: ModificationRates, *,
                        allow_nterm: bool = True) -> tuple[str, ...]:
    """Turn a plain sequence into tokens with random modifications.

    Parameters
    ----------
    residues
        One-letter sequence of the 20 standard amino acids.
    rng
        Source of randomness (the caller owns the stream).
    rates
        Per-site modification probabilities.
    allow_nterm
        False when the peptide has no room for an extra N-terminal token.
    """
    u = rng.random(len(residues) + 1)
    tokens = []
    if allow_nterm:
        cum = np.cumsum([rates.acetyl, rates.carbamyl, rates.ammonia_loss,
                         rates.carbamyl_ammonia_loss])
        k = int(np.searchsorted(cum, u[-1], side="right"))
        if k < len(_NTERM):
            tokens.append(_NTERM[k])
    site_rate = {"C": rates.carbamidomethyl, "M": rates.oxidation,
                 "N": rates.deamidation, "Q": rates.deamidation}
    site_mod = {"C": "C[UNIMOD:4]", "M": "M[UNIMOD:35]",
                "N": "N[UNIMOD:7]", "Q": "Q[UNIMOD:7]"}
    for aa, x in zip(residues, u[:-1], strict=True):
        rate = site_rate.get(aa)
        tokens.append(site_mod[aa] if rate is not None and x < rate
                      else aa)
    return tuple(tokens)


class PeptideSource(Protocol):
    """What the generator needs from a peptide source."""

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> list[tuple[str, ...]]:
        """``n`` peptides with ``min_length..max_length`` tokens."""
        ...


def _check_lengths(min_length: int, max_length: int) -> None:
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got "
                         f"{min_length}, {max_length}")


class RandomPeptides:
    """Random peptides with realistic residue frequencies.

    Parameters
    ----------
    rates
        Modification probabilities.
    tryptic_fraction
        Fraction of peptides ending in K or R, as after trypsin digestion.
    """

    def __init__(self, rates: ModificationRates | None = None, *,
                 tryptic_fraction: float = 0.8):
        self.rates = rates or ModificationRates()
        self.tryptic_fraction = tryptic_fraction
        freq = np.array([RESIDUE_FREQUENCY[a] for a in AMINO_ACIDS])
        self._p = freq / freq.sum()
        self._letters = np.array(list(AMINO_ACIDS))

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> list[tuple[str, ...]]:
        """Draw ``n`` peptides; length counts tokens incl. N-terminal mods."""
        _check_lengths(min_length, max_length)
        lengths = rng.integers(min_length, max_length + 1, size=n)
        tryptic = rng.random(n) < self.tryptic_fraction
        last_kr = rng.integers(0, 2, size=n)
        letters = self._letters[rng.choice(len(AMINO_ACIDS),
                                           size=int(lengths.sum()),
                                           p=self._p)]
        ends = np.cumsum(lengths)
        out = []
        for length, end, tr, kr in zip(lengths, ends, tryptic, last_kr,
                                       strict=True):
            seq = "".join(letters[end - length:end])
            if tr:
                seq = seq[:-1] + "KR"[kr]
            out.append(apply_modifications(
                seq, rng, self.rates, allow_nterm=length < max_length))
        return out


class _PoolSource:
    """Uniform sampling from a fixed pool of plain sequences, by length."""

    def __init__(self, sequences, rates: ModificationRates | None,
                 name: str):
        self.rates = rates or ModificationRates()
        self.name = name
        pattern = re.compile(f"^[{AMINO_ACIDS}]+$")
        pool = sorted({s for s in sequences if pattern.match(s)})
        if not pool:
            raise ValueError(f"{name}: no usable peptide sequences")
        self.sequences = pool
        self._by_length: dict[int, list[str]] = {}
        self._eligible: dict[tuple[int, int], list[str]] = {}
        for s in pool:
            self._by_length.setdefault(len(s), []).append(s)

    def __len__(self) -> int:
        return len(self.sequences)

    def sample(self, rng: np.random.Generator, n: int, *,
               min_length: int, max_length: int) -> list[tuple[str, ...]]:
        """Draw ``n`` peptides (with replacement) whose length fits."""
        _check_lengths(min_length, max_length)
        key = (min_length, max_length)
        if key not in self._eligible:
            self._eligible[key] = [
                s for k in range(min_length, max_length + 1)
                for s in self._by_length.get(k, ())]
        eligible = self._eligible[key]
        if not eligible:
            raise ValueError(f"{self.name}: no peptide with "
                             f"{min_length}-{max_length} residues")
        picks = rng.integers(0, len(eligible), size=n)
        return [apply_modifications(eligible[i], rng, self.rates,
                                    allow_nterm=len(eligible[i])
                                    < max_length)
                for i in picks]


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt")
    return open(path)


class ListPeptides(_PoolSource):
    """Peptides from a text file: one per line, optionally gzipped or CSV.

    For CSV files the first column whose header contains "sequence" is
    used. Modified notations are reduced to their residues; modifications
    are then drawn at ``rates`` like for every source, so all sources
    share one modification model.
    """

    def __init__(self, path,
                 rates: ModificationRates | None = None):
        path = Path(path)
        with _open_text(path) as fh:
            lines = [ln.strip() for ln in fh if ln.strip()]
        column = None
        if lines and "," in lines[0]:
            header = [h.strip().lower() for h in lines[0].split(",")]
            column = next((i for i, h in enumerate(header)
                           if "sequence" in h), None)
            if column is None:
                raise ValueError(f"{path}: no 'sequence' column in header")
            lines = [ln.split(",")[column] for ln in lines[1:]]
        seqs = [re.sub(r"\[[^\]]*\]|[^A-Z]", "", s.split(".")[1]
                       if s.count(".") == 2 else s) for s in lines]
        super().__init__(seqs, rates, str(path))
        log.info("%s: %d unique peptides", path, len(self))


def tryptic_digest(protein: str, *, missed_cleavages: int = 1,
                   min_length: int = 6, max_length: int = 30) -> list[str]:
    """Tryptic peptides of one protein: cleave after K/R, not before P."""
    sites = [0] + [m.end() for m in re.finditer(r"[KR](?!P)", protein)]
    if sites[-1] != len(protein):
        sites.append(len(protein))
    out = []
    for i in range(len(sites) - 1):
        for j in range(i + 1, min(i + 2 + missed_cleavages, len(sites))):
            pep = protein[sites[i]:sites[j]]
            if min_length <= len(pep) <= max_length:
                out.append(pep)
    return out


class DigestPeptides(_PoolSource):
    """Tryptic peptides from a FASTA file (e.g. a real proteome)."""

    def __init__(self, path, rates: ModificationRates | None = None,
                 *, missed_cleavages: int = 1, min_length: int = 6,
                 max_length: int = 40):
        path = Path(path)
        peptides = []
        with _open_text(path) as fh:
            for protein in _fasta_sequences(fh):
                peptides.extend(tryptic_digest(
                    protein, missed_cleavages=missed_cleavages,
                    min_length=min_length, max_length=max_length))
        super().__init__(peptides, rates, str(path))
        log.info("%s: %d unique tryptic peptides", path, len(self))


def _fasta_sequences(lines):
    chunks: list[str] = []
    for line in lines:
        if line.startswith(">"):
            if chunks:
                yield "".join(chunks)
            chunks = []
        else:
            chunks.append(line.strip())
    if chunks:
        yield "".join(chunks)


class SplitRow(NamedTuple):
    """One labelled real spectrum of the peptide split file."""

    file: str
    index: int
    peptide: str  # ProForma
    key: str  # denovo.core.peptide.peptide_key
    split: str  # "train" or "dev"
    fragmentation: str = "HCD"  # "HCD", or "CID" for ion-trap sources


def read_split(path) -> list[SplitRow]:
    """Rows of a split file written by ``benchmarks/real_split.py``.

    Files written before the ``fragmentation`` column existed read as
    HCD (all their sources are).
    """
    rows = []
    with open(path) as fh:
        columns = next(fh).rstrip("\n").split("\t")
        has_frag = "fragmentation" in columns
        for line in fh:
            fields = line.rstrip("\n").split("\t")
            file, index, peptide, key, split = fields[:5]
            frag = fields[columns.index("fragmentation")] if has_frag \
                else "HCD"
            rows.append(SplitRow(file, int(index), peptide, key, split,
                                 frag))
    return rows
