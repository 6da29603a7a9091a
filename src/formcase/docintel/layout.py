"""A document as the extractors read it: pages of words with where each one is.

Both text sources produce this: a PDF's text layer (docintel.text) and OCR of a rendered page
or a photo (docintel.ocr). Boxes are fractions of the page (0..1, origin top left), so that
layout rules ("the value right of its label", "the bottom third of the page") do not depend
on the resolution or the page size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["text_layer", "ocr", "embedded_xml"]


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center_y(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )

    def as_list(self) -> list[float]:
        return [round(self.x0, 4), round(self.y0, 4), round(self.x1, 4), round(self.y1, 4)]


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    confidence: float = 1.0  # the OCR engine's; 1.0 for a text layer


@dataclass(frozen=True)
class Line:
    """Words on one visual line, left to right."""

    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def box(self) -> Box:
        box = self.words[0].box
        for word in self.words[1:]:
            box = box.union(word.box)
        return box

    @property
    def confidence(self) -> float:
        return min((word.confidence for word in self.words), default=1.0)


@dataclass
class Page:
    number: int  # 1-based
    width: float  # points for a PDF page, pixels for an image
    height: float
    source: Source
    words: list[Word] = field(default_factory=list)
    rotation: int = 0  # degrees the page was turned to read it upright
    sharpness: float | None = None  # variance of the Laplacian, for images and scans

    @property
    def lines(self) -> list[Line]:
        return group_lines(self.words)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass
class Document:
    pages: list[Page]
    language: str | None = None  # ISO 639-1, detected or given

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages)

    @property
    def source(self) -> Source:
        """How most of the document was read."""
        ocr = sum(1 for page in self.pages if page.source == "ocr")
        return "ocr" if ocr > len(self.pages) / 2 else "text_layer"


def group_lines(words: list[Word]) -> list[Line]:
    """Words grouped into lines: a word joins the line whose vertical middle band it
    overlaps, then each line is sorted left to right and the lines top to bottom."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.box.center_y, w.box.x0)):
        for line in reversed(lines[-3:]):  # recent lines only: the words come top to bottom
            anchor = line[0].box
            tolerance = max(anchor.height, word.box.height) * 0.5
            if abs(anchor.center_y - word.box.center_y) <= tolerance:
                line.append(word)
                break
        else:
            lines.append([word])
    ordered = [tuple(sorted(line, key=lambda w: w.box.x0)) for line in lines]
    ordered.sort(key=lambda line: (min(w.box.y0 for w in line), line[0].box.x0))
    return [Line(words) for words in ordered]
