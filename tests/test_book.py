"""The website builds from the stored outputs, with warnings as errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    result = subprocess.run(
        [jupyter_book, "build", "--all", "-W", "-n", "--keep-going", str(ROOT), "--path-output", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def test_every_page_is_built(site):
    assert (site / "intro.html").is_file()
    for chapter in sorted((ROOT / "chapters").glob("*.ipynb")):
        page = site / "chapters" / f"{chapter.stem}.html"
        assert page.is_file(), f"{page.name} missing"
        html = page.read_text()
        assert "data:image/png" in html or "<img" in html, f"{page.name} shows no figures"


def test_widget_state_and_citations_reach_the_pages(site):
    html = (site / "chapters" / "02_fvsbn.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in html
    assert "Larochelle" in html
    assert "Larochelle" in (site / "references.html").read_text()
