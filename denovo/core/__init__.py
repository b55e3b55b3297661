"""Chemistry and Numba kernels shared by training and inference."""

from .constants import C13_SPACING, CO, H2O, NH3, PROTON
from .vocab import DEFAULT_VOCABULARY, END, PAD, Token, Vocabulary
from .fragments import FragmentConfig, fragment_mz, fragment_mz_batch
from .match import match, match_batch
from .preprocess import PreprocessConfig, preprocess, preprocess_batch

__all__ = [
    "C13_SPACING", "CO", "H2O", "NH3", "PROTON",
    "DEFAULT_VOCABULARY", "END", "PAD", "Token", "Vocabulary",
    "FragmentConfig", "fragment_mz", "fragment_mz_batch",
    "match", "match_batch",
    "PreprocessConfig", "preprocess", "preprocess_batch",
]
