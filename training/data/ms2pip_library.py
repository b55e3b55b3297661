"""A compact on-disk library of MS2PIP b/y intensities, and its loader.

MS2PIP (optional extra ``sim``: ``ms2pip==4.1.2``) predicts realistic
HCD b/y intensities at ~1,500 peptides/s on one core: too slow to call in
every training step, fast enough to pre-compute a few hundred thousand
peptidoforms once. The library is a directory of ``.npz`` shards plus a
``manifest.json``; the plan of what to predict is written first, so an
interrupted build resumes at the first missing shard::

    python -m denovo_training.data.build_library --out runs/ms2pip_lib \\
        --n 30000

Each entry is one peptidoform at one precursor charge: a float16 array
``[4, n - 1]`` of linear intensities of b, y, b2+, y2+ (ion index 1..n-1),
scaled to a maximum of 1. Charge 2 uses the HCD2019 model (b, y only),
charges 3+ use HCDch2 (b, y, b2, y2). Both are built into ms2pip and
work offline; modifications are passed as mass deltas, since ms2pip's
UNIMOD lookup needs the network.

:class:`LibraryIntensity` turns a library into an ``IntensityModel`` for
the generator; peptides absent from it are predicted live by ms2pip when
it is installed, else by the heuristic model.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import numpy as np

from denovo.core.fragments import ION_B, ION_Y, LOSS_NONE
from denovo.core.peptide import parse, to_proforma
from denovo.core.vocab import DEFAULT_VOCABULARY, RESIDUE_MASS, Vocabulary

from .synthetic import HeuristicIntensity, IonTable, SimulationConfig

__all__ = [
    "SERIES",
    "ms2pip_available",
    "ms2pip_peptidoform",
    "entry_key",
    "predict",
    "build_library",
    "Library",
    "LibraryIntensity",
]

log = logging.getLogger(__name__)

SERIES = ("b", "y", "b2", "y2")  # rows of a library entry
FORMAT_VERSION = 1
_MODELS = {2: "HCD2019", 3: "HCDch2"}  # charge <= 2, charge >= 3


def ms2pip_available() -> bool:
    """True when ms2pip can be imported (the ``sim`` extra)."""
    try:
        import ms2pip.core  # noqa: F401
    except ImportError:
        return False
    return True


def ms2pip_peptidoform(peptide, charge: int, *,
                       vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """ProForma with mass deltas, N-terminal shifts merged, ``/charge``.

    ms2pip resolves UNIMOD accessions online and cannot parse two stacked
    N-terminal modifications, so every modification is written as one
    delta per position, computed from the vocabulary.
    """
    out = []
    for name in peptide:
        tok = vocabulary.tokens[vocabulary.index(name)]
        if tok.n_terminal:
            out.append(f"[{tok.mass:+.5f}]-")
        elif tok.mods:
            delta = tok.mass - RESIDUE_MASS[tok.residue]
            out.append(f"{tok.residue}[{delta:+.5f}]")
        else:
            out.append(tok.residue)
    return "".join(out) + f"/{int(charge)}"


def entry_key(peptide, charge: int) -> str:
    """Library key: UNIMOD ProForma and charge, ``"M[UNIMOD:35]K/2"``."""
    return f"{to_proforma(peptide)}/{int(charge)}"


def _model_for(charge: int) -> str:
    return _MODELS[2] if charge <= 2 else _MODELS[3]


def predict(peptides, charges, *, processes: int = 1,
            vocabulary: Vocabulary = DEFAULT_VOCABULARY
            ) -> list[np.ndarray]:
    """MS2PIP intensities: one float32 ``[4, n - 1]`` array per peptide.

    Rows are b, y, b2+, y2+ (zero where the model has no such series);
    linear intensities scaled to a maximum of 1.

    Raises
    ------
    ImportError
        When ms2pip is not installed (``pip install 'denovo[sim]'``).
    """
    from ms2pip.core import predict_batch
    from psm_utils import PSM, PSMList

    charges = [int(z) for z in charges]
    out: list = [None] * len(peptides)
    for low in (True, False):
        idx = [i for i, z in enumerate(charges) if (z <= 2) == low]
        if not idx:
            continue
        psms = PSMList(psm_list=[
            PSM(peptidoform=ms2pip_peptidoform(peptides[i], charges[i],
                                               vocabulary=vocabulary),
                spectrum_id=str(i)) for i in idx])
        model = _model_for(2 if low else 3)
        results = predict_batch(psms, model=model, processes=processes)
        for res in results:
            i = idx[res.psm_index]
            pred = res.predicted_intensity
            n = len(pred["b"])
            arr = np.zeros((4, n), np.float32)
            for row, name in enumerate(SERIES):
                if name in pred:
                    # ms2pip returns log2(intensity + 0.001).
                    arr[row] = np.maximum(
                        np.exp2(pred[name].astype(np.float64)) - 0.001, 0)
            top = arr.max()
            out[i] = arr / top if top > 0 else arr
    missing = [i for i, a in enumerate(out) if a is None]
    if missing:
        raise RuntimeError(f"ms2pip returned no prediction for "
                           f"{len(missing)} peptides, e.g. "
                           f"{peptides[missing[0]]}")
    return out


# --------------------------------------------------------------------------
# on-disk library
# --------------------------------------------------------------------------
def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def build_library(out_dir, peptides, *, charges=(2, 3, 4),
                  chunk: int = 5000, processes: int = 1,
                  progress: bool = True) -> Path:
    """Predict every ``peptide x charge`` into shards under ``out_dir``.

    The plan (all keys, in order) is written on the first call; a later
    call with the same ``out_dir`` ignores ``peptides`` and resumes with
    the first shard not yet in the manifest.

    Returns the manifest path.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan_path, manifest_path = out / "plan.txt.gz", out / "manifest.json"
    if plan_path.exists():
        with gzip.open(plan_path, "rt") as fh:
            keys = [ln.strip() for ln in fh if ln.strip()]
        log.info("%s: resuming a plan of %d entries", out, len(keys))
    else:
        keys = [entry_key(p, z) for p in peptides for z in charges]
        with gzip.open(plan_path.with_suffix(".tmp"), "wt") as fh:
            fh.write("\n".join(keys) + "\n")
        os.replace(plan_path.with_suffix(".tmp"), plan_path)
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    else:
        import ms2pip

        manifest = {"format": FORMAT_VERSION, "series": list(SERIES),
                    "models": {"charge<=2": _MODELS[2],
                               "charge>=3": _MODELS[3]},
                    "ms2pip": ms2pip.__version__, "chunk": chunk,
                    "n_entries": len(keys), "shards": []}
    chunk = manifest["chunk"]
    done = {s["index"] for s in manifest["shards"]}
    n_shards = (len(keys) + chunk - 1) // chunk
    bar = tqdm(total=len(keys), unit="pep", disable=not progress,
               desc="ms2pip library")
    bar.update(sum(s["n"] for s in manifest["shards"]))
    for s in range(n_shards):
        if s in done:
            continue
        part = keys[s * chunk:(s + 1) * chunk]
        peps, zs = [], []
        for key in part:
            text, z = key.rsplit("/", 1)
            peps.append(parse(text))
            zs.append(int(z))
        arrays = predict(peps, zs, processes=processes)
        lengths = np.array([a.shape[1] for a in arrays], np.int64)
        offsets = np.zeros(len(arrays) + 1, np.int64)
        offsets[1:] = np.cumsum(lengths)
        values = np.concatenate([a for a in arrays], axis=1)
        name = f"shard_{s:05d}.npz"
        np.savez_compressed(out / name, keys=np.array(part),
                            offsets=offsets,
                            values=values.astype(np.float16))
        manifest["shards"].append({"index": s, "file": name,
                                   "n": len(part)})
        _write_json(manifest_path, manifest)
        bar.update(len(part))
    bar.close()
    return manifest_path


