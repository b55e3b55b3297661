"""Which peptides a model was trained on, carried in the model file.

Metadata key ``denovo.training_peptides`` holds JSON::

    {"version": 1,
     "key": "peptide_key",
     "real": ["LLEDK", ...],
     "simulated": {"kind": "bloom", "n_bits": m, "n_hashes": k,
                   "n_items": n, "fp_rate": p, "bits": "<base64>"}}

* Peptides are compared by :func:`denovo.core.peptide.peptide_key`:
  bare residues, I = L, modifications ignored.
* ``real``: the exact, sorted keys of every real annotated training
  peptide.
* ``simulated``: the keys of the simulated training peptides as a Bloom
  filter (:class:`BloomFilter`), or null. A Bloom filter never misses a
  member; a peptide that is not a member is reported as one with
  probability ``fp_rate`` (the expected rate for the filter's fill,
  recorded when it was built; :func:`training_peptides_metadata` sizes
  the filter for 0.1 % by default). So the "unseen" subset of an
  evaluation never contains a training peptide, and loses about
  ``fp_rate`` of the truly unseen ones to the "seen" subset.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Iterable, Mapping

import numpy as np

from ..core.peptide import peptide_key

__all__ = [
    "METADATA_KEY",
    "BloomFilter",
    "TrainingPeptides",
    "training_peptides_metadata",
    "read_training_peptides",
    "read_peptide_file",
]

METADATA_KEY = "denovo.training_peptides"
FORMAT_VERSION = 1
DEFAULT_FP_RATE = 1e-3




def _hashes(key: str) -> tuple[int, int]:
    """Two 64-bit hashes of ``key`` for double hashing."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
    h1 = int.from_bytes(digest[:8], "little")
    h2 = int.from_bytes(digest[8:], "little") | 1  # odd: all positions
    return h1, h2


class BloomFilter:
    """Set membership with false positives, never false negatives.

    Bit ``(h1 + i * h2) mod n_bits`` is set for ``i < n_hashes``, where
    ``h1, h2`` are the two halves of a 128-bit BLAKE2b digest of the key.

    Parameters
    ----------
    n_bits, n_hashes
        Filter size and hashes per key.
    bits
        The packed bit array (``np.packbits``, little bit order) or None
        for an empty filter.
    """

    def __init__(self, n_bits: int, n_hashes: int,
                 bits: np.ndarray | None = None, n_items: int = 0):
        if n_bits < 8 or n_hashes < 1:
            raise ValueError("a Bloom filter needs >= 8 bits and >= 1 hash")
        self.n_bits = int(n_bits)
        self.n_hashes = int(n_hashes)
        self.n_items = int(n_items)
        n_bytes = (self.n_bits + 7) // 8
        self.bits = (np.zeros(n_bytes, np.uint8) if bits is None
                     else np.asarray(bits, np.uint8))
        if self.bits.size != n_bytes:
            raise ValueError("bit array does not match n_bits")

    @classmethod
    def for_items(cls, n_items: int,
                  fp_rate: float = DEFAULT_FP_RATE) -> "BloomFilter":
        """An empty filter sized for ``n_items`` at ``fp_rate``."""
        if not 0 < fp_rate < 1:
            raise ValueError("fp_rate must be in (0, 1)")
        n = max(int(n_items), 1)
        n_bits = max(8, math.ceil(-n * math.log(fp_rate) / math.log(2) ** 2))
        n_hashes = max(1, round(n_bits / n * math.log(2)))
        return cls(n_bits, n_hashes)

    def _positions(self, key: str) -> list[int]:
        h1, h2 = _hashes(key)
        return [(h1 + i * h2) % self.n_bits for i in range(self.n_hashes)]

    def add(self, key: str) -> None:
        """Add one key."""
        for pos in self._positions(key):
            self.bits[pos >> 3] |= np.uint8(1 << (pos & 7))
        self.n_items += 1

    def __contains__(self, key: str) -> bool:
        return all(self.bits[pos >> 3] >> (pos & 7) & 1
                   for pos in self._positions(key))

    @property
    def fp_rate(self) -> float:
        """Expected false-positive rate at the current fill."""
        if self.n_items == 0:
            return 0.0
        return (1 - math.exp(-self.n_hashes * self.n_items
                             / self.n_bits)) ** self.n_hashes

    def to_dict(self) -> dict:
        return {"kind": "bloom", "n_bits": self.n_bits,
                "n_hashes": self.n_hashes, "n_items": self.n_items,
                "fp_rate": self.fp_rate,
                "bits": base64.b64encode(self.bits.tobytes()).decode()}

    @classmethod
    def from_dict(cls, data: Mapping) -> "BloomFilter":
        if data.get("kind") != "bloom":
            raise ValueError(f"unknown set kind {data.get('kind')!r}")
        bits = np.frombuffer(base64.b64decode(data["bits"]), np.uint8)
        return cls(data["n_bits"], data["n_hashes"], bits.copy(),
                   data.get("n_items", 0))


