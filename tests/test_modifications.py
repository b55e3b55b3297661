"""Modifications the user names (--fixed-mods, --variable-mods): the
offline UNIMOD table, spec parsing, the engine vocabulary, the model's
neutral view of it, the search, the beam, the engine and the outputs."""

from __future__ import annotations

import csv
import gzip
import json
import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_engine import make_model, peptide_logits

from denovo.cli import main
from denovo.core import unimod
from denovo.core.constants import H2O, PROTON
from denovo.core.decode import DecodeConfig, Decoder
from denovo.core.modifications import (ModelView, ModificationError, ModSet,
                                       engine_vocabulary, parse_specs)
from denovo.core.peptide import to_proforma
from denovo.core.search import (VARIABLE_MOD_LOG_PRIOR, EvidenceSearch,
                                cleavage_prefixes, token_priors)
from denovo.core.settings import load_default
from denovo.core.vocab import (DEFAULT_VOCABULARY, MODIFICATIONS, Vocabulary,
                               merge_il)
from denovo.engine.pipeline import Engine
from denovo.engine.session import ModelSession
from denovo.io import Spectrum

V = DEFAULT_VOCABULARY
TMT = ("TMT6plex@K,TMT6plex@N-term",)
TMT_PEPTIDE = ("[UNIMOD:737]-", "P", "E", "P", "T", "L", "D", "E",
               "K[UNIMOD:737]")
PHOSPHO_PEPTIDE = ("P", "E", "P", "S[UNIMOD:21]", "L", "D", "E", "K")
EXAMPLE = files("denovo") / "data" / "example.mgf"


# -- the offline UNIMOD table --------------------------------------------

@pytest.mark.parametrize("name, delta", [
    ("TMT6plex", 229.162932), ("Phospho", 79.966331),
    ("iTRAQ4plex", 144.102063), ("Carbamidomethyl", 57.021464),
    ("GlyGly", 114.042927), ("Label:13C(6)15N(2)", 8.014199),
    ("Label:13C(6)15N(4)", 10.008269), ("Gln->pyro-Glu", -17.026549),
    ("TMTpro", 304.207146)])
def test_known_monoisotopic_deltas(name, delta):
    assert unimod.by_name(name).delta == pytest.approx(delta, abs=1e-6)


def _table_entries():
    return json.loads(unimod.TABLE_PATH.read_text())["modifications"]


def test_every_delta_from_its_composition_matches_unimod_and_pyteomics():
    mass = pytest.importorskip("pyteomics.mass")
    entries = _table_entries()
    assert 25 <= len(entries) <= 60
    for entry in entries:
        mod = unimod.by_accession(entry["accession"])
        assert mod.name == entry["name"]
        assert mod.delta == pytest.approx(entry["mono_mass"], abs=2e-6), \
            mod.name
        # pyteomics writes isotopes as C[13]
        comp = {re.sub(r"^(\d+)([A-Z][a-z]?)$", r"\2[\1]", el): n
                for el, n in entry["composition"].items()}
        theirs = mass.calculate_mass(composition=comp)
        assert mod.delta == pytest.approx(theirs, abs=1e-6), mod.name


def test_table_agrees_with_the_unimod_tables_psims_ships():
    etree = pytest.importorskip("lxml.etree")
    psims = pytest.importorskip("psims")
    path = (Path(psims.__file__).parent / "controlled_vocabulary" / "vendor"
            / "unimod_tables.xml.gz")
    if not path.exists():
        pytest.skip("psims ships no unimod_tables.xml.gz")
    root = etree.parse(gzip.open(path)).getroot()
    rows = {int(r.get("record_id")): r for r in root.iter(
        "{*}modifications_row")}
    for entry in _table_entries():
        row = rows[entry["accession"]]
        assert entry["name"] == (row.get("ex_code_name")
                                 or row.get("code_name"))
        assert entry["mono_mass"] == float(row.get("mono_mass"))
        comp = {}
        for item in row.get("composition").split():
            el, _, n = item.partition("(")
            comp[el] = int(n.rstrip(")") or 1)
        assert entry["composition"] == comp, entry["name"]


