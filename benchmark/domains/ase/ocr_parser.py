"""Turn OCR text boxes of an ASE plot into an :class:`OcrReading`: a pure function of the boxes, testable by hand.

Layout expected (the ASE paper's images): the scatter plot on the left (its DY
tick labels such as ``-25.000`` and axis names such as ``50.000DY(um)`` are
read by OCR too and must be ignored), and on the right a table headed
``Radius | Accumulated points`` with one row per radius 5..50, followed by the
four ``X-axis-avg``/``Y-axis-avg``/``X-axis-std``/``Y-axis-std`` lines.

Rules, each for a reason:

* **Only the right part counts.** When the ``Radius`` header is found, boxes
  left of ``header.left - 4 * header.height`` are dropped (the statistic
  labels start a little left of the header, the plot's tick labels far left);
  without a header, when the image width is known, only the right half is kept.
* **A radius cell** is an integer in 5..50 (step 5), below the header and
  horizontally under the ``Radius`` header; its **count** is the integer box
  on the same row (vertical centres within 0.6 box heights) to its right.
* **A statistic** is a label matching ``[XY] axis avg|std`` with OCR variants
  (``X-axis-avg``, ``Xaxisavg``, ``X-axis avg``, split over up to three
  boxes, or merged with its value) and its value is the first number to its
  right on the same row. A number followed by a minus sign is not a value:
  it is a value read upside down (``-0.889`` turned into ``6880-`` by the
  angle classifier), and a wrong number is worse than a missing one.
* No header and no statistic label means no table: the reading is empty,
  never an error (NEU-DET steel textures).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asebench.annotation.text_box import TextBox
from asebench.domains.ase.layout import RING_RADII_UM
from asebench.domains.ase.ocr_reading import OcrReading

LAYOUT_VERSION = "2"
"""Bump on any parser change: it is part of every OCR engine version (``+layout1``), hence of the OCR cache key."""

_ROW_TOLERANCE = 0.6
_REGION_MARGIN_HEIGHTS = 4.0
_MAX_LABEL_TOKENS = 3
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})
_STAT_LABEL = re.compile(
    r"^\W*(?P<axis>[xy])[\W_]*ax[il1]s[\W_]*(?P<kind>average|avg|avq|ave|mean|stdev|std|sd)"
    r"[\s:=]*(?P<value>-?\d+(?:[.,]\d+)?)?[^\w\-]*$",
    re.IGNORECASE,
)
_KIND = {
    "average": "avg",
    "avg": "avg",
    "avq": "avg",
    "ave": "avg",
    "mean": "avg",
    "stdev": "std",
    "std": "std",
    "sd": "std",
}
_INTEGER = re.compile(r"^\d+$|^\d{1,3}(?:,\d{3})+$")
_DECIMAL = re.compile(r"^-?\d+(?:[.,]\d+)?$")
_FRAME_CHARS = "|[](){}'\"`:;"


def reading_from_boxes(
    boxes: Iterable[TextBox], engine: str, engine_version: str, image_width: float | None = None
) -> OcrReading:
    """Parse ``boxes`` (see the module docstring) into a reading; empty when no table is found."""
    counts, stats = parse_boxes(boxes, image_width)
    return OcrReading(counts=counts, stats=stats, engine=engine, engine_version=engine_version)


def parse_boxes(
    boxes: Iterable[TextBox], image_width: float | None = None
) -> tuple[dict[int, int | None], dict[str, float | None]]:
    """The radius counts and statistics found in ``boxes``; absent values are ``None``."""
    boxes = [b for b in boxes if b.text.strip()]
    header = _find_header(boxes)
    region = _right_region(boxes, header, image_width)
    counts: dict[int, int | None] = dict.fromkeys(RING_RADII_UM)
    if header is not None:
        counts.update(_table_counts(region, header))
    stats = _statistics(region)
    return counts, stats


# --------------------------------------------------------------------------- tokens


def clean_token(text: str) -> str:
    """Strip table-frame characters OCR glues to cells (``|5118|``) and normalise minus signs."""
    return text.translate(_MINUS).strip().strip(_FRAME_CHARS).strip()


def parse_count(text: str) -> int | None:
    """A point count: digits, optionally with thousands commas; O/o read as 0, l/I as 1."""
    token = _fix_digits(clean_token(text))
    if not _INTEGER.match(token):
        return None
    return int(token.replace(",", ""))


def parse_decimal(text: str) -> float | None:
    """A printed statistic such as ``-13.236`` (a decimal comma is read as a point)."""
    token = _fix_digits(clean_token(text)).replace(" ", "")
    if not _DECIMAL.match(token):
        return None
    return float(token.replace(",", "."))


def _fix_digits(token: str) -> str:
    """Map the usual letter-for-digit confusions, but only in tokens that are otherwise numeric."""
    fixed = token.translate(str.maketrans("OolI", "0011"))
    return fixed if re.fullmatch(r"[-\d.,]+", fixed) else token


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


# --------------------------------------------------------------------------- header and region


@dataclass(frozen=True)
class _Header:
    """The ``Radius`` column's horizontal span and the header row's bottom edge."""

    left: float
    right: float
    bottom: float
    height: float


def _find_header(boxes: Sequence[TextBox]) -> _Header | None:
    """The ``Radius`` header; if OCR merged it with ``Accumulated points``, its share of that box."""
    for box in sorted(boxes, key=lambda b: (b.top, b.left)):
        letters = _letters(box.text)
        if letters.startswith("radius"):
            width = box.right - box.left
            share = 1.0 if letters == "radius" else min(1.0, 6.0 / max(6, len(box.text.replace(" ", ""))))
            return _Header(left=box.left, right=box.left + width * share, bottom=box.bottom, height=box.height)
    for box in boxes:
        if "accumulated" in _letters(box.text):  # radius header unread: assume the column just left of it
            width = 6.0 * box.height
            return _Header(left=box.left - width, right=box.left, bottom=box.bottom, height=box.height)
    return None


def _right_region(boxes: Sequence[TextBox], header: _Header | None, image_width: float | None) -> list[TextBox]:
    if header is not None:
        cutoff = header.left - _REGION_MARGIN_HEIGHTS * header.height
    elif image_width is not None:
        cutoff = image_width / 2.0
    else:
        return list(boxes)
    return [b for b in boxes if b.cx >= cutoff]


def _same_row(a: TextBox, b: TextBox) -> bool:
    return abs(a.cy - b.cy) <= _ROW_TOLERANCE * max(a.height, b.height)


# --------------------------------------------------------------------------- table


def _table_counts(region: Sequence[TextBox], header: _Header) -> dict[int, int]:
    """Pair each radius cell under the header with the count on its row; first (topmost) row wins."""
    pad = header.height
    radius_cells = [
        b
        for b in region
        if b.cy > header.bottom
        and header.left - pad <= b.cx <= header.right + pad
        and parse_count(b.text) in RING_RADII_UM
    ]
    found: dict[int, int] = {}
    for cell in sorted(radius_cells, key=lambda b: b.cy):
        radius = parse_count(cell.text)
        assert radius is not None
        if radius in found:
            continue
        candidates = [b for b in region if b is not cell and b.left > header.right + pad / 2 and _same_row(cell, b)]
        counts = [
            (abs(b.cy - cell.cy), b.left, value) for b in candidates if (value := parse_count(b.text)) is not None
        ]
        if counts:
            found[radius] = min(counts)[2]
    return found


# --------------------------------------------------------------------------- statistics


def _rows(region: Sequence[TextBox]) -> list[list[TextBox]]:
    """Boxes grouped into text lines by vertical centre, each line sorted left to right."""
    if not region:
        return []
    tolerance = _ROW_TOLERANCE * statistics.median(b.height for b in region)
    rows: list[list[TextBox]] = []
    for box in sorted(region, key=lambda b: b.cy):
        if rows and box.cy - rows[-1][0].cy <= tolerance:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [sorted(row, key=lambda b: b.left) for row in rows]


def _statistics(region: Sequence[TextBox]) -> dict[str, float | None]:
    found: dict[str, float | None] = {"x_avg": None, "y_avg": None, "x_std": None, "y_std": None}
    for row in _rows(region):
        for key, value in _row_statistics(row):
            if found[key] is None:
                found[key] = value
    return found


def _row_statistics(row: Sequence[TextBox]) -> Iterable[tuple[str, float | None]]:
    """Every statistic label in one text line, with the first number to its right."""
    start = 0
    while start < len(row):
        match, used = _label_at(row, start)
        if match is None:
            start += 1
            continue
        key = f"{match.group('axis').lower()}_{_KIND[match.group('kind').lower()]}"
        value = parse_decimal(match.group("value")) if match.group("value") else None
        rest = start + used
        index = rest
        while value is None and index < len(row) and _label_at(row, index)[0] is None:
            value = parse_decimal(row[index].text)
            index += 1
        yield key, value
        start = rest


def _label_at(row: Sequence[TextBox], start: int) -> tuple[re.Match[str] | None, int]:
    """The longest run of up to three boxes from ``start`` that reads as a statistic label."""
    for used in range(min(_MAX_LABEL_TOKENS, len(row) - start), 0, -1):
        text = " ".join(clean_token(b.text) for b in row[start : start + used])
        match = _STAT_LABEL.match(text)
        if match is not None:
            return match, used
    return None, 0
