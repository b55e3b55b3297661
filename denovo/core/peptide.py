"""Read and write peptides in the notations the field uses.

A peptide is a tuple of canonical token names from the vocabulary
(ProForma with UNIMOD accessions), N-terminal modification first::

    >>> parse("+42.011PEM+15.995K")
    ('[UNIMOD:1]-', 'P', 'E', 'M[UNIMOD:35]', 'K')

Accepted on input: Casanovo-v4 mass notation (``M+15.995``,
``+42.011PEP``), ProForma with names (``M[Oxidation]``, ``[Acetyl]-``) or
UNIMOD accessions (``M[UNIMOD:35]``; names and accessions of the offline
table :mod:`denovo.core.unimod`), delta masses in brackets or
parentheses (``M[+15.9949]``, ``C(+57.02)``), flanking residues
(``_.PEPTIDE._``, ``K.PEPTIDE.R``) and a trailing ProForma charge
(``PEPTIDE/2``). Mass deltas are matched to the vocabulary within
0.02 Da, so any rounding to two decimals or more is understood.
"""

from __future__ import annotations

import re

from . import unimod
from .constants import H2O, PROTON
from .vocab import DEFAULT_VOCABULARY, MODIFICATIONS, RESIDUE_MASS, Vocabulary

__all__ = [
    "PeptideError",
    "PeptideSyntaxError",
    "UnknownModificationError",
    "parse",
    "to_proforma",
    "to_casanovo",
    "to_peprec",
    "from_peprec",
    "plain_sequence",
    "peptide_key",
    "peptide_mass",
    "precursor_mz",
]

DELTA_TOL_DA = 0.02
_NAME_TO_MOD = {m.name.lower(): m for m in MODIFICATIONS.values()}
_NAME_TO_MOD["deamidation"] = MODIFICATIONS[7]

_FLANKS = re.compile(r"^[A-Z_\-]\.(.+)\.[A-Z_\-]$")
_CHARGE = re.compile(r"/[+-]?\d+$")
_MOD = r"\[[^\[\]]*\]|\([^()]*\)"
_NUMBER = r"[+-]\d+(?:\.\d*)?"
_NTERM_PROFORMA = re.compile(rf"((?:{_MOD})+)-")
_NTERM_MASS = re.compile(rf"((?:{_NUMBER})+)(?=[A-Za-z])")
_RESIDUE = re.compile(rf"([A-Za-z])((?:{_MOD}|{_NUMBER})*)")
_MOD_ITEM = re.compile(rf"{_MOD}|{_NUMBER}")


class PeptideError(ValueError):
    """A peptide string that cannot be turned into vocabulary tokens."""


class PeptideSyntaxError(PeptideError):
    """The string is not a peptide in any known notation."""


class UnknownModificationError(PeptideError):
    """A residue or modification that the vocabulary does not hold.

    ``token`` is the offending piece of text, ``peptide`` the whole input.
    """

    def __init__(self, token: str, peptide: str, why: str = ""):
        self.token, self.peptide = token, peptide
        why = f" ({why})" if why else ""
        super().__init__(
            f"unknown modification or residue {token!r} in peptide "
            f"{peptide!r}{why}")


