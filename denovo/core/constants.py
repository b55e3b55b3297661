"""Physical constants, defined once (monoisotopic, in Da).

Element masses are the IUPAC/NIST values that pyteomics also uses, so
masses computed here agree with pyteomics to ~1e-9 Da. Heavy isotopes
are keyed as Unimod writes them (``"13C"``, ``"15N"``, ``"2H"``,
``"18O"``), for the labels of :mod:`denovo.core.unimod`.
"""

__all__ = [
    "ELEMENT_MASS",
    "PROTON",
    "H2O",
    "NH3",
    "CO",
    "C13_SPACING",
    "composition_mass",
]

ELEMENT_MASS = {
    "H": 1.00782503207,
    "C": 12.0,
    "N": 14.0030740048,
    "O": 15.99491461956,
    "S": 31.972071,
    "P": 30.97376163,
    "13C": 13.0033548378,
    "15N": 15.0001088982,
    "2H": 2.0141017778,
    "18O": 17.999161,
}
PROTON = 1.00727646677
C13_SPACING = 1.003355  # mass difference 13C - 12C, isotope-error step


def composition_mass(composition: dict) -> float:
    """Monoisotopic mass of an elemental composition ``{"C": 2, "H": -1}``."""
    return sum(ELEMENT_MASS[el] * n for el, n in composition.items())


H2O = composition_mass({"H": 2, "O": 1})
NH3 = composition_mass({"N": 1, "H": 3})
CO = composition_mass({"C": 1, "O": 1})
