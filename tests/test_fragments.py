"""Fragment and mass kernels against pyteomics and a plain-Python model."""

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.constants import CO, H2O, NH3, PROTON
from denovo.core.fragments import (
    ION_A, ION_B, ION_IMMONIUM, ION_Y, LOSS_H2O, LOSS_NH3, LOSS_NONE,
    FragmentBatch, FragmentConfig, batch_peptide_mass, batch_precursor_mz,
    encode_batch, encode_peptide, fragment_mz, fragment_mz_batch,
    peptide_mass_kernel, precursor_mz_kernel,
)
from denovo.core.vocab import DEFAULT_VOCABULARY as VOCAB

# Modified tokens -> (base residue, formula of the modification), written
# here independently of denovo.core.vocab so pyteomics is a real oracle.
MOD_FORMULA = {
    "C[UNIMOD:4]": ("C", "H3C2N1O1"),
    "M[UNIMOD:35]": ("M", "O1"),
    "N[UNIMOD:7]": ("N", "H-1N-1O1"),
    "Q[UNIMOD:7]": ("Q", "H-1N-1O1"),
}
NTERM_FORMULA = {
    "[UNIMOD:1]-": "H2C2O1",
    "[UNIMOD:5]-": "H1C1N1O1",
    "[UNIMOD:385]-": "H-3N-1",
    "[UNIMOD:5][UNIMOD:385]-": "H-2C1O1",
}
RESIDUES = list("ACDEFGHIKLMNPQRSTVWY") + list(MOD_FORMULA)
ION_LETTER = {ION_A: "a", ION_B: "b", ION_Y: "y"}


def delta(formula: str) -> float:
    return pmass.calculate_mass(formula=formula)


def split(peptide):
    """-> (plain sequence, per-residue deltas, N-terminal delta)."""
    nterm = 0.0
    if peptide and peptide[0] in NTERM_FORMULA:
        nterm = delta(NTERM_FORMULA[peptide[0]])
        peptide = peptide[1:]
    seq = "".join(MOD_FORMULA.get(t, (t,))[0] for t in peptide)
    deltas = [delta(MOD_FORMULA[t][1]) if t in MOD_FORMULA else 0.0
              for t in peptide]
    return seq, deltas, nterm


def random_peptides(rng, n, min_len=1, max_len=25):
    out = []
    for _ in range(n):
        pep = [RESIDUES[i] for i in rng.integers(
            0, len(RESIDUES), rng.integers(min_len, max_len + 1))]
        if rng.random() < 0.3:
            pep.insert(0, list(NTERM_FORMULA)[rng.integers(4)])
        out.append(tuple(pep))
    return out


def test_mod_formulas_are_the_known_deltas():
    known = [57.021464, 15.994915, 0.984016, 0.984016]
    got = [delta(f) for _, f in MOD_FORMULA.values()]
    np.testing.assert_allclose(got, known, atol=1e-6)
    known = [42.010565, 43.005814, -17.026549, 25.979265]
    np.testing.assert_allclose([delta(f) for f in NTERM_FORMULA.values()],
                               known, atol=1e-6)


def test_masses_and_precursor_mz_match_pyteomics():
    rng = np.random.default_rng(1)
    peptides = random_peptides(rng, 3000)
    charges = rng.integers(1, 7, len(peptides))
    masses = batch_peptide_mass(peptides)
    mzs = batch_precursor_mz(peptides, charges)
    for pep, z, m, mz in zip(peptides, charges, masses, mzs, strict=True):
        seq, deltas, nterm = split(pep)
        extra = sum(deltas) + nterm
        assert m == pytest.approx(pmass.fast_mass(seq) + extra, abs=1e-6)
        ref = pmass.fast_mass(seq, charge=int(z)) + extra / z
        assert mz == pytest.approx(ref, abs=1e-6)
        tokens = encode_peptide(pep)
        assert peptide_mass_kernel(tokens, VOCAB.masses) == m
        assert precursor_mz_kernel(tokens, VOCAB.masses, z) == \
            pytest.approx(mz, abs=1e-9)


def test_calculate_mass_agrees_on_plain_peptides():
    rng = np.random.default_rng(2)
    for pep in random_peptides(rng, 50, max_len=15):
        seq, deltas, nterm = split(pep)
        if nterm or any(deltas):
            continue
        ref = pmass.calculate_mass(sequence=seq, charge=2)
        assert batch_precursor_mz([pep], 2)[0] == pytest.approx(ref,
                                                                abs=1e-6)


def test_b_y_a_fragments_match_pyteomics():
    rng = np.random.default_rng(3)
    peptides = random_peptides(rng, 1000, min_len=2, max_len=20)
    charges = rng.integers(1, 6, len(peptides))
    config = FragmentConfig(ion_types=("a", "b", "y"), max_fragment_charge=3)
    batch = fragment_mz_batch(peptides, charges, config=config)
    checked = 0
    for row, (pep, z) in enumerate(zip(peptides, charges, strict=True)):
        seq, deltas, nterm = split(pep)
        n = len(seq)
        k = batch.n_fragments[row]
        z_max = max(1, min(z - 1, 3))
        assert k == 3 * z_max * (n - 1)
        for j in range(k):
            ion, i = batch.ion_type[row, j], batch.ion_index[row, j]
            c = int(batch.charge[row, j])
            if ion == ION_Y:
                part, d = seq[n - i:], sum(deltas[n - i:])
            else:
                part, d = seq[:i], sum(deltas[:i]) + nterm
            ref = pmass.fast_mass(part, ion_type=ION_LETTER[ion], charge=c)
            assert batch.mz[row, j] == pytest.approx(ref + d / c, abs=1e-6)
            checked += 1
    assert checked > 50_000


