"""One self-contained HTML page with every report table and figure.

Inline CSS, figures embedded as base64 PNG, only in-page links: the file can be
mailed or attached to a ticket and opened anywhere, offline.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from asebench.report.figures import FigureFile
from asebench.report.tables import Cell, Emphasis, Table, emphasis, emphasise

CSS = """
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1d2430;
       margin: 0; background: #f6f7f9; line-height: 1.45; }
main { max-width: 1360px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #d8dde6; }
h3 { font-size: 1.05em; margin: 20px 0 6px; }
p.meta, p.caption, ul.notes, figcaption { color: #4a5566; font-size: 0.9em; }
nav { font-size: 0.9em; margin: 12px 0 0; }
nav a { margin-right: 14px; color: #2458b3; text-decoration: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86em; margin: 6px 0 4px; border-top: 2px solid #1d2430;
        border-bottom: 2px solid #1d2430; }
th { text-align: left; border-bottom: 1px solid #1d2430; padding: 5px 8px; vertical-align: bottom; }
td { padding: 3px 8px; white-space: nowrap; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.c, th.c { text-align: center; }
tr.rule td { border-top: 1px solid #b8c0cc; }
tr.section td { font-style: italic; background: #f0f3f8; border-top: 1px solid #b8c0cc; }
td strong { font-weight: 700; }
td u { text-decoration-thickness: 1.5px; }
.mark { color: #9a4b00; }
figure { margin: 14px 0 22px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ee; }
.method p, .method li { font-size: 0.92em; max-width: 980px; }
code { background: #f0f3f8; padding: 0 3px; border-radius: 3px; }
"""


@dataclass
class Section:
    """A titled part of the page: tables, then figures, then notes."""

    anchor: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


def _cell_html(cell: Cell, mark: Emphasis, align: str) -> str:
    text = emphasise(html.escape(cell.text), mark, ("<strong>", "</strong>"), ("<u>", "</u>"))
    if cell.mark:
        text += f'<span class="mark">{html.escape(cell.mark)}</span>'
    return f'<td class="{align}">{text}</td>'


def table_html(table: Table) -> str:
    """The table as HTML, with the same best/second emphasis as the LaTeX version."""
    marks = emphasis(table)
    head = "".join(f'<th class="{c.align}">{html.escape(c.name)}</th>' for c in table.columns)
    body = []
    previous: str | None = None
    for r, row in enumerate(table.rows):
        group = table.groups[r] if table.groups else ""
        if r in table.sections:
            body.append(
                f'<tr class="section"><td colspan="{len(table.columns)}">{html.escape(table.sections[r])}</td></tr>'
            )
            css = ""
        else:
            css = ' class="rule"' if previous is not None and group != previous else ""
        previous = group
        cells = "".join(_cell_html(cell, marks[r][c], table.columns[c].align) for c, cell in enumerate(row))
        body.append(f"<tr{css}>{cells}</tr>")
    parts = [f'<h3 id="table-{html.escape(table.key)}">{html.escape(table.title)}</h3>']
    if table.caption:
        parts.append(f'<p class="caption">{html.escape(table.caption)}</p>')
    parts.append(
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )
    if table.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>")
    return "\n".join(parts)


def figure_html(figure: FigureFile) -> str:
    """The figure's PNG embedded as a data URI, with its caption."""
    data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    return (
        f'<figure id="figure-{html.escape(figure.stem)}"><img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(figure.title)}"><figcaption><strong>{html.escape(figure.title)}.</strong> '
        f"{html.escape(figure.caption)}</figcaption></figure>"
    )


def render_page(title: str, meta: Sequence[str], sections: Sequence[Section]) -> str:
    """The whole page; ``meta`` lines describe the sources (shown under the title)."""
    nav = "".join(f'<a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a>' for s in sections)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head>",
        "<body><main>",
        f"<h1>{html.escape(title)}</h1>",
        *(f'<p class="meta">{html.escape(line)}</p>' for line in meta),
        f"<nav>{nav}</nav>",
    ]
    for section in sections:
        css = ' class="method"' if section.anchor == "method" else ""
        out.append(f'<section id="{html.escape(section.anchor)}"{css}>')
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.intro:
            out.append(f'<p class="caption">{html.escape(section.intro)}</p>')
        out += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        out += [table_html(t) for t in section.tables]
        out += [figure_html(f) for f in section.figures]
        if section.notes:
            out.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in section.notes) + "</ul>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
