"""Rebuild a training checkpoint from an exported TRM (ONNX) file.

    python -m denovo_training.from_onnx denovo/models/draft.onnx \
        runs/draft_onnx.ckpt

The bundled models ship as ONNX only; to fine-tune one (e.g. to add the
verifier head, ``train.init_from``) its PyTorch weights are read back
from the graph. The legacy exporter keeps the names of biases, norms and
embeddings, but stores each linear layer's weight transposed under a
generated name as the second input of a ``MatMul`` whose result goes into
an ``Add`` with the named bias: that ``Add`` names the weight. Equal
initializers are stored once, the other names being ``Identity`` nodes
of it. The model
config comes from the file's ``denovo.model_config``. The rebuilt model
must reproduce the file's log-probs (checked with ONNX Runtime on random
batches), or nothing is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from denovo.core.config import from_dict

from .checkpoint import ADDED_MODEL_FIELDS, checkpoint_dict
from .config import ModelConfig
from .model import TRM

__all__ = ["state_from_onnx", "model_from_onnx", "main"]

PREFIX = "model."  # ExportWrapper's attribute


def state_from_onnx(proto) -> dict:
    """Named weights of an exported :class:`ExportWrapper` graph."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    consumers: dict = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    state = {k[len(PREFIX):]: v for k, v in inits.items()
             if k.startswith(PREFIX)}
    for node in proto.graph.node:
        if node.op_type != "MatMul" or len(node.input) != 2:
            continue
        weight = node.input[1]
        if weight not in inits or weight.startswith(PREFIX):
            continue
        for nxt in consumers.get(node.output[0], []):
            if nxt.op_type != "Add":
                continue
            bias = [i for i in nxt.input if i.startswith(PREFIX)
                    and i.endswith(".bias")]
            if bias:
                key = bias[0][len(PREFIX):-len(".bias")] + ".weight"
                value = inits[weight].T
                if key in state and not np.array_equal(state[key], value):
                    raise ValueError(f"two weights for {key}")
                state[key] = value
    # Initializers of equal value are stored once (e.g. untrained layer
    # norms); the other names are Identity nodes of the kept one.
    for node in proto.graph.node:
        if (node.op_type == "Identity" and node.input[0] in inits
                and node.output[0].startswith(PREFIX)):
            state.setdefault(node.output[0][len(PREFIX):],
                             inits[node.input[0]])
    return state


def model_from_onnx(path: str | Path, *, check: bool = True
                    ) -> tuple[TRM, ModelConfig, dict]:
    """The TRM of an exported file, its config and metadata props."""
    import onnx

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    stored = json.loads(props["denovo.model_config"])
    cfg = from_dict(ModelConfig, {**ADDED_MODEL_FIELDS, **stored},
                    source=f"{path} [model_config]", partial=False)
    model = TRM(cfg)
    state = state_from_onnx(proto)
    expected = model.state_dict()
    missing = set(expected) - set(state)
    if missing:
        raise ValueError(f"{path}: weights not found in the graph: "
                         f"{', '.join(sorted(missing))}")
    model.load_state_dict({k: torch.from_numpy(np.array(state[k])).to(
        expected[k].dtype).reshape(expected[k].shape) for k in expected})
    model.eval()
    if check:
        _check(path, model, cfg)
    return model, cfg, props


def _check(path, model: TRM, cfg: ModelConfig, tol: float = 1e-4) -> None:
    import onnxruntime as ort

    from denovo_export.onnx_export import random_batch, with_draft

    session = ort.InferenceSession(str(path),
                                   providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    for seed, (b, p) in enumerate(((2, 20), (5, 150))):
        feed = random_batch(b, p, seed=seed)
        if "draft" in names:
            feed = with_draft(feed, cfg.max_length + 1, seed=seed)
        ref = session.run(["log_probs"], feed)[0]
        with torch.no_grad():
            ours = model(**{k: torch.from_numpy(v)
                            for k, v in feed.items()})[-1].numpy()
        diff = float(np.max(np.abs(ours - ref)))
        if diff > tol:
            raise RuntimeError(f"{path}: rebuilt model differs from the "
                               f"graph by {diff:.2e}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    model, cfg, props = model_from_onnx(args.onnx)
    provenance = {"from_onnx": str(args.onnx),
                  "onnx_provenance": json.loads(
                      props.get("denovo.provenance", "{}"))}
    ckpt = checkpoint_dict(
        model, preprocess=json.loads(props["denovo.preprocessing"]),
        vocabulary=json.loads(props["denovo.vocabulary"]),
        provenance=provenance)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"wrote {args.out} ({model.n_parameters():,} parameters, "
          "matches the graph)")


if __name__ == "__main__":
    main()
