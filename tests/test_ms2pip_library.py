"""MS2PIP library: notation for ms2pip, build/resume, loader, model."""

import json

import numpy as np
import pytest

from denovo.core.fragments import FragmentConfig, fragment_mz
from denovo.core.peptide import parse
from denovo_training.data.ms2pip_library import (Library, LibraryIntensity,
                                                 build_library, entry_key,
                                                 ms2pip_peptidoform)
from denovo_training.data.synthetic import SimulationConfig, ion_table

PEPTIDES = [
    ("P", "E", "P", "T", "I", "D", "E", "K"),
    ("[UNIMOD:5][UNIMOD:385]-", "Q", "C[UNIMOD:4]", "A", "M[UNIMOD:35]",
     "L", "R"),
    ("[UNIMOD:1]-", "A", "N[UNIMOD:7]", "G", "Q[UNIMOD:7]", "V", "K"),
    ("L", "L", "G", "H", "W", "S", "Y", "K", "R"),
]


def test_peptidoform_round_trips_through_core_parser():
    for pep in PEPTIDES:
        text, charge = ms2pip_peptidoform(pep, 3).rsplit("/", 1)
        assert charge == "3"
        assert text.count("]-") <= 1  # N-terminal shifts merged
        assert parse(text) == pep


def test_entry_key_is_unimod_proforma():
    assert entry_key(PEPTIDES[1], 2) == \
        "[UNIMOD:5][UNIMOD:385]-QC[UNIMOD:4]AM[UNIMOD:35]LR/2"


def test_predict_matches_core_fragment_ladder():
    pytest.importorskip("ms2pip")
    from ms2pip.core import predict_batch
    from psm_utils import PSM, PSMList

    from denovo_training.data.ms2pip_library import predict

    for pep in PEPTIDES:
        res = predict_batch(PSMList(psm_list=[PSM(
            peptidoform=ms2pip_peptidoform(pep, 2), spectrum_id="0")]),
            model="HCD2019", processes=1)[0]
        frag = fragment_mz(pep, 2, config=FragmentConfig())
        n = len(res.theoretical_mz["b"])
        b = frag.mz[(frag.ion_type == 1)][:n]
        y = frag.mz[(frag.ion_type == 2)][:n]
        # ms2pip index i is b_(i+1) / y_(i+1), as the library assumes.
        np.testing.assert_allclose(res.theoretical_mz["b"], b, atol=0.01)
        np.testing.assert_allclose(res.theoretical_mz["y"], y, atol=0.01)
    arrays = predict(PEPTIDES, [2, 3, 2, 4])
    for pep, a, z in zip(PEPTIDES, arrays, [2, 3, 2, 4], strict=True):
        n_res = len(pep) - pep[0].endswith("-")
        assert a.shape == (4, n_res - 1)
        assert a.max() == pytest.approx(1.0)
        assert (a[2:].max() > 0) == (z >= 3)


def test_build_resume_and_load(tmp_path):
    pytest.importorskip("ms2pip")
    from denovo_training.data.ms2pip_library import predict

    out = tmp_path / "lib"
    build_library(out, PEPTIDES[:3], charges=(2, 3), chunk=4,
                  progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["n"] for s in manifest["shards"]] == [4, 2]
    # Lose the last shard; a resume rebuilds only it, from the plan.
    manifest["shards"] = manifest["shards"][:1]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "shard_00001.npz").unlink()
    build_library(out, [], chunk=99, progress=False)
    lib = Library(out)
    assert len(lib) == 6 and lib.complete
    assert lib.peptides() == PEPTIDES[:3]
    want = predict(PEPTIDES[:3], [3, 3, 3])
    for pep, w in zip(PEPTIDES[:3], want, strict=True):
        np.testing.assert_allclose(lib.get(pep, 3), w, atol=2e-3)
    assert lib.get(PEPTIDES[3], 2) is None


def test_missing_library_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest"):
        Library(tmp_path)


class _FakeLibrary:
    def __init__(self, entries):
        self.entries = entries

    def get(self, peptide, charge):
        return self.entries.get((peptide, charge))


def test_library_intensity_maps_ions_to_entries():
    pep = PEPTIDES[0]
    entry = np.arange(4 * 7, dtype=np.float32).reshape(4, 7) / 27
    model = LibraryIntensity(_FakeLibrary({(pep, 3): entry}), live=False)
    charges = np.array([3, 2])
    ions = ion_table([pep, pep], charges)
    cfg = SimulationConfig()
    rng = np.random.default_rng(0)
    # Without peptides on the table: the heuristic model.
    assert model.predict(ions, rng, cfg).shape == ions.mz.shape
    ions.peptides, ions.precursor_charge = [pep, pep], charges
    out = model.predict(ions, rng, cfg)
    for k in np.nonzero((ions.spectrum == 0) & (ions.loss == 0)
                        & (ions.series > 0))[0]:
        is_y = ions.series[k] == 2
        index = 8 - ions.cleavage[k] if is_y else ions.cleavage[k]
        row = int(is_y) + 2 * int(ions.charge[k] == 2)
        assert out[k] == pytest.approx(entry[row, index - 1])
    # The miss (charge 2) falls back to heuristic values scaled to max 1.
    assert out[ions.spectrum == 1].max() == pytest.approx(1.0)
    assert model.hits == 1 and model.misses == 1
