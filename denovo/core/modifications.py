"""Modifications the user names, searched without retraining.

``denovo sequence --fixed-mods TMT6plex@K,TMT6plex@N-term --variable-mods
Phospho@STY``: each spec is ``NAME@SITES``.

* ``NAME``: a PSI-MS name of the offline UNIMOD table
  (:mod:`denovo.core.unimod`; any case), an accession ``UNIMOD:737``, or
  a mass delta ``+229.1629`` / ``-17.0265``.
* ``SITES``: residue letters (``K``, ``STY``; ``S/T/Y`` reads the same),
  or ``N-term`` (any peptide N-terminus, whatever its first residue).
  C-terminal and protein-terminal sites are not supported, nor I or L
  (the engine reads them as one residue).

How they combine with a vocabulary's own tokens
(:meth:`ModSet.vocabulary`):

* a **fixed** mod on a residue replaces every token of that residue by
  one token, the residue with the mod (``K`` -> ``K[UNIMOD:737]``;
  ``Carbamidomethyl@C`` leaves ``C[UNIMOD:4]`` and drops plain ``C``);
* a **fixed** ``N-term`` mod replaces the vocabulary's N-terminal tokens
  and starts every peptide (it cannot be combined with a variable
  N-terminal mod);
* a **variable** mod adds a token per site (on top of the site's fixed
  mod, if any: ``K[UNIMOD:737][UNIMOD:1]``), optional like the
  vocabulary's own modified tokens;
* ``default_mods=False`` (``--no-default-mods``) first drops every
  modified token of the vocabulary (C+57, M+16, N/Q+1 and the N-terminal
  ones of the default model), so only the 20 residues and the named mods
  remain.

The model's output vocabulary is fixed at training; :class:`ModelView`
lets it score an engine peptide neutrally: each token at the model column
of the token it extends (a modified K at K's column, a variable mod on
carbamidomethyl C at ``C[UNIMOD:4]``'s), an N-terminal token the model
does not have at no slot at all (log-probability 0, the rest of the
peptide keeps the slots the model expects). The model's beam runs over
its own columns with the fixed mods' masses (a fixed N-terminal mod's
delta as the start mass); variable mods the model has no column for come
from the evidence search alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .unimod import UnknownModification, lookup
from .vocab import RESIDUE_MASS, Modification, Token, Vocabulary, make_token

__all__ = ["NTERM", "ModificationError", "ModSpec", "ModSet", "ModelView",
           "parse_specs", "engine_vocabulary"]

NTERM = "N-term"
_NTERM_WORDS = {"n-term", "nterm", "n-terminus", "n-terminal", "any n-term",
                "^"}
_CTERM_WORDS = {"c-term", "cterm", "c-terminus", "c-terminal", "any c-term",
                "$"}


class ModificationError(ValueError):
    """A modification spec that cannot be read or combined."""


@dataclass(frozen=True)
class ModSpec:
    """One parsed spec: the modification and its sites (residue letters
    or ``"N-term"``)."""

    mod: Modification
    sites: tuple

    @property
    def text(self) -> str:
        """The spec in canonical form, e.g. ``TMT6plex@K``."""
        where = NTERM if self.sites == (NTERM,) else "".join(self.sites)
        return f"{self.mod.name}@{where}"


def _sites(text: str, spec: str) -> tuple:
    low = text.strip().lower()
    if low in _NTERM_WORDS:
        return (NTERM,)
    if low in _CTERM_WORDS or "c-term" in low:
        raise ModificationError(f"{spec!r}: C-terminal modifications are "
                                "not supported")
    if "protein" in low:
        raise ModificationError(f"{spec!r}: protein-terminal sites are not "
                                "supported (N-term means any peptide "
                                "N-terminus)")
    letters = text.replace("/", "").replace(" ", "")
    if not letters:
        raise ModificationError(f"{spec!r} names no site")
    for aa in letters:
        if aa not in RESIDUE_MASS:
            raise ModificationError(
                f"{spec!r}: site {aa!r} is not an amino acid letter or "
                "N-term (give residues like STY, or N-term)")
        if aa in "IL":
            raise ModificationError(
                f"{spec!r}: modifications of I or L are not supported "
                "(the engine reads I and L as one residue)")
    if len(set(letters)) != len(letters):
        raise ModificationError(f"{spec!r} repeats a site")
    return tuple(letters)


def parse_spec(text: str) -> ModSpec:
    """One ``NAME@SITES`` spec (see the module docstring)."""
    name, at, sites = text.strip().rpartition("@")
    if not at or not name.strip() or not sites.strip():
        raise ModificationError(f"{text.strip()!r} is not NAME@SITES, e.g. "
                                "TMT6plex@K or Phospho@STY")
    try:
        mod = lookup(name)
    except UnknownModification as err:
        raise ModificationError(str(err)) from None
    return ModSpec(mod, _sites(sites, text.strip()))


def parse_specs(values) -> tuple:
    """Specs from option values, each a comma-separated list."""
    if isinstance(values, str):
        values = (values,)
    return tuple(parse_spec(part) for value in values
                 for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class ModSet:
    """The modifications of one run: fixed and variable specs and whether
    the vocabulary's own modified tokens stay (see the module docstring).
    Empty (false) by default: the engine then uses the model's vocabulary
    unchanged."""

    fixed: tuple = ()
    variable: tuple = ()
    default_mods: bool = True

    def __post_init__(self):
        seen = {}
        for spec in self.fixed:
            for site in spec.sites:
                if site in seen and seen[site] != spec.mod:
                    raise ModificationError(
                        f"two fixed modifications at {site}: "
                        f"{seen[site].name} and {spec.mod.name}")
                seen[site] = spec.mod
        for spec in self.variable:
            for site in spec.sites:
                if site == NTERM and NTERM in seen:
                    raise ModificationError(
                        f"{spec.text}: a fixed N-term modification "
                        f"({seen[NTERM].name}) leaves no room for a "
                        "variable one")
                if seen.get(site) == spec.mod:
                    raise ModificationError(
                        f"{spec.mod.name}@{site} is both fixed and "
                        "variable")

    @classmethod
    def parse(cls, fixed=(), variable=(), default_mods: bool = True
              ) -> "ModSet":
        """From option values (:func:`parse_specs`)."""
        return cls(parse_specs(fixed), parse_specs(variable),
                   bool(default_mods))

    def __bool__(self) -> bool:
        return bool(self.fixed or self.variable or not self.default_mods)

    def fixed_at(self) -> dict:
        """Site -> its fixed :class:`Modification`."""
        return {site: spec.mod for spec in self.fixed
                for site in spec.sites}

    def describe(self) -> str:
        """One line for run reports: ``fixed TMT6plex@K; variable ...``."""
        parts = []
        if self.fixed:
            parts.append("fixed " + ",".join(s.text for s in self.fixed))
        if self.variable:
            parts.append("variable " + ",".join(s.text
                                                for s in self.variable))
        if not self.default_mods:
            parts.append("no default mods")
        return "; ".join(parts) or "defaults"

    def vocabulary(self, base: Vocabulary) -> Vocabulary:
        """The engine vocabulary: ``base`` (the model's) with these
        modifications; ``base`` itself when there are none."""
        if not self:
            return base
        fixed_at = self.fixed_at()
        tokens, fixed_names = [], {}
        for tok in base.tokens[2:]:
            if tok.special or (tok.mods and not self.default_mods):
                continue
            site = NTERM if tok.n_terminal else tok.residue
            if site in fixed_at:
                if tok.n_terminal or tok.mods:
                    continue  # replaced by the fixed token
                tok = make_token(tok.residue, (fixed_at[site],))
                fixed_names[site] = tok.name
            tokens.append(tok)
        for site, mod in fixed_at.items():
            if site == NTERM:
                tok = make_token("", (mod,))
                tokens.append(tok)
                fixed_names[site] = tok.name
            elif site not in fixed_names:
                raise ModificationError(f"{mod.name}@{site}: the model's "
                                        f"vocabulary has no {site}")
        names = {t.name for t in tokens}
        for spec in self.variable:
            for site in spec.sites:
                if site == NTERM:
                    tok = make_token("", (spec.mod,))
                else:
                    carried = (fixed_at[site],) if site in fixed_at else ()
                    tok = make_token(site, carried + (spec.mod,))
                if tok.name not in names:
                    names.add(tok.name)
                    tokens.append(tok)
        return Vocabulary(tokens, fixed_names)


class ModelView:
    """How a model with its own output vocabulary sees an engine
    vocabulary's peptides (see the module docstring).

    ``columns[i]``: the model column of engine token ``i`` (-1: an
    N-terminal token the model has no column for, left out of the
    model's slots). ``beam``: the model's columns as engine tokens, index
    for index (a column with no engine token is a never-emitted special
    token), for the model's beam; ``start``: the fixed N-terminal engine
    token every beam peptide begins with, or None.
    """

    def __init__(self, engine: Vocabulary, model: Vocabulary):
        self.engine, self.model = engine, model
        cols = np.full(len(engine), -1, np.int64)
        for i, tok in enumerate(engine.tokens):
            if tok.name in model:
                cols[i] = model.index(tok.name)
                continue
            if tok.n_terminal:
                continue
            for k in range(len(tok.mods) - 1, -1, -1):
                name = make_token(tok.residue, tok.mods[:k]).name
                if name in model:
                    cols[i] = model.index(name)
                    break
            else:
                raise ModificationError(f"the model has no column for "
                                        f"{tok.name} or its residue")
        self.columns = cols
        beam = []
        for mt in model.tokens[2:]:
            fixed = (engine.fixed.get(mt.residue)
                     if mt.residue and not mt.mods else None)
            if mt.name in engine:
                beam.append(engine.tokens[engine.index(mt.name)])
            elif fixed is not None and fixed not in model:
                beam.append(engine.tokens[engine.index(fixed)])
            else:  # a token the engine does not allow: never emitted
                beam.append(Token(f"<off:{mt.name}>", "", special=True))
        self.beam = Vocabulary(beam)
        start = engine.fixed.get(NTERM)
        self.start = (None if start is None
                      else engine.tokens[engine.index(start)])

    def encode(self, tokens: np.ndarray, lengths: np.ndarray) -> tuple:
        """Engine token indices ``[n, L]`` (-1 padded) -> the model's
        ``(tokens [n, L] -1 padded, lengths)``."""
        cols = np.where(tokens >= 0, self.columns[np.maximum(tokens, 0)],
                        -1)
        keep = cols >= 0
        order = np.argsort(~keep, axis=1, kind="stable")
        return np.take_along_axis(cols, order, axis=1), keep.sum(axis=1)

    def encode_draft(self, peptide, max_length: int) -> np.ndarray:
        """An engine peptide (names) as a draft in the model's indices."""
        cols = self.columns[[self.engine.index(t) for t in peptide]]
        return self.model.encode(
            [self.model.tokens[c].name for c in cols if c >= 0],
            max_length)

    def fits(self, idx: np.ndarray, n_slots: int) -> bool:
        """Whether a peptide (engine indices) and END fit the slots."""
        return int((self.columns[idx] >= 0).sum()) < n_slots

    def token_probs(self, log_probs: np.ndarray, idx: np.ndarray
                    ) -> np.ndarray:
        """Per engine token: the model's probability of its column at its
        slot; a token out of the slots takes the next token's."""
        cols = self.columns[idx]
        kept = cols >= 0
        out = np.zeros(len(idx))
        out[kept] = np.exp(log_probs[np.arange(kept.sum()), cols[kept]])
        for k in range(len(idx) - 2, -1, -1):
            if not kept[k]:
                out[k] = out[k + 1]
        return out


def engine_vocabulary(model_vocabulary: Vocabulary,
                      modifications: ModSet | None, *,
                      with_model: bool) -> tuple:
    """``(engine vocabulary, ModelView or None)`` of a model vocabulary
    and the run's modifications: the model's own vocabulary and no view
    when there are none, or no model runs."""
    if not modifications:
        return model_vocabulary, None
    vocabulary = modifications.vocabulary(model_vocabulary)
    view = ModelView(vocabulary, model_vocabulary) if with_model else None
    return vocabulary, view
