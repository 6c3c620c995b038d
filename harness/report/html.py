"""The report as one self-contained HTML file: inline CSS, PNGs as data URIs, no scripts or URLs."""

from __future__ import annotations

import base64
from html import escape

from harness.report.charts import OTHER_COLOUR, PRECISION_COLOURS
from harness.report.document import Badge, Callout, Cards, Cell, Document, Image, Paragraph, Section, Table

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --page:#f3f5f8; --card:#fff;
  --good:#1b7a43; --good-bg:#e3f5ea; --bad:#b42318; --bad-bg:#fde8e6; --warn:#8a5300; --warn-bg:#fff1d6;
  --info:#1d4f91; --info-bg:#e4eefb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--page); color:var(--ink);
  font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  font-variant-numeric: tabular-nums; }
main { max-width:1180px; margin:0 auto; padding:32px 28px 64px; }
header.top { background:linear-gradient(135deg,#1f2933 0%,#34495e 100%); color:#fff; }
header.top .inner { max-width:1180px; margin:0 auto; padding:36px 28px 28px; }
header.top h1 { margin:0 0 6px; font-size:28px; font-weight:700; letter-spacing:-0.01em; }
header.top .subtitle { color:#cbd2d9; margin:0 0 14px; }
nav { margin-top:18px; display:flex; gap:18px; flex-wrap:wrap; font-size:14px; }
nav a { color:#e4e7eb; text-decoration:none; border-bottom:1px solid transparent; }
nav a:hover { border-bottom-color:#e4e7eb; }
section.top { background:var(--card); border-radius:10px; padding:24px 28px; margin:24px 0;
  box-shadow:0 1px 2px rgba(31,41,51,.06),0 4px 14px rgba(31,41,51,.05); }
h2 { font-size:21px; margin:0 0 16px; letter-spacing:-0.01em; }
h3 { font-size:17px; margin:30px 0 8px; padding-top:18px; border-top:1px solid var(--line); }
section.sub:first-of-type h3 { border-top:none; padding-top:0; margin-top:8px; }
p { margin:8px 0; }
.badge { display:inline-block; font-size:11.5px; font-weight:700; letter-spacing:.04em; text-transform:uppercase;
  padding:2px 9px; border-radius:999px; margin:2px 6px 2px 0; white-space:nowrap; vertical-align:1px; }
.badge.good { color:var(--good); background:var(--good-bg); }
.badge.bad { color:var(--bad); background:var(--bad-bg); }
.badge.warn { color:var(--warn); background:var(--warn-bg); }
.badge.info { color:var(--info); background:var(--info-bg); }
header.top .badge { box-shadow:0 0 0 1px rgba(255,255,255,.25); }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(250px,1fr)); gap:16px; margin:4px 0 22px; }
.card { border:1px solid var(--line); border-top:5px solid var(--accent); border-radius:10px; padding:16px 18px; }
.card h4 { margin:0 0 10px; font-size:14px; letter-spacing:.08em; color:var(--accent); }
.card .figure { margin:4px 0 10px; }
.card .value { display:block; font-size:30px; line-height:1.15; font-weight:750; letter-spacing:-0.02em; }
.card .what { display:block; color:var(--muted); font-size:12px; letter-spacing:.05em; text-transform:uppercase; }
.card .badges { margin-top:10px; }
.tablewrap { overflow-x:auto; margin:10px 0 4px; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th { text-align:left; font-weight:650; color:var(--muted); font-size:12.5px; letter-spacing:.03em;
  text-transform:uppercase; border-bottom:2px solid var(--line); padding:8px 10px; }
td { border-bottom:1px solid var(--line); padding:8px 10px; vertical-align:top; }
tbody tr:nth-child(even) td { background:#fafbfc; }
table.fields td:first-child { font-weight:600; color:var(--muted); white-space:nowrap; width:1%; }
table.fields td { word-break:break-word; }
caption { caption-side:bottom; text-align:left; color:var(--muted); font-size:13px; padding-top:8px; }
.callout { border-left:4px solid; border-radius:6px; padding:10px 14px; margin:10px 0; }
.callout strong { margin-right:6px; }
.callout.info { border-color:var(--info); background:var(--info-bg); }
.callout.warn { border-color:#d18b00; background:var(--warn-bg); }
.callout.bad { border-color:var(--bad); background:var(--bad-bg); }
figure { margin:18px 0 10px; }
figure img { max-width:100%; height:auto; display:block; border-radius:6px; }
figcaption { color:var(--muted); font-size:13.5px; margin-top:6px; }
figcaption b { color:var(--ink); }
.pair { display:grid; grid-template-columns:repeat(auto-fit,minmax(440px,1fr)); gap:18px; }
footer { color:var(--muted); font-size:13px; text-align:center; margin-top:28px; }
"""


def _inline(part) -> str:
    if isinstance(part, Badge):
        return f'<span class="badge {part.tone}">{escape(part.text)}</span>'
    return escape(part).replace("\n", "<br>")


def _cell(cell: Cell) -> str:
    return "".join(_inline(p) for p in (cell if isinstance(cell, tuple) else (cell,)))


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    kind = ' class="fields"' if table.fields else ""
    return f'<div class="tablewrap"><table{kind}>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _image(image: Image) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    return (f'<figure id="{escape(image.name)}"><img alt="{escape(image.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{escape(image.title)}.</b> {escape(image.caption)}</figcaption></figure>")


def _cards(cards: Cards) -> str:
    out = []
    for card in cards.cards:
        accent = PRECISION_COLOURS.get(card.key, OTHER_COLOUR)
        figures = "".join(f'<div class="figure"><span class="value">{escape(v)}</span>'
                          f'<span class="what">{escape(w)}</span></div>' for v, w in card.figures)
        badges = "".join(_inline(b) for b in card.badges)
        out.append(f'<div class="card" style="--accent:{accent}"><h4>{escape(card.title)}</h4>{figures}'
                   f'<div class="badges">{badges}</div></div>')
    return f'<div class="cards">{"".join(out)}</div>'


def _block(block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{' '.join(_inline(p) for p in block.parts)}</p>"
    if isinstance(block, Callout):
        return f'<div class="callout {block.tone}"><strong>{escape(block.title)}.</strong>{escape(block.text)}</div>'
    if isinstance(block, Cards):
        return _cards(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        return _image(block)
    return _section(block, nested=True)


def _section(section: Section, nested: bool = False) -> str:
    blocks = section.blocks
    # Two figures side by side read as the study's pair; wider screens only.
    if section.anchor == "figures" and len(blocks) == 2:
        inner = f'<div class="pair">{"".join(_block(b) for b in blocks)}</div>'
    else:
        inner = "".join(_block(b) for b in blocks)
    if nested:
        return f'<section class="sub" id="{escape(section.anchor)}"><h3>{escape(section.title)}</h3>{inner}</section>'
    return f'<section class="top" id="{escape(section.anchor)}"><h2>{escape(section.title)}</h2>{inner}</section>'


def render_html(doc: Document) -> str:
    nav = "".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in doc.sections)
    badges = "".join(_inline(b) for b in doc.badges)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="inner"><h1>{escape(doc.title)}</h1>'
        f'<p class="subtitle">{escape(doc.subtitle)}</p>{badges}<nav>{nav}</nav></div></header>'
        f"<main>{''.join(_section(s) for s in doc.sections)}"
        "<footer>Written by harness report from run directories alone.</footer></main></body></html>\n"
    )
