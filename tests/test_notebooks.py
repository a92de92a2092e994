"""The chapters as files: in the table of contents, set up for Colab, stored from a full run.

Running them is nbval's job (``pytest --nbval-lax chapters``); these tests check what the
website and Colab readers get: the stored notebooks themselves.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import re
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from autoregressive import plot

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

spec = importlib.util.spec_from_file_location("sync_setup_cells", ROOT / "scripts" / "sync_setup_cells.py")
sync_setup_cells = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync_setup_cells)
spec = importlib.util.spec_from_file_location("clean_notebooks", ROOT / "scripts" / "clean_notebooks.py")
clean_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(clean_notebooks)


def toc_files() -> list[str]:
    return re.findall(r"^\s*- file:\s*(\S+)\s*$", (ROOT / "_toc.yml").read_text(), re.MULTILINE)


def code_cells(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_chapter_is_in_the_table_of_contents_in_order():
    in_toc = [f for f in toc_files() if f.startswith("chapters/")]
    on_disk = [f"chapters/{p.stem}" for p in CHAPTERS]
    assert in_toc == on_disk  # same files, and the numbered names read in the book's order
    for name in on_disk:
        assert re.fullmatch(r"chapters/\d\d_[a-z0-9_]+", name), f"{name}: want NN_title"


def test_the_repository_address_is_the_one_in_config_and_readme():
    url, _ = sync_setup_cells.repository()
    assert url.startswith("https://")
    assert url in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_colab_setup(path):
    first = code_cells(path)[0]
    assert first.source == sync_setup_cells.setup_source(), (
        f"{path.name}: run `python scripts/sync_setup_cells.py chapters/*.ipynb`"
    )
    assert first.metadata.get("tags") == sync_setup_cells.SETUP_TAGS


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_one_clean_full_run(path):
    cells = code_cells(path)
    counts = [c.execution_count for c in cells]
    assert None not in counts, f"{path.name}: some cells were never run; run `make outputs`"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: cells ran out of order"
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: stored error outputs"
    text = "".join(o.get("text", "") for c in cells for o in c.outputs if o.output_type == "stream")
    assert "quick mode: False" in text, f"{path.name}: outputs are not from a full run"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_widgets_have_stored_state_for_the_website(path):
    notebook = nbformat.read(path, as_version=4)
    views = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    if views:
        state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        models = state.get("state", {})
        for view in views:
            model_id = view["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
            assert model_id in models, f"{path.name}: widget {model_id} has no stored state"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_widget_state_is_left_from_an_earlier_run(path):
    # a model that no output shows or links to (an old progress bar, say) shows stale numbers
    notebook = nbformat.read(path, as_version=4)
    state = notebook.metadata.get("widgets", {}).get(clean_notebooks.STATE, {}).get("state", {})
    stale = set(state) - clean_notebooks.shown_widgets(notebook)
    assert not stale, (f"{path.name}: {len(stale)} widget models that no output shows; "
                       "run scripts/clean_notebooks.py on it")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_cells_use_tags_not_markers_and_define_no_models(path):
    for cell in code_cells(path):
        assert "NBVAL" not in cell.source.upper().replace("NBVAL-", ""), "use nbval cell tags"
        assert not re.search(r"class \w+\(.*(nn\.Module|DensityModel)", cell.source), (
            f"{path.name}: models belong in lib/autoregressive"
        )
    tags = {t for c in code_cells(path) for t in c.metadata.get("tags", [])}
    assert tags <= {"hide-output", "hide-input", "nbval-ignore-output", "nbval-check-output", "nbval-skip"}


# -- what readers see: the page is about 76 characters wide; viewers without widgets ---------

PAGE = 76  # characters of a code or printed line that the website shows without cutting


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_and_printed_lines_fit_the_page(path):
    long = []
    for k, cell in enumerate(code_cells(path)):
        long += [f"code cell {k + 1}: {line!r}" for line in cell.source.splitlines()
                 if len(line) > PAGE]
        for out in cell.outputs:
            text = out.get("text", "") if out.output_type == "stream" else ""
            long += [f"output of cell {k + 1}: {line!r}" for line in text.splitlines()
                     if len(line) > PAGE]
    assert not long, f"{path.name}: lines over {PAGE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_widgets_and_progress_read_well_without_a_widget_viewer(path):
    """GitHub and Colab's preview show text/plain and image/png: a widget must leave a picture
    and a caption there (not a repr), and a stored progress display its final state."""
    for k, cell in enumerate(code_cells(path)):
        for out in cell.outputs:
            data = out.get("data", {})
            plain = "".join(data.get("text/plain", ""))
            if "application/vnd.jupyter.widget-view+json" in data:
                assert "image/png" in data, f"{path.name}, cell {k + 1}: widget without a picture"
                assert not plain.lstrip().startswith(("VBox(", "HBox(", "Box(")), (
                    f"{path.name}, cell {k + 1}: widget leaves only its repr")
            assert "0%|" not in plain, f"{path.name}, cell {k + 1}: a progress bar stored at 0%"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_stand_alone(path):
    notebook = nbformat.read(path, as_version=4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert not re.search(r"\blecture", prose, re.IGNORECASE), (
        f"{path.name}: the prose points to a lecture the reader does not have")


def test_the_book_results_table_matches_the_chapters_that_print_it():
    from autoregressive.results import MNIST_TEST_NLL, NAMES_TEST_NATS

    for name, result in {**MNIST_TEST_NLL, **NAMES_TEST_NATS}.items():
        notebook = nbformat.read(ROOT / "chapters" / result.chapter, as_version=4)
        lines = [line for cell in notebook.cells if cell.cell_type == "code"
                 for output in cell.get("outputs", []) if output.get("name") == "stdout"
                 for line in output.get("text", "").splitlines()]
        numbers = [result.figure]
        if result.parameters is not None:
            numbers.append(f"{result.parameters:,}")
        if result.seconds is not None:
            numbers.append(f"{result.seconds:.1f}")
        assert any(result.printed in line and all(
            re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d,])", line) for number in numbers)
            for line in lines), (
            f"{result.chapter} prints no line with {result.printed!r} and {numbers} "
            f"(results[{name!r}] is out of date)")


PLACEHOLDER = re.compile(r"\b(?:TODO|TBD|FIXME|XXX+|[A-Z][A-Z0-9]*_[A-Z0-9_]+)\b|\?\?|\{\w+\}")


def placeholders(markdown: str) -> list[str]:
    """A line that is only a NAME_IN_CAPITALS, and, within the text (outside code, formulas
    and link targets), TODO, TBD, FIXME, XXX, a NAME_IN_CAPITALS, '??' or an unfilled
    {field}."""
    whole = re.findall(r"^[A-Z][A-Z_]{5,}$", markdown, re.MULTILINE)
    return whole + PLACEHOLDER.findall(re.sub(r"\]\([^)]*\)", "]", _prose(markdown)))


def test_placeholders_are_found_inline_and_not_in_code_or_formulas():
    assert placeholders("NADE scores XXX nats, and {nats} more ?? TODO: NADE_NLL") == \
        ["XXX", "{nats}", "??", "TODO", "NADE_NLL"]
    assert placeholders("RESULT_HERE\n") == ["RESULT_HERE", "RESULT_HERE"]  # both rules
    assert placeholders("`MNIST_ROWS`, $x_{i}$, {cite:p}`larochelle2011`, [a](#A_B),\n$\\mathrm{relu}\n(x)$") == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_placeholder_is_left_in_the_prose(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            left = placeholders(cell.source)
            assert not left, f"{path.name}: placeholder {left[0]!r} in the prose"


def _prose(text: str) -> str:
    """Markdown without its formulas and code, each replaced by a space."""
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]*\$", " ", text)  # inline formulas may run over lines
    return re.sub(r"(\{[\w:-]+\})?`[^`]*`", " ", text)  # a role's name with its code


NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*\.\d+(?:e[+-]?\d+)?)(?![\d])")


def _numbers(text: str) -> set[float]:
    found = set()
    for m in re.finditer(r"(?<![\w.])(\d[\d_,]*(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w])", text):
        try:
            found.add(float(m.group(1).replace(",", "").replace("_", "")))
        except ValueError:
            pass
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_decimal_in_the_prose_is_one_that_a_cell_prints(path):
    """A figure with a decimal point in the text (outside formulas and the exercises) is printed
    by the chapter's stored outputs, set in its code, or a published figure in ``results``: a
    re-run that changes a figure makes the prose that quotes it fail here."""
    from autoregressive import results

    published = {p.value for table in (results.PUBLISHED_MNIST, results.PUBLISHED_NAMES)
                 for p in table.values()}
    cells = nbformat.read(path, as_version=4).cells
    printed, code = [], []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        code.append(cell.source)
        for out in cell.get("outputs", []):
            printed.append(out.get("text", ""))
            for kind, value in out.get("data", {}).items():
                if kind.startswith("text/"):
                    printed.append(value if isinstance(value, str) else "".join(value))
    blob = "\n".join(printed + code)
    in_code = _numbers("\n".join(code))
    stale = []
    for k, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        text = _prose(cell.source.split("## Exercises")[0])
        for m in NUMBER.finditer(text):
            figure = m.group(1)
            value = float(figure.replace(",", ""))
            if figure in blob or value in in_code or value in published:
                continue
            stale.append(f"cell {k + 1}: {figure} in '...{text[max(0, m.start() - 50):m.end()]}'")
    assert not stale, f"{path.name}: figures in the prose that no cell prints:\n" + "\n".join(stale)


# Chapters whose stored figures were drawn before the library's phone layout (plot.WIDTH,
# plot.FONT): their next full run redraws them, and then they leave this set (the test is
# strict, so a chapter that passes while still listed fails until it is removed).
BEFORE_THE_PHONE_LAYOUT = {"04_discrete_nade", "05_rnade", "06_autoencoders"}


def stored_pictures(notebook):
    """(where, PNG bytes) for every picture a reader of the chapter sees: the cells' outputs
    (a widget's static picture included) and the frames stored in the widgets' state."""
    for k, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                yield f"output of cell {k + 1}", base64.b64decode(png)
    widgets = notebook.metadata.get("widgets", {})
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for key, model in state.items():
        for buffer in model.get("buffers", []):
            if model.get("model_name") == "ImageModel" and buffer.get("path") == ["value"]:
                yield f"widget frame {key[:8]}", base64.b64decode(buffer["data"])


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="figures drawn before the "
                                            "phone layout; the chapter's next full run"))
    if p.stem in BEFORE_THE_PHONE_LAYOUT else p for p in CHAPTERS], ids=lambda p: p.stem)
def test_figure_text_reads_on_a_phone(path):
    """Every picture says how small its smallest text is (``smallest_font_pt``, from
    plot.figure_png) or that it holds none (``drawn_text``: pixels only), and that text shows
    at plot.PHONE_TEXT_PX or more in a phone's column."""
    small = []
    for where, png in stored_pictures(nbformat.read(path, as_version=4)):
        info = Image.open(io.BytesIO(png)).info
        if info.get("drawn_text") == "none":
            continue
        px = plot.phone_text_px(png)
        if px is None or px < plot.PHONE_TEXT_PX:
            small.append(f"{where}: " + ("no smallest_font_pt" if px is None else
                                         f"text at {px:.1f} px"))
    assert not small, f"{path.name}: figure text a phone cannot read:\n" + "\n".join(small)
