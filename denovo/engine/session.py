"""An ONNX Runtime session for a denovo model, validated on opening.

Opening checks everything the engine relies on before any spectrum is
read — that the file is ONNX, carries denovo metadata of a supported
version, and declares the contract's inputs and output — so a wrong file
fails with one clear sentence rather than a shape error mid-run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .contract import INPUTS, OUTPUT, ModelFileError, ModelInfo

__all__ = ["DEFAULT_MODEL", "ModelSession", "bundled_models",
           "resolve_model"]

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = MODELS_DIR / "default.onnx"

_ORT_TYPES = {"float32": "tensor(float)", "bool": "tensor(bool)",
              "int64": "tensor(int64)"}
_NUMPY_TYPES = {"float32": np.float32, "bool": np.bool_,
                "int64": np.int64}


def bundled_models() -> dict[str, Path]:
    """The models shipped inside the package, by name (file stem)."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.onnx"))}


def resolve_model(model: str | Path | None) -> Path:
    """A model file: the given path, a bundled model's name, or None for
    the default model.

    A path that exists wins over a bundled name, so a local file called
    ``fast`` is never shadowed.
    """
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise ModelFileError(
                f"the default model ({DEFAULT_MODEL}) is not installed "
                "yet; pass a model file with -m MODEL.onnx")
        return DEFAULT_MODEL
    path = Path(model)
    if path.is_file():
        return path
    bundled = bundled_models()
    if str(model) in bundled:
        return bundled[str(model)]
    names = ", ".join(bundled) or "none"
    raise ModelFileError(f"model file not found: {path} (bundled models: "
                         f"{names})")


class ModelSession:
    """ONNX Runtime session plus the model's :class:`ModelInfo`.

    Parameters
    ----------
    path
        The ``.onnx`` file, the name of a bundled model (``default``,
        ``fast``), or None for the default model.
    threads
        Intra-op threads of ONNX Runtime (0: its default, all cores).
    """

    def __init__(self, path: str | Path | None = None, *, threads: int = 0):
        import onnxruntime as ort

        self.path = resolve_model(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(int(threads), 0)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options,
                providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises several private types
            first = str(exc).strip().splitlines()[0] if str(exc) else ""
            raise ModelFileError(
                f"{self.path} cannot be loaded as an ONNX model "
                f"({type(exc).__name__}: {first[:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = ModelInfo.from_metadata(meta, source=str(self.path))
        self._check_io()

    def _check_io(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        unknown = sorted(set(inputs) - set(INPUTS))
        if unknown:
            raise ModelFileError(
                f"{self.path}: unexpected model inputs {unknown}; the "
                f"contract allows {sorted(INPUTS)}")
        for name, arg in inputs.items():
            want = _ORT_TYPES[INPUTS[name][0]]
            if arg.type != want:
                raise ModelFileError(
                    f"{self.path}: input {name!r} is {arg.type}, the "
                    f"contract says {want}")
        self.input_names = tuple(n for n in INPUTS if n in inputs)
        if ("draft" in inputs) != self.info.takes_draft:
            raise ModelFileError(
                f"{self.path}: metadata says takes_draft="
                f"{self.info.takes_draft} but the graph "
                f"{'has' if 'draft' in inputs else 'lacks'} a 'draft' input")
        outputs = {o.name: o for o in self.session.get_outputs()}
        name, dtype, _ = OUTPUT
        if name not in outputs:
            raise ModelFileError(
                f"{self.path}: the model has no {name!r} output "
                f"(outputs: {sorted(outputs)})")
        if outputs[name].type != _ORT_TYPES[dtype]:
            raise ModelFileError(
                f"{self.path}: output {name!r} is {outputs[name].type}, "
                f"expected {_ORT_TYPES[dtype]}")
        shape = outputs[name].shape
        want = (None, self.info.n_slots, len(self.info.vocabulary))
        for got, exp in zip(shape[1:], want[1:], strict=False):
            if isinstance(got, int) and got != exp:
                raise ModelFileError(
                    f"{self.path}: output {name!r} has static shape "
                    f"{shape}, metadata implies [B, {want[1]}, {want[2]}]")

    def run(self, *, mz: np.ndarray, intensity: np.ndarray,
            mask: np.ndarray, precursor_mass: np.ndarray,
            charge: np.ndarray,
            draft: np.ndarray | None = None) -> np.ndarray:
        """Per-slot log-probabilities ``[B, L, V]`` for a padded batch.

        ``draft`` ``[B, L]`` token ids: the peptides a draft-conditioned
        model refines (None: blank drafts; ignored by other models).
        Inputs the graph does not declare (an exporter may drop unused
        ones) are not fed.
        """
        if draft is None and "draft" in self.input_names:
            draft = np.zeros((mz.shape[0], self.info.n_slots), np.int64)
        values = {"mz": mz, "intensity": intensity, "mask": mask,
                  "precursor_mass": precursor_mass, "charge": charge,
                  "draft": draft}
        feed = {n: np.ascontiguousarray(values[n],
                                        _NUMPY_TYPES[INPUTS[n][0]])
                for n in self.input_names}
        (out,) = self.session.run([OUTPUT[0]], feed)
        want = (mz.shape[0], self.info.n_slots, len(self.info.vocabulary))
        if out.shape != want:
            raise ModelFileError(
                f"{self.path}: model returned log_probs of shape "
                f"{out.shape}, expected {want}")
        return out