def test_the_default_vocabularys_modifications_are_the_tables():
    for acc, mod in MODIFICATIONS.items():
        assert unimod.by_accession(acc) is mod


def test_unknown_names_list_close_matches():
    with pytest.raises(unimod.UnknownModification) as err:
        unimod.by_name("TMT6plx")
    message = str(err.value)
    assert "\n" not in message and "TMT6plex" in message
    with pytest.raises(unimod.UnknownModification, match="offline"):
        unimod.by_accession(99999)


# -- specs ------------------------------------------------------------------

@pytest.mark.parametrize("text, name, sites", [
    ("TMT6plex@K", "TMT6plex", ("K",)),
    ("tmt6plex@n-term", "TMT6plex", ("N-term",)),
    ("Phospho@STY", "Phospho", ("S", "T", "Y")),
    ("Phospho@S/T/Y", "Phospho", ("S", "T", "Y")),
    ("UNIMOD:737@K", "TMT6plex", ("K",)),
    ("GlyGly@K", "GG", ("K",)),
    ("Label:13C(6)15N(2)@K", "Label:13C(6)15N(2)", ("K",)),
    ("Gln->pyro-Glu@N-term", "Gln->pyro-Glu", ("N-term",)),
    ("+229.1629@K", "+229.1629", ("K",)),
    ("-17.0265@Nterm", "-17.0265", ("N-term",)),
])
def test_specs_parse(text, name, sites):
    (spec,) = parse_specs([text])
    assert spec.mod.name == name and spec.sites == sites


def test_mass_deltas_are_their_own_modification():
    (spec,) = parse_specs(["+79.96633@S"])
    assert spec.mod.unimod is None and spec.mod.delta == 79.96633
    assert spec.mod.label == "+79.96633"
    assert spec.mod.accession == "CHEMMOD:+79.96633"


def test_comma_lists_and_repeated_options_add_up():
    specs = parse_specs(["TMT6plex@K, TMT6plex@N-term", "Carbamidomethyl@C"])
    assert [s.text for s in specs] == [
        "TMT6plex@K", "TMT6plex@N-term", "Carbamidomethyl@C"]


@pytest.mark.parametrize("text, message", [
    ("Phosho@STY", "did you mean Phospho"),
    ("Phospho", "NAME@SITES"),
    ("Phospho@", "NAME@SITES"),
    ("Methyl@C-term", "C-terminal"),
    ("Acetyl@Protein N-term", "protein-terminal"),
    ("Oxidation@L", "I or L"),
    ("Phospho@SX", "not an amino acid"),
    ("Phospho@SS", "repeats"),
    ("UNIMOD:99999@K", "offline"),
])
def test_bad_specs_say_why(text, message):
    with pytest.raises(ModificationError, match=message):
        parse_specs([text])


@pytest.mark.parametrize("fixed, variable, message", [
    (["TMT6plex@K", "iTRAQ4plex@K"], [], "two fixed"),
    (TMT, ["Acetyl@N-term"], "no room"),
    (["TMT6plex@K"], ["TMT6plex@K"], "both fixed and variable"),
])
def test_specs_that_do_not_combine(fixed, variable, message):
    with pytest.raises(ModificationError, match=message):
        ModSet.parse(fixed, variable)


# -- the engine vocabulary ----------------------------------------------

def _names(vocabulary):
    return [t.name for t in vocabulary.tokens[2:]]


def test_no_mods_is_the_model_vocabulary_itself():
    assert not ModSet()
    assert ModSet().vocabulary(V) is V
    assert engine_vocabulary(V, None, with_model=True) == (V, None)
    assert "fixed" not in V.to_dict()  # model metadata stays as it was