class TrainingPeptides:
    """The peptides a model was trained on; ``key in it`` tests one.

    Parameters
    ----------
    real
        Keys of the real annotated training peptides (exact).
    simulated
        Bloom filter of the simulated training peptides, or None.
    """

    def __init__(self, real: Iterable[str] = (),
                 simulated: BloomFilter | None = None):
        self.real = frozenset(real)
        self.simulated = simulated

    def __contains__(self, key: str) -> bool:
        return key in self.real or (self.simulated is not None
                                    and key in self.simulated)

    def describe(self) -> str:
        text = f"{len(self.real)} real training peptides"
        if self.simulated is not None:
            text += (f", {self.simulated.n_items} simulated (Bloom filter, "
                     f"false-positive rate {self.simulated.fp_rate:.1e})")
        return text

    @classmethod
    def from_json(cls, text: str, *, source: str = "model"
                  ) -> "TrainingPeptides":
        """Parse the metadata value; ValueError names what is wrong."""
        try:
            data = json.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"version {data.get('version')!r} is not "
                                 f"{FORMAT_VERSION}")
            sim = data.get("simulated")
            return cls(data.get("real", ()),
                       None if sim is None else BloomFilter.from_dict(sim))
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ValueError(f"{source}: {METADATA_KEY} is not usable "
                             f"({err})") from None


def training_peptides_metadata(real: Iterable, simulated: Iterable = (), *,
                               fp_rate: float = DEFAULT_FP_RATE
                               ) -> dict[str, str]:
    """The ``denovo.training_peptides`` metadata entry for an export.

    Parameters
    ----------
    real
        Real annotated training peptides (token tuples or text in any
        notation :func:`denovo.core.peptide.peptide_key` reads).
    simulated
        Simulated training peptides; stored in a Bloom filter sized for
        ``fp_rate``. Empty: no filter.
    """
    real_keys = sorted({k for k in map(peptide_key, real) if k})
    sim_keys = {k for k in map(peptide_key, simulated) if k}
    bloom = None
    if sim_keys:
        bloom = BloomFilter.for_items(len(sim_keys), fp_rate)
        for key in sorted(sim_keys):
            bloom.add(key)
    value = {"version": FORMAT_VERSION, "key": "peptide_key",
             "real": real_keys,
             "simulated": None if bloom is None else bloom.to_dict()}
    return {METADATA_KEY: json.dumps(value, separators=(",", ":"))}


def read_peptide_file(path) -> set[str]:
    """Peptide keys of a list file or of the train rows of a split file.

    A tab-separated file whose header has a ``key`` or ``peptide`` column
    (``configs/real_split.tsv``) gives that column, only the rows whose
    ``split`` is ``train`` when it has a split column; anything else is
    read by :func:`denovo.evaluate.peptide_lists.read_peptide_list`.
    """
    import csv
    import gzip
    from pathlib import Path

    from .peptide_lists import read_peptide_list

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        column = next((c for c in ("key", "peptide") if c in header), None)
        if column is None:
            return read_peptide_list(path)
        rows = csv.DictReader(fh, fieldnames=header, delimiter="\t")
        return {peptide_key(r[column]) for r in rows
                if r.get(column) and r.get("split", "train") == "train"}


def read_training_peptides(model_path) -> TrainingPeptides:
    """The training peptides recorded in an ONNX model file.

    Raises
    ------
    ValueError
        When the file cannot be read or records no training peptides.
    """
    import onnxruntime as ort

    from ..engine.session import resolve_model

    path = resolve_model(model_path)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options,
                                       providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any load failure
        raise ValueError(f"{path}: cannot be loaded as an ONNX model "
                         f"({err})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ValueError(f"{path} records no training peptides (metadata "
                         f"key {METADATA_KEY}); export it with "
                         "`denovo export --training-peptides`, or give "
                         "--seen lists")
    return TrainingPeptides.from_json(meta[METADATA_KEY], source=str(path))
