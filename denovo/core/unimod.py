"""The offline UNIMOD subset: common modifications by name or accession.

``denovo/data/unimod.json`` holds a few dozen entries copied from Unimod
(https://www.unimod.org; the file names its exact source): accession,
PSI-MS name, elemental composition and Unimod's stated monoisotopic
delta. The delta denovo uses is computed from the composition
(:func:`denovo.core.constants.composition_mass`); the tests check both
against the Unimod tables psims vendors and against pyteomics. The six
modifications of the default vocabulary (:data:`MODIFICATIONS`, also
exported by :mod:`denovo.core.vocab`) are the same objects in the table.

Names are matched without regard to case; a name that is not in the
table raises :class:`UnknownModification`, whose message lists the
closest names.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .constants import composition_mass

__all__ = ["Modification", "MODIFICATIONS", "TABLE_PATH",
           "UnknownModification", "table", "names",
           "by_name", "by_accession", "from_label", "mass_modification",
           "lookup"]

TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "unimod.json"
_MASS = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class Modification:
    """A modification: a UNIMOD entry (accession, PSI-MS name and
    composition), or a bare mass delta (``unimod`` None, ``mass`` set,
    ``name`` its ProForma label such as ``"+79.9663"``)."""

    unimod: int | None
    name: str
    composition: tuple  # ((element, count), ...), hashable
    mass: float | None = None  # the delta of a mass-only modification

    @property
    def delta(self) -> float:
        """Monoisotopic mass shift in Da."""
        if self.mass is not None:
            return self.mass
        return composition_mass(dict(self.composition))

    @property
    def accession(self) -> str:
        """``UNIMOD:N``; a mass-only modification is ``CHEMMOD:+x``, as
        mzTab writes a modification that is not in UNIMOD."""
        if self.unimod is None:
            return f"CHEMMOD:{self.name}"
        return f"UNIMOD:{self.unimod}"

    @property
    def label(self) -> str:
        """The ProForma bracket content: ``UNIMOD:N`` or ``+x``."""
        return self.name if self.unimod is None else self.accession


MODIFICATIONS = MappingProxyType({
    m.unimod: m
    for m in (
        Modification(4, "Carbamidomethyl", (("H", 3), ("C", 2), ("N", 1),
                                            ("O", 1))),
        Modification(35, "Oxidation", (("O", 1),)),
        Modification(7, "Deamidated", (("H", -1), ("N", -1), ("O", 1))),
        Modification(1, "Acetyl", (("H", 2), ("C", 2), ("O", 1))),
        Modification(5, "Carbamyl", (("H", 1), ("C", 1), ("N", 1),
                                     ("O", 1))),
        Modification(385, "Ammonia-loss", (("H", -3), ("N", -1))),
    )
})


class UnknownModification(ValueError):
    """A modification name or accession the offline table does not hold."""


@functools.lru_cache(maxsize=1)
def _load() -> tuple:
    data = json.loads(TABLE_PATH.read_text())
    by_acc, by_name, written = {}, {}, {}
    for entry in data["modifications"]:
        acc = int(entry["accession"])
        mod = MODIFICATIONS.get(acc) or Modification(
            acc, entry["name"], tuple(entry["composition"].items()))
        by_acc[acc] = mod
        for name in [entry["name"], *entry.get("aliases", ())]:
            by_name[name.lower()] = mod
            written[name.lower()] = name
    return (MappingProxyType(by_acc), MappingProxyType(by_name),
            MappingProxyType(written))


def table() -> MappingProxyType:
    """Accession (int) -> :class:`Modification`, in table order."""
    return _load()[0]


def names() -> list[str]:
    """The PSI-MS names of the table, in table order."""
    return [m.name for m in table().values()]


def by_name(name: str) -> Modification:
    """The modification of a PSI-MS name or alias (any case)."""
    mod = _load()[1].get(name.strip().lower())
    if mod is None:
        raise UnknownModification(_unknown(name))
    return mod


def _unknown(name: str) -> str:
    written = _load()[2]
    close = difflib.get_close_matches(name.strip().lower(), list(written),
                                      n=4, cutoff=0.5)
    hint = (f"; did you mean {', '.join(written[c] for c in close)}?"
            if close else "")
    return (f"unknown modification {name!r} (not in denovo's offline "
            f"UNIMOD table; give an accession it holds, or a mass delta "
            f"like +229.1629){hint}")


def by_accession(accession: int) -> Modification:
    """The modification of a UNIMOD accession number."""
    try:
        return table()[int(accession)]
    except KeyError:
        raise UnknownModification(
            f"UNIMOD:{accession} is not in denovo's offline UNIMOD table "
            f"(give its mass delta instead, e.g. +229.1629)") from None


def mass_modification(text: str) -> Modification:
    """A modification given only by its mass delta (``"+79.9663"``),
    labelled by the delta as written to 6 decimals at most."""
    if not _MASS.match(text.strip()):
        raise UnknownModification(f"{text!r} is not a mass delta like "
                                  "+79.9663")
    value = float(text)
    label = f"{value:+.6f}".rstrip("0").rstrip(".")
    if float(label) == 0.0:
        raise UnknownModification(f"mass delta {text!r} is zero")
    return Modification(None, label, (), float(label))


def from_label(label: str) -> Modification:
    """The modification of a ProForma bracket label in a canonical token
    name: ``UNIMOD:N`` or a signed mass."""
    if label[:7].upper() == "UNIMOD:":
        try:
            number = int(label[7:])
        except ValueError:
            raise UnknownModification(f"{label!r} is not a UNIMOD "
                                      "accession") from None
        return by_accession(number)
    return mass_modification(label)


def lookup(text: str) -> Modification:
    """A modification as a user writes it: a PSI-MS name
    (``TMT6plex``), an accession (``UNIMOD:737``) or a mass delta
    (``+229.1629``)."""
    text = text.strip()
    if not text:
        raise UnknownModification("empty modification name")
    if text[:7].upper() == "UNIMOD:":
        return from_label(text)
    if _MASS.match(text):
        return mass_modification(text)
    return by_name(text)
