"""First run after an install: what the warm-up compiles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "denovo" / "data" / "example.mgf"

# Runs denovo sequence, then prints each denovo kernel's signatures.
_CODE = r"""
import json, sys
from denovo.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    assert not e.code, e.code
from denovo.engine.firstrun import _dispatchers
out = {}
for d in _dispatchers():
    if d.signatures:
        name = d.py_func.__module__ + "." + d.py_func.__name__
        out[name] = [str(s) for s in d.signatures]
print("SIGNATURES " + json.dumps(out))
"""


def _compiled(tmp_path, mode):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", _CODE, "sequence", str(EXAMPLE), "--csv",
         str(tmp_path / "out.csv"), "--mode", mode, "--no-progress"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    line = [x for x in proc.stdout.splitlines()
            if x.startswith("SIGNATURES ")][-1]
    return json.loads(line[len("SIGNATURES "):]), proc.stderr


@pytest.mark.slow
def test_default_run_compiles_each_kernel_for_one_signature(tmp_path):
    sigs, stderr = _compiled(tmp_path, "hybrid")
    assert "first run: compiled" in stderr
    assert "denovo.core.beam.beam_search_row" in sigs
    assert "denovo.core.paths.search_kernel" in sigs
    several = {k: v for k, v in sigs.items() if len(v) > 1}
    assert not several, several
    # a second run loads them all: no note, the same signatures
    again, stderr = _compiled(tmp_path, "hybrid")
    assert "first run: compiled" not in stderr
    assert "denovo.core.beam.beam_search_row" in again
    assert {k: sigs[k] for k in again} == again


@pytest.mark.slow
def test_model_mode_does_not_compile_the_search(tmp_path):
    sigs, _ = _compiled(tmp_path, "model")
    assert "denovo.core.beam.beam_search_row" in sigs
    search = ("denovo.core.paths.", "denovo.core.peak_once.",
              "denovo.core.evidence.candidate_prefixes",
              "denovo.core.evidence.rank_weights")
    assert not any(k.startswith(search) for k in sigs), sigs
    several = {k: v for k, v in sigs.items() if len(v) > 1}
    assert not several, several
