"""The ASE OCR parser on hand-built text boxes, and the reading it produces."""

from __future__ import annotations

import numpy as np
import pytest

from asebench.annotation.text_box import TextBox
from asebench.datasets.ase_synth import generator as gen
from asebench.domains.ase.layout import RING_RADII_UM as RADII
from asebench.domains.ase.ocr_parser import parse_count, parse_decimal, reading_from_boxes
from asebench.domains.ase.ocr_reading import FLAT_KEYS, OcrReading

COUNTS = (4884, 20875, 44623, 62603, 57120, 35429, 15773, 5166, 1277, 220)
STATS = {"x_avg": 13.236, "y_avg": 11.705, "x_std": 7.548, "y_std": 8.504}
LABELS = {"x_avg": "X-axis-avg", "y_avg": "Y-axis-avg", "x_std": "X-axis-std", "y_std": "Y-axis-std"}


def box(text: str, x: float, y: float, width: float = 40.0, height: float = 16.0) -> TextBox:
    return TextBox.from_rect(text, x, y, width, height, 0.99)


def plot_decoys() -> list[TextBox]:
    """What OCR reads on the left plot: tick labels (some on table rows) and axis names."""
    return [
        box("50.000DY(um)", 147, 18, 107),
        box("45", 150, 70),  # an integer in the radius set, on the row of radius 5, but on the plot
        box("-25.000", 142, 312),  # on the X-axis-avg row, left of the label
        box("20.000", 143, 334),
        box("DX(um)", 340, 208, 51),
        box("-50.000-DY", 144, 414, 85),
    ]


def table_boxes(counts: tuple[int, ...] = COUNTS, stats: dict[str, float] = STATS) -> list[TextBox]:
    boxes = [box("Radius", 467, 47, 48), box("Accumulatedpoints", 593, 48, 133)]
    for row, (radius, count) in enumerate(zip(RADII, counts, strict=True)):
        y = 70 + 22 * row
        boxes += [box(str(radius), 485, y, 20), box(str(count), 724, y + 1, 40)]
    for row, key in enumerate(stats):
        y = 310 + 22 * row
        boxes += [box(LABELS[key], 431, y, 70), box(f"{stats[key]:.3f}", 721, y + 2, 42)]
    return boxes


def test_the_parser_reads_the_table_and_statistics_and_ignores_the_plot_labels() -> None:
    reading = reading_from_boxes(plot_decoys() + table_boxes(), "hand", "1", image_width=800)
    assert [reading.counts[r] for r in RADII] == list(COUNTS)
    assert reading.stats == STATS
    assert list(reading.as_flat()) == list(FLAT_KEYS)
    assert not reading.is_empty() and reading.n_read() == 14


def test_the_parser_works_without_the_image_width_thanks_to_the_header() -> None:
    reading = reading_from_boxes(plot_decoys() + table_boxes(), "hand", "1")
    assert reading.stats["x_avg"] == 13.236 and reading.counts[5] == 4884


@pytest.mark.parametrize(
    ("label_boxes", "expected"),
    [
        ([box("Xaxisavg", 431, 310, 60), box("13.236", 721, 312)], 13.236),
        ([box("X-axis", 431, 310, 45), box("avg", 480, 310, 22), box("13.236", 721, 312)], 13.236),
        ([box("X-axis avg", 431, 310, 70), box("\u221213.236", 721, 312)], -13.236),
        ([box("X-axis-avg 13.236", 431, 310, 330)], 13.236),
        ([box("x-axis-avg:", 431, 310, 70), box("13,236", 721, 312)], 13.236),
        ([box("X axis-avg", 431, 310, 70), box("|13.236|", 721, 312)], 13.236),
    ],
)
def test_statistic_labels_tolerate_ocr_variants(label_boxes: list[TextBox], expected: float) -> None:
    header = [box("Radius", 467, 47, 48)]
    reading = reading_from_boxes(header + label_boxes + plot_decoys(), "hand", "1", image_width=800)
    assert reading.stats["x_avg"] == pytest.approx(expected)
    assert reading.stats["y_avg"] is None


@pytest.mark.parametrize(
    "label_boxes",
    [
        [box("X-axis-avg 6880-", 431, 310, 330)],
        [box("X-axis-avg", 431, 310, 70), box("6880-", 721, 312)],
    ],
)
def test_a_number_read_upside_down_is_not_a_value(label_boxes: list[TextBox]) -> None:
    """``-0.889`` rotated by 180 degrees reads ``6880-``: a trailing minus marks it, and it stays unread."""
    header = [box("Radius", 467, 47, 48)]
    reading = reading_from_boxes(header + label_boxes + plot_decoys(), "hand", "1", image_width=800)
    assert reading.stats["x_avg"] is None


def test_count_cells_tolerate_frames_thousands_commas_and_letter_digits() -> None:
    assert parse_count("|20,875|") == 20875
    assert parse_count("1O194") == 10194
    assert parse_count("4.540") is None and parse_count("Radius") is None
    assert parse_decimal("\u22121.641") == -1.641 and parse_decimal("0,113") == 0.113
    assert parse_decimal("50.000DY(um)") is None


def test_unread_rows_stay_none_and_vectors_carry_nan() -> None:
    boxes = [b for b in table_boxes() if b.text not in ("35", "15773", "8.504")]
    reading = reading_from_boxes(boxes, "hand", "1", image_width=800)
    assert reading.counts[35] is None and reading.stats["y_std"] is None
    vector = reading.as_vector()
    assert vector.shape == (14,) and np.isnan(vector).sum() == 2
    assert vector[FLAT_KEYS.index("count_r40")] == 5166


def test_a_merged_header_still_anchors_the_radius_column() -> None:
    boxes = [box("Radius   Accumulated points", 467, 47, 260), *table_boxes()[2:]]
    reading = reading_from_boxes(boxes, "hand", "1", image_width=800)
    assert [reading.counts[r] for r in RADII] == list(COUNTS)


@pytest.mark.parametrize(
    "boxes",
    [
        [],
        plot_decoys(),
        [box("crazing", 10, 10), box("12", 200, 40), box("5", 300, 40), box("9248", 350, 40)],
    ],
)
def test_an_image_without_a_table_reads_as_empty_not_as_an_error(boxes: list[TextBox]) -> None:
    reading = reading_from_boxes(boxes, "hand", "1", image_width=416)
    assert reading.is_empty() and reading.n_read() == 0
    assert all(v is None for v in reading.as_flat().values())
    assert np.isnan(reading.as_vector()).all()


def test_readings_round_trip_through_json_and_match_the_generator_metadata() -> None:
    rendered = gen.generate_sample("type1", 3, points_scale=0.2)
    metadata = rendered.stats.as_metadata()
    reading = OcrReading.from_flat(metadata, "metadata", "1")
    assert reading.as_flat() == {k: v for k, v in metadata.items() if k != "n_points"}
    assert OcrReading.from_json(reading.to_json()) == reading
    assert OcrReading.empty("x", "1").to_json()["values"]["x_std"] is None