class Library:
    """Read-only view of a built library, all shards in memory.

    ``get(peptide, charge)`` gives the float32 ``[4, n - 1]`` entry or
    None. ~60 bytes per residue and entry, so 100k entries take ~100 MB.
    """

    def __init__(self, path):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"{self.path}: no manifest.json; build "
                                    "the library first")
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != FORMAT_VERSION:
            raise ValueError(f"{manifest_path}: unknown library format "
                             f"{self.manifest.get('format')!r}")
        self._values: list[np.ndarray] = []
        self._index: dict[str, tuple[int, int, int]] = {}
        for shard in sorted(self.manifest["shards"],
                            key=lambda s: s["index"]):
            with np.load(self.path / shard["file"]) as data:
                values = data["values"]
                offsets = data["offsets"]
                keys = data["keys"]
            k = len(self._values)
            self._values.append(values)
            for i, key in enumerate(keys.tolist()):
                self._index[key] = (k, int(offsets[i]), int(offsets[i + 1]))
        self.complete = len(self._index) >= self.manifest["n_entries"]
        log.info("%s: %d entries%s", self.path, len(self._index),
                 "" if self.complete else " (build not finished)")

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def keys(self) -> list[str]:
        """All entry keys, ``"PROFORMA/charge"``."""
        return list(self._index)

    def peptides(self, *, vocabulary: Vocabulary = DEFAULT_VOCABULARY
                 ) -> list[tuple[str, ...]]:
        """The distinct peptidoforms, as token tuples, in build order."""
        seen = dict.fromkeys(k.rsplit("/", 1)[0] for k in self._index)
        return [parse(p, vocabulary=vocabulary) for p in seen]

    def get(self, peptide, charge: int) -> np.ndarray | None:
        """The entry of ``peptide`` at ``charge``, or None."""
        hit = self._index.get(entry_key(peptide, charge))
        if hit is None:
            return None
        k, lo, hi = hit
        return self._values[k][:, lo:hi].astype(np.float32)


