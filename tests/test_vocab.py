"""The vocabulary: layout, masses and its JSON form."""

import json

import numpy as np
import pytest

from denovo.core import DEFAULT_VOCABULARY, END, PAD, Vocabulary
from denovo.core.vocab import MODIFICATIONS


def test_layout():
    v = DEFAULT_VOCABULARY
    assert len(v) == 30
    assert v.tokens[PAD].name == "<pad>" and v.tokens[END].name == "<end>"
    assert v.masses[PAD] == 0 and v.masses[END] == 0
    assert {"I", "L"} <= {t.name for t in v.tokens}  # kept separate
    assert v.n_terminal.sum() == 4
    assert np.all(v.n_terminal[[v.index("[UNIMOD:1]-"),
                                v.index("[UNIMOD:5][UNIMOD:385]-")]])


@pytest.mark.parametrize("unimod, delta", [
    (4, 57.021464), (35, 15.994915), (7, 0.984016), (1, 42.010565),
    (5, 43.005814), (385, -17.026549)])
def test_modification_deltas_match_unimod(unimod, delta):
    assert MODIFICATIONS[unimod].delta == pytest.approx(delta, abs=2e-6)


def test_encode_decode():
    v = DEFAULT_VOCABULARY
    pep = ("[UNIMOD:1]-", "P", "M[UNIMOD:35]")
    enc = v.encode(pep, 5)
    assert enc.dtype == np.int32 and enc.shape == (6,)
    assert list(enc[3:]) == [END, PAD, PAD]
    assert v.decode(enc) == pep
    with pytest.raises(ValueError):
        v.encode(pep, 2)
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.index("B")


def test_json_round_trip_and_validation():
    v = DEFAULT_VOCABULARY
    assert Vocabulary.from_json(v.to_json()) == v
    data = json.loads(v.to_json())
    data["masses"][5] += 0.5
    with pytest.raises(ValueError, match="differs"):
        Vocabulary.from_dict(data)
    data = v.to_dict()
    data["tokens"] = data["tokens"][1:]
    with pytest.raises(ValueError):
        Vocabulary.from_dict(data)


def test_masses_are_read_only():
    with pytest.raises(ValueError):
        DEFAULT_VOCABULARY.masses[2] = 0
