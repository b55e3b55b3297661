"""The package as a user installs it (issue 14): a name of its own, a
licence, a plain install that reads every supported format, CI that
proves it."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [ln for ln in block.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def test_distribution_name_metadata_and_licence():
    # "denovo" on PyPI is an unrelated package; command and import stay.
    assert PROJECT["name"] == "denovo-trm"
    assert PROJECT["scripts"]["denovo"] == "denovo.cli:main"
    assert PROJECT["authors"] == [{"name": "denovo developers"}]
    assert PROJECT["urls"]["Homepage"]
    assert any("Apache Software License" in c
               for c in PROJECT["classifiers"])
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    assert any(d.startswith("torch>=2.2")
               for d in PROJECT["optional-dependencies"]["train"])


def test_every_package_folder_is_installed_under_its_own_name():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    folders = tool["setuptools"]["package-dir"]
    assert folders == {"denovo_training": "training",
                       "denovo_export": "export"}
    found = set()
    for init in ROOT.glob("*/**/__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if parts[0] not in ("denovo", "training", "export"):
            continue
        top = {v: k for k, v in folders.items()}.get(parts[0], parts[0])
        found.add(".".join((top, *parts[1:])))
    assert set(tool["setuptools"]["packages"]) == found


def test_plain_install_has_what_mzml_reading_needs():
    # pyteomics parses PSI formats (mzML, mzXML) only with psims.
    deps = [re.split(r"[<>=\[; ]", d)[0].lower()
            for d in PROJECT["dependencies"]]
    assert "psims" in deps and "pyteomics" in deps
    assert not {"torch", "psm_utils", "pandas"} & set(deps)


def test_ci_runs_the_plain_install_check():
    commands = _readme_commands()
    assert "pytest" in commands[1]
    assert any(".ci/plain_install.py" in c for c in commands)
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_readme_gives_honest_torch_instructions():
    text = (ROOT / "README.md").read_text()
    assert "download.pytorch.org/whl/cpu" in text
    assert "pip install torch`" in text


@pytest.mark.slow
def test_plain_install_sequences_every_format():
    """Builds a fresh venv and installs the package (minutes)."""
    proc = subprocess.run([sys.executable,
                           str(ROOT / ".ci" / "plain_install.py")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for fmt in ("mgf", "mzML", "mzXML", "msp"):
        assert f"plain install sequenced {fmt}" in proc.stdout
