"""OCR of a page image with Debian's tesseract (FORMCASE_DOCINTEL_OCR_ENGINE=tesseract), the
alternative to rapidocr: the same `ocr.Reading`, in the frame of the upright, straightened
image, with tesseract's words as it groups them and its confidences scaled to 0..1.

The `tesseract` command (Debian's tesseract-ocr, Apache-2.0, with its eng, fra, nld and deu
data packages, installed by `make`) is run once per pass: the image goes in on stdin as a
grey PGM, the words come back as TSV. Nothing is downloaded. It runs single-threaded
(OMP_THREAD_LIMIT=1 unless set): its OpenMP threads wait actively, and on two cores that
are busy anyway a page took four times longer with two of them.

How a page is read, as the rapidocr path does with its own means:
1. one pass (`--psm 3`, automatic layout) on the image as given;
2. a page that read well, in words lying flat, is upright. Otherwise tesseract's orientation
   detection (`--psm 0`) tells the quarter turn, the image is turned and read again, and the
   more legible reading is kept (a page whose words stand on end is turned whatever the
   score: tesseract reads text running down, but its boxes are those of the page on its side);
3. the skew is that of tesseract's lines (the slope through the middles of their words),
   taken out with the rotation the rapidocr path uses (ocr.straighten) and the page read
   again when it is at least ocr.MIN_SKEW_DEGREES.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from formcase.docintel import ocr
from formcase.docintel.layout import Box, Word

LANGUAGES = "eng+fra+nld+deu"
# A reading with at least this share of its characters in words scored 80 or more is upright:
# text read sideways or upside down scores around a tenth.
LEGIBLE_SHARE = 0.5
# Sauvola's local thresholds instead of one Otsu threshold for the page: light grey small print
# beside black text (AWS's footnotes) is kept, not taken for background. Word recall against
# the text layer: 64 % with Otsu, 99.7 % so on the dev PNG; 93.2 and 96.5 % with Otsu, 94.2
# and 96.5 % so on two PDFs forced through OCR.
THRESHOLDING = ["-c", "thresholding_method=2"]
# A pass on one page image; tesseract takes 1-3 s on an A4 page.
TIMEOUT_SECONDS = 300


class TesseractError(RuntimeError):
    """The tesseract command is missing or failed."""


@dataclass(frozen=True)
class _Found:
    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float  # 0..1
    line: tuple[int, int, int]  # block, paragraph, line


@dataclass(frozen=True)
class _Pass:
    words: list[_Found]
    width: int
    height: int

    @property
    def legible(self) -> int:
        """Characters of the words scored 0.8 or more."""
        return sum(len(word.text) for word in self.words if word.confidence >= 0.8)

    @property
    def characters(self) -> int:
        return sum(len(word.text) for word in self.words)

    @property
    def on_end(self) -> bool:
        """Most words of three characters or more are taller than wide: the text runs up or
        down the image."""
        long = [word for word in self.words if len(word.text) >= 3]
        standing = sum(1 for word in long if word.height > word.width)
        return bool(long) and standing > len(long) / 2


def available() -> bool:
    return shutil.which("tesseract") is not None


def read_image(bgr: ocr.Pixels) -> ocr.Reading:
    """OCR of a BGR image (ocr.to_bgr), turned upright and deskewed first."""
    grey = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    first = _read(grey)
    if not first.words:
        return ocr.Reading([], 0, 0.0, first.width, first.height)

    turn, reading = 0, first
    if first.on_end or first.legible < LEGIBLE_SHARE * first.characters:
        turn = _orientation(grey)
        if turn:
            second = _read(ocr.straighten(grey, turn, 0.0))
            if first.on_end or second.legible > first.legible:
                reading = second
            else:
                turn = 0

    skew = ocr.line_skew(_line_quads(reading))
    if abs(skew) < ocr.MIN_SKEW_DEGREES:
        return _reading(reading, turn, 0.0)
    return _reading(_read(ocr.straighten(grey, turn, skew)), turn, skew)


def _reading(found: _Pass, turn: int, skew: float) -> ocr.Reading:
    width, height = found.width, found.height
    words = []
    for word in found.words:
        box = Box(
            _clamp(word.left / width),
            _clamp(word.top / height),
            _clamp((word.left + word.width) / width),
            _clamp((word.top + word.height) / height),
        )
        if box.x1 > box.x0 and box.y1 > box.y0:
            words.append(Word(word.text, box, word.confidence))
    return ocr.Reading(words, turn, round(skew, 2), width, height)


def _clamp(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _line_quads(found: _Pass) -> list[npt.NDArray[np.float32]]:
    """Each line of two words or more as a quad along the straight line fitted through its
    words' middles (corner 0 top left, 1 top right, as ocr.line_skew reads them)."""
    lines: dict[tuple[int, int, int], list[_Found]] = {}
    for word in found.words:
        lines.setdefault(word.line, []).append(word)
    quads = []
    for words in lines.values():
        if len(words) < 2:
            continue
        xs = np.array([word.left + word.width / 2 for word in words], dtype=np.float64)
        ys = np.array([word.top + word.height / 2 for word in words], dtype=np.float64)
        if float(np.ptp(xs)) == 0:
            continue
        slope, offset = np.polyfit(xs, ys, 1)
        x0 = float(min(word.left for word in words))
        x1 = float(max(word.left + word.width for word in words))
        half = float(np.median([word.height for word in words])) / 2
        y0, y1 = slope * x0 + offset, slope * x1 + offset
        quad = [[x0, y0 - half], [x1, y1 - half], [x1, y1 + half], [x0, y0 + half]]
        quads.append(np.array(quad, dtype=np.float32))
    return quads


