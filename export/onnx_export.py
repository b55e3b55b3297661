"""Export a trained TRM to one self-describing, verified ONNX file.

The whole recursive model — encoder and every refinement step, unrolled
— becomes a single graph with dynamic batch and peak axes, so the engine
needs nothing but ONNX Runtime. The file's ``metadata_props`` follow
:mod:`denovo.engine.contract` (vocabulary, preprocessing, max length,
refinement steps, provenance, model config). Export checks itself: the
ONNX checker must pass and ONNX Runtime must reproduce PyTorch's
log-probs on random batches of several shapes; the largest difference is
logged and returned. Optional fp16 and int8 (dynamic quantisation)
variants are written next to the fp32 file with their own differences.

It stays one module (about 420 lines): export, parity check, variants
and metadata are the steps of one verified file.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import onnx
import onnxruntime as ort
import torch

from denovo.core.config import to_dict
from denovo.core.settings import load_default
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary
from denovo.engine import contract
from denovo_training.checkpoint import load_model_from_checkpoint
from denovo_training.config import ModelConfig
from denovo_training.model import TRM, ExportWrapper

__all__ = [
    "ExportReport",
    "export_onnx",
    "random_batch",
    "spectra_batch",
    "parity",
    "with_draft",
]

logger = logging.getLogger(__name__)

INPUT_NAMES = tuple(contract.INPUTS)
# Extra outputs of a model with the verifier head (model.verifier): per
# step, the logit that the draft is right and per slot that its token is.
VERIFIER_OUTPUTS = ("verify_logits", "residue_logits")
FP32_TOLERANCE = 1e-4
# (batch, peaks) of the synthetic parity batches.
PARITY_SHAPES = ((1, 8), (3, 57), (8, 150), (5, 300))


@dataclass
class ExportReport:
    """What was written and how closely ONNX Runtime matches PyTorch."""

    path: Path
    max_abs_diff: float  # fp32 graph vs PyTorch, over all parity batches
    diffs: list = field(default_factory=list)  # [(B, P, max abs diff)]
    variants: dict = field(default_factory=dict)  # name -> {path, diff}
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "max_abs_diff": self.max_abs_diff,
                "diffs": self.diffs, "variants": {
                    k: {**v, "path": str(v["path"])}
                    for k, v in self.variants.items()}}


def random_batch(batch: int, peaks: int, *, seed: int = 0,
                 max_charge: int = 4) -> dict[str, np.ndarray]:
    """A synthetic input batch following the ONNX contract.

    Peaks are sorted by m/z and each spectrum has a random number of real
    peaks (at least one), the rest padding, like preprocessed spectra.
    """
    rng = np.random.default_rng(seed)
    mz = np.sort(rng.uniform(50, 2000, (batch, peaks)), axis=1)
    n_real = rng.integers(1, peaks + 1, batch)
    mask = np.arange(peaks)[None, :] < n_real[:, None]
    intensity = rng.uniform(0, 1, (batch, peaks)) * mask
    return {
        "mz": np.where(mask, mz, 0).astype(np.float32),
        "intensity": intensity.astype(np.float32),
        "mask": mask,
        "precursor_mass": rng.uniform(500, 4000, batch).astype(np.float32),
        "charge": rng.integers(1, max_charge + 1, batch).astype(np.int64),
    }


def spectra_batch(path: str | Path, preprocess: Any, *,
                  limit: int = 64) -> dict[str, np.ndarray]:
    """Up to ``limit`` charged spectra of a file, preprocessed as in
    training, as an input batch (for parity on real data).
    """
    from denovo.core.constants import PROTON
    from denovo.core.preprocess import PreprocessConfig, preprocess_batch
    from denovo.io import read_spectra

    if not isinstance(preprocess, PreprocessConfig):
        preprocess = PreprocessConfig.from_dict(dict(preprocess))
    spectra = []
    for spectrum in read_spectra(path):
        if spectrum.charge and np.isfinite(spectrum.precursor_mz):
            spectra.append(spectrum)
        if len(spectra) == limit:
            break
    if not spectra:
        raise ValueError(f"{path}: no spectra with charge and precursor")
    prec = np.array([s.precursor_mz for s in spectra])
    charge = np.array([s.charge for s in spectra], np.int64)
    pre = preprocess_batch([s.mz for s in spectra],
                           [s.intensity for s in spectra], prec, charge,
                           config=preprocess)
    return {"mz": pre.mz.astype(np.float32),
            "intensity": pre.intensity.astype(np.float32),
            "mask": pre.mask,
            "precursor_mass": ((prec - PROTON) * charge).astype(np.float32),
            "charge": charge}


def with_draft(batch: Mapping[str, np.ndarray], n_slots: int, *,
               seed: int = 0) -> dict[str, np.ndarray]:
    """``batch`` plus random draft token ids (some rows blank)."""
    rng = np.random.default_rng(seed)
    b = len(batch["charge"])
    lengths = rng.integers(0, n_slots, b)  # 0 = blank
    draft = rng.integers(2, len(DEFAULT_VOCABULARY), (b, n_slots))
    slot = np.arange(n_slots)[None, :]
    draft = np.where(slot < lengths[:, None], draft, 0)
    draft[np.arange(b), lengths] = np.where(lengths > 0, 1, 0)  # END
    return {**batch, "draft": draft.astype(np.int64)}


def _torch_outputs(model: TRM, inputs: Mapping[str, np.ndarray]) -> dict:
    """Final log-probs (and for a verifier model its logits, batch
    first, as the graph writes them) of PyTorch."""
    feed = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    with torch.no_grad():
        if getattr(model, "verifier", None) is None:
            return {contract.OUTPUT[0]: model(**feed)[-1].numpy()}
        steps, verify, residue = model(**feed, with_verifier=True)
    return {contract.OUTPUT[0]: steps[-1].numpy(),
            "verify_logits": verify.transpose(0, 1).numpy(),
            "residue_logits": residue.transpose(0, 1).numpy()}


def parity(session: ort.InferenceSession, model: TRM,
           batches: Iterable[Mapping[str, np.ndarray]]) -> list:
    """Max abs difference of final log-probs (and of the verifier's
    logits, where the graph has them), ONNX Runtime vs PyTorch.

    Returns ``[(B, P, diff), ...]``, one entry per batch.
    """
    graph_outputs = {o.name for o in session.get_outputs()}
    out = []
    for inputs in batches:
        names = [k for k in INPUT_NAMES if k in inputs]
        feed = {k: np.asarray(inputs[k]) for k in names}
        ref = _torch_outputs(model, feed)
        wanted = [k for k in ref if k in graph_outputs]
        if wanted != list(ref):
            raise RuntimeError(f"ONNX graph lacks outputs "
                               f"{sorted(set(ref) - set(wanted))}")
        got = dict(zip(wanted, session.run(wanted, feed), strict=True))
        diff = 0.0
        for name in wanted:
            if got[name].shape != ref[name].shape:
                raise RuntimeError(f"ONNX output {name} shape "
                                   f"{got[name].shape} != PyTorch "
                                   f"{ref[name].shape}")
            diff = max(diff, float(np.max(np.abs(
                got[name].astype(np.float32) - ref[name]))))
        b, p = feed["mz"].shape
        out.append((int(b), int(p), diff))
    return out


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts,
                                providers=["CPUExecutionProvider"])


def _resolve(model_or_checkpoint: Any, preprocess: Any,
             vocabulary: Vocabulary | None, provenance: Mapping | None,
             model_class: type = TRM):
    """Model, config and metadata inputs from a model or checkpoint
    (of ``model_class``: the TRM, or the AR baseline's exporter's)."""
    extra: dict = {}
    if isinstance(model_or_checkpoint, model_class):
        model = model_or_checkpoint
        cfg: ModelConfig = model.cfg
    else:
        model, cfg, extra = load_model_from_checkpoint(model_or_checkpoint)
        if not isinstance(model, model_class):
            raise ValueError(f"{model_or_checkpoint}: a {cfg.kind} model, "
                             f"not a {model_class.__name__}")
        logger.info("loaded %s (%s weights)", model_or_checkpoint,
                    "EMA" if extra["used_ema"] else "raw")
    if preprocess is None:
        preprocess = extra.get("preprocess")
    from denovo.core.preprocess import PreprocessConfig

    if preprocess is None:
        logger.warning("no preprocessing settings given or stored in the "
                       "checkpoint; writing the PreprocessConfig defaults")
        preprocess = PreprocessConfig()
    elif not isinstance(preprocess, PreprocessConfig):
        # Validate now rather than write a file the engine rejects.
        preprocess = PreprocessConfig.from_dict(dict(preprocess))
    if vocabulary is None:
        stored = extra.get("vocabulary")
        vocabulary = (Vocabulary.from_dict(stored) if stored
                      else DEFAULT_VOCABULARY)
    if len(vocabulary) != cfg.vocab_size:
        raise ValueError(f"vocabulary has {len(vocabulary)} tokens but the "
                         f"model outputs {cfg.vocab_size}")
    prov = {**extra.get("provenance", {}), **dict(provenance or {})}
    return model, cfg, preprocess, vocabulary, prov


def _mass_nodes(graph) -> list[str]:
    """Names of the nodes that compute m/z sinusoids, and their inputs.

    fp16 resolves m/z 1000 only to 0.5 Da, so these stay in fp32/fp64.
    The walk stops at ArgMax: what the answer was computed from can be
    fp16, only the masses taken from it must not.
    """
    producer = {out: node for node in graph.node for out in node.output}
    keep: dict[str, None] = {}
    stack = [n for n in graph.node if n.op_type in ("Sin", "Cos")]
    while stack:
        node = stack.pop()
        if node.name in keep:
            continue
        keep[node.name] = None
        stack += [producer[i] for i in node.input if i in producer
                  and producer[i].op_type != "ArgMax"]
    return list(keep)


def _to_fp16(proto):
    """fp16 weights and activations; m/z arithmetic and I/O stay fp32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(proto, keep_io_types=True,
                                    node_block_list=_mass_nodes(proto.graph))
    graph = half.graph
    inputs = {i.name for i in graph.input}
    producer = {out: node for node in graph.node for out in node.output}
    # The converter sends fp32 inputs through fp16 and back to fp32 before
    # kept nodes; wire those nodes to the input itself.
    shortcut = {}
    for node in graph.node:
        up = producer.get(node.input[0]) if node.input else None
        if (node.op_type == "Cast" and up is not None
                and up.op_type == "Cast" and up.input[0] in inputs):
            shortcut[node.output[0]] = up.input[0]
    for node in graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = shortcut.get(name, name)
    # It may also insert the same cast twice; keep one of each output.
    seen: set[str] = set()
    nodes = []
    for node in graph.node:
        if node.op_type == "Cast" and seen.intersection(node.output):
            continue
        seen.update(node.output)
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return half