def reference_fragments(peptide, charge, config):
    """Slow plain-Python model of the documented fragment list."""
    masses = [VOCAB.tokens[VOCAB.index(t)].mass for t in peptide]
    shift = 0.0
    if VOCAB.tokens[VOCAB.index(peptide[0])].n_terminal:
        shift, masses = masses[0], masses[1:]
    n = len(masses)
    loss_mass = {LOSS_NONE: 0.0, LOSS_H2O: H2O, LOSS_NH3: NH3}
    losses = [LOSS_NONE] + [{"H2O": LOSS_H2O, "NH3": LOSS_NH3}[x]
                            for x in config.losses]
    out = []
    for name in config.ion_types:
        ion = {"a": ION_A, "b": ION_B, "y": ION_Y}[name]
        for z in range(1, max(1, min(charge - 1,
                                     config.max_fragment_charge)) + 1):
            for loss in losses:
                for i in range(1, n):
                    if ion == ION_Y:
                        neutral = sum(masses[n - i:]) + H2O
                    else:
                        neutral = shift + sum(masses[:i])
                        neutral -= CO if ion == ION_A else 0.0
                    mz = (neutral - loss_mass[loss] + z * PROTON) / z
                    out.append((mz, ion, i, z, loss))
    if config.immonium:
        tokens = peptide[len(peptide) - n:]
        for p, t in enumerate(tokens):
            if t not in tokens[:p]:
                out.append((masses[p] - CO + PROTON, ION_IMMONIUM, p + 1, 1,
                            LOSS_NONE))
    return out


@pytest.mark.parametrize("config", [
    FragmentConfig(),
    FragmentConfig(ion_types=("y", "a"), losses=("H2O", "NH3"),
                   immonium=True, max_fragment_charge=4),
    FragmentConfig(ion_types=("b",), losses=("NH3",), max_fragment_charge=1,
                   immonium=True),
])
def test_losses_immonium_charges_match_reference(config):
    rng = np.random.default_rng(4)
    peptides = random_peptides(rng, 200, max_len=15)
    charges = rng.integers(1, 7, len(peptides))
    batch = fragment_mz_batch(peptides, charges, config=config)
    for row, (pep, z) in enumerate(zip(peptides, charges, strict=True)):
        ref = reference_fragments(pep, int(z), config)
        single = fragment_mz(pep, int(z), config=config)
        k = batch.n_fragments[row]
        assert k == len(ref) == len(single.mz)
        got = list(zip(batch.mz[row, :k], batch.ion_type[row, :k],
                       batch.ion_index[row, :k], batch.charge[row, :k],
                       batch.loss[row, :k], strict=True))
        for g, r in zip(got, ref, strict=True):
            assert g[1:] == r[1:]
            assert g[0] == pytest.approx(r[0], abs=1e-9)
        np.testing.assert_array_equal(single.mz, batch.mz[row, :k])
        assert (batch.mz[row, k:] == 0).all()
        assert (batch.ion_type[row, k:] == -1).all()


def test_edge_cases_short_peptides_and_charge_one():
    assert len(fragment_mz(("K",), 2).mz) == 0
    assert len(fragment_mz(("[UNIMOD:1]-", "K"), 3).mz) == 0
    f = fragment_mz(("P", "E", "K"), 1)
    assert set(f.charge) == {1}
    f = fragment_mz(("P", "E", "K"), 3, config=FragmentConfig(
        max_fragment_charge=5))
    assert set(f.charge) == {1, 2}
    assert batch_peptide_mass([()])[0] == pytest.approx(H2O)


def test_encode_batch_accepts_vocabulary_encoded_rows():
    peptides = [("[UNIMOD:1]-", "P", "E"), ("K",), ("M[UNIMOD:35]", "R")]
    matrix = np.stack([VOCAB.encode(p, 6) for p in peptides])
    tokens, lengths = encode_batch(matrix)
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    np.testing.assert_allclose(batch_peptide_mass(matrix),
                               batch_peptide_mass(peptides), atol=0)


def test_out_buffer_is_reused_and_checked():
    peptides = [("P", "E", "P", "T"), ("K", "R")]
    fresh = fragment_mz_batch(peptides, [2, 3])
    buf = FragmentBatch(np.full((4, 20), 7.0), *(np.zeros((4, 20), dt) for dt
                        in (np.int8, np.int32, np.int8, np.int8)),
                        np.zeros(4, np.int64))
    got = fragment_mz_batch(peptides, [2, 3], out=buf)
    assert np.shares_memory(got.mz, buf.mz)
    np.testing.assert_array_equal(got.mz[:, :6], fresh.mz)
    assert (got.mz[:, 6:] == 0).all() and (got.ion_type[:, 6:] == -1).all()
    with pytest.raises(ValueError, match="need"):
        fragment_mz_batch(peptides, [2, 3],
                          out=FragmentBatch(*(a[:, :3] for a in buf[:5]),
                                            buf.n_fragments))


@pytest.mark.parametrize("peptide, match", [
    (("P", "[UNIMOD:1]-"), "position 1: N-terminal"),
    (np.array([5, 1, 6]), "position 1: token index 1"),
    (np.array([5, 99]), "position 1: token index 99"),
])
def test_bad_peptides_are_rejected_with_position(peptide, match):
    with pytest.raises(ValueError, match=match):
        fragment_mz(peptide, 2)


def test_bad_config_and_charge():
    with pytest.raises(ValueError, match="ion type"):
        FragmentConfig(ion_types=("c",))
    with pytest.raises(ValueError, match="loss"):
        FragmentConfig(losses=("CO2",))
    with pytest.raises(ValueError, match="charge"):
        fragment_mz(("P", "E"), 0)
    with pytest.raises(KeyError, match="X"):
        fragment_mz(("P", "X"), 2)