def _read(grey: npt.NDArray[np.uint8]) -> _Pass:
    height, width = grey.shape[:2]
    output = _tesseract(grey, ["-l", LANGUAGES, "--psm", "3", *THRESHOLDING, "tsv"])
    words = []
    for row in output.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5":  # level 5: a word
            continue
        text = unicodedata.normalize("NFC", cells[11].strip())
        if not text or any(character.isspace() for character in text):
            continue
        block, paragraph, line = int(cells[2]), int(cells[3]), int(cells[4])
        left, top, box_width, box_height = (int(cell) for cell in cells[6:10])
        confidence = min(max(float(cells[10]) / 100, 0.0), 1.0)
        words.append(
            _Found(
                text,
                left,
                top,
                box_width,
                box_height,
                round(confidence, 3),
                (block, paragraph, line),
            )
        )
    return _Pass(words, width, height)


_ROTATE = re.compile(r"^Rotate:\s*(\d+)", re.MULTILINE)


def _orientation(grey: npt.NDArray[np.uint8]) -> int:
    """Degrees (clockwise) to turn the image by tesseract's orientation detection; 0 when it
    finds too few letters to tell."""
    try:
        output = _tesseract(grey, ["--psm", "0"])
    except TesseractError:
        return 0  # "Too few characters. Skipping this page"
    match = _ROTATE.search(output)
    turn = int(match.group(1)) if match else 0
    return turn if turn in (90, 180, 270) else 0


def _tesseract(grey: npt.NDArray[np.uint8], arguments: list[str]) -> str:
    command = shutil.which("tesseract")
    if command is None:
        raise TesseractError(
            "the OCR engine is tesseract (FORMCASE_DOCINTEL_OCR_ENGINE) but the tesseract "
            "command is not installed: install Debian's tesseract-ocr and tesseract-ocr-eng, "
            "-fra, -nld and -deu (make apt-run), or use the rapidocr engine"
        )
    ok, encoded = cv2.imencode(".pgm", grey)
    if not ok:
        raise TesseractError("the page image could not be encoded for tesseract")
    environment = dict(os.environ)
    environment.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        done = subprocess.run(
            [command, "stdin", "stdout", *arguments],
            input=encoded.tobytes(),
            capture_output=True,
            env=environment,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TesseractError(f"tesseract took more than {TIMEOUT_SECONDS} s on a page") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TesseractError(
            f"tesseract failed (exit {done.returncode}): {message[-1] if message else ''}"
        )
    return done.stdout.decode("utf-8", "replace")
