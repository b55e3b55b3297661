"""Draft peptides for training the draft-conditioned TRM.

At inference the TRM refines the evidence search's best peptides, so in
training it must see drafts with the search's mistakes: the search's own
peptides on the batch's spectra, the truth corrupted the way the search
goes wrong (adjacent swaps, residue pairs rewritten as an isobaric or
near-isobaric pair or single residue such as GG/N, AG/Q/K, a wrong
terminus, a wrong N-terminal modification, one residue changed, added or
dropped), and blank drafts (the model alone). The target is always the
true peptide.

For the verifier head (``model.verifier``) the drafts must look like the
candidates the engine asks it about, and include right ones: the mix
then also holds the truth itself, the search's candidates in the
engine's order (by rank score) drawn from deeper in its list, and hard
negatives, one same-mass edit away from the truth (a 1-2 residue span
rewritten as another of the same mass such as GG/N, AG/GA/Q, or two
adjacent residues swapped; never only I/L, which is the same peptide).

For the listwise loss (``data.draft_group_top`` K > 0) a real spectrum
becomes a *group* instead: the spectrum once per draft, the drafts being
the truth and the search's K best wrong peptides in the engine's order,
the decision the engine asks the verifier to make. The search is
deterministic, so each spectrum's engine-ordered list is computed once
and cached.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from denovo.core.constants import PROTON
from denovo.core.vocab import DEFAULT_VOCABULARY, Vocabulary, merge_il

from .batch import RawBatch, repeat_rows

__all__ = ["DraftMix", "Corruptor", "hard_negative", "DraftMaker",
           "DraftGroups", "group_peptides"]

ISOBARIC_TOL = 0.05  # Da: pairs the search confuses at 0.02 Da fragments


@dataclass(frozen=True)
class DraftMix:
    """Shares of blank, search, truth and hard-negative drafts; the rest
    are corrupted truths.

    A search draft is one of the search's ``search_top`` best peptides:
    with the default 3, by DP score and mostly the best
    (:attr:`DraftMaker.PICK`); with more, in the engine's order (rank
    score) with weight 1 / (rank + 1).
    """

    blank: float = 0.2
    search: float = 0.45
    truth: float = 0.0
    hard: float = 0.0
    search_top: int = 3

    def __post_init__(self):
        shares = (self.blank, self.search, self.truth, self.hard)
        if min(shares) < 0 or sum(shares) > 1 + 1e-9:
            raise ValueError("draft shares must be >= 0 and sum to <= 1")
        if self.search_top < 1:
            raise ValueError("search_top must be >= 1")


class Corruptor:
    """The truth with the search's kinds of error (1-3 of them)."""

    def __init__(self, vocabulary: Vocabulary = DEFAULT_VOCABULARY):
        tokens = [t for t in vocabulary.tokens if not t.special]
        self.residues = [t.name for t in tokens
                         if not t.n_terminal and t.name != "I"]
        self.nterm = [t.name for t in tokens if t.n_terminal]
        self.mass = {t.name: t.mass for t in tokens}
        # Combinations of one or two residues, binned by mass, so a span
        # can be rewritten as another of (nearly) the same mass.
        combos = [(a,) for a in self.residues] + [
            (a, b) for a in self.residues for b in self.residues]
        self._bins = defaultdict(list)
        for c in combos:
            self._bins[int(self._sum(c) / ISOBARIC_TOL)].append(c)

    def _sum(self, span) -> float:
        return sum(self.mass[t] for t in span)

    def isobaric(self, span: tuple) -> list:
        """Other 1-2 residue spans within ``ISOBARIC_TOL`` of ``span``."""
        m = self._sum(span)
        key = int(m / ISOBARIC_TOL)
        span = merge_il(span)
        return [c for k in (key - 1, key, key + 1) for c in self._bins[k]
                if abs(self._sum(c) - m) <= ISOBARIC_TOL and c != span]

    def __call__(self, peptide: tuple, rng: np.random.Generator,
                 max_length: int) -> tuple:
        pep = list(peptide)
        for _ in range(1 + int(rng.random() < 0.35) + int(rng.random()
                                                          < 0.15)):
            pep = self._one(pep, rng)
        return tuple(pep[:max_length])

    def _one(self, pep: list, rng: np.random.Generator) -> list:
        start = 1 if pep and pep[0] in self.nterm else 0
        n = len(pep) - start
        if n < 3:
            return pep
        kind = rng.choice(6, p=[0.2, 0.35, 0.15, 0.1, 0.1, 0.1])
        if kind == 0:  # adjacent swap
            i = start + int(rng.integers(0, n - 1))
            pep[i], pep[i + 1] = pep[i + 1], pep[i]
        elif kind in (1, 2):  # (near-)isobaric rewrite, inside / terminus
            width = int(rng.integers(1, 3))
            if kind == 2:
                i = start if rng.random() < 0.5 else len(pep) - width
            else:
                i = start + int(rng.integers(0, n - width + 1))
            options = self.isobaric(tuple(pep[i:i + width]))
            if options:
                pep[i:i + width] = options[int(rng.integers(len(options)))]
        elif kind == 3:  # one residue changed
            i = start + int(rng.integers(0, n))
            pep[i] = self.residues[int(rng.integers(len(self.residues)))]
        elif kind == 4:  # N-terminal modification added, changed, dropped
            if start:
                del pep[0]
            if not start or rng.random() < 0.5:
                pep.insert(0, self.nterm[int(rng.integers(len(self.nterm)))])
        else:  # one residue dropped or added
            i = start + int(rng.integers(0, n))
            if rng.random() < 0.5:
                del pep[i]
            else:
                pep.insert(i, self.residues[
                    int(rng.integers(len(self.residues)))])
        return pep


