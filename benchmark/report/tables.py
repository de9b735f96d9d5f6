"""A small table model and its Markdown, CSV and LaTeX renderings: the one table writer.

Report tables are built once (:mod:`asebench.report.sections`), the run
summaries too (:mod:`asebench.report.summary`), and rendered several ways, so
every format shows the same numbers. Rendering is
deterministic: fixed float formatting, no timestamps, rows in the order given.

Emphasis is per column and per ranking group (a dataset, or a class): the best
value is bold, the second best underlined in LaTeX/HTML (italic in Markdown).
Ranking compares the values as displayed, so two cells that print the same
number tie; nothing is emphasised when every row ties, and "second" only when
it singles out some rows (not all the non-best ones). A cell's ``mark`` (e.g. :data:`DAGGER`) is appended after the
emphasis.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

DAGGER = "†"
Emphasis = Literal["", "best", "second"]
Align = Literal["l", "r", "c"]


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, the value used for ranking (None: not ranked) and a trailing mark."""

    text: str
    value: float | None = None
    mark: str = ""


@dataclass(frozen=True)
class Column:
    """A column header; ``rank`` says whether higher (``max``) or lower (``min``) values are better."""

    name: str
    align: Align = "l"
    rank: Literal["max", "min"] | None = None
    latex_width: str | None = None  # e.g. "5cm": a wrapping p{} column in LaTeX for long text


@dataclass
class Table:
    """A rendered-format-independent table.

    ``groups`` gives each row's ranking group (best/second are chosen within
    a group; LaTeX draws a rule where the group changes). ``sections`` maps a
    row index to a heading shown before that row (paper tables: Baselines,
    Few-shot, ...). ``data_columns``/``data_rows`` are the raw numbers for CSV.
    """

    key: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    sections: dict[int, str] = field(default_factory=dict)
    data_columns: list[str] = field(default_factory=list)
    data_rows: list[dict[str, Any]] = field(default_factory=list)

    def add_row(self, cells: Sequence[Cell], group: str = "") -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"table {self.key}: row has {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))
        self.groups.append(group)

    def section(self, title: str) -> None:
        """Start a titled section at the next row."""
        self.sections[len(self.rows)] = title


# -- number formatting -----------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def mean_std(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {(std or 0.0):.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    if low is None or high is None:
        return "–"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def shown(value: float | None, digits: int = 3) -> float | None:
    """The value as displayed, for ranking (ties at display precision rank equal)."""
    return None if value is None else round(value, digits)


def mean_std_cell(mean: float | None, std: float | None, mark: str = "", digits: int = 3) -> Cell:
    """A ranked cell showing ``mean ± std`` (ranked by the mean as displayed)."""
    return Cell(mean_std(mean, std, digits), shown(mean, digits), mark)


# -- emphasis --------------------------------------------------------------------------------


def emphasis(table: Table) -> list[list[Emphasis]]:
    """Best/second marks for every cell: per ranked column, within each ranking group."""
    marks: list[list[Emphasis]] = [["" for _ in table.columns] for _ in table.rows]
    groups = table.groups or [""] * len(table.rows)
    for c, column in enumerate(table.columns):
        if column.rank is None:
            continue
        members: dict[str, list[int]] = {}
        for r, group in enumerate(groups):
            if table.rows[r][c].value is not None:
                members.setdefault(group, []).append(r)
        for rows in members.values():
            values = sorted({table.rows[r][c].value for r in rows}, reverse=column.rank == "max")  # type: ignore[type-var]
            if len(rows) < 2 or len(values) < 2:
                continue  # one row, or everyone tied: nothing stands out
            best = [r for r in rows if table.rows[r][c].value == values[0]]
            second = [r for r in rows if table.rows[r][c].value == values[1]]
            for r in best:
                marks[r][c] = "best"
            if len(best) + len(second) < len(rows):  # a "second" shared by every other row singles out nothing
                for r in second:
                    marks[r][c] = "second"
    return marks


def emphasise(text: str, mark: Emphasis, best: tuple[str, str], second: tuple[str, str]) -> str:
    """``text`` between a format's opening and closing markup for its emphasis (``best`` or ``second``)."""
    before, after = {"best": best, "second": second}.get(mark, ("", ""))
    return before + text + after


# -- Markdown --------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")  # intraword _ is literal in GFM


def _md_cell(cell: Cell, mark: Emphasis) -> str:
    return emphasise(_md_escape(cell.text), mark, ("**", "**"), ("*", "*")) + cell.mark


