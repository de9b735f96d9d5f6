"""The template sentences the LLM reads: an image's numbers next to each class's training averages."""

from __future__ import annotations

from asebench.domains.ase.class_statistics import ClassStatistics
from asebench.domains.ase.ocr_reading import OcrReading
from asebench.domains.ase.templates import NO_NUMBERS_SENTENCE, ocr_sentences


def test_template_sentences_are_deterministic() -> None:
    reading = OcrReading.from_flat({"count_r10": 19748, "x_avg": -0.0004, "x_std": 7.5}, "m", "1")
    stats = ClassStatistics.fit(
        [reading, OcrReading.from_flat({"count_r10": 16715}, "m", "1")], [1, 1], ["normal", "type1"]
    )
    text = ocr_sentences(reading, stats)
    assert text.startswith("The accumulated point number between 0~5 for this image could not be read. ")
    assert (
        "The accumulated point number between 5~10 for this image is 19748. "
        "The average of the accumulated point number between 5~10 for the type1 is 18231.5."
    ) in text
    assert "The X-axis-avg for this image is 0.000." in text and "for the normal" not in text
    assert ocr_sentences(reading, stats) == text
    assert ocr_sentences(OcrReading.empty("m", "1"), stats) == NO_NUMBERS_SENTENCE
