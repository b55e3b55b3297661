"""Export trained models to self-describing ONNX files (needs torch).

Import submodules directly (``from denovo_export.onnx_export import
export_onnx``); this package re-exports nothing, so that loading the
``denovo export`` command (:mod:`.commands`) does not import torch.
"""

__all__: list[str] = []
