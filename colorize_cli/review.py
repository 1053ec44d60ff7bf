"""A review gallery for a run: one static, self-contained HTML page from a ``--report`` file.

    GALLERY/index.html        the page: styles, script and the records inline; no server, no CDN
    GALLERY/img/000001-a.jpg  before (the input) and after (the output), 640 px on the long side

Every path in the page is relative, so the folder can be zipped and sent. Per photo: thumbnails,
a before/after slider, the record's status, kind, flags and notes; filters for failed photos,
colour inputs and flagged results; sorting on the flags; keyboard navigation (j/k or arrows,
Enter, Escape, left/right for the slider); lazy image loading and ``content-visibility`` rows
built in chunks, so a 10,000-photo page paints at once (benchmarks/RESULTS.md). The page reads its state from the URL fragment too (``#filter=failed``,
``#sort=colorfulness``, ``#open=3&slider=20``): links can point at a view, and tests drive it.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageOps

from colorize_cli.fsutil import atomic_target

THUMB_SIDE = 640
# A result is flagged for a reviewer when the model barely coloured it, coloured it garishly, or
# asked for many colours the photo cannot show at their lightness (Hasler-Suesstrunk colourfulness
# of ordinary colour photos lies around 20-40; the bundled model's outputs mostly 10-30).
FLAG_LOW_COLORFULNESS = 6.0
FLAG_HIGH_COLORFULNESS = 60.0
FLAG_GAMUT_REDUCED = 0.15


def read_report(path: str | os.PathLike) -> list[dict]:
    """The records of a ``--report`` file (JSON lines); a damaged line is skipped."""
    records = []
    with open(path, encoding="utf-8", errors="backslashreplace") as fh:
        for line in fh:
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return records


def flag_reasons(record: dict) -> list[str]:
    """Why a record deserves a reviewer's look (empty: it does not)."""
    flags = record.get("flags") or {}
    reasons = []
    cf = flags.get("colorfulness")
    if cf is not None and cf < FLAG_LOW_COLORFULNESS:
        reasons.append("barely coloured")
    if cf is not None and cf > FLAG_HIGH_COLORFULNESS:
        reasons.append("garish")
    if (flags.get("gamut_reduced") or 0) > FLAG_GAMUT_REDUCED:
        reasons.append("many colours out of gamut")
    return reasons


def _thumbnail(source: str | os.PathLike, target: Path) -> bool:
    """A 640-px JPEG of ``source`` at ``target``; False when it cannot be read."""
    try:
        with Image.open(source) as im:
            im.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # JPEG decodes at 1/2..1/8 scale: fast
            im = ImageOps.exif_transpose(im)
            im.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
            im = im.convert("RGB")
            with atomic_target(target) as tmp:
                im.save(tmp, "JPEG", quality=82)
        return True
    except Exception:  # noqa: BLE001 - an unreadable image gets no thumbnail, never stops the page
        return False


def _entry(i: int, record: dict, img_dir: Path) -> dict:
    before, after = img_dir / f"{i:06d}-a.jpg", img_dir / f"{i:06d}-b.jpg"
    has_before = _thumbnail(record.get("input", ""), before)
    has_after = record.get("status") == "ok" and _thumbnail(record.get("output", ""), after)
    return {
        "name": record.get("input", "?"),
        "output": record.get("output"),
        "status": record.get("status", "?"),
        "kind": record.get("input_kind"),
        "error": record.get("error"),
        "notes": record.get("notes") or [],
        "flags": record.get("flags") or {},
        "flagged": flag_reasons(record),
        "before": f"img/{before.name}" if has_before else None,
        "after": f"img/{after.name}" if has_after else None,
    }