def test_fixed_mods_replace_their_residue_and_the_n_terminal_tokens():
    vocab = ModSet.parse(TMT + ("Carbamidomethyl@C",)).vocabulary(V)
    names = _names(vocab)
    assert "K" not in names and "K[UNIMOD:737]" in names
    assert "C" not in names and names.count("C[UNIMOD:4]") == 1
    assert [n for n in names if n.endswith("-")] == ["[UNIMOD:737]-"]
    assert "M[UNIMOD:35]" in names  # other built-in mods stay
    assert vocab.fixed == {"K": "K[UNIMOD:737]", "C": "C[UNIMOD:4]",
                           "N-term": "[UNIMOD:737]-"}
    tmt = unimod.by_name("TMT6plex").delta
    assert vocab.masses[vocab.index("K[UNIMOD:737]")] == pytest.approx(
        V.masses[V.index("K")] + tmt)
    assert vocab.masses[vocab.index("[UNIMOD:737]-")] == pytest.approx(tmt)


def test_variable_mods_add_tokens_on_top_of_fixed_ones():
    vocab = ModSet.parse(["TMT6plex@K"],
                         ["Phospho@STY", "Acetyl@K", "Oxidation@M",
                          "Propionyl@N-term"]).vocabulary(V)
    names = _names(vocab)
    for name in ("S[UNIMOD:21]", "T[UNIMOD:21]", "Y[UNIMOD:21]",
                 "K[UNIMOD:737][UNIMOD:1]", "[UNIMOD:58]-", "S", "T"):
        assert name in names
    assert names.count("M[UNIMOD:35]") == 1  # already the model's
    assert "[UNIMOD:1]-" in names  # no fixed N-term: built-ins stay


def test_no_default_mods_leaves_the_residues_and_the_named_mods():
    vocab = ModSet.parse([], ["Oxidation@M"], default_mods=False) \
        .vocabulary(V)
    assert _names(vocab) == list("ACDEFGHIKLMNPQRSTVWY") + ["M[UNIMOD:35]"]


@pytest.mark.parametrize("fixed, variable", [
    (TMT + ("Carbamidomethyl@C",), ("Phospho@STY", "Acetyl@K")),
    ((), ("+79.9663@STY", "-17.0265@N-term")),
    (("Label:13C(6)15N(2)@K", "Label:13C(6)15N(4)@R"), ()),
])
def test_vocabulary_round_trip(fixed, variable):
    vocab = ModSet.parse(fixed, variable).vocabulary(V)
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.fixed == vocab.fixed
    np.testing.assert_array_equal(again.masses, vocab.masses)
    assert [t.mods for t in again.tokens] == [t.mods for t in vocab.tokens]


def test_from_dict_rejects_tokens_it_cannot_build():
    data = V.to_dict()
    data["tokens"].append("K[UNIMOD:99999]")
    data["masses"].append(300.0)
    with pytest.raises(KeyError, match="not in the vocabulary"):
        Vocabulary.from_dict(data)
    data["tokens"][-1] = "K[UNIMOD:737]"
    with pytest.raises(ValueError, match="differs"):
        Vocabulary.from_dict(data)


# -- the model's view ---------------------------------------------------

