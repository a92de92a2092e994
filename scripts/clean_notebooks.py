"""Remove run-to-run noise from executed notebooks: execution timestamps and kernel details.

    python scripts/clean_notebooks.py chapters/*.ipynb

Kept: outputs, execution counts, cell tags, and the widget state (the website draws the widgets
from it). Widget models that no output shows, directly or through another model, are dropped:
they are left from an earlier run (a progress bar, say) and would show its stale numbers.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python"}


STATE = "application/vnd.jupyter.widget-state+json"
VIEW = "application/vnd.jupyter.widget-view+json"


def shown_widgets(notebook) -> set[str]:
    """The ids of the widget models that the outputs show, and of every model linked to them
    either way: the models they refer to (layouts, children), and those that refer to them
    (the links that make a widget respond without a kernel)."""
    state = notebook.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
    links = {model: set(re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(value)))
             for model, value in state.items()}
    for model, refers in list(links.items()):
        for other in refers:
            links.setdefault(other, set()).add(model)
    todo = [output["data"][VIEW]["model_id"] for cell in notebook.cells
            for output in cell.get("outputs", []) if VIEW in output.get("data", {})]
    seen: set[str] = set()
    while todo:
        model = todo.pop()
        if model in seen or model not in state:
            continue
        seen.add(model)
        todo += links.get(model, ())
    return seen


def drop_unshown_widgets(notebook) -> None:
    widgets = notebook.metadata.get("widgets", {})
    if STATE not in widgets:
        return
    shown = shown_widgets(notebook)
    state = widgets[STATE].get("state", {})
    widgets[STATE]["state"] = {k: v for k, v in state.items() if k in shown}
    if not widgets[STATE]["state"]:
        del widgets[STATE]
    if not widgets:
        del notebook.metadata["widgets"]


def clean(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata["language_info"] = LANGUAGE_INFO
    notebook.metadata.pop("papermill", None)
    drop_unshown_widgets(notebook)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        clean(Path(name))
