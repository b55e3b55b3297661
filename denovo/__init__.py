"""denovo: de novo peptide sequencing with a Tiny Recursive Model.

The ``denovo`` package is the torch-free inference toolkit: chemistry and
Numba kernels (:mod:`denovo.core`), spectrum readers and result writers
(:mod:`denovo.io`), the ONNX Runtime engine and the command line.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