def test_the_model_sees_base_residues_and_no_unknown_n_terminal_token():
    vocab = ModSet.parse(TMT + ("Carbamidomethyl@C",), ["Phospho@S"]) \
        .vocabulary(V)
    view = ModelView(vocab, V)
    col = dict(zip(_names(vocab), view.columns[2:].tolist(), strict=True))
    assert col["K[UNIMOD:737]"] == V.index("K")
    assert col["S[UNIMOD:21]"] == V.index("S")
    assert col["C[UNIMOD:4]"] == V.index("C[UNIMOD:4]")
    assert col["[UNIMOD:737]-"] == -1
    # the beam: the model's columns with the engine's tokens
    beam = [t.name for t in view.beam.tokens]
    assert len(beam) == len(V)
    assert beam[V.index("K")] == "K[UNIMOD:737]"
    assert beam[V.index("C")].startswith("<off:")  # C is always C+57
    assert view.beam.tokens[V.index("[UNIMOD:1]-")].special
    assert view.start.name == "[UNIMOD:737]-"
    # a peptide in the model's slots: the fixed N-term token left out
    tokens = np.array([[vocab.index(t) for t in TMT_PEPTIDE]])
    got, n = view.encode(tokens, np.array([len(TMT_PEPTIDE)]))
    assert n.tolist() == [8]
    assert [V.tokens[i].name for i in got[0, :8]] == list("PEPTLDEK")
    assert view.encode_draft(TMT_PEPTIDE, 20)[:9].tolist() == [
        V.index(a) for a in "PEPTLDEK"] + [1]


# -- the search ---------------------------------------------------------

def _spectrum(vocabulary, peptide, charge=2, noise=30, seed=0):
    """b and y ions (1+) of a peptide of the engine vocabulary, noise."""
    rng = np.random.default_rng(seed)
    idx = [vocabulary.index(t) for t in peptide]
    total = float(vocabulary.masses[idx].sum())
    prefixes = cleavage_prefixes(peptide, vocabulary)
    mz = np.concatenate([prefixes + PROTON, total - prefixes + H2O + PROTON,
                         rng.uniform(100, 1500, noise)])
    intensity = np.concatenate([np.full(2 * prefixes.size, 100.0),
                                rng.uniform(1, 20, noise)])
    order = np.argsort(mz)
    mass = total + H2O
    return mz[order], intensity[order], (mass + charge * PROTON) / charge


def _best(vocabulary, mz, intensity, precursor_mz, charge=2):
    fitted = load_default()
    search = EvidenceSearch(vocabulary, fitted.scorer, fitted.rank)
    peaks = search.peaks(mz, intensity, precursor_mz)
    found = search.search(peaks, (precursor_mz - PROTON) * charge, charge)
    if not found:
        return None, []
    peptides = [f.tokens for f in found]
    scores = search.rank_scores(peaks, peptides, charge)
    return peptides[int(np.argmax(scores))], peptides


def test_search_finds_a_tmt_peptide_only_with_the_tmt_mods():
    vocab = ModSet.parse(TMT).vocabulary(V)
    spectrum = _spectrum(vocab, TMT_PEPTIDE)
    best, found = _best(vocab, *spectrum)
    assert best == TMT_PEPTIDE
    assert all(p[0] == "[UNIMOD:737]-" for p in found)  # mandatory
    best_plain, _ = _best(V, *spectrum)
    assert best_plain is None or "".join(best_plain) != "PEPTLDEK"


def test_search_finds_a_variable_phospho_peptide():
    vocab = ModSet.parse([], ["Phospho@STY"]).vocabulary(V)
    spectrum = _spectrum(vocab, PHOSPHO_PEPTIDE)
    assert _best(vocab, *spectrum)[0] == PHOSPHO_PEPTIDE
    assert _best(V, *spectrum)[0] != PHOSPHO_PEPTIDE
    # and an unmodified peptide is still read as such
    plain = tuple("PEPSLDEK")
    assert _best(vocab, *_spectrum(vocab, plain))[0] == plain


