"""The vocabulary: residues, modifications and their masses, defined once.

Every parser, writer, kernel and model in denovo takes its masses and token
strings from here. A token's canonical name is its ProForma string with
UNIMOD accessions (``"M[UNIMOD:35]"``, ``"[UNIMOD:1]-"``), so it can be
written straight into output files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .constants import composition_mass
from .unimod import MODIFICATIONS, Modification, from_label

__all__ = [
    "Modification",
    "Token",
    "make_token",
    "token_from_name",
    "Vocabulary",
    "RESIDUE_COMPOSITION",
    "RESIDUE_MASS",
    "MODIFICATIONS",
    "PAD",
    "END",
    "merge_il",
    "DEFAULT_VOCABULARY",
]

# Residue (amino acid minus water) elemental compositions.
RESIDUE_COMPOSITION = MappingProxyType({
    "G": {"C": 2, "H": 3, "N": 1, "O": 1},
    "A": {"C": 3, "H": 5, "N": 1, "O": 1},
    "S": {"C": 3, "H": 5, "N": 1, "O": 2},
    "P": {"C": 5, "H": 7, "N": 1, "O": 1},
    "V": {"C": 5, "H": 9, "N": 1, "O": 1},
    "T": {"C": 4, "H": 7, "N": 1, "O": 2},
    "C": {"C": 3, "H": 5, "N": 1, "O": 1, "S": 1},
    "L": {"C": 6, "H": 11, "N": 1, "O": 1},
    "I": {"C": 6, "H": 11, "N": 1, "O": 1},
    "N": {"C": 4, "H": 6, "N": 2, "O": 2},
    "D": {"C": 4, "H": 5, "N": 1, "O": 3},
    "Q": {"C": 5, "H": 8, "N": 2, "O": 2},
    "K": {"C": 6, "H": 12, "N": 2, "O": 1},
    "E": {"C": 5, "H": 7, "N": 1, "O": 3},
    "M": {"C": 5, "H": 9, "N": 1, "O": 1, "S": 1},
    "H": {"C": 6, "H": 7, "N": 3, "O": 1},
    "F": {"C": 9, "H": 9, "N": 1, "O": 1},
    "R": {"C": 6, "H": 12, "N": 4, "O": 1},
    "Y": {"C": 9, "H": 9, "N": 1, "O": 2},
    "W": {"C": 11, "H": 10, "N": 2, "O": 1},
})
RESIDUE_MASS = MappingProxyType(
    {aa: composition_mass(c) for aa, c in RESIDUE_COMPOSITION.items()}
)

PAD = 0  # index of the padding token (slots after the end of a peptide)
END = 1  # index of the end token (the slot right after the last residue)


@dataclass(frozen=True)
class Token:
    """One vocabulary entry.

    ``residue`` is the one-letter amino acid ('' for N-terminal
    modification tokens and special tokens), ``mods`` the modifications it
    carries, ``mass`` the residue mass plus modifications (for N-terminal
    tokens: the mass shift alone; for special tokens: 0).
    """

    name: str
    residue: str
    mods: tuple = ()
    n_terminal: bool = False
    special: bool = False

    @property
    def mass(self) -> float:
        base = RESIDUE_MASS[self.residue] if self.residue else 0.0
        return base + sum(m.delta for m in self.mods)


def make_token(residue: str, mods=()) -> Token:
    """The token of a residue ('' for the N-terminus) carrying ``mods``
    (:class:`Modification`), named by its ProForma string."""
    mods = tuple(mods)
    labels = "".join(f"[{m.label}]" for m in mods)
    if not residue:
        if not mods:
            raise ValueError("an N-terminal token needs a modification")
        return Token(labels + "-", "", mods, n_terminal=True)
    if residue not in RESIDUE_MASS:
        raise ValueError(f"{residue!r} is not an amino acid")
    return Token(residue + labels, residue, mods)


def _residue_token(residue: str, *unimod: int) -> Token:
    return make_token(residue, (MODIFICATIONS[u] for u in unimod))


def _nterm_token(*unimod: int) -> Token:
    return make_token("", (MODIFICATIONS[u] for u in unimod))


_TOKEN_NAME = re.compile(r"^([A-Z]?)((?:\[[^\[\]]+\])*)(-?)$")


def token_from_name(name: str) -> Token:
    """The token a canonical name stands for (``K[UNIMOD:737]``,
    ``[UNIMOD:737]-``, ``S[+79.9663]``), its modifications from the
    offline UNIMOD table (:mod:`denovo.core.unimod`)."""
    m = _TOKEN_NAME.match(name)
    residue, mods, dash = m.groups() if m else ("", "", "")
    if m is None or bool(dash) == bool(residue) or (dash and not mods):
        raise ValueError(f"{name!r} is not a token name")
    token = make_token(residue, (from_label(x)
                                 for x in re.findall(r"\[([^\]]+)\]", mods)))
    if token.name != name:  # e.g. a mass written another way
        raise ValueError(f"{name!r} is not a canonical token name "
                         f"({token.name!r})")
    return token


class Vocabulary:
    """An ordered set of tokens; index 0 is pad and index 1 is end.

    Parameters
    ----------
    tokens
        The tokens after pad and end, in index order.
    fixed
        Fixed modifications: site (a residue letter or ``"N-term"``) ->
        the name of the token every occurrence of that site takes. A
        residue's fixed token is then its only token; a fixed N-terminal
        token starts every peptide (:mod:`denovo.core.modifications`).
        Empty for model vocabularies.
    """

    def __init__(self, tokens, fixed=None):
        specials = (Token("<pad>", "", special=True),
                    Token("<end>", "", special=True))
        self.tokens = specials + tuple(tokens)
        self._index = {t.name: i for i, t in enumerate(self.tokens)}
        if len(self._index) != len(self.tokens):
            raise ValueError("duplicate token names in vocabulary")
        self.fixed = dict(fixed or {})  # read only, by convention
        for site, name in self.fixed.items():
            tok = self.tokens[self.index(name)]
            if (tok.n_terminal, tok.residue) != (site == "N-term",
                                                 site.replace("N-term", "")):
                raise ValueError(f"fixed token {name} does not sit at "
                                 f"{site}")
        self.masses = np.array([t.mass for t in self.tokens], np.float64)
        self.masses.setflags(write=False)
        self.n_terminal = np.array([t.n_terminal for t in self.tokens])
        self.n_terminal.setflags(write=False)

    @classmethod
    def default(cls) -> "Vocabulary":
        """20 residues, Nine-Species/Casanovo modifications, N-term mods."""
        residues = [_residue_token(aa) for aa in "ACDEFGHIKLMNPQRSTVWY"]
        modified = [_residue_token("C", 4), _residue_token("M", 35),
                    _residue_token("N", 7), _residue_token("Q", 7)]
        nterm = [_nterm_token(1), _nterm_token(5), _nterm_token(385),
                 _nterm_token(5, 385)]
        return cls(residues + modified + nterm)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __eq__(self, other) -> bool:
        return (isinstance(other, Vocabulary)
                and self.to_dict() == other.to_dict())

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def index(self, name: str) -> int:
        """Index of the token with canonical name ``name``."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"token {name!r} is not in the vocabulary") \
                from None

    def encode(self, peptide, max_length: int) -> np.ndarray:
        """Token names -> int32 indices: tokens, end, then pad.

        Returns an array of ``max_length + 1`` entries (room for end).
        """
        if len(peptide) > max_length:
            raise ValueError(
                f"peptide has {len(peptide)} tokens, max_length is "
                f"{max_length}")
        out = np.full(max_length + 1, PAD, np.int32)
        out[:len(peptide)] = [self.index(t) for t in peptide]
        out[len(peptide)] = END
        return out

    def decode(self, indices) -> tuple:
        """Indices -> token names, stopping at the first end or pad."""
        names = []
        for i in indices:
            if i == END or i == PAD:
                break
            names.append(self.tokens[int(i)].name)
        return tuple(names)

    def merge_il_log_probs(self, log_probs: np.ndarray) -> np.ndarray:
        """``log_probs [..., V]`` (float64) with I and L each holding their
        log-sum: one mass, one hypothesis (:func:`merge_il`)."""
        lp = np.array(log_probs, np.float64)
        if "I" in self and "L" in self:
            i, l_ = self.index("I"), self.index("L")
            lp[..., i] = lp[..., l_] = np.logaddexp(lp[..., i], lp[..., l_])
        return lp

    def to_dict(self) -> dict:
        """JSON-ready description, as stored in ONNX metadata (``fixed``
        only when there are fixed modifications)."""
        out = {
            "tokens": [t.name for t in self.tokens],
            "masses": [t.mass for t in self.tokens],
            "n_terminal": [t.n_terminal for t in self.tokens],
            "special": [t.special for t in self.tokens],
        }
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        """Rebuild from :meth:`to_dict`, checking names and masses.

        A name outside the default vocabulary must be a canonical token
        name whose modifications the offline UNIMOD table holds (or mass
        deltas, :func:`token_from_name`)."""
        names = data["tokens"]
        if names[:2] != ["<pad>", "<end>"]:
            raise ValueError("vocabulary must start with <pad>, <end>")
        tokens = []
        for name, mass in zip(names[2:], data["masses"][2:], strict=True):
            if name in _UNIVERSE:
                tok = _UNIVERSE.tokens[_UNIVERSE.index(name)]
            else:
                try:
                    tok = token_from_name(name)
                except ValueError as err:
                    raise KeyError(f"token {name!r} is not in the "
                                   f"vocabulary ({err})") from None
            if abs(tok.mass - mass) > 1e-6:
                raise ValueError(f"mass of {name} differs from the table: "
                                 f"{mass} vs {tok.mass}")
            tokens.append(tok)
        return cls(tokens, data.get("fixed"))

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        return cls.from_dict(json.loads(text))


DEFAULT_VOCABULARY = Vocabulary.default()
# Every token any denovo vocabulary may hold (used to validate metadata).
_UNIVERSE = DEFAULT_VOCABULARY


def merge_il(tokens) -> tuple:
    """Token names with I written as L: I and L weigh the same, so the
    engine keeps one hypothesis and reports it as L (evaluation treats
    I = L)."""
    return tuple("L" if t == "I" else t for t in tokens)