def _write_variant(kind: str, src: Path, dst: Path) -> None:
    if kind == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic
        logging.disable(logging.INFO)  # the quantiser logs per tensor
        try:
            quantize_dynamic(str(src), str(dst),
                             weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
    elif kind == "fp16":
        onnx.save(_to_fp16(onnx.load(str(src))), str(dst))
    else:
        raise ValueError(f"unknown variant {kind!r} (fp16 or int8)")
    # Quantisers may drop metadata_props: copy them over.
    src_model, dst_model = onnx.load(str(src)), onnx.load(str(dst))
    onnx.helper.set_model_props(dst_model, {
        p.key: p.value for p in src_model.metadata_props})
    onnx.save(dst_model, str(dst))


def update_metadata(path: str | Path, props: Mapping[str, str]) -> None:
    """Add or replace ``metadata_props`` of an exported model in place
    (written to a temporary file first); the graph is untouched."""
    path = Path(path)
    proto = onnx.load(str(path))
    merged = {p.key: p.value for p in proto.metadata_props}
    merged.update(props)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, merged)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def set_fitted_settings(path: str | Path, fitted: Any,
                        fragmentation: str = "HCD") -> None:
    """Store the engine's fitted settings (a ``FittedSettings``) in an
    exported model's metadata: the main scorer's (``HCD``, format 2) or
    another fragmentation class's (``CID``, format 4).

    The graph is untouched, so a model's settings can be refitted without
    re-exporting it; the file's format version becomes this denovo's.
    """
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    main = by_class = None
    if fragmentation == "HCD":
        main, key = fitted, "denovo.evidence_scorer"
    else:
        by_class = json.loads(props.get("denovo.fitted_by_fragmentation",
                                        "{}"))
        by_class[fragmentation] = fitted.to_dict()
        key = "denovo.fitted_by_fragmentation"
    new = contract.metadata_props(
        vocabulary=Vocabulary.from_json(props["denovo.vocabulary"]),
        preprocess=json.loads(props["denovo.preprocessing"]),
        max_length=int(props["denovo.max_length"]),
        refinement_steps=int(props["denovo.refinement_steps"]),
        fitted=main, fitted_by_fragmentation=by_class)
    update_metadata(path, {k: new[k] for k in ("denovo.format_version",
                                               key)})


