"""Chemistry and Numba kernels shared by training and inference."""

from .constants import C13_SPACING, CO, H2O, NH3, PROTON
from .vocab import DEFAULT_VOCABULARY, END, PAD, Token, Vocabulary

__all__ = [
    "C13_SPACING", "CO", "H2O", "NH3", "PROTON",
    "DEFAULT_VOCABULARY", "END", "PAD", "Token", "Vocabulary",
]