def test_priors_of_tokens_the_fit_never_saw():
    rank = load_default().rank
    prior = rank.token_log_prior
    vocab = ModSet.parse(TMT, ["Phospho@S", "Acetyl@K"]).vocabulary(V)
    got = dict(zip((t.name for t in vocab.tokens),
                   token_priors(vocab, rank) / rank.prior_weight,
                   strict=True))
    assert got["K[UNIMOD:737]"] == pytest.approx(prior["K"])
    assert got["[UNIMOD:737]-"] == 0.0
    assert got["S[UNIMOD:21]"] == pytest.approx(prior["S"]
                                                + VARIABLE_MOD_LOG_PRIOR)
    assert got["K[UNIMOD:737][UNIMOD:1]"] == pytest.approx(
        prior["K"] + VARIABLE_MOD_LOG_PRIOR)
    assert got["M[UNIMOD:35]"] == prior["M[UNIMOD:35]"]  # fitted: as is
    default = token_priors(V, rank)  # as before modifications existed
    np.testing.assert_array_equal(default, rank.prior_weight * np.array(
        [prior.get(merge_il((t.name,))[0], min(prior.values()))
         for t in V.tokens]))


# -- the beam -----------------------------------------------------------

def test_beam_with_a_fixed_n_terminal_mod_starts_at_its_mass():
    vocab = ModSet.parse(TMT).vocabulary(V)
    view = ModelView(vocab, V)
    decoder = Decoder(view.beam, DecodeConfig(beam=5, top_k=3),
                      start=view.start)
    logits = peptide_logits(tuple("PEPTLDEK"))
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    idx = [vocab.index(t) for t in TMT_PEPTIDE]
    mass = float(vocab.masses[idx].sum() + H2O)
    (best, *_) = decoder.decode(log_probs, mass)
    assert best.tokens == TMT_PEPTIDE and best.mass_match
    assert len(best.aa_scores) == len(TMT_PEPTIDE)
    # without the start mass nothing of that mass is spelled PEPTLDEK
    plain = Decoder(view.beam, DecodeConfig(beam=5, top_k=3))
    assert all(c.tokens[-8:] != TMT_PEPTIDE[-8:]
               for c in plain.decode(log_probs, mass) if c.mass_match)


# -- the engine ---------------------------------------------------------

@pytest.fixture(scope="module")
def pep_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "pep.onnx"
    return make_model(path, peptide_logits(tuple("PEPTLDEK")))


def test_engine_without_mods_keeps_the_model_vocabulary(pep_model):
    session = ModelSession(pep_model, threads=1)
    engine = Engine(session)
    assert engine.vocabulary is session.info.vocabulary
    assert engine.view is None and engine.decoder.vocabulary is \
        session.info.vocabulary
    assert Engine(session, modifications=ModSet()).view is None


def test_hybrid_engine_scores_mods_neutrally(pep_model):
    mods = ModSet.parse(TMT)
    session = ModelSession(pep_model, threads=1)
    engine = Engine(session, modifications=mods, mode="hybrid")
    mz, intensity, precursor_mz = _spectrum(engine.vocabulary, TMT_PEPTIDE)
    spectrum = Spectrum(mz, intensity.astype(np.float32), precursor_mz,
                        charge=2, index=0, source="x.mgf")
    (result,) = engine.run([spectrum])
    best = result.matches[0]
    assert best.candidate.tokens == TMT_PEPTIDE
    # the model spells PEPTLDEK with confidence: its term is high, not the
    # floor of a peptide it cannot score
    assert best.terms["model"] > -0.5
    assert len(best.candidate.aa_scores) == len(TMT_PEPTIDE)
    model_run = Engine(session, modifications=mods, mode="model")
    (result,) = model_run.run([spectrum])
    assert result.matches[0].candidate.tokens == TMT_PEPTIDE


# -- the command line and the outputs -----------------------------------

def _write_mgf(path, spectra):
    with open(path, "w") as fh:
        for k, (mz, intensity, precursor_mz) in enumerate(spectra):
            fh.write(f"BEGIN IONS\nTITLE=s{k}\nPEPMASS={precursor_mz:.6f}\n"
                     f"CHARGE=2+\nSCANS={k + 1}\n")
            fh.writelines(f"{m:.5f} {i:.2f}\n"
                          for m, i in zip(mz, intensity, strict=True))
            fh.write("END IONS\n")


