"""Export trained models to self-describing ONNX files (needs torch)."""

from .onnx_export import ExportReport, export_onnx

__all__ = ["ExportReport", "export_onnx"]
