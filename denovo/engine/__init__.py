"""The torch-free sequencing engine: ONNX Runtime plus Numba decoding.

:mod:`~denovo.engine.contract` defines what an exported model looks like,
:mod:`~denovo.engine.session` opens and validates one, and
:mod:`~denovo.engine.pipeline` runs files through it, and
:mod:`~denovo.engine.cluster` spreads that over a Dask cluster.
"""

from ..core.decode import Candidate, DecodeConfig, Decoder
from .cluster import ClusterConfig, ClusterError, sequence_on_cluster
from .contract import (FORMAT_VERSION, ModelFileError, ModelInfo,
                       metadata_props)
from .pipeline import (Engine, EngineConfig, Result, Summary, open_writers,
                       sequence_files)
from .session import DEFAULT_MODEL, ModelSession

__all__ = [
    "Candidate", "DecodeConfig", "Decoder",
    "FORMAT_VERSION", "ModelFileError", "ModelInfo", "metadata_props",
    "Engine", "EngineConfig", "Result", "Summary", "open_writers",
    "sequence_files",
    "ClusterConfig", "ClusterError", "sequence_on_cluster",
    "DEFAULT_MODEL", "ModelSession",
]
