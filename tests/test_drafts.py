"""Training drafts (denovo_training.data.drafts) and the draft TRM."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from denovo.core.vocab import DEFAULT_VOCABULARY, END, PAD  # noqa: E402
from denovo_training.config import ModelConfig  # noqa: E402
from denovo_training.data.batch import RawBatch  # noqa: E402
from denovo_training.data.drafts import Corruptor, DraftMaker, DraftMix  # noqa: E402
from denovo_training.model import TRM  # noqa: E402

PEPTIDE = tuple("PEPTIDEGGNKR")
MASS = {t.name: t.mass for t in DEFAULT_VOCABULARY.tokens}


def test_isobaric_rewrites_keep_the_mass():
    corrupt = Corruptor()
    options = corrupt.isobaric(("G", "G"))
    assert ("N",) in options
    assert ("G", "G") not in options
    assert {("Q",), ("K",)} <= set(corrupt.isobaric(("A", "G")))
    for span in options:
        assert abs(sum(MASS[t] for t in span) - 2 * MASS["G"]) <= 0.05


def test_corruptions_differ_from_the_truth_and_fit():
    corrupt = Corruptor()
    rng = np.random.default_rng(0)
    drafts = [corrupt(PEPTIDE, rng, 12) for _ in range(300)]
    assert all(len(d) <= 12 for d in drafts)
    changed = sum(d != PEPTIDE for d in drafts)
    assert changed > 240  # a few rewrites map back onto the truth
    # every kind of error shows up: same-mass rewrites, length changes,
    # N-terminal modifications
    total = sum(MASS[t] for t in PEPTIDE)
    same_mass = sum(abs(sum(MASS[t] for t in d) - total) < 0.05
                    and d != PEPTIDE for d in drafts)
    assert same_mass > 60
    assert any(len(d) != len(PEPTIDE) for d in drafts)
    assert any(DEFAULT_VOCABULARY.tokens[DEFAULT_VOCABULARY.index(d[0])]
               .n_terminal for d in drafts)


class _FakeSearch:
    """Stands in for EvidenceSearch: one known peptide per spectrum."""

    def __init__(self, found):
        self.found = found

    def peaks(self, mz, intensity, precursor_mz):
        return mz, intensity

    def search(self, peaks, mass, charge):
        return self.found

    def rank_scores(self, peaks, peptides, charge):
        # the engine order is the reverse of the DP order here
        return np.arange(len(peptides), dtype=float)


def _raw(n, peptide=PEPTIDE):
    mz = np.tile(np.array([100.0, 200.0]), n)
    return RawBatch(mz, np.ones_like(mz, np.float32),
                    np.arange(0, 2 * n + 1, 2, dtype=np.int64),
                    np.full(n, 500.0), np.full(n, 2, np.int32),
                    [peptide] * n)


def test_draft_maker_mixes_blank_search_and_corrupted_drafts():
    from denovo.core.search import Found

    found = [Found(tuple("PEPTLDEGGNKR"), 1.0, 0)]
    maker = DraftMaker(DraftMix(blank=0.3, search=0.4), _FakeSearch(found),
                       max_length=20)
    drafts = maker(_raw(400), np.random.default_rng(1))
    assert drafts.shape == (400, 21)
    blank = (drafts == PAD).all(axis=1)
    search = (drafts == maker.encode(found[0].tokens)).all(axis=1)
    assert 0.22 < blank.mean() < 0.38
    assert 0.32 < search.mean() < 0.48
    # the rest are corrupted truths: one END each, after the residues
    rest = drafts[~blank & ~search]
    assert ((rest == END).sum(axis=1) == 1).all()
    # no search result: corrupted truth instead, never an empty draft
    drafts = DraftMaker(DraftMix(blank=0.0, search=1.0), _FakeSearch([]),
                        max_length=20)(_raw(50), np.random.default_rng(2))
    assert not (drafts == PAD).all(axis=1).any()


def test_blank_draft_is_the_default_and_drafts_change_the_answer():
    cfg = ModelConfig(max_length=12, dim=32, heads=2, encoder_layers=1,
                      core_layers=1, mz_frequencies=8, steps=2, cycles=1,
                      mass_feedback=True, draft=True)
    torch.manual_seed(0)
    model = TRM(cfg).eval()
    b, p = 3, 10
    mz = torch.sort(torch.rand(b, p) * 1000 + 100).values
    args = (mz, torch.rand(b, p), torch.ones(b, p, dtype=torch.bool),
            torch.full((b,), 1200.0), torch.full((b,), 2, dtype=torch.long))
    blank = torch.zeros(b, cfg.max_length + 1, dtype=torch.long)
    one = DraftMaker(DraftMix(), None, max_length=12).encode(PEPTIDE)
    draft = torch.from_numpy(np.stack([one] * b))
    with torch.no_grad():
        out_none = model(*args)
        out_blank = model(*args, draft=blank)
        out_draft = model(*args, draft=draft)
    assert out_none.shape == (2, b, cfg.max_length + 1, cfg.vocab_size)
    torch.testing.assert_close(out_none, out_blank)
    assert (out_draft - out_blank).abs().max() > 1e-3
