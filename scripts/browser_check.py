"""Open every page of the built website in headless Chromium, as a reader would, and report.

    python scripts/browser_check.py SCREENSHOT_DIR [--site _build/html] [--widths 1280,390]

For each page and width it reports: console errors (including files that fail to load), printed
output lines cut off by their box, code cells that scroll sideways, controls that are squeezed
or pushed out of their widget, and for each widget whether moving its first slider, dropdown or
row of toggle buttons changes the picture it shows (whether it responds without a kernel).
Screenshots of every page and widget go to SCREENSHOT_DIR. The exit status is 1 when a page has
a console error, a cut-off output line, a widget control squeezed or out of its box, or a widget
that is not drawn; else 0 (widgets that do not respond are reported, not counted).

The pages load MathJax, require.js and the widget manager from CDNs. This script serves the site
on 127.0.0.1 and serves those files from a local npm cache instead (installed on first use into
~/.cache/autoregressive-browser, or --cache), by rewriting the CDN addresses in the HTML as it is
served; the site on disk is not changed. Anything else a page asks of the outside world fails
and is reported.

Not part of `make test` (the CI has no browser). It needs, outside the book's environment:
Chromium and its driver (Debian: `apt-get install chromium chromium-driver`), node's npm, and
selenium (`python3 -m venv /tmp/bcvenv && /tmp/bcvenv/bin/pip install selenium`; run the script
with that interpreter). A whole run, after `make book`:

    /tmp/bcvenv/bin/python scripts/browser_check.py /tmp/browser-shots

takes about two minutes for ten pages at two widths.
"""

from __future__ import annotations

import argparse
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "autoregressive-browser"

# The CDN hosts the pages use, and how a path on each maps to a folder of the npm cache.
# jsDelivr and unpkg serve npm packages as /<package>@<version>/<file>; cdnjs serves require.js.
CDN_HOSTS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com")
CDN_URL = re.compile(r"https://(" + "|".join(re.escape(h) for h in CDN_HOSTS) + r")/")
NPM_PATH = re.compile(r"^(@[^/@]+/[^/@]+|[^/@]+)@([^/]+)/(.*)$")
REQUIREJS_PATH = re.compile(r"^ajax/libs/require\.js/([^/]+)/require(\.min)?\.js$")

# The npm packages to install into the cache. Their versions are read from the pages.
PACKAGES = {"mathjax": "3", "requirejs": "2.3.4", "@jupyter-widgets/html-manager": "1.0.6"}


# --- the local npm cache ----------------------------------------------------------------------


def versions_in_site(site: Path) -> dict[str, str]:
    """The versions of MathJax, require.js and the widget manager that the pages ask for."""
    wanted = dict(PACKAGES)
    patterns = {
        "mathjax": r"cdn\.jsdelivr\.net/npm/mathjax@([^/\"']+)/",
        "requirejs": r"ajax/libs/require\.js/([^/\"']+)/",
        "@jupyter-widgets/html-manager": r"@jupyter-widgets/html-manager@([^/\"']+)/",
    }
    for page in site.rglob("*.html"):
        text = page.read_text(errors="replace")
        for package, pattern in patterns.items():
            if match := re.search(pattern, text):
                wanted[package] = match.group(1)
    return wanted


def ensure_npm_cache(cache: Path, wanted: dict[str, str]) -> Path:
    """Install the wanted packages into cache/node_modules unless they are there already."""
    modules = cache / "node_modules"
    missing = []
    for package, version in wanted.items():
        manifest = modules / package / "package.json"
        if not manifest.is_file():
            missing.append(f"{package}@{version}")
            continue
        installed = json.loads(manifest.read_text())["version"]
        if not (installed == version or installed.startswith(version + ".")):
            missing.append(f"{package}@{version}")
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm is needed to fetch " + ", ".join(missing) + " into " + str(cache))
        cache.mkdir(parents=True, exist_ok=True)
        if not (cache / "package.json").is_file():
            (cache / "package.json").write_text(
                '{"name": "browser-check-assets", "private": true}\n')
        print("installing into", cache, ":", " ".join(missing), flush=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache),
                        *missing], check=True)
    return modules


