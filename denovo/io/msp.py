"""Streaming reader for NIST / SpectraST MSP spectral libraries.

An entry is ``Name: PEPTIDE/charge``, header fields (``MW:``,
``Comment:`` with ``Parent=`` and ``Mods=``, ``Num peaks:``) and peak
lines ``m/z intensity "annotation"``. The label comes from the name's
sequence plus the ``Mods=`` field (``2/4,C,Carbamidomethyl/7,M,Oxidation``,
0-based positions), parsed through :mod:`denovo.core.peptide`. The name
may carry the modifications inline (NIST ``M(O)``); they are dropped
from the sequence, as ``Mods=`` lists them all.

N-terminal cyclisations are written with the vocabulary's N-terminal
ammonia loss (``[UNIMOD:385]-``, -17.027 Da): ``Gln->pyro-Glu`` on an
N-terminal Q is exactly that, and ``Pyro-carbamidomethyl`` on an
N-terminal C is carbamidomethyl plus that. ``Glu->pyro-Glu`` (-18.011 Da)
has no token, so such labels stay unknown and are skipped.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

import numpy as np

from ..core.vocab import MODIFICATIONS
from ._build import BAD_CHARGE, Builder
from .errors import InputFileError
from .formats import open_text
from .spectrum import Spectrum

__all__ = ["read_msp", "msp_label"]

_COMMENT_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')
# Modifications that only exist as N-terminal tokens in the vocabulary.
_NTERM_NAMES = {"acetyl", "carbamyl", "ammonia-loss"}
# MSP names of N-terminal cyclisations -> (residue, residue modification)
# on top of an N-terminal ammonia loss; valid at position 0 only.
_PYRO = {"gln->pyro-glu": ("Q", None),
         "pyro-carbamidomethyl": ("C", "UNIMOD:4")}
_AMMONIA_LOSS = "UNIMOD:385"
_INLINE_MOD = re.compile(r"\([^)]*\)|\[[^]]*\]")
_KNOWN = {m.name.lower(): m for m in MODIFICATIONS.values()}


def msp_label(name: str, mods: str | None) -> str:
    """ProForma text for an MSP ``Name`` sequence and ``Mods`` field.

    Unknown modification names are kept by name so that the core parser
    reports them as unknown.
    """
    sequence = name.split("/", 1)[0].strip()
    if not mods or mods.strip() in ("0", ""):
        return sequence
    residues = re.sub(r"[^A-Z]", "", _INLINE_MOD.sub("", sequence))
    parts = mods.strip().split("/")
    per_position: dict[int, list[str]] = {}
    nterm = []
    for item in parts[1:]:
        fields = item.split(",")
        if len(fields) < 3:
            raise ValueError(f"bad MSP modification {item!r}")
        pos, mod_name = int(fields[0]), fields[2].strip()
        known = _KNOWN.get(mod_name.lower())
        label = known.accession if known else mod_name
        pyro = _PYRO.get(mod_name.lower())
        if pos == 0 and pyro and residues[:1] == pyro[0]:
            nterm.append(f"[{_AMMONIA_LOSS}]")
            if pyro[1]:
                per_position.setdefault(0, []).append(f"[{pyro[1]}]")
        elif pos == 0 and mod_name.lower() in _NTERM_NAMES:
            nterm.append(f"[{label}]")
        else:
            per_position.setdefault(pos, []).append(f"[{label}]")
    text = "".join(nterm) + ("-" if nterm else "")
    for i, aa in enumerate(residues):
        text += aa + "".join(per_position.get(i, []))
    return text


def _finish(entry: dict, index: int, builder: Builder,
            status: str | None) -> Spectrum:
    name = entry.get("name", "")
    comment = dict(_COMMENT_FIELD.findall(entry.get("comment", "")))
    comment = {k.lower(): v.strip('"') for k, v in comment.items()}
    precursor = entry.get("precursormz") or comment.get("parent")
    try:
        precursor = float(precursor) if precursor is not None else None
    except ValueError:
        precursor = None
    charge_text = name.rsplit("/", 1)[1] if "/" in name else \
        entry.get("charge") or comment.get("charge")
    charge = None
    if charge_text:
        try:
            charge = int(charge_text.strip().strip("+"))
        except ValueError:
            charge = BAD_CHARGE
    mods = comment.get("mods")
    try:
        label = msp_label(name, mods) if name else None
    except ValueError:
        label = "skipped:bad_label"
    rt = None
    for key in ("retentiontime", "rt"):
        if key in comment:
            try:
                rt = float(comment[key].split(",")[0])
            except ValueError:
                pass
            break
    peaks = entry["peaks"]
    expected = entry.get("num peaks")
    if expected is not None and expected.strip().isdigit() \
            and int(expected) != len(peaks):
        status = status or "skipped:truncated"
    mz = intensity = ()
    try:
        if peaks:
            pairs = np.array([p.split(None, 2)[:2] for p in peaks],
                             dtype=np.float64)
            mz, intensity = pairs[:, 0], pairs[:, 1].astype(np.float32)
    except ValueError:
        status = status or "skipped:bad_peaks"
    return builder.build(
        mz=mz, intensity=intensity, precursor_mz=precursor, charge=charge,
        position=f"line {entry['line']}", index=index, rt=rt,
        title=name or None, label=label, status=status)


def read_msp(path, builder: Builder) -> Iterator[Spectrum]:
    """Yield every ``Name:`` entry of an MSP library as a Spectrum."""
    stats = builder.stats
    entry = None
    index = lineno = 0
    with open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                text = line.strip()
                if text[:5].lower() == "name:":
                    if entry is not None:
                        yield _finish(entry, index, builder, None)
                        index += 1
                    entry = {"name": text[5:].strip(), "line": lineno,
                             "peaks": []}
                elif not text or entry is None:
                    continue
                elif text[0].isdigit() or text[0] == ".":
                    entry["peaks"].append(text)
                elif ":" in text:
                    key, value = text.split(":", 1)
                    entry[key.strip().lower()] = value.strip()
        except (EOFError, OSError, zlib.error) as err:
            stats.damage = f"unreadable after line {lineno}: {err}"
        if entry is not None:
            status = "skipped:truncated" if stats.damage else None
            yield _finish(entry, index, builder, status)
            index += 1
    if index == 0:
        what = stats.damage or ("file is empty" if lineno == 0 else
                                "no 'Name:' line found; not an MSP file?")
        raise InputFileError(path, what, position=f"line {max(lineno, 1)}")
    stats.ms_levels[2] += index
    stats.complete = True
