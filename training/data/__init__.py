"""Training data: peptide sources, the synthetic generator, real spectra,
batching through the shared preprocessing, and the curriculum.

Import submodules directly; this package re-exports nothing, so that
``denovo_training.config`` can be imported without pulling in the generator.
"""

__all__: list[str] = []
