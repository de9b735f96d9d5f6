"""One OCR detection (text, corners, confidence): what every OCR engine sees, before a domain reads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextBox:
    """One OCR detection: its text, its four corners in pixels (any order), and a confidence in 0..1."""

    text: str
    corners: tuple[tuple[float, float], ...]
    score: float = 1.0

    @classmethod
    def from_rect(cls, text: str, left: float, top: float, width: float, height: float, score: float = 1.0) -> TextBox:
        """A box from an axis-aligned rectangle (Tesseract's TSV)."""
        right, bottom = left + width, top + height
        return cls(text, ((left, top), (right, top), (right, bottom), (left, bottom)), score)

    @property
    def left(self) -> float:
        return min(x for x, _ in self.corners)

    @property
    def right(self) -> float:
        return max(x for x, _ in self.corners)

    @property
    def top(self) -> float:
        return min(y for _, y in self.corners)

    @property
    def bottom(self) -> float:
        return max(y for _, y in self.corners)

    @property
    def cx(self) -> float:
        return (self.left + self.right) / 2.0

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2.0

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)