def hard_negative(corrupt: Corruptor, peptide: tuple,
                  rng: np.random.Generator, tries: int = 8) -> tuple | None:
    """The truth with one same-mass edit: a 1-2 residue span rewritten
    as another span of (nearly) its mass, or two adjacent residues
    swapped; None when every try gives the same peptide (I = L)."""
    pep = list(peptide)
    start = 1 if pep and pep[0] in corrupt.nterm else 0
    n = len(pep) - start
    if n < 2:
        return None
    from denovo.core.peptide import peptide_key

    key = peptide_key(peptide)
    for _ in range(tries):
        out = list(pep)
        if rng.random() < 0.6:
            width = int(rng.integers(1, 3)) if n >= 2 else 1
            i = start + int(rng.integers(0, n - width + 1))
            options = corrupt.isobaric(tuple(out[i:i + width]))
            if not options:
                continue
            out[i:i + width] = options[int(rng.integers(len(options)))]
        else:
            i = start + int(rng.integers(0, n - 1))
            out[i], out[i + 1] = out[i + 1], out[i]
        if peptide_key(tuple(out)) != key:
            return tuple(out)
    return None


def group_peptides(truth: tuple, ranked: list, k: int) -> list:
    """The drafts of one listwise group: the truth first, then the first
    ``k`` peptides of ``ranked`` (engine order) that are not the truth
    (I = L, :func:`denovo.core.peptide.peptide_key`), each peptide once.

    The truth is always in, whether the search found it or not, so the
    group has exactly one right draft and up to ``k`` wrong ones.
    """
    from denovo.core.peptide import peptide_key

    seen = {peptide_key(truth)}
    out = [tuple(truth)]
    for peptide in ranked:
        if len(out) > k:
            break
        key = peptide_key(peptide)
        if key not in seen:
            seen.add(key)
            out.append(tuple(peptide))
    return out


@dataclass
class DraftGroups:
    """Real spectra as listwise groups: ``raw`` holds each spectrum once
    per draft of its group, ``drafts`` (R, L) the drafts' token ids and
    ``group`` (R,) the group index (0..G-1) of each row; the first row of
    a group is its truth."""

    raw: RawBatch
    drafts: np.ndarray
    group: np.ndarray


