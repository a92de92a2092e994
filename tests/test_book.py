"""The website builds from the stored outputs, with warnings as errors."""

from __future__ import annotations

import re
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


def _head(page: Path) -> str:
    return page.read_text().split("</head>", 1)[0]


def test_each_script_and_stylesheet_once(site):
    # Sphinx 7.4 once wrote sphinx-thebe's inline `const THEBE_JS_URL` twice (a SyntaxError on
    # every page); _ext/book_pages.py keeps one of each. The book's own files are there, once.
    pages = [site / "intro.html", site / "references.html",
             *sorted((site / "chapters").glob("*.html"))]
    for page in pages:
        head = _head(page)
        sources = re.findall(r'<script\b[^>]*\bsrc="([^"?]+)', head)
        sheets = re.findall(r'<link\b[^>]*\bhref="([^"?]+\.css)', head)
        inline = [body for body in re.findall(r"<script\b[^>]*>(.*?)</script>", head, re.S)
                  if body.strip()]
        for kind, items in (("script", sources), ("stylesheet", sheets), ("inline script", inline)):
            repeated = sorted({item[:80] for item in items if items.count(item) > 1})
            assert not repeated, f"{page.name}: {kind} included more than once: {repeated}"
        assert head.count("THEBE_JS_URL =") <= 1, page.name
        assert sum(s.endswith("_static/book.js") for s in sources) == 1, f"{page.name}: book.js"
        assert sum(s.endswith("_static/book.css") for s in sheets) == 1, f"{page.name}: book.css"


def test_widget_manager_is_told_where_its_files_are(site):
    # Before require.js loads, so that its fonts come from its own folder, not chapters/.
    head = _head(site / "chapters" / "02_fvsbn.html")
    assert "require.min.js" in head and "embed-amd.js" in head
    paths = head.find("__jupyter_widgets_assets_path__")
    assert 0 <= paths < head.find("require.min.js")
    folder = "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@"
    assert f'"@jupyter-widgets/controls": "{folder}' in head


def test_bibliography_is_labelled_author_year(site):
    html = (site / "references.html").read_text()
    labels = re.findall(r'<span class="label"><span class="fn-bracket">\[</span>(.*?)<span', html)
    assert len(labels) >= 5
    for label in labels:
        assert re.fullmatch(r"[^\d,]+(?: and [^\d,]+| et al\.)?, \d{4}[a-z]?", label), label
    assert "Larochelle and Murray, 2011" in labels
    assert labels == sorted(labels, key=str.lower)


def test_browser_check_maps_every_cdn_address_the_pages_use(site, tmp_path):
    # scripts/browser_check.py serves the pages' CDN files from a local npm cache; each CDN
    # address in the built pages must map to a file there (here a stand-in cache of empty files).
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import browser_check
    finally:
        sys.path.pop(0)
    modules = tmp_path / "node_modules"
    for relative in ("mathjax/es5/tex-mml-chtml.js", "requirejs/require.js",
                     "@jupyter-widgets/html-manager/dist/embed-amd.js"):
        (modules / relative).parent.mkdir(parents=True, exist_ok=True)
        (modules / relative).write_text("")
    html = (site / "chapters" / "02_fvsbn.html").read_text()
    addresses = set(re.findall(r'src="https://([^/"]+)/([^"]+)"', html))
    assert len(addresses) >= 3, addresses
    for host, path in addresses:
        assert browser_check.cdn_file(modules, host, path) is not None, f"https://{host}/{path}"
    outside = "npm/mathjax@3/../../../etc/passwd"
    assert browser_check.cdn_file(modules, "cdn.jsdelivr.net", outside) is None