def export_onnx(model_or_checkpoint: TRM | str | Path, path: str | Path, *,
                opset: int = 17, preprocess: Any = None,
                vocabulary: Vocabulary | None = None,
                provenance: Mapping | None = None,
                metadata: Mapping[str, str] | None = None,
                all_steps: bool = False, variants: Iterable[str] = (),
                batches: Iterable[Mapping[str, np.ndarray]] = (),
                tolerance: float = FP32_TOLERANCE,
                fitted: Any = None) -> ExportReport:
    """Export, check and verify a model; return the parity report.

    Parameters
    ----------
    model_or_checkpoint
        A :class:`~denovo_training.model.TRM` or a checkpoint path (EMA weights
        are used when the checkpoint has them).
    path
        Output ``.onnx`` file.
    opset
        ONNX opset (>= 17 for a single LayerNormalization op).
    preprocess, vocabulary, provenance
        Metadata; default to what the checkpoint stores (for a model:
        ``PreprocessConfig()`` and the default vocabulary). ``provenance``
        is merged over the checkpoint's.
    metadata
        Extra ``metadata_props`` (string values) added to the contract's.
    all_steps
        Also output ``step_log_probs`` (T, B, L, V) for diagnostics.
        A model with the verifier head (``model.verifier``, stored as
        such in the ``model_config`` metadata) always also outputs
        ``verify_logits`` (B, T) and ``residue_logits`` (B, T, L), checked
        for parity like the log-probs.
    variants
        Any of ``"fp16"``, ``"int8"``: extra files ``<stem>.<kind>.onnx``.
    batches
        Extra (e.g. real, preprocessed) input batches for the parity check,
        in addition to synthetic ones of several shapes.
    tolerance
        Largest accepted fp32 difference; larger raises ``RuntimeError``.
    fitted
        The engine's fitted settings for this model (a
        :class:`~denovo.core.settings.FittedSettings`); default: those
        shipped with the package. Refit them for a new model with
        ``python -m denovo_training.engine_fit --model FILE
        --write-model``.
    """
    model, cfg, preprocess, vocabulary, prov = _resolve(
        model_or_checkpoint, preprocess, vocabulary, provenance)
    was_training = model.training
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ExportWrapper(model, all_steps=all_steps).eval()
    n_slots = cfg.max_length + 1
    takes_draft = bool(getattr(cfg, "draft", False))
    names = [k for k in INPUT_NAMES if k != "draft" or takes_draft]
    example = random_batch(2, 16)
    if takes_draft:
        example = with_draft(example, n_slots)
    example = {k: torch.from_numpy(v) for k, v in example.items()}
    outputs = [contract.OUTPUT[0]] + (["step_log_probs"] if all_steps
                                      else [])
    if wrapper.verifier:
        outputs += list(VERIFIER_OUTPUTS)
    axes = {name: {0: "B", 1: "P"} for name in ("mz", "intensity", "mask")}
    axes.update(precursor_mass={0: "B"}, charge={0: "B"}, draft={0: "B"},
                log_probs={0: "B"}, step_log_probs={1: "B"},
                verify_logits={0: "B"}, residue_logits={0: "B"})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation
        torch.onnx.export(
            wrapper, tuple(example[k] for k in names), str(path),
            input_names=names, output_names=outputs,
            dynamic_axes={k: v for k, v in axes.items()
                          if k in names or k in outputs},
            opset_version=opset, dynamo=False, do_constant_folding=True)
    props = contract.metadata_props(
        vocabulary=vocabulary, preprocess=preprocess,
        max_length=cfg.max_length, refinement_steps=cfg.steps,
        provenance=prov, model_config=to_dict(cfg),
        fitted=fitted or load_default(),
        takes_draft=takes_draft)
    props.update(dict(metadata or {}))
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))

    checks = [random_batch(b, p, seed=i)
              for i, (b, p) in enumerate(PARITY_SHAPES)] + list(batches)
    if takes_draft:
        checks = [c if "draft" in c else with_draft(c, n_slots, seed=i)
                  for i, c in enumerate(checks)]
    diffs = parity(_session(path), model, checks)
    worst = max(d for _, _, d in diffs)
    logger.info("ONNX Runtime vs PyTorch, max abs diff of log-probs: %.2e "
                "(%s)", worst, ", ".join(f"B={b} P={p}: {d:.1e}"
                                         for b, p, d in diffs))
    report = ExportReport(path, worst, diffs, metadata=props)
    if worst > tolerance:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by "
                           f"{worst:.2e} > {tolerance:.0e}")
    for kind in variants:
        dst = path.with_suffix(f".{kind}.onnx")
        _write_variant(kind, path, dst)
        try:
            vdiffs = parity(_session(dst), model, checks)
            vworst = max(d for _, _, d in vdiffs)
        except Exception as exc:  # e.g. fp16 kernels missing on this CPU
            logger.warning("%s variant written but not verifiable here: "
                           "%s", kind, exc)
            vworst = None
        else:
            logger.info("%s variant: max abs diff %.2e", kind, vworst)
        report.variants[kind] = {"path": dst, "max_abs_diff": vworst}
    model.train(was_training)
    return report