def parse(text: str, *, vocabulary: Vocabulary = DEFAULT_VOCABULARY,
          fixed: dict | None = None, errors: str = "raise"):
    """Parse a peptide string into a tuple of token names.

    Parameters
    ----------
    text
        The peptide in any supported notation.
    vocabulary
        Tokens to map onto.
    fixed
        Fixed modifications for bare residues, e.g. ``{"C": "C[UNIMOD:4]"}``
        for files that write carbamidomethyl cysteine as plain ``C``.
    errors
        ``"raise"`` (default) raises :class:`PeptideError`; ``"skip"``
        returns None instead, for callers that drop such peptides.
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    try:
        return _parse(text, vocabulary, fixed or {})
    except PeptideError:
        if errors == "skip":
            return None
        raise


def _parse(text: str, vocab: Vocabulary, fixed: dict) -> tuple:
    seq = _CHARGE.sub("", text.strip())
    flanked = _FLANKS.match(seq)
    if flanked:
        seq = flanked.group(1)
    if not seq:
        raise PeptideSyntaxError(f"empty peptide {text!r}")
    tokens, pos = [], 0
    nterm = _NTERM_PROFORMA.match(seq) or _NTERM_MASS.match(seq)
    if nterm:
        delta = _total_delta(nterm.group(1), text, vocab)
        tokens.append(_find(vocab, "", delta, nterm.group(1) + "-", text))
        pos = nterm.end()
    while pos < len(seq):
        m = _RESIDUE.match(seq, pos)
        if m is None:
            raise PeptideSyntaxError(
                f"cannot read peptide {text!r} at character {pos + 1} "
                f"({seq[pos:pos + 10]!r})")
        aa, mods = m.group(1), m.group(2)
        if aa not in RESIDUE_MASS:
            raise UnknownModificationError(aa, text, "not an amino acid")
        if mods:
            delta = _total_delta(mods, text, vocab)
            tokens.append(_find(vocab, aa, delta, aa + mods, text))
        else:
            name = fixed.get(aa, aa)
            if name not in vocab:
                raise UnknownModificationError(name, text,
                                               "not in the vocabulary")
            tokens.append(name)
        pos = m.end()
    if len(tokens) == 1 and nterm:
        raise PeptideSyntaxError(f"no residues in peptide {text!r}")
    return tuple(tokens)


def _total_delta(mods: str, text: str, vocab: Vocabulary) -> float:
    """Sum of the mass shifts written in ``mods`` (brackets or numbers)."""
    total = 0.0
    for item in _MOD_ITEM.findall(mods):
        if item[0] in "[(":
            total += _bracket_delta(item[1:-1].strip(), text, vocab)
        else:
            total += float(item)
    return total


def _bracket_delta(content: str, text: str, vocab: Vocabulary) -> float:
    """The mass shift of a bracket: a number, or a UNIMOD name or
    accession that some token of the vocabulary carries (the others are
    unknown modifications, named as written)."""
    try:
        return float(content)
    except ValueError:
        pass
    key = content.lower()
    for prefix in ("u:", "m:"):
        key = key.removeprefix(prefix)
    mod = _NAME_TO_MOD.get(key)
    try:
        if mod is None and key.startswith("unimod:"):
            mod = unimod.by_accession(int(key[7:]))
        elif mod is None:
            mod = unimod.by_name(key)
    except ValueError:  # not a number, or not in the offline table
        raise UnknownModificationError(content, text) from None
    if not any(m.accession == mod.accession for t in vocab.tokens
               for m in t.mods):
        raise UnknownModificationError(content, text,
                                       "not in the vocabulary")
    return mod.delta


def _find(vocab: Vocabulary, residue: str, delta: float, written: str,
          text: str) -> str:
    """The token with this residue ('' = N-terminus) and mass shift."""
    for tok in vocab.tokens:
        if tok.special or tok.residue != residue or not tok.mods:
            continue
        if tok.n_terminal != (residue == ""):
            continue
        base = RESIDUE_MASS[residue] if residue else 0.0
        if abs(tok.mass - base - delta) <= DELTA_TOL_DA:
            return tok.name
    if residue and abs(delta) <= DELTA_TOL_DA and residue in vocab:
        return residue  # a zero-mass annotation such as M[+0.0]
    raise UnknownModificationError(
        written, text, f"mass shift {delta:+.4f} Da not in the vocabulary")


def _tokens(peptide, vocabulary: Vocabulary):
    return [vocabulary.tokens[vocabulary.index(t)] for t in peptide]


def to_proforma(peptide, *, style: str = "unimod",
                vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """ProForma string; ``style`` is "unimod", "name" or "delta"."""
    def label(mod):
        if style == "unimod":
            return mod.label
        if style == "name":
            return mod.name
        if style == "delta":
            return f"{mod.delta:+.4f}"
        raise ValueError(f"unknown ProForma style {style!r}")

    out = []
    for tok in _tokens(peptide, vocabulary):
        mods = "".join(f"[{label(m)}]" for m in tok.mods)
        out.append(mods + "-" if tok.n_terminal else tok.residue + mods)
    return "".join(out)


def to_casanovo(peptide, *,
                vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """Casanovo-v4 mass notation, e.g. ``+42.011PEM+15.995K``."""
    out = []
    for tok in _tokens(peptide, vocabulary):
        out.append(tok.residue + "".join(f"{m.delta:+.3f}" for m in tok.mods))
    return "".join(out)


def to_peprec(peptide, *,
              vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> tuple:
    """ms2pip PEPREC ``(peptide, modifications)`` columns.

    Modifications are ``position|name`` pairs joined by ``|``, position 0
    for the N-terminus and 1-based for residues; ``-`` when unmodified.
    """
    seq, mods, pos = [], [], 0
    for tok in _tokens(peptide, vocabulary):
        if not tok.n_terminal:
            pos += 1
            seq.append(tok.residue)
        mods.extend(f"{pos}|{m.name}" for m in tok.mods)
    return "".join(seq), "|".join(mods) or "-"


def from_peprec(sequence: str, modifications: str, *,
                vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                fixed: dict | None = None, errors: str = "raise"):
    """Inverse of :func:`to_peprec` (same ``fixed``/``errors`` as parse)."""
    text = f"{sequence} / {modifications}"
    per_position: dict[int, list[str]] = {}
    fields = [] if modifications.strip() in ("", "-") \
        else modifications.strip().split("|")
    try:
        if len(fields) % 2:
            raise PeptideSyntaxError(
                f"PEPREC modifications {modifications!r} are not "
                "position|name pairs")
        for i in range(0, len(fields), 2):
            try:
                position = int(fields[i])
            except ValueError:
                raise PeptideSyntaxError(
                    f"bad PEPREC position {fields[i]!r} in {text!r}") \
                    from None
            if position == -1:
                raise UnknownModificationError(
                    fields[i + 1], text, "C-terminal modifications are "
                    "not supported")
            if not 0 <= position <= len(sequence):
                raise PeptideSyntaxError(
                    f"PEPREC position {position} outside {sequence!r}")
            per_position.setdefault(position, []).append(fields[i + 1])
    except PeptideError:
        if errors == "skip":
            return None
        raise
    parts = []
    if 0 in per_position:
        parts.append("".join(f"[{n}]" for n in per_position[0]) + "-")
    for i, aa in enumerate(sequence, start=1):
        parts.append(aa + "".join(f"[{n}]" for n in per_position.get(i, [])))
    return parse("".join(parts), vocabulary=vocabulary, fixed=fixed,
                 errors=errors)


def plain_sequence(peptide, *,
                   vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> str:
    """The bare residue letters, modifications dropped."""
    return "".join(t.residue for t in _tokens(peptide, vocabulary))


_FLANKS = re.compile(r"^[A-Za-z_\-]\.(.+)\.[A-Za-z_\-]$")
_NOT_RESIDUE = re.compile(r"\[[^\]]*\]|\([^)]*\)|[^A-Za-z]")


def peptide_key(peptide) -> str:
    """Bare residues with I written as L.

    Spectra are split and "seen" peptides are recognised by this key, so
    that I/L variants and modified forms of a peptide stay together.
    Takes vocabulary tokens, or text in any common notation (flanking
    residues, bracketed modifications and mass deltas are dropped).
    """
    if isinstance(peptide, str):
        m = _FLANKS.match(peptide.strip())
        text = m.group(1) if m else peptide
        return _NOT_RESIDUE.sub("", text).upper().replace("I", "L")
    return "".join(t[0] for t in peptide if not t.endswith("-")) \
        .replace("I", "L")


def peptide_mass(peptide, *,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> float:
    """Neutral monoisotopic mass (residues + modifications + H2O)."""
    return sum(vocabulary.masses[vocabulary.index(t)] for t in peptide) + H2O


def precursor_mz(peptide, charge: int, *,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> float:
    """m/z of the [M + zH]z+ ion."""
    if charge < 1:
        raise ValueError(f"charge must be positive, got {charge}")
    return (peptide_mass(peptide, vocabulary=vocabulary)
            + charge * PROTON) / charge