class DraftMaker:
    """Draft token ids (B, L) for a batch of annotated spectra.

    ``search`` is an :class:`denovo.core.search.EvidenceSearch`; a search
    draft is one of its best peptides (:class:`DraftMix`), a corrupted
    truth where it finds none, as is a hard negative that cannot be made.
    """

    PICK = np.array([0.6, 0.25, 0.15])

    def __init__(self, mix: DraftMix, search, *, max_length: int,
                 vocabulary: Vocabulary = DEFAULT_VOCABULARY,
                 group_top: int = 0):
        self.mix = mix
        self.search = search
        self.max_length = max_length
        self.vocabulary = vocabulary
        self.corrupt = Corruptor(vocabulary)
        self.group_top = group_top  # K of the listwise groups (0: none)
        self._ranked: dict = {}  # spectrum key -> engine-ordered peptides

    def ranked(self, key, mz, intensity, precursor_mz: float,
               charge: int) -> list:
        """The search's peptides for one spectrum in the engine's order
        (rank score), those that fit the slots; cached under ``key``
        because the search is deterministic and the slowest part."""
        if key in self._ranked:
            return self._ranked[key]
        peaks = self.search.peaks(mz, intensity, precursor_mz)
        found = self.search.search(peaks, (precursor_mz - PROTON) * charge,
                                   charge)
        found = [f.tokens for f in found
                 if len(f.tokens) <= self.max_length]
        if len(found) > 1:
            scores = self.search.rank_scores(peaks, found, charge)
            found = [found[k] for k in np.argsort(-scores, kind="stable")]
        self._ranked[key] = found
        return found

    def groups(self, raw: RawBatch, keys) -> DraftGroups:
        """Listwise groups of the spectra of ``raw`` (``keys`` name them
        for the cache, e.g. their dataset indices): per spectrum the
        truth and the search's ``group_top`` best wrong peptides."""
        if self.group_top < 1:
            raise ValueError("groups need group_top >= 1")
        drafts, group, counts = [], [], []
        for i, (truth, key) in enumerate(zip(raw.peptides, keys,
                                             strict=True)):
            mz, inten = raw.spectrum(i)
            ranked = self.ranked(key, mz, inten, float(raw.precursor_mz[i]),
                                 int(raw.charge[i]))
            peptides = group_peptides(
                tuple(truth)[:self.max_length], ranked, self.group_top)
            drafts += [self.encode(p) for p in peptides]
            group += [i] * len(peptides)
            counts.append(len(peptides))
        return DraftGroups(repeat_rows(raw, counts),
                           np.stack(drafts).astype(np.int64),
                           np.asarray(group, np.int64))

    def search_draft(self, mz, intensity, precursor_mz: float,
                     charge: int, rng: np.random.Generator):
        """One of the search's best peptides for a spectrum, or None."""
        peaks = self.search.peaks(mz, intensity, precursor_mz)
        found = self.search.search(peaks, (precursor_mz - PROTON) * charge,
                                   charge)
        top = self.mix.search_top
        if top > 3 and len(found) > 1:  # the engine's order
            scores = self.search.rank_scores(
                peaks, [f.tokens for f in found], charge)
            found = [found[k] for k in np.argsort(-scores, kind="stable")]
        found = [f for f in found[:top] if len(f.tokens) <= self.max_length]
        if not found:
            return None
        if top > 3:
            p = 1.0 / np.arange(1, len(found) + 1)
        else:
            p = self.PICK[:len(found)]
        p = p / p.sum()
        return found[int(rng.choice(len(found), p=p))].tokens

    def __call__(self, raw, rng: np.random.Generator) -> np.ndarray:
        rows = []
        for i, truth in enumerate(raw.peptides):
            u = rng.random()
            mix = self.mix
            draft: tuple | None = ()
            if u >= mix.blank:
                draft = None
                u -= mix.blank
                if u < mix.search:
                    mz, inten = raw.spectrum(i)
                    draft = self.search_draft(
                        mz, inten, float(raw.precursor_mz[i]),
                        int(raw.charge[i]), rng)
                elif u < mix.search + mix.truth:
                    draft = tuple(truth)[:self.max_length]
                elif u < mix.search + mix.truth + mix.hard:
                    draft = hard_negative(self.corrupt, tuple(truth), rng)
                    if draft is not None:
                        draft = draft[:self.max_length]
                if draft is None:
                    draft = self.corrupt(tuple(truth), rng, self.max_length)
            rows.append(self.encode(draft))
        return np.stack(rows)

    def encode(self, draft: tuple) -> np.ndarray:
        """Token ids over the ``max_length + 1`` slots; () is blank."""
        if not draft:
            return np.zeros(self.max_length + 1, np.int64)
        return np.asarray(self.vocabulary.encode(draft, self.max_length),
                          np.int64)
