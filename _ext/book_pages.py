"""What the book's web pages need beyond Jupyter Book's defaults.

- Each script and stylesheet appears once per page. Sphinx 7.4 adds an inline script registered
  after the builder starts (sphinx-thebe's `THEBE_JS_URL`, sphinx-togglebutton's selector) twice:
  once with the file name None and once with "", which it does not see as the same file; the
  second `const THEBE_JS_URL` is a SyntaxError in the console of every page.
- The widget manager (ipywidgets' HTML manager, loaded from a CDN) finds its icon fonts. Its
  modules take their own address from require.js, which, unconfigured, puts them next to the
  page: every chapter then asks for chapters/@jupyter-widgets/...woff2 and gets a 404. We give
  require.js the modules' true folder (paths), and set `__jupyter_widgets_assets_path__`, which
  the manager reads, but only after it has placed its stylesheets.
- The bibliography is labelled author-year ("Germain et al., 2015"), as the text cites, instead
  of pybtex's alpha labels ("GGML15").

_static/book.js (MathJax 2's `Hub.Queue` for the widget manager) and _static/book.css (widgets
that fit a phone) are added to every page by Jupyter Book itself, as every file in _static is.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle

# --- author-year labels for the bibliography ---------------------------------------------------


def _surname(person) -> str:
    """'van den Oord', 'LeCun': the von part and the last name, as plain text."""
    parts = person.rich_prelast_names + person.rich_last_names
    return " ".join(part.render_as("text") for part in parts)


class AuthorYearLabelStyle(BaseLabelStyle):
    """'Frey, 1998', 'Larochelle and Murray, 2011', 'Germain et al., 2015' (2015a, 2015b if two
    entries would share a label), the way sphinxcontrib-bibtex's author_year style cites."""

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_surname(person) for person in persons]
        if not names:
            authors = entry.fields.get("title", entry.key)
        elif len(names) == 1:
            authors = names[0]
        elif len(names) == 2:
            authors = f"{names[0]} and {names[1]}"
        else:
            authors = f"{names[0]} et al."
        return f"{authors}, {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        labels = [self.format_label(entry) for entry in sorted_entries]
        repeated = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if repeated[label] > 1:
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label]]
                seen[label] += 1
            else:
                yield label


class AuthorYearSortingStyle(BaseSortingStyle):
    """In the order of the labels: by first author, then year ('Uria et al., 2013' before 2016)."""

    def sorting_key(self, entry):
        label = AuthorYearLabelStyle().format_label(entry)
        return (label.lower(), entry.fields.get("title", "").lower())


class AuthorYearStyle(UnsrtStyle):
    """pybtex's unsrt entries, in author-year order, with author-year labels."""

    default_label_style = AuthorYearLabelStyle
    default_sorting_style = AuthorYearSortingStyle


# --- scripts and stylesheets -------------------------------------------------------------------


def _asset_key(asset) -> tuple:
    filename = getattr(asset, "filename", asset) or ""
    attributes = getattr(asset, "attributes", {})
    return (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))


def drop_repeated_assets(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of each script and stylesheet that a page would load more than once."""
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if not assets:
            continue
        seen, kept = set(), []
        for asset in assets:
            identity = _asset_key(asset)
            if identity not in seen:
                seen.add(identity)
                kept.append(asset)
        assets[:] = kept


def tell_widgets_where_their_files_are(app, config) -> None:
    """Point the widget manager's modules at the folder they were loaded from (see above)."""
    manager = [url for url in (getattr(config, "nb_ipywidgets_js", None) or {})
               if "/@jupyter-widgets/html-manager@" in url]
    if not manager:
        return
    folder = posixpath.dirname(manager[0]) + "/"
    # The module names the manager's bundle defines, each with a file in that folder (the file
    # is never fetched: the bundle defines them all; the address only sets where assets are).
    paths = {
        "@jupyter-widgets/base": folder + "base",
        "@jupyter-widgets/controls": folder + "controls",
        "@jupyter-widgets/html-manager": folder + "index",
        "@jupyter-widgets/html-manager/dist/libembed-amd": folder + "libembed-amd",
    }
    paths = json.dumps(paths)
    body = (
        f"window.__jupyter_widgets_assets_path__ = {json.dumps(folder)};\n"
        f"var require = typeof require === 'undefined' ? {{paths: {paths}}} : require;\n"
        f"if (typeof require === 'function') require.config({{paths: {paths}}});"
    )
    # Before require.js and the widget manager (both priority 500, added per page by myst-nb).
    app.add_js_file(None, body=body, priority=450)


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    app.connect("config-inited", tell_widgets_where_their_files_are)
    app.connect("html-page-context", drop_repeated_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