@pytest.fixture
def tmt_mgf(tmp_path):
    vocab = ModSet.parse(TMT, ["Phospho@STY"]).vocabulary(V)
    peptides = [TMT_PEPTIDE, ("[UNIMOD:737]-",) + PHOSPHO_PEPTIDE[:-1]
                + ("K[UNIMOD:737]",)]
    path = tmp_path / "tmt.mgf"
    _write_mgf(path, [_spectrum(vocab, p, seed=k)
                      for k, p in enumerate(peptides)])
    return path, peptides, vocab


def test_cli_writes_tmt_peptides_and_declares_the_mods(tmp_path, tmt_mgf):
    mztab = pytest.importorskip("pyteomics.mztab")
    psm_utils_io = pytest.importorskip("psm_utils.io")
    path, peptides, vocab = tmt_mgf
    out, table, tsv = (tmp_path / "o.mztab", tmp_path / "o.csv",
                       tmp_path / "o.tsv")
    result = CliRunner().invoke(main, [
        "sequence", str(path), "--mode", "evidence", "-o", str(out),
        "--csv", str(table), "--psm-tsv", str(tsv), "--no-progress",
        "--fixed-mods", TMT[0], "--variable-mods", "Phospho@STY"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    meta = dict(line.split("\t")[1:3] for line in text.splitlines()
                if line.startswith("MTD"))
    fixed = {(meta[k], meta[f"{k}-site"], meta[f"{k}-position"])
             for k in meta if re.fullmatch(r"fixed_mod\[\d+\]", k)}
    assert fixed == {
        ("[UNIMOD, UNIMOD:737, TMT6plex, ]", "K", "Anywhere"),
        ("[UNIMOD, UNIMOD:737, TMT6plex, ]", "N-term", "Any N-term")}
    variable = {(meta[k], meta[f"{k}-site"]) for k in meta
                if re.fullmatch(r"variable_mod\[\d+\]", k)}
    assert {("[UNIMOD, UNIMOD:21, Phospho, ]", s) for s in "STY"} <= variable
    assert ("[UNIMOD, UNIMOD:737, TMT6plex, ]", "K") not in variable
    assert "[UNIMOD:1]-" not in text  # the built-in N-terms are gone
    assert any("modifications = fixed TMT6plex@K" in line
               for line in text.splitlines())
    df = mztab.MzTab(str(out)).spectrum_match_table
    proformas = list(df["opt_global_cv_MS:1003169_proforma_peptidoform_"
                        "sequence"])
    want = [to_proforma(p, vocabulary=vocab) for p in peptides]
    assert proformas == want
    assert df["modifications"].iloc[0] == "0-UNIMOD:737,8-UNIMOD:737"
    assert list(df["sequence"]) == ["PEPTLDEK", "PEPSLDEK"]
    with open(table, newline="") as fh:
        assert [r["sequence"] for r in csv.DictReader(fh)] == want
    psms = psm_utils_io.read_file(tsv, filetype="tsv")
    assert [p.peptidoform.proforma for p in psms] == [f"{w}/2"
                                                      for w in want]
    for psm, row in zip(psms, df.itertuples(), strict=True):
        mass = psm.peptidoform.theoretical_mass  # psm_utils' own masses
        assert (mass + 2 * PROTON) / 2 == pytest.approx(
            row.calc_mass_to_charge, abs=1e-5)


def test_cli_mass_delta_mods_are_chemmods(tmp_path):
    vocab = ModSet.parse([], ["+79.9663@S"]).vocabulary(V)
    peptide = ("P", "E", "P", "S[+79.9663]", "L", "D", "E", "K")
    path, out = tmp_path / "p.mgf", tmp_path / "p.mztab"
    _write_mgf(path, [_spectrum(vocab, peptide)])
    result = CliRunner().invoke(main, [
        "sequence", str(path), "--mode", "evidence", "-o", str(out),
        "--no-progress", "--variable-mods", "+79.9663@S"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    lines = text.splitlines()
    (k,) = [line.split("\t")[1] for line in lines if line.endswith(
        "\t[MS, MS:1001460, unknown modification, +79.9663]")]
    assert k.startswith("variable_mod[") and f"MTD\t{k}-site\tS" in lines
    row = [line for line in text.splitlines() if line.startswith("PSM\t")][0]
    assert "PEPS[+79.9663]LDEK" in row and "4-CHEMMOD:+79.9663" in row


def test_cli_bad_mods_are_usage_errors_with_close_matches(tmp_path):
    result = CliRunner().invoke(main, [
        "sequence", str(EXAMPLE), "--mode", "evidence", "--csv",
        str(tmp_path / "x.csv"), "--fixed-mods", "TMT6plx@K"])
    assert result.exit_code == 2
    assert "--fixed-mods" in result.output and "TMT6plex" in result.output
    assert not (tmp_path / "x.csv").exists()
    result = CliRunner().invoke(main, [
        "sequence", str(EXAMPLE), "--mode", "evidence", "--csv",
        str(tmp_path / "x.csv"), "--fixed-mods", "TMT6plex@N-term",
        "--variable-mods", "Acetyl@N-term"])
    assert result.exit_code == 2 and "no room" in result.output


def test_defaults_write_what_they_wrote_before(tmp_path):
    """No mods given: the same bytes as with an explicitly empty ModSet,
    and the mzTab header declares the model's own mods as before."""
    outs = []
    for extra in ([], ["--default-mods"]):
        out = tmp_path / f"o{len(outs)}.csv"
        result = CliRunner().invoke(main, [
            "sequence", str(EXAMPLE), "--mode", "evidence", "--csv",
            str(out), "--no-progress", *extra])
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    out = tmp_path / "o.mztab"
    CliRunner().invoke(main, ["sequence", str(EXAMPLE), "--mode",
                              "evidence", "-o", str(out), "--no-progress"])
    mtd = [line for line in out.read_text().splitlines()
           if "_mod[" in line]
    assert mtd[:3] == [
        "MTD\tfixed_mod[1]\t[MS, MS:1002453, No fixed modifications "
        "searched, ]",
        "MTD\tvariable_mod[1]\t[UNIMOD, UNIMOD:4, Carbamidomethyl, ]",
        "MTD\tvariable_mod[1]-site\tC"]
    assert not any("modifications =" in line
                   for line in out.read_text().splitlines())


def test_evaluate_reads_a_run_with_user_mods(tmp_path, tmt_mgf):
    path, peptides, vocab = tmt_mgf
    table = tmp_path / "o.csv"
    mods = ["--fixed-mods", TMT[0], "--variable-mods", "Phospho@STY"]
    run = CliRunner().invoke(main, [
        "sequence", str(path), "--mode", "evidence", "--csv", str(table),
        "--no-progress", *mods])
    assert run.exit_code == 0, run.output
    (tmp_path / "labelled").mkdir()
    truth = tmp_path / "labelled" / path.name  # the same run, with SEQ=
    labelled = iter(to_proforma(p, vocabulary=vocab) for p in peptides)
    truth.write_text("".join(
        line + (f"SEQ={next(labelled)}\n" if line.startswith("TITLE")
                else "") for line in path.read_text().splitlines(True)))
    score = CliRunner().invoke(main, ["evaluate", str(table), "-t",
                                      str(truth), "--json",
                                      str(tmp_path / "e.json"), *mods])
    assert score.exit_code == 0, score.output
    (result,) = json.loads((tmp_path / "e.json").read_text())["results"]
    assert result["mass"]["n_spectra"] == 2
    assert result["mass"]["peptide_recall"] == 1.0
    plain = CliRunner().invoke(main, ["evaluate", str(table), "-t",
                                      str(truth)])
    assert plain.exit_code != 0  # TMT tokens unknown without the mods
