"""Open every page of the built website in headless Chromium, as a reader would, and report.

    python scripts/browser_check.py SCREENSHOT_DIR [--site _build/html] [--widths 1280,390]

For each page and width it reports: console errors (including files that fail to load), printed
output lines cut off by their box, code cells that scroll sideways, controls that are squeezed
or pushed out of their widget, and for each widget whether moving its first slider, dropdown or
row of toggle buttons changes the picture it shows (whether it responds without a kernel). It
also measures what a reader can read on a narrow screen:

- figure text: for each picture in a cell's output (figures and widget pictures), the size on
  screen, in CSS px, of its smallest text. The figures are matplotlib PNGs; the PNG's pHYs chunk
  gives the dpi it was drawn at (100 for a figure, 80 for a widget frame), the page gives the
  width it is shown at, so a font of F points shows at F * dpi / 72 * (shown width / file
  width) px. F is the smallest font in the picture: what the PNG declares in a text chunk
  `smallest_font_pt` (matplotlib: `savefig(..., metadata={"smallest_font_pt": "10"})`), else
  assumed to be 10 pt, the smallest size that lib/ and the chapters ask for (plot.FONT - 2) and
  matplotlib's default for text whose size is not set. A picture made only of uniform blocks of
  pixels (a sample drawn at 3 screen pixels per image pixel), or one whose PNG declares
  `drawn_text: none`, holds no text and is not measured.
  Text under 9 px counts as a problem.
- printed blocks (`pre` in cell outputs) whose lines wrap (a table whose last column falls under
  its first), and blocks that scroll sideways: whether they show a cue that there is more to the
  right (a gradient or shadow edge, a mask, or a scrollbar that takes room), and whether the cue
  goes when the block is scrolled to its end.
- display formulas (MathJax's `mjx-container[display="true"]`) wider than their box: whether
  they scroll with a cue, scroll without one, or are cut off.

Screenshots of every page and widget go to SCREENSHOT_DIR. The exit status is 1 when a page has
a console error, a widget control squeezed or out of its box, a widget that is not drawn, figure
text under 9 px, a printed block whose lines wrap, a display formula wider than its box without a
cue, or a cut-off output line: at desktop width (600 px and more) any printed line longer than
its box, on a phone one that is hidden without a cue (there a long line scrolls by design, as
code does). Else 0 (widgets that do not respond are reported, not counted).

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

takes a few minutes for the fifteen pages at two widths (about eight beside two training runs).
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

PHONE = 600  # px: narrower than this, a page is laid out as on a phone
MIN_TEXT_PX = 9.0  # CSS px: figure text smaller than this on screen counts as unreadable
ASSUMED_FONT_PT = 10.0  # the smallest font of a figure whose PNG does not declare it (docstring)


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

# Where each element stands on the page, for the report: the cell it is in (counted from the
# top of the page, code cells only), the first line of that cell's code, and the heading above.
PLACE_JS = r"""
const cellsOnPage = [...document.querySelectorAll('div.cell')];
const headings = [...document.querySelectorAll('article h1, article h2, article h3')];
const place = (el) => {
  const cell = el.closest('div.cell');
  let heading = '';
  for (const h of headings) {
    if (h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) {
      heading = h.textContent.replace(/[#¶]\s*$/, '').trim();
    }
  }
  const code = cell && cell.querySelector('.cell_input pre');
  const first = code ? (code.textContent.split('\n').find((l) => l.trim()) || '') : '';
  return {cell: cell ? cellsOnPage.indexOf(cell) + 1 : 0, heading: heading.slice(0, 60),
          code: first.trim().slice(0, 60)};
};
"""

# Whether a box that scrolls sideways shows a cue that there is more to the right: a mask or a
# scroll-shadow background on it, a scrollbar that takes room, or a gradient or shadow edge drawn
# by a pseudo-element of it or of one of its two parents on the right-hand side.
CUE_JS = r"""
const gradient = (v) => !!v && v !== 'none' && /gradient|url\(/.test(v);
const rightCue = (scroller) => {
  const cs = getComputedStyle(scroller);
  if (gradient(cs.maskImage) || gradient(cs.webkitMaskImage)) return 'mask';
  if (gradient(cs.backgroundImage) && /local/.test(cs.backgroundAttachment)) return 'scroll shadow';
  const bar = scroller.offsetHeight - scroller.clientHeight - parseFloat(cs.borderTopWidth)
              - parseFloat(cs.borderBottomWidth);
  if (bar > 0) return 'scrollbar';
  let el = scroller;
  for (let depth = 0; el && depth < 3; depth++, el = el.parentElement) {
    for (const which of ['::after', '::before']) {
      const ps = getComputedStyle(el, which);
      if (ps.content === 'none' || ps.content === 'normal' || ps.display === 'none'
          || ps.visibility !== 'visible' || parseFloat(ps.opacity) < 0.05) continue;
      if (ps.position === 'absolute' || ps.position === 'fixed') {
        const left = parseFloat(ps.left), right = parseFloat(ps.right);
        if (left < right) continue;  // on the left-hand side: a cue for the other way
      }
      if (gradient(ps.backgroundImage) || ps.boxShadow !== 'none' || gradient(ps.maskImage)) {
        return 'edge (' + which + ')';
      }
    }
  }
  return null;
};
const scrolls = (el) => el.scrollWidth > el.clientWidth + 2
  && /auto|scroll/.test(getComputedStyle(el).overflowX);
"""

# Returns, for the page as laid out now: output lines wider than their box, code cells that
# scroll sideways, widget controls that are squeezed or stick out of their widget, printed
# blocks whose lines wrap or that scroll, and display formulas wider than their box.
MEASURE_JS = PLACE_JS + CUE_JS + r"""
const result = {cut_lines: [], scrolling_code: [], code_cells: 0, squeezed: [], blocks: [],
                formulas: [], formula_count: 0};
const charWidth = (pre) => {
  const probe = document.createElement('span');
  probe.textContent = 'x'.repeat(100);
  probe.style.visibility = 'hidden';
  probe.style.whiteSpace = 'pre';
  pre.appendChild(probe);
  const w = probe.getBoundingClientRect().width / 100;
  probe.remove();
  return w;
};
const visible = (el) => el.offsetParent !== null;
// The screen lines each text line of a block takes: the distinct tops of its characters' boxes.
const screenLines = (pre, lines) => {
  const nodes = [];
  const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  let offset = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    nodes.push([n, offset]);
    offset += n.data.length;
  }
  const locate = (at) => {
    for (let k = nodes.length - 1; k >= 0; k--) {
      const [node, first] = nodes[k];
      if (first <= at) return [node, Math.min(at - first, node.data.length)];
    }
    return null;
  };
  const counts = [];
  let start = 0;
  for (const line of lines) {
    const a = locate(start), b = locate(start + line.length);
    let count = 1;
    if (a && b && line.length > 1) {
      const range = document.createRange();
      range.setStart(a[0], a[1]);
      range.setEnd(b[0], b[1]);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                           .map((r) => Math.round(r.top)));
      count = Math.max(1, tops.size);
    }
    counts.push(count);
    start += line.length + 1;
  }
  return counts;
};
// Columns: at least two lines with a run of two or more spaces between words.
const aligned = (lines) => lines.filter((l) => /\S {2,}\S/.test(l)).length >= 2;
for (const pre of document.querySelectorAll('.cell_output pre, .output pre')) {
  if (!visible(pre)) continue;
  const text = pre.textContent.replace(/\n+$/, '');
  const lines = text.split('\n');
  const style = getComputedStyle(pre);
  const inner = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const fits = Math.floor(inner / charWidth(pre));
  const counts = screenLines(pre, lines);
  const wrapped = lines.filter((line, k) => counts[k] > 1);
  const scrolling = scrolls(pre);
  const cue = scrolling ? rightCue(pre) : null;
  const longest = Math.max(...lines.map((l) => l.length));
  result.blocks.push({where: place(pre), lines: lines.length, longest: longest, fits: fits,
                      table: aligned(lines), wrapped: wrapped.length,
                      first_wrapped: wrapped.length ? wrapped[0] : null,
                      scrolls: scrolling, cue: cue});
  if (scrolling || pre.scrollWidth > pre.clientWidth + 1) {
    for (const line of lines) {
      if (line.length > fits) result.cut_lines.push({fits: fits, line: line, cue: cue});
    }
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
// Display formulas: the container MathJax draws, or the box that clips it when it cannot scroll.
const texOf = (el) => {
  try {
    const items = window.MathJax.startup.document.getMathItemsWithin(el);
    if (items.length) return items[0].math.replace(/\s+/g, ' ').trim();
  } catch (e) { /* an older MathJax, or none */ }
  return (el.textContent || '').replace(/\s+/g, ' ').trim();
};
for (const math of document.querySelectorAll('mjx-container[display="true"]')) {
  if (!visible(math)) continue;
  result.formula_count += 1;
  const content = math.firstElementChild || math;
  const need = Math.max(math.scrollWidth, content.getBoundingClientRect().width);
  let box = math;
  if (!/auto|scroll/.test(getComputedStyle(math).overflowX)) {  // clipped by an ancestor?
    for (let el = math.parentElement; el && el !== document.body; el = el.parentElement) {
      if (getComputedStyle(el).overflowX !== 'visible') { box = el; break; }
    }
  }
  const room = box === math ? math.clientWidth : box.clientWidth;
  if (need <= room + 2) continue;
  const scrolling = scrolls(box);
  result.formulas.push({where: place(math), tex: texOf(math).slice(0, 90),
                        width: Math.round(need), room: Math.round(room), scrolls: scrolling,
                        cue: scrolling ? rightCue(box) : null});
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

# Scrolls every printed block and display formula that scrolls sideways to its end, and says
# for each whether a cue for "more to the right" still shows there (it should not). In page
# order, the blocks first, then the formulas, as MEASURE_JS lists those that scroll.
CUE_AT_END_JS = CUE_JS + r"""
const done = arguments[arguments.length - 1];
const boxes = [];
for (const pre of document.querySelectorAll('.cell_output pre, .output pre')) {
  if (pre.offsetParent !== null && scrolls(pre)) boxes.push(pre);
}
for (const math of document.querySelectorAll('mjx-container[display="true"]')) {
  if (math.offsetParent !== null && scrolls(math)) boxes.push(math);
}
const before = boxes.map((b) => b.scrollLeft);
boxes.forEach((b) => { b.scrollLeft = b.scrollWidth; });
setTimeout(() => {
  const stays = boxes.map((b) => !!rightCue(b) && rightCue(b) !== 'scrollbar');
  boxes.forEach((b, k) => { b.scrollLeft = before[k]; });
  setTimeout(() => done({boxes: boxes.length, cue_stays: stays.filter(Boolean).length}), 400);
}, 400);
"""

# The text size of every picture in a cell's output (figures and widget pictures), as shown.
# Reads each PNG's pHYs chunk (dpi) and text chunks (a declared smallest font), and checks
# whether the picture is made only of uniform blocks of pixels (no text).
FIGURES_JS = PLACE_JS + r"""
const [assumedPt, done] = [arguments[0], arguments[arguments.length - 1]];
const latin1 = (bytes) => String.fromCharCode(...bytes);
async function pngInfo(src) {
  const buf = new Uint8Array(await (await fetch(src)).arrayBuffer());
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((b, i) => buf[i] === b)) return {png: false, text: {}};
  const view = new DataView(buf.buffer);
  const info = {png: true, dpi: null, text: {}};
  for (let p = 8; p + 8 <= buf.length;) {
    const length = view.getUint32(p);
    const type = latin1(buf.slice(p + 4, p + 8));
    const data = buf.slice(p + 8, p + 8 + length);
    if (type === 'pHYs' && data[8] === 1) info.dpi = view.getUint32(p + 8) * 0.0254;
    if (type === 'tEXt') {
      const zero = data.indexOf(0);
      info.text[latin1(data.slice(0, zero))] = latin1(data.slice(zero + 1));
    }
    if (type === 'iTXt') {
      const zero = data.indexOf(0);
      if (data[zero + 1] === 0) {  // not compressed: keyword, flags, language, translated, text
        let q = zero + 3;
        q = data.indexOf(0, q) + 1;
        q = data.indexOf(0, q) + 1;
        info.text[latin1(data.slice(0, zero))] = new TextDecoder().decode(data.slice(q));
      }
    }
    if (type === 'IEND') break;
    p += 12 + length;
  }
  return info;
}
// The side of the uniform square blocks the picture is made of (1: not made of blocks).
function blockSize(img) {
  const w = img.naturalWidth, h = img.naturalHeight;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext('2d');
  g.drawImage(img, 0, 0);
  let d;
  try { d = g.getImageData(0, 0, w, h).data; } catch (e) { return 1; }
  for (let s = 16; s >= 2; s--) {
    if (w % s || h % s) continue;
    let uniform = true;
    outer: for (let y = 0; y < h; y += s) {
      for (let x = 0; x < w; x += s) {
        const i0 = (y * w + x) * 4;
        for (let dy = 0; dy < s; dy++) {
          for (let dx = 0; dx < s; dx++) {
            const i = ((y + dy) * w + x + dx) * 4;
            if (d[i] !== d[i0] || d[i + 1] !== d[i0 + 1] || d[i + 2] !== d[i0 + 2]) {
              uniform = false;
              break outer;
            }
          }
        }
      }
    }
    if (uniform) return s;
  }
  return 1;
}
const images = [...new Set(document.querySelectorAll(
  '.cell_output img, .output img, .widget-subarea img'))].filter((i) => i.offsetParent !== null);
(async () => {
  const out = [];
  for (const img of images) {
    if (!img.complete || !img.naturalWidth) {  // not loaded yet (a lazy image): wait up to 5 s
      img.loading = 'eager';
      await new Promise((r) => { img.addEventListener('load', r); img.addEventListener('error', r);
                                 setTimeout(r, 5000); });
    }
    const shown = img.getBoundingClientRect().width;
    const entry = {where: place(img), widget: !!img.closest('.widget-subarea'),
                   src: img.src.startsWith('blob:') ? 'widget picture' : img.src.split('/').pop(),
                   natural: img.naturalWidth, shown: Math.round(shown * 10) / 10};
    let info = {png: false, text: {}};
    try { info = await pngInfo(img.src); } catch (e) { entry.note = 'could not read: ' + e; }
    entry.png = info.png;
    entry.dpi = info.dpi ? Math.round(info.dpi * 10) / 10 : null;
    const declared = parseFloat(info.text.smallest_font_pt);
    entry.font_pt = Number.isFinite(declared) ? declared : assumedPt;
    entry.font_declared = Number.isFinite(declared);
    entry.blocks = img.naturalWidth ? blockSize(img) : 1;
    entry.no_text = info.text.drawn_text === 'none';  // the PNG says it holds pixels only
    if (entry.png && entry.blocks === 1 && img.naturalWidth && !entry.no_text) {
      const dpi = entry.dpi || 100;  // matplotlib's savefig default when the PNG does not say
      entry.text_px = Math.round(entry.font_pt * dpi / 72 * shown / img.naturalWidth * 10) / 10;
    } else {
      entry.text_px = null;  // not a PNG, or only pixels (blocks, or declared): no text
    }
    out.push(entry);
  }
  done(out);
})().catch((e) => done([{error: String(e)}]));
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
    figures: list[dict] = field(default_factory=list)  # pictures in outputs, their text size
    blocks: list[dict] = field(default_factory=list)  # printed blocks: wrapped, scrolling, cue
    formulas: list[dict] = field(default_factory=list)  # display formulas wider than their box
    formula_count: int = 0
    cue_stays: int = 0  # boxes scrolled to their end that still show a "more" cue

    @property
    def phone(self) -> bool:
        return self.width < PHONE

    @property
    def small_figures(self) -> list[dict]:
        return [f for f in self.figures if f.get("text_px") is not None
                and f["text_px"] < MIN_TEXT_PX]

    @property
    def wrapped_blocks(self) -> list[dict]:
        return [b for b in self.blocks if b["wrapped"]]

    @property
    def blocks_without_cue(self) -> list[dict]:
        return [b for b in self.blocks if b["scrolls"] and not b["cue"]]

    @property
    def formulas_without_cue(self) -> list[dict]:
        return [f for f in self.formulas if not f["cue"]]

    @property
    def failing_cut_lines(self) -> list[dict]:
        """Printed lines hidden by their box: all of them on a desktop, on a phone those whose
        box shows no cue that it scrolls."""
        return [c for c in self.cut_lines if not (self.phone and c.get("cue"))]


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
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(40)
    return driver


def set_width(driver, width: int, height: int = 900) -> None:
    """A window of this size (a phone's, with touch-style mobile layout, under 600 px), on a
    screen of the same size."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < PHONE,
        "screenWidth": width, "screenHeight": height,
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


# Stops every CSS transition and animation while a screenshot is taken (and starts them again).
STILL_JS = r"""
let style = document.getElementById('browser-check-still');
if (arguments[0] && !style) {
  style = document.createElement('style');
  style.id = 'browser-check-still';
  style.textContent = '*, *::before, *::after {transition: none !important; '
                      + 'animation: none !important; scroll-behavior: auto !important}';
  document.head.appendChild(style);
} else if (!arguments[0] && style) {
  style.remove();
}
"""


def full_screenshot(driver, path: Path, width: int, max_height: int = 30000) -> None:
    """The whole page as laid out at this width.

    Not with captureScreenshot's captureBeyondViewport: to capture beyond the window, Chromium
    resizes the page's view (a ResizeObserver sees it go to 1 x 1 px and back), the theme lays
    the page out again, and its primary sidebar slides back in with a CSS transition
    (`margin-left .25s`) while the picture is taken, so the 1280 px screenshots showed the
    page shifted left by up to the sidebar's width, some code cells blank. Instead the window is
    made as tall as the page, with transitions stopped, and what it shows is captured; then the
    window gets its height back."""
    import base64

    driver.execute_script(STILL_JS, True)
    try:
        height = min(driver.execute_script("return document.documentElement.scrollHeight"),
                     max_height)
        set_width(driver, width, height)
        time.sleep(0.5)
        height = min(driver.execute_script("return document.documentElement.scrollHeight"),
                     max_height)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png",
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        })
        path.write_bytes(base64.b64decode(shot["data"]))
    finally:
        set_width(driver, width)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.execute_script(STILL_JS, False)
        time.sleep(0.3)


def move(driver, kind: str, element, back: bool = False) -> None:
    """One step right on a slider (its keyboard handle; left with `back`), the next choice of a
    dropdown or of a row of toggle buttons."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    if kind == "slider":
        driver.execute_script("arguments[0].focus()", element)
        element.send_keys(Keys.ARROW_LEFT if back else Keys.ARROW_RIGHT)
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
        entry = {"control": f"{kind} '{label}'", "responds": bool(before) and after != before}
        if kind == "slider" and before and after == before:
            # A slider that starts at its right end (a two-value slider set to its second
            # value) does not move right: try one step left.
            try:
                move(driver, kind, element, back=True)
                time.sleep(1.0)
                if driver.execute_script(PICTURE_JS, index) != before:
                    entry.update(responds=True, note="moved left: it starts at its right end")
            except Exception:  # report what the first try found
                pass
        result["controls"].append(entry)
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
    report.blocks = measured["blocks"]
    report.formulas = measured["formulas"]
    report.formula_count = measured["formula_count"]
    report.figures = driver.execute_async_script(FIGURES_JS, ASSUMED_FONT_PT)
    report.cue_stays = driver.execute_async_script(CUE_AT_END_JS)["cue_stays"]
    stem = page.replace("/", "_").removesuffix(".html") + f"-{width}"
    full_screenshot(driver, shots / f"{stem}.png", width)
    for index in range(state["shown"]):
        report.widgets.append(try_widget(driver, index, shots, stem))
    report.errors, report.warnings = console_messages(driver, base)
    return report


# --- the report ----------------------------------------------------------------------------------


VERDICT = {True: "responds", False: "does not respond", None: "not tried"}


def where(item: dict) -> str:
    w = item["where"]
    text = f"cell {w['cell']}" if w["cell"] else "outside a cell"
    if w["heading"]:
        text += f" under {w['heading']!r}"
    if w["code"]:
        text += f" ({w['code']!r})"
    return text


def print_page(r: PageReport) -> None:
    print(f"\n== {r.page} at {r.width} px")
    print(f"   console errors: {len(r.errors)}")
    for message in dict.fromkeys(r.errors):
        print("     -", message[:300])
    if r.warnings:
        print(f"   console warnings (not counted): {len(r.warnings)}")
        for message in dict.fromkeys(r.warnings):
            print("     -", message[:160])
    cued = len(r.cut_lines) - len(r.failing_cut_lines)
    print(f"   printed lines cut off: {len(r.failing_cut_lines)}"
          + (f" (and {cued} that scroll with a cue, as on a phone they may)" if cued else ""))
    for cut in r.failing_cut_lines:
        line = cut["line"]
        print(f"     - shows {cut['fits']} of {len(line)} characters; hidden: "
              f"{line[cut['fits']:][:60]!r}")
    print(f"   code cells that scroll sideways: {len(r.scrolling_code)} of {r.code_cells}")
    measured = [f for f in r.figures if f.get("text_px") is not None]
    print(f"   figures: {len(r.figures)}, {len(measured)} with text; smallest text under "
          f"{MIN_TEXT_PX:g} px: {len(r.small_figures)}")
    for f in r.small_figures:
        kind = "widget picture" if f["widget"] else f["src"]
        font = f"{f['font_pt']:g} pt" + ("" if f["font_declared"] else " assumed")
        print(f"     - {f['text_px']:.1f} px: {where(f)}, {kind}, {f['natural']} px at "
              f"{f['dpi'] or '?'} dpi shown {f['shown']:g} px wide, {font}")
    scrolling = [b for b in r.blocks if b["scrolls"]]
    print(f"   printed blocks: {len(r.blocks)} ({sum(b['table'] for b in r.blocks)} in columns); "
          f"lines wrap in {len(r.wrapped_blocks)}; scroll sideways: {len(scrolling)}, "
          f"{len(r.blocks_without_cue)} without a cue")
    for b in r.wrapped_blocks:
        shape = "table" if b["table"] else "text"
        print(f"     - wraps ({shape}, {b['wrapped']} of {b['lines']} lines, longest "
              f"{b['longest']} of {b['fits']} characters): {where(b)}: "
              f"{b['first_wrapped'][:50]!r}")
    for b in r.blocks_without_cue:
        print(f"     - scrolls without a cue ({b['longest']} of {b['fits']} characters): "
              f"{where(b)}")
    print(f"   display formulas: {r.formula_count}, wider than their box: {len(r.formulas)}, "
          f"of which without a cue: {len(r.formulas_without_cue)}")
    for f in r.formulas:
        how = ("scrolls, cue: " + f["cue"]) if f["cue"] else (
            "scrolls without a cue" if f["scrolls"] else "cut off")
        print(f"     - {f['width']} px in {f['room']} px, {how}: {where(f)}: {f['tex'][:70]!r}")
    if r.cue_stays:
        print(f"   boxes whose cue stays when scrolled to their end (not counted): {r.cue_stays}")
    if r.squeezed:
        print(f"   widget controls squeezed or out of their box: {len(r.squeezed)}")
        for s in r.squeezed:
            print(f"     - widget {s['widget'] + 1}, {s['control']!r}: {s['problem']}")
    if r.widgets or r.widget_views:
        print(f"   widgets: {len(r.widgets)} drawn of {r.widget_views}")
        for w in r.widgets:
            note = f" ({w['note']})" if w.get("note") else ""
            others = "".join(f"; {c['control']}: {VERDICT[c['responds']]}"
                             + (f" ({c['note']})" if c.get("note") else "")
                             for c in w.get("controls", [])[1:])
            print(f"     - widget {w['widget']}: {w['control'] or '-'}: "
                  f"{VERDICT[w['responds']]}{note}{others}")


def problems_of(r: PageReport) -> int:
    return (len(r.errors) + len(r.failing_cut_lines) + len(r.squeezed)
            + (len(r.widgets) < r.widget_views) + len(r.small_figures)
            + len(r.wrapped_blocks) + len(r.formulas_without_cue))


def print_report(reports: list[PageReport], unserved: list[str]) -> int:
    for r in reports:
        print_page(r)
    if unserved:
        print("\nCDN files asked for and not in the local cache:")
        for url in sorted(set(unserved)):
            print("  ", url)
    print("\nSummary")
    for width in sorted({r.width for r in reports}, reverse=True):
        rows = [r for r in reports if r.width == width]
        tried = [w for r in rows for w in r.widgets if w["responds"] is not None]
        total = lambda attribute: sum(len(getattr(r, attribute)) for r in rows)  # noqa: E731
        figures = sum(1 for r in rows for f in r.figures if f.get("text_px") is not None)
        # The same count if every figure's smallest text were plot.FONT (12 pt), not 10 pt.
        at_font = sum(1 for r in rows for f in r.figures if f.get("text_px") is not None
                      and not f["font_declared"]
                      and 12 * (f["dpi"] or 100) / 72 * f["shown"] / f["natural"] < MIN_TEXT_PX)
        blocks = total("blocks")
        tables = sum(b["table"] for r in rows for b in r.blocks)
        wrapped_tables = sum(b["table"] for r in rows for b in r.wrapped_blocks)
        scrolling = sum(b["scrolls"] for r in rows for b in r.blocks)
        cued = total("cut_lines") - total("failing_cut_lines")
        print(f"  {width} px: {total('errors')} console errors, "
              f"{total('failing_cut_lines')} cut-off output lines"
              + (f" (+{cued} that scroll with a cue)" if cued else "") + ", "
              f"{total('scrolling_code')} of {sum(r.code_cells for r in rows)} code cells "
              f"scroll sideways, {total('squeezed')} squeezed controls, widgets responding "
              f"{sum(1 for w in tried if w['responds'])} of {len(tried)} tried")
        print(f"     figures with text under {MIN_TEXT_PX:g} px: {total('small_figures')} of "
              f"{figures} measured (if their smallest text were 12 pt: {at_font}); "
              f"printed blocks whose lines wrap: {total('wrapped_blocks')} "
              f"of {blocks} ({wrapped_tables} of {tables} in columns); blocks that scroll: "
              f"{scrolling}, {total('blocks_without_cue')} without a cue; display formulas "
              f"wider than their box: {total('formulas')} of "
              f"{sum(r.formula_count for r in rows)}, {total('formulas_without_cue')} "
              f"without a cue; cues that stay at the end: {sum(r.cue_stays for r in rows)}")
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
    return 1 if sum(problems_of(r) for r in reports) else 0


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
