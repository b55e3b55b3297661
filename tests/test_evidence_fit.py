"""The scorer-fitting command learns from annotated spectra: on clean
simulated ladders it must weigh b/y hits up and read the peptides back."""

from __future__ import annotations

import numpy as np
import pytest
from pyteomics import mass as pmass

from denovo.core.evidence import FEATURE_NAMES, EvidenceConfig
from denovo.io.mgf_writer import MgfWriter

pytest.importorskip("sklearn")

RESIDUES = "ADEFGHKLMPRSTVWY"  # no C: its +57 is fixed in the data


def _write(path, n, rng):
    with MgfWriter(path) as writer:
        for i in range(n):
            pep = "".join(rng.choice(list(RESIDUES), rng.integers(7, 13)))
            pep += rng.choice(["K", "R"])
            charge = int(rng.choice([2, 3]))
            mz = []
            for k in range(1, len(pep)):
                if rng.random() < 0.85:
                    mz.append(pmass.fast_mass(pep[:k], ion_type="b",
                                              charge=1))
                if rng.random() < 0.9:
                    mz.append(pmass.fast_mass(pep[k:], ion_type="y",
                                              charge=1))
            mz += list(rng.uniform(100, 1500, 40))
            mz = np.array(mz)
            intensity = np.where(np.arange(mz.size) < mz.size - 40,
                                 rng.uniform(30, 100, mz.size),
                                 rng.uniform(1, 30, mz.size))
            order = np.argsort(mz)
            writer.write(mz[order], intensity[order].astype(np.float32),
                         precursor_mz=pmass.fast_mass(pep, charge=charge),
                         charge=charge, peptide=tuple(pep), title=f"sim:{i}")


def test_fit_learns_ladders_and_reads_them_back(tmp_path):
    from denovo_training.evidence_scorer import (fit, load_examples,
                                                 node_dataset, search_recall)

    rng = np.random.default_rng(4)
    train, test = tmp_path / "train.mgf", tmp_path / "test.mgf"
    _write(train, 80, rng)
    _write(test, 30, rng)
    fitted, record = fit([train], compare=False, log=lambda *a: None,
                         fragmentation=None)
    scorer = fitted.scorer
    assert len(scorer.weights) == len(FEATURE_NAMES)
    examples = load_examples([test], EvidenceConfig())
    x, y = node_dataset(examples, EvidenceConfig())
    s = scorer.score(x)
    assert s[y].mean() > s[~y].mean() + 2  # true cleavages score higher
    assert "ranker_kept" in record and record["n_spectra"] == 80
    assert scorer.provenance["command"].startswith(
        "python -m denovo_training.evidence_scorer")
    top, anywhere = search_recall(examples, fitted)
    assert top >= 0.6 and anywhere >= top


def test_ranker_fit_with_reordered_candidates(tmp_path):
    from denovo.core.search import SearchConfig
    from denovo.core.vocab import DEFAULT_VOCABULARY
    from denovo_training.evidence_scorer import (fit, fit_ranker,
                                                 load_examples, search_recall)

    rng = np.random.default_rng(5)
    train = tmp_path / "train.mgf"
    _write(train, 60, rng)
    fitted, _ = fit([train], compare=False, log=lambda *a: None,
                    fragmentation=None)
    examples = load_examples([train], EvidenceConfig())
    plain = fit_ranker(examples, fitted, DEFAULT_VOCABULARY)
    reordered = fit_ranker(examples, fitted, DEFAULT_VOCABULARY,
                           config=SearchConfig(reorder=3))
    # the other orders join the candidates: as many pairs or more, and
    # more of them wrong orders of the truth's residues
    assert reordered["n_pairs"] >= plain["n_pairs"] > 0
    assert reordered["n_reordered_pairs"] >= plain["n_reordered_pairs"]
    assert len(reordered["weights"]) == len(plain["weights"])
    _, anywhere = search_recall(examples, fitted)
    _, anywhere_reordered = search_recall(examples, fitted,
                                          config=SearchConfig(reorder=3))
    assert anywhere_reordered >= anywhere


def test_ranker_only_refit_keeps_the_scorer_and_leaves_sources_out(
        tmp_path):
    from denovo.core.settings import FittedSettings
    from denovo_training.evidence_scorer import (fit, holdout,
                                                 load_examples, main,
                                                 refit_ranker)

    rng = np.random.default_rng(6)
    train = tmp_path / "train.mgf"
    _write(train, 60, rng)
    fitted, _ = fit([train], compare=False, log=lambda *a: None,
                    fragmentation=None)
    path = tmp_path / "settings.json"
    fitted.save(path)
    refitted, fit_info = refit_ranker([train], fitted, leave_out=(),
                                      fragmentation=None,
                                      log=lambda *a: None)
    assert refitted.scorer.weights == fitted.scorer.weights
    assert refitted.rank.ranker["weights"] != fitted.rank.ranker.get(
        "weights")
    assert fit_info["n_spectra"] > 0
    assert refitted.scorer.provenance["ranker_n_spectra"] == sum(
        not holdout(ex.key) for ex in load_examples([train],
                                                   EvidenceConfig()))
    # every spectrum of a left-out source stays out of the fit
    with pytest.raises(ValueError, match="no train-side spectra left"):
        refit_ranker([train], fitted, leave_out=("sim",),
                     fragmentation=None, log=lambda *a: None)
    main(["--train", str(train), "--out", str(path), "--ranker-only",
          "--fragmentation", "all"])
    again = FittedSettings.load(path)
    assert again.scorer.weights == fitted.scorer.weights
    assert again.scorer.provenance["ranker_left_out"] == [
        "hela_bibliospec_340.mgf", "proteometools_hcd_171.mgf"]