def build_gallery(records: Iterable[dict], out_dir: str | os.PathLike, *, title: str = "colorize-cli review") -> Path:
    """Write the gallery for ``records`` (report records) into ``out_dir``; returns its index.html."""
    out_dir = Path(out_dir)
    img_dir = out_dir / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    entries = [_entry(i, r, img_dir) for i, r in enumerate(records, start=1)]
    # "</" inside the inline JSON would end the script element: escape it.
    data = json.dumps(entries, ensure_ascii=False).replace("</", "<\\/")
    page = _PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)
    index = out_dir / "index.html"
    with atomic_target(index) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return index


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root { color-scheme: light dark; --bg: #fafafa; --fg: #1b1b1b; --muted: #666; --line: #ddd; --sel: #dbe8ff; }
@media (prefers-color-scheme: dark) { :root { --bg: #161616; --fg: #eee; --muted: #aaa; --line: #333; --sel: #23324d; } }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header { position: sticky; top: 0; z-index: 2; display: flex; gap: 1em; align-items: center; flex-wrap: wrap;
         padding: .6em 1em; background: var(--bg); border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1em; margin: 0 1em 0 0; }
#count { color: var(--muted); }
#rows { padding: .5em 1em; }
.row { display: grid; grid-template-columns: 168px 1fr; gap: 1em; padding: .5em; border-bottom: 1px solid var(--line);
       content-visibility: auto; contain-intrinsic-size: 120px; cursor: pointer; }
.row[hidden] { display: none; }
.row.sel { background: var(--sel); }
.row img { width: 160px; height: 110px; object-fit: contain; background: #8884; }
.name { font-weight: 600; word-break: break-all; }
.badge { display: inline-block; padding: 0 .5em; border-radius: .6em; font-size: .85em; margin-right: .4em; background: #8883; }
.badge.failed { background: #d33; color: #fff; } .badge.skipped { background: #888; color: #fff; }
.badge.flag { background: #e90; color: #000; }
.meta { color: var(--muted); }
#viewer { position: fixed; inset: 0; z-index: 3; background: rgba(0, 0, 0, .92); display: flex; flex-direction: column;
          align-items: center; justify-content: center; gap: .8em; }
#viewer[hidden] { display: none; }
#pair { position: relative; }
#pair img { display: block; width: min(92vw, 1280px); height: 78vh; object-fit: contain; }
#pair #after { position: absolute; inset: 0; }
#slider { width: min(640px, 90vw); }
#caption { color: #eee; max-width: 92vw; text-align: center; }
.help { color: var(--muted); font-size: .85em; }
</style></head>
<body>
<header>
  <h1>__TITLE__</h1>
  <label>Show <select id="filter">
    <option value="all">all photos</option><option value="failed">failed</option>
    <option value="color">colour inputs</option><option value="flagged">flagged results</option>
  </select></label>
  <label>Sort <select id="sort">
    <option value="report">report order</option><option value="colorfulness">colourfulness, lowest first</option>
    <option value="colorfulness-desc">colourfulness, highest first</option><option value="gamut">out of gamut, most first</option>
  </select></label>
  <span id="count"></span>
  <span class="help">j/k or arrows: move &middot; Enter: compare &middot; left/right: slider &middot; Esc: close</span>
</header>
<main id="rows"></main>
<div id="viewer" hidden>
  <div id="pair"><img id="before" alt="before"><img id="after" alt="after"></div>
  <input id="slider" type="range" min="0" max="100" value="50" aria-label="before / after">
  <div id="caption"></div>
</div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const entries = JSON.parse(document.getElementById("data").textContent);
const rows = document.getElementById("rows"), viewer = document.getElementById("viewer");
const slider = document.getElementById("slider"), afterImg = document.getElementById("after");
const filterSel = document.getElementById("filter"), sortSel = document.getElementById("sort");
let order = entries.map((_, i) => i), selected = -1, openIndex = -1;

function text(tag, cls, value) { const e = document.createElement(tag); if (cls) e.className = cls; e.textContent = value; return e; }
function rowFor(i) {
  const d = entries[i], row = document.createElement("div");
  row.className = "row"; row.dataset.index = i; row.dataset.status = d.status;
  const img = document.createElement("img");
  img.alt = ""; if (d.after || d.before) { img.dataset.src = d.after || d.before; nearView.observe(img); }
  const info = document.createElement("div");
  info.append(text("div", "name", d.name));
  const line = document.createElement("div");
  line.append(text("span", "badge " + d.status, d.status));
  if (d.kind) line.append(text("span", "badge", d.kind));
  for (const f of d.flagged) line.append(text("span", "badge flag", f));
  info.append(line);
  const nums = [];
  if (d.flags.colorfulness !== undefined) nums.push("colourfulness " + d.flags.colorfulness);
  if (d.flags.gamut_reduced !== undefined) nums.push("out of gamut " + (100 * d.flags.gamut_reduced).toFixed(1) + "%");
  if (nums.length) info.append(text("div", "meta", nums.join(" \\u00b7 ")));
  if (d.error) info.append(text("div", "meta", d.error));
  for (const n of d.notes) info.append(text("div", "meta", n));
  row.append(img, info);
  row.addEventListener("click", () => { select([...rows.children].indexOf(row)); openViewer(); });
  return row;
}
function visible(d) {
  const f = filterSel.value;
  return f === "all" || (f === "failed" && d.status === "failed") || (f === "color" && d.kind === "color")
      || (f === "flagged" && d.flagged.length > 0);
}
function key(d) { return d.flags || {}; }
function render() {
  const s = sortSel.value;
  order = entries.map((_, i) => i);
  const cf = i => key(entries[i]).colorfulness ?? Infinity, gam = i => key(entries[i]).gamut_reduced ?? -1;
  if (s === "colorfulness") order.sort((a, b) => cf(a) - cf(b));
  if (s === "colorfulness-desc") order.sort((a, b) => (cf(b) === Infinity ? -1 : cf(b)) - (cf(a) === Infinity ? -1 : cf(a)));
  if (s === "gamut") order.sort((a, b) => gam(b) - gam(a));
  pending = order.filter(i => visible(entries[i]));
  rows.replaceChildren();
  document.getElementById("count").textContent = pending.length + " of " + entries.length + " photos";
  selected = -1;
  appendRows(FIRST_ROWS);
  const generation = ++renderGeneration;
  const more = () => { if (generation === renderGeneration && pending.length) { appendRows(MORE_ROWS); setTimeout(more, 0); } };
  setTimeout(more, 0);
}
// Rows are appended in chunks: the first screen paints at once, a 10,000-photo page builds its
// other rows between frames (a browser lays out ~100,000 new elements for seconds), and a
// thumbnail is fetched only when its row comes near the view. A row filtered out is not built.
const FIRST_ROWS = 200, MORE_ROWS = 500;
let pending = [], renderGeneration = 0;
const nearView = new IntersectionObserver(seen => {
  for (const e of seen) if (e.isIntersecting) { e.target.src = e.target.dataset.src; nearView.unobserve(e.target); }
}, {rootMargin: "1500px 0px"});
function appendRows(n) {
  const frag = document.createDocumentFragment();
  for (const i of pending.splice(0, n)) frag.append(rowFor(i));
  rows.append(frag);
}
function visibleRows(upTo = 0) {
  if (upTo >= rows.children.length && pending.length) appendRows(pending.length);  // moving past the built rows
  return [...rows.children];
}
function select(pos) {
  const list = visibleRows(pos); if (!list.length) return;
  pos = Math.max(0, Math.min(list.length - 1, pos));
  rows.querySelectorAll(".row.sel").forEach(r => r.classList.remove("sel"));
  list[pos].classList.add("sel"); list[pos].scrollIntoView({block: "nearest"}); selected = pos;
}
function setSlider(v) { slider.value = v; afterImg.style.clipPath = "inset(0 0 0 " + v + "%)"; }
function openViewer() {
  const list = visibleRows(selected); if (selected < 0 || !list[selected]) return;
  const d = entries[+list[selected].dataset.index]; openIndex = +list[selected].dataset.index;
  document.getElementById("before").src = d.before || d.after || "";
  afterImg.src = d.after || d.before || "";
  document.getElementById("caption").textContent = d.name + " \\u2014 " + d.status + (d.kind ? ", " + d.kind : "");
  viewer.hidden = false; setSlider(slider.value);
}
function closeViewer() { viewer.hidden = true; openIndex = -1; }
slider.addEventListener("input", () => setSlider(slider.value));
filterSel.addEventListener("change", render); sortSel.addEventListener("change", render);
viewer.addEventListener("click", e => { if (e.target === viewer) closeViewer(); });
document.addEventListener("keydown", e => {
  if (e.target.tagName === "SELECT") return;
  if (!viewer.hidden) {
    if (e.key === "Escape") closeViewer();
    else if (e.key === "ArrowLeft") setSlider(Math.max(0, +slider.value - 5));
    else if (e.key === "ArrowRight") setSlider(Math.min(100, +slider.value + 5));
    else if (e.key === "j" || e.key === "ArrowDown") { select(selected + 1); openViewer(); }
    else if (e.key === "k" || e.key === "ArrowUp") { select(selected - 1); openViewer(); }
    else return;
  } else if (e.key === "j" || e.key === "ArrowDown") select(selected + 1);
  else if (e.key === "k" || e.key === "ArrowUp") select(selected - 1);
  else if (e.key === "Enter") openViewer();
  else return;
  e.preventDefault();
});
const state = new URLSearchParams(location.hash.slice(1));
if (state.has("filter")) filterSel.value = state.get("filter");
if (state.has("sort")) sortSel.value = state.get("sort");
render();
if (state.has("slider")) setSlider(+state.get("slider"));
if (state.has("open")) { select(+state.get("open")); openViewer(); }
</script>
</body></html>
"""
