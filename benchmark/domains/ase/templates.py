"""The "OCR scanning & data preparation" step: OCR numbers as template sentences with per-class averages.

The ASE paper's pipeline figure shows sentences such as *"The
average of the accumulated point number between 5~10 for the <class> is
<number>"*: the LLM sees the image's own numbers next to each class's
average. The full template set is unknown; ours is one sentence for the
image's value and one per class average, for every radius bin and statistic.

Radius ``R`` counts the points with ``R - 5 < r <= R`` (per-annulus, as the
generator and the paper's example imply), so the row ``10`` is written
"between 5~10" and the row ``5`` "between 0~5". The class averages come from
:class:`~asebench.domains.ase.class_statistics.ClassStatistics`, fitted on the
training split only.

Formatting is deterministic: counts as integers, class averages of counts
with one decimal, statistics with three decimals (as printed), classes in
``class_names`` order.
"""

from __future__ import annotations

from asebench.domains.ase.class_statistics import ClassStatistics
from asebench.domains.ase.layout import RING_RADII_UM, STAT_KEYS, STAT_LABELS
from asebench.domains.ase.ocr_reading import COUNT_KEYS, OcrReading

NO_NUMBERS_SENTENCE = "No numeric information could be read from this image."


def bin_phrase(radius: int) -> str:
    """``"5~10"`` for the row of radius 10 (per-annulus counts)."""
    return f"{radius - 5}~{radius}"


def ocr_sentences(reading: OcrReading, stats: ClassStatistics | None = None) -> str:
    """The template sentences for one image: its numbers and, with ``stats``, each class's averages."""
    if reading.is_empty():
        return NO_NUMBERS_SENTENCE
    flat = reading.as_flat()
    sentences: list[str] = []
    for radius, key in zip(RING_RADII_UM, COUNT_KEYS, strict=True):
        subject = f"the accumulated point number between {bin_phrase(radius)}"
        sentences.append(_own_sentence(subject, flat[key], decimals=0))
        sentences.extend(_class_sentences(subject, key, stats, decimals=1))
    for key in STAT_KEYS:
        subject = f"the {STAT_LABELS[key]}"
        sentences.append(_own_sentence(subject, flat[key], decimals=3))
        sentences.extend(_class_sentences(subject, key, stats, decimals=3))
    return " ".join(sentences)


def _own_sentence(subject: str, value: float | int | None, decimals: int) -> str:
    if value is None:
        return f"{_capitalise(subject)} for this image could not be read."
    return f"{_capitalise(subject)} for this image is {format_number(value, decimals)}."


def _class_sentences(subject: str, key: str, stats: ClassStatistics | None, decimals: int) -> list[str]:
    if stats is None:
        return []
    return [
        f"The average of {subject} for the {name} is {format_number(mean, decimals)}."
        for name in stats.class_names
        if (mean := stats.ocr_means[name].get(key)) is not None
    ]


def format_number(value: float | int, decimals: int) -> str:
    """Fixed decimals, never ``-0.0``: equal numbers always give equal text."""
    text = f"{float(value):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