def markdown_table(table: Table) -> str:
    """The table as a GitHub-flavoured Markdown pipe table."""
    align = {"l": "---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(_md_escape(c.name) for c in table.columns) + " |"]
    out.append("|" + "|".join(align[c.align] for c in table.columns) + "|")
    marks = emphasis(table)
    for r, row in enumerate(table.rows):
        if r in table.sections:
            out.append(
                "| " + " | ".join([f"**{_md_escape(table.sections[r])}**"] + [""] * (len(table.columns) - 1)) + " |"
            )
        out.append("| " + " | ".join(_md_cell(cell, marks[r][c]) for c, cell in enumerate(row)) + " |")
    return "\n".join(out) + "\n"


def to_markdown(table: Table, heading_level: int = 3) -> str:
    """Heading, caption, the table and its notes."""
    parts = [f"{'#' * heading_level} {table.title}\n"]
    if table.caption:
        parts.append(table.caption + "\n")
    parts.append(markdown_table(table))
    if table.notes:
        parts.append("".join(f"- {note}\n" for note in table.notes))
    return "\n".join(parts)


# -- CSV -------------------------------------------------------------------------------------


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV in ``columns`` order: floats with 6 decimals, None empty, other keys dropped."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_value(row.get(c)) for c in columns})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6f}"
    return "" if value is None else value


def table_csv(table: Table) -> str:
    """The raw numbers behind the table (floats with 6 decimals), one line per data row."""
    if table.data_columns:
        return to_csv(table.data_rows, table.data_columns)
    rows = [{c.name: cell.text + cell.mark for c, cell in zip(table.columns, row, strict=True)} for row in table.rows]
    return to_csv(rows, [c.name for c in table.columns])


# -- LaTeX -----------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "†": r"$^{\dagger}$",
    "→": r"$\rightarrow$",
    "–": "--",
    "—": "---",
    "−": "$-$",
    "·": r"$\cdot$",
    "µ": r"$\mu$",
    "≈": r"$\approx$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "<": r"$<$",
    ">": r"$>$",
}


def latex_escape(text: str) -> str:
    """Text safe for a LaTeX table cell (pdflatex, default fonts)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_cell(cell: Cell, mark: Emphasis) -> str:
    return emphasise(latex_escape(cell.text), mark, ("\\textbf{", "}"), ("\\underline{", "}")) + latex_escape(cell.mark)


LONGTABLE_ROWS = 25  # more rows (+ note lines) than this may not fit one page: use longtable, which breaks across pages


def _latex_body(table: Table) -> list[str]:
    """The data rows, with rules between ranking groups and section headings."""
    width = len(table.columns)
    marks = emphasis(table)
    lines: list[str] = []
    previous: str | None = None
    for r, row in enumerate(table.rows):
        group = table.groups[r] if table.groups else ""
        if r in table.sections:
            if r > 0:
                lines.append("    \\midrule")
            lines.append(f"    \\multicolumn{{{width}}}{{l}}{{\\textit{{{latex_escape(table.sections[r])}}}}} \\\\")
        elif previous is not None and group != previous:
            lines.append("    \\midrule")
        previous = group
        lines.append("    " + " & ".join(_latex_cell(cell, marks[r][c]) for c, cell in enumerate(row)) + " \\\\")
    return lines


def to_latex(table: Table, label_prefix: str = "tab:asebench-") -> str:
    r"""A booktabs table ready for ``\input``: a ``table`` float, or a ``longtable`` when it is long.

    Needs ``\usepackage{booktabs}``, and ``\usepackage{longtable}`` for tables of
    more than :data:`LONGTABLE_ROWS` rows and note lines (the first line of the file says which).
    """
    spec = "".join(f"p{{{c.latex_width}}}" if c.latex_width else c.align for c in table.columns)
    header = "    " + " & ".join(latex_escape(c.name) for c in table.columns) + " \\\\"
    caption = f"\\caption{{{latex_escape(table.title)}{'. ' + latex_escape(table.caption) if table.caption else ''}}}"
    label = f"\\label{{{label_prefix}{table.key}}}"
    notes = " \\\\\n   ".join(latex_escape(n) for n in table.notes)
    if len(table.rows) + len(table.notes) > LONGTABLE_ROWS:
        lines = [
            "% generated by asebench from stored cell records; needs \\usepackage{booktabs} and \\usepackage{longtable}",
            "\\begingroup\\small\\setlength{\\tabcolsep}{4pt}",
            f"\\begin{{longtable}}{{{spec}}}",
            f"  {caption}{label} \\\\",
            "    \\toprule",
            header,
            "    \\midrule",
            "  \\endfirsthead",
            "    \\toprule",
            header,
            "    \\midrule",
            "  \\endhead",
            "    \\bottomrule",
            "  \\endfoot",
            *_latex_body(table),
            "\\end{longtable}",
        ]
        if notes:
            lines.append("{\\footnotesize " + notes + "\\par}")
        lines.append("\\endgroup")
        return "\n".join(lines) + "\n"
    lines = [
        "% generated by asebench from stored cell records; needs \\usepackage{booktabs}",
        "\\begin{table}[htbp]",
        "  \\centering",
        f"  {caption}",
        f"  {label}",
        "  \\small\\setlength{\\tabcolsep}{4pt}",
        f"  \\begin{{tabular}}{{{spec}}}",
        "    \\toprule",
        header,
        "    \\midrule",
        *_latex_body(table),
        "    \\bottomrule",
        "  \\end{tabular}",
    ]
    if notes:
        lines += ["  \\par\\smallskip", "  {\\footnotesize " + notes + "}"]
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"
