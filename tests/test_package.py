"""Packaging invariants: the inference toolkit never needs torch."""

import ast
import subprocess
import sys
from pathlib import Path

import denovo

PACKAGE = Path(denovo.__file__).parent


def _module_level(tree):
    """Nodes outside function bodies: imports that run at import time."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue  # commands import torch lazily, inside functions
        yield node
        todo.extend(ast.iter_child_nodes(node))


def test_no_module_in_denovo_imports_torch_at_import_time():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _module_level(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("torch", "denovo_training",
                                   "denovo_export"), (
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                    f"imports {name}")


def test_import_and_help_without_torch():
    # torch made unimportable: importing every denovo module and running
    # the CLI's help must still work.
    code = (
        "import sys, pkgutil, importlib; sys.modules['torch'] = None\n"
        "import denovo\n"
        "for m in pkgutil.walk_packages(denovo.__path__, 'denovo.'):\n"
        "    importlib.import_module(m.name)\n"
        "from click.testing import CliRunner\n"
        "from denovo.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "for verb in ('sequence', 'evaluate', 'train', 'export',\n"
        "             'simulate', 'plot'):\n"
        "    assert verb in r.output\n"
        "for args in (['train', '--help'], ['export', '--help'],\n"
        "             ['train', '--max-steps', '1']):\n"
        "    r = CliRunner().invoke(main, args)\n"
        "    assert 'needs PyTorch' in r.output, (args, r.output)\n"
        "    assert r.exception is None or isinstance(r.exception,\n"
        "                                             SystemExit), args\n"
        "r = CliRunner().invoke(main, ['--version'])\n"
        "assert denovo.__version__ in r.output\n")
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