def cdn_file(modules: Path, host: str, path: str) -> Path | None:
    """The local file that stands for https://<host>/<path>, or None."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if host == "cdnjs.cloudflare.com":
        if REQUIREJS_PATH.match(path):
            return modules / "requirejs" / "require.js"
        return None
    if host == "cdn.jsdelivr.net":
        if not path.startswith("npm/"):
            return None
        path = path[len("npm/"):]
    match = NPM_PATH.match(path)
    if match is None:
        return None
    package, _version, rest = match.groups()
    candidate = (modules / package / rest).resolve()
    if modules.resolve() not in candidate.parents or not candidate.is_file():
        return None
    return candidate


# --- the web server ----------------------------------------------------------------------------


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site; rewrites CDN addresses in HTML to /__cdn__/<host>/ on this server."""

    modules: Path
    unserved: list[str]

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def do_GET(self):  # noqa: N802 (the base class's name)
        if self.path.startswith("/__cdn__/"):
            host, _, rest = self.path[len("/__cdn__/"):].partition("/")
            local = cdn_file(self.modules, host, rest)
            if local is None:
                self.unserved.append(f"https://{host}/{rest}")
                self.send_error(404, "not in the local CDN cache")
                return
            self.send_bytes(local.read_bytes(), self.guess_type(str(local)))
            return
        target = Path(self.translate_path(self.path))
        if target.is_dir():
            target = target / "index.html"
        if target.suffix == ".html" and target.is_file():
            html = target.read_text(errors="replace")
            html = CDN_URL.sub(lambda m: f"/__cdn__/{m.group(1)}/", html)
            # The local copies differ byte for byte from the CDN's (require.min.js vs require.js).
            html = re.sub(r'\s+integrity="[^"]*"', "", html)
            self.send_bytes(html.encode(), "text/html; charset=utf-8")
            return
        super().do_GET()

    def send_bytes(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def serve(site: Path, modules: Path) -> tuple[http.server.ThreadingHTTPServer, list[str]]:
    unserved: list[str] = []
    handler = type("SiteHandler", (Handler,), {"modules": modules, "unserved": unserved})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, unserved


# --- what is measured in the page -------------------------------------------------------------

# Returns, for the page as laid out now: output lines wider than their box, code cells that
# scroll sideways, and widget controls that are squeezed or stick out of their widget.
MEASURE_JS = r"""
const result = {cut_lines: [], scrolling_code: [], code_cells: 0, squeezed: []};
const charWidth = (pre) => {
  const probe = document.createElement('span');
  probe.textContent = 'x'.repeat(100);
  probe.style.visibility = 'hidden';
  pre.appendChild(probe);
  const w = probe.getBoundingClientRect().width / 100;
  probe.remove();
  return w;
};
const visible = (el) => el.offsetParent !== null;
for (const pre of document.querySelectorAll('.cell_output pre, .output pre')) {
  if (!visible(pre) || pre.scrollWidth <= pre.clientWidth + 1) continue;
  const style = getComputedStyle(pre);
  const inner = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const fits = Math.floor(inner / charWidth(pre));
  for (const line of pre.textContent.split('\n')) {
    if (line.length > fits) result.cut_lines.push({fits: fits, line: line});
  }
}
for (const pre of document.querySelectorAll('.cell_input pre, div.highlight pre')) {
  if (pre.closest('.cell_output')) continue;
  result.code_cells += 1;
  if (visible(pre) && pre.scrollWidth > pre.clientWidth + 1) {
    const longest = Math.max(...pre.textContent.split('\n').map((l) => l.length));
    result.scrolling_code.push({longest: longest, first: pre.textContent.split('\n')[0]});
  }
}
document.querySelectorAll('.widget-subarea').forEach((area, index) => {
  const box = area.getBoundingClientRect();
  for (const el of area.querySelectorAll('.widget-slider, .widget-dropdown, .widget-text, '
       + '.widget-inline-hbox, .widget-button, .jupyter-button, input, select')) {
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    const name = (el.querySelector('.widget-label') || {}).textContent || el.className;
    if (r.right > box.right + 1 || r.left < box.left - 1) {
      result.squeezed.push({widget: index, control: name.trim(), problem: 'outside its widget',
                            left: Math.round(r.left), right: Math.round(r.right),
                            widget_right: Math.round(box.right)});
    }
    const track = el.querySelector('.slider-container, .noUi-target');
    if (track && visible(track) && track.getBoundingClientRect().width < 60) {
      result.squeezed.push({widget: index, control: name.trim(),
                            problem: 'slider ' + Math.round(track.getBoundingClientRect().width)
                                     + ' px wide'});
    }
  }
});
return result;
"""

# A fingerprint of the pictures a widget shows now: the visible images and canvases in it.
PICTURE_JS = r"""
const area = document.querySelectorAll('.widget-subarea')[arguments[0]];
const parts = [];
for (const img of area.querySelectorAll('img')) {
  if (img.offsetParent === null) continue;
  parts.push('img:' + img.src.length + ':' + img.src.slice(-200));
}
for (const c of area.querySelectorAll('canvas')) {
  if (c.offsetParent === null) continue;
  try { parts.push('canvas:' + c.toDataURL().slice(-200)); } catch (e) { parts.push('canvas'); }
}
for (const h of area.querySelectorAll('.widget-html-content')) {  // frames of text
  if (h.offsetParent === null) continue;
  parts.push('text:' + h.textContent.slice(0, 300));
}
return parts;
"""

CONTROLS_JS = r"""
const area = document.querySelectorAll('.widget-subarea')[arguments[0]];
const found = [];
const selector = '.widget-slider .noUi-handle, .widget-slider input[type=range], '
                 + '.widget-dropdown select, .widget-toggle-buttons';
for (const el of area.querySelectorAll(selector)) {
  if (el.offsetParent === null) continue;
  const box = el.closest('.widget-slider, .widget-dropdown, .widget-toggle-buttons');
  const label = box.querySelector('.widget-label');
  const kind = el.tagName === 'SELECT' ? 'dropdown'
             : el.classList.contains('widget-toggle-buttons') ? 'buttons' : 'slider';
  found.push([kind, el, label ? label.textContent.trim() : '']);
}
return found;
"""

WIDGETS_READY_JS = r"""
const done = arguments[arguments.length - 1];
const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
const start = Date.now();
(function wait() {
  const shown = document.querySelectorAll('.widget-subarea').length;
  const mathjax = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  if ((shown >= views.length && document.readyState === 'complete') || Date.now() - start > 20000) {
    const finish = () => done({views: views.length, shown: shown});
    if (mathjax) { mathjax.then(finish, finish); } else { finish(); }
  } else {
    setTimeout(wait, 200);
  }
})();
"""


@dataclass
class PageReport:
    page: str
    width: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cut_lines: list[dict] = field(default_factory=list)
    scrolling_code: list[dict] = field(default_factory=list)
    code_cells: int = 0
    squeezed: list[dict] = field(default_factory=list)
    widgets: list[dict] = field(default_factory=list)
    widget_views: int = 0


# --- the browser -------------------------------------------------------------------------------


def start_browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        sys.exit("selenium is missing: python3 -m venv /tmp/bcvenv && /tmp/bcvenv/bin/pip install "
                 "selenium, then run this script with /tmp/bcvenv/bin/python")
    names = ("chromium", "chromium-browser", "google-chrome")
    binary = next(filter(None, map(shutil.which, names)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        sys.exit("Chromium and its driver are needed "
                 "(Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(40)
    return driver


def set_width(driver, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600,
    })


def console_messages(driver, base: str) -> tuple[list[str], list[str]]:
    """The console's errors (including files that failed to load) and warnings since last asked."""
    errors, warnings = [], []
    for entry in driver.get_log("browser"):
        message = entry["message"].replace(base, "/")
        if entry["level"] == "SEVERE":
            errors.append(message)
        elif entry["level"] == "WARNING":
            warnings.append(message)
    return errors, warnings


def full_screenshot(driver, path: Path, max_height: int = 30000) -> None:
    import base64

    size = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    width, height = size[0], min(size[1], max_height)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    })
    path.write_bytes(base64.b64decode(shot["data"]))


def move(driver, kind: str, element) -> None:
    """One step right on a slider (its keyboard handle), the next choice of a dropdown or of a
    row of toggle buttons."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    if kind == "slider":
        driver.execute_script("arguments[0].focus()", element)
        element.send_keys(Keys.ARROW_RIGHT)
    elif kind == "buttons":
        buttons = [b for b in element.find_elements("css selector", "button") if b.is_displayed()]
        active = [k for k, b in enumerate(buttons)
                  if "mod-active" in (b.get_attribute("class") or "")]
        buttons[(active[0] + 1 if active else 1) % len(buttons)].click()
    else:
        select = Select(element)
        current = select.options.index(select.first_selected_option)
        select.select_by_index((current + 1) % len(select.options))


def try_widget(driver, index: int, shots: Path, stem: str, max_controls: int = 6) -> dict:
    """Move each slider, dropdown and row of toggle buttons of a widget in turn: does the picture
    it shows change?

    The widget responds (on a page without a kernel) when moving its first control changes
    its picture; the other controls are reported beside it."""
    area = driver.execute_script(
        "return document.querySelectorAll('.widget-subarea')[arguments[0]]", index)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", area)
    time.sleep(0.3)
    try:
        area.screenshot(str(shots / f"{stem}-widget{index + 1}.png"))
    except Exception:  # an element wider than the page cannot always be captured
        pass
    result = {"widget": index + 1, "control": None, "responds": None, "controls": []}
    controls = driver.execute_script(CONTROLS_JS, index)[:max_controls]
    if not controls:
        bar = driver.execute_script(
            "return !!document.querySelectorAll('.widget-subarea')[arguments[0]]"
            ".querySelector('.widget-progress, .progress')", index)
        result["note"] = "a progress bar" if bar else "no slider or dropdown"
        return result
    if not driver.execute_script(PICTURE_JS, index):
        result["note"] = "shows no picture or text"
    for kind, element, label in controls:
        before = driver.execute_script(PICTURE_JS, index)
        try:
            move(driver, kind, element)
        except Exception as error:  # report, do not stop the run
            result["controls"].append({"control": f"{kind} '{label}'", "responds": None,
                                       "note": f"could not move it: {type(error).__name__}"})
            continue
        time.sleep(1.0)
        after = driver.execute_script(PICTURE_JS, index)
        result["controls"].append({"control": f"{kind} '{label}'",
                                   "responds": bool(before) and after != before})
    first = result["controls"][0]
    result["control"], result["responds"] = first["control"], first["responds"]
    if first.get("note"):
        result["note"] = first["note"]
    try:
        area.screenshot(str(shots / f"{stem}-widget{index + 1}-moved.png"))
    except Exception:
        pass
    return result


def check_page(driver, base: str, page: str, width: int, shots: Path) -> PageReport:
    report = PageReport(page=page, width=width)
    set_width(driver, width)
    driver.get(base + page)
    state = driver.execute_async_script(WIDGETS_READY_JS)
    report.widget_views = state["views"]
    time.sleep(0.5)
    measured = driver.execute_script(MEASURE_JS)
    report.cut_lines = measured["cut_lines"]
    report.scrolling_code = measured["scrolling_code"]
    report.code_cells = measured["code_cells"]
    report.squeezed = measured["squeezed"]
    stem = page.replace("/", "_").removesuffix(".html") + f"-{width}"
    full_screenshot(driver, shots / f"{stem}.png")
    for index in range(state["shown"]):
        report.widgets.append(try_widget(driver, index, shots, stem))
    report.errors, report.warnings = console_messages(driver, base)
    return report


# --- the report ----------------------------------------------------------------------------------


VERDICT = {True: "responds", False: "does not respond", None: "not tried"}


def print_report(reports: list[PageReport], unserved: list[str]) -> int:
    problems = 0
    for r in reports:
        print(f"\n== {r.page} at {r.width} px")
        print(f"   console errors: {len(r.errors)}")
        for message in dict.fromkeys(r.errors):
            print("     -", message[:300])
        if r.warnings:
            print(f"   console warnings (not counted): {len(r.warnings)}")
            for message in dict.fromkeys(r.warnings):
                print("     -", message[:160])
        print(f"   printed lines cut off: {len(r.cut_lines)}")
        for cut in r.cut_lines:
            line = cut["line"]
            print(f"     - shows {cut['fits']} of {len(line)} characters; hidden: "
                  f"{line[cut['fits']:][:60]!r}")
        print(f"   code cells that scroll sideways: {len(r.scrolling_code)} of {r.code_cells}")
        if r.squeezed:
            print(f"   widget controls squeezed or out of their box: {len(r.squeezed)}")
            for s in r.squeezed:
                print(f"     - widget {s['widget'] + 1}, {s['control']!r}: {s['problem']}")
        if r.widgets or r.widget_views:
            print(f"   widgets: {len(r.widgets)} drawn of {r.widget_views}")
            for w in r.widgets:
                note = f" ({w['note']})" if w.get("note") else ""
                others = "".join(f"; {c['control']}: {VERDICT[c['responds']]}"
                                 for c in w.get("controls", [])[1:])
                print(f"     - widget {w['widget']}: {w['control'] or '-'}: "
                      f"{VERDICT[w['responds']]}{note}{others}")
        problems += len(r.errors) + len(r.cut_lines) + len(r.squeezed)
        problems += len(r.widgets) < r.widget_views
    if unserved:
        print("\nCDN files asked for and not in the local cache:")
        for url in sorted(set(unserved)):
            print("  ", url)
    print("\nSummary")
    for width in sorted({r.width for r in reports}, reverse=True):
        rows = [r for r in reports if r.width == width]
        tried = [w for r in rows for w in r.widgets if w["responds"] is not None]
        print(f"  {width} px: {sum(len(r.errors) for r in rows)} console errors, "
              f"{sum(len(r.cut_lines) for r in rows)} cut-off output lines, "
              f"{sum(len(r.scrolling_code) for r in rows)} of "
              f"{sum(r.code_cells for r in rows)} code cells scroll sideways, "
              f"{sum(len(r.squeezed) for r in rows)} squeezed controls, widgets responding "
              f"{sum(1 for w in tried if w['responds'])} of {len(tried)} tried")
        chapters = sorted({r.page for r in rows if r.widgets or r.widget_views})
        for page in chapters:
            (row,) = [r for r in rows if r.page == page]
            ws = row.widgets
            alive = sum(1 for w in ws if w["responds"])
            dead = sum(1 for w in ws if w["responds"] is False)
            bars = sum(1 for w in ws if w.get("note") == "a progress bar")
            untried = len(ws) - alive - dead - bars
            print(f"     {page}: {row.widget_views} widgets, {len(ws)} drawn: {alive} respond, "
                  f"{dead} do not, {untried} without a slider or dropdown to try, "
                  f"{bars} progress bars")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("screenshots", type=Path, help="folder for the screenshots (created)")
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html",
                        help="the built website (default: _build/html)")
    parser.add_argument("--widths", default="1280,390", help="page widths in px, comma-separated")
    parser.add_argument("--pages", default="", help="only these pages (comma-separated, e.g. "
                        "chapters/02_fvsbn.html)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"npm cache of the CDN files (default: {DEFAULT_CACHE})")
    parser.add_argument("--json", type=Path, help="also write the full report here as JSON")
    args = parser.parse_args()

    site = args.site.resolve()
    if not (site / "intro.html").is_file():
        sys.exit(f"{site} holds no built website (build it with `make book`, or pass --site)")
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        sys.exit(f"--widths expects comma-separated integers, got {args.widths!r}")
    if args.pages:
        pages = [p.strip() for p in args.pages.split(",") if p.strip()]
        for page in pages:
            if not (site / page).is_file():
                sys.exit(f"no page {page} in {site}")
    else:
        pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                       if not p.relative_to(site).parts[0].startswith("_")
                       and p.name != "index.html")  # index.html only redirects
    args.screenshots.mkdir(parents=True, exist_ok=True)

    modules = ensure_npm_cache(args.cache, versions_in_site(site))
    server, unserved = serve(site, modules)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"serving {site} at {base}; screenshots into {args.screenshots}", flush=True)
    driver = start_browser()
    reports = []
    try:
        for width in widths:
            for page in pages:
                print(f"  {page} at {width} px", flush=True)
                reports.append(check_page(driver, base, page, width, args.screenshots))
    finally:
        driver.quit()
        server.shutdown()
    status = print_report(reports, unserved)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in reports], indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
