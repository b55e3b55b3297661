"""The torch-free sequencing engine: ONNX Runtime plus Numba decoding.

Imports flow down: :mod:`~denovo.engine.contract` defines what an
exported model looks like and :mod:`~denovo.engine.session` opens one;
:mod:`~denovo.engine.rows` is the unit of work and how the stream is cut,
:mod:`~denovo.engine.ranking` ranks a row's candidates,
:mod:`~denovo.engine.pipeline` runs the stages (evidence, model, decode,
rank) and :mod:`~denovo.engine.results` is what comes out;
:mod:`~denovo.engine.cluster` spreads the engine over Dask workers and
:mod:`~denovo.engine.run` sequences files with either.
"""

from ..core.decode import Candidate, DecodeConfig, Decoder
from ..core.search import SearchConfig
from ..core.settings import FittedSettings, RankSettings
from ..core.window import PrecursorWindow
from .cluster import ClusterConfig, ClusterError
from .contract import (FORMAT_VERSION, ModelFileError, ModelInfo,
                       metadata_props)
from .pipeline import Engine, EngineConfig
from .results import Result, Summary
from .run import open_writers, sequence_files, sequence_on_cluster
from .session import DEFAULT_MODEL, ModelSession

__all__ = [
    "Candidate", "DecodeConfig", "Decoder", "SearchConfig",
    "FittedSettings", "RankSettings", "PrecursorWindow",
    "FORMAT_VERSION", "ModelFileError", "ModelInfo", "metadata_props",
    "Engine", "EngineConfig", "Result", "Summary", "open_writers",
    "sequence_files",
    "ClusterConfig", "ClusterError", "sequence_on_cluster",
    "DEFAULT_MODEL", "ModelSession",
]