class LibraryIntensity:
    """``IntensityModel`` from MS2PIP predictions.

    Needs the peptides of the batch: ``ions.peptides`` and
    ``ions.precursor_charge`` (as the realistic simulator's ion table
    carries). b/y ions without loss get the MS2PIP value; a ions and
    neutral losses get ``config.minor_ion_scale`` times their parent b/y
    value. Spectra whose peptide is in neither the library nor (with
    ``live``) ms2pip get the heuristic model's values.

    Parameters
    ----------
    library
        A :class:`Library`, or None to predict everything live.
    live
        Predict library misses with ms2pip when it is installed.
    """

    def __init__(self, library: Library | None = None, *,
                 live: bool = True):
        self.library = library
        self.live = live and ms2pip_available()
        self.fallback = HeuristicIntensity()
        self.hits = 0
        self.misses = 0

    def lookup(self, peptides, charges) -> list[np.ndarray | None]:
        """Entries for each peptide (None where unavailable)."""
        out = [self.library.get(p, z) if self.library is not None else None
               for p, z in zip(peptides, charges, strict=True)]
        missing = [i for i, a in enumerate(out) if a is None]
        if missing and self.live:
            pred = predict([peptides[i] for i in missing],
                           [charges[i] for i in missing])
            for i, a in zip(missing, pred, strict=True):
                out[i] = a
        hits = sum(a is not None for a in out)
        self.hits += hits
        self.misses += len(out) - hits
        return out

    def predict(self, ions: IonTable, rng: np.random.Generator,
                config: SimulationConfig) -> np.ndarray:
        """Intensity of every ion of ``ions`` (float32)."""
        base = self.fallback.predict(ions, rng, config)
        peptides = getattr(ions, "peptides", None)
        if peptides is None:
            return base
        entries = self.lookup(peptides, list(ions.precursor_charge))
        known = np.array([a is not None for a in entries], bool)
        # Heuristic spectra: scale to a maximum of 1 like library entries.
        top = np.zeros(len(entries))
        np.maximum.at(top, ions.spectrum, base)
        out = base / np.maximum(top[ions.spectrum], 1e-12)
        if not known.any():
            return out.astype(np.float32)
        width = max(a.shape[1] for a in entries if a is not None)
        table = np.zeros((len(entries), 4, width), np.float32)
        for i, a in enumerate(entries):
            if a is not None:
                table[i, :, :a.shape[1]] = a
        is_y = ions.series == ION_Y
        # Index of the ion in its series: b_i has i = cleavage, y_j has
        # j = length - cleavage.
        index = np.where(is_y, ions.peptide_length - ions.cleavage,
                         ions.cleavage)
        row = np.where(is_y, 1, 0) + np.where(ions.charge >= 2, 2, 0)
        col = np.clip(index - 1, 0, width - 1)
        value = table[ions.spectrum, row, col]
        minor = (ions.series != ION_B) & ~is_y | (ions.loss != LOSS_NONE)
        value = np.where(minor, value * config.minor_ion_scale, value)
        use = known[ions.spectrum] & (ions.charge <= 2)
        return np.where(use, value, out).astype(np.float32)
